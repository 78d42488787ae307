"""Data-parallel training on several devices (``TrainConfig.devices``, `skills.training.distribution`).

The integration test runs in a fresh process in which jax sees two CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``). On real bars of eleven tickers of the bundled universe
it fits the same small LSTM three times from the same seed: on 2 devices with 16 windows per device, on 1 device
with 32 windows (the same global batch: they must learn the same weights), and on 1 device with 16 (another
global batch: the control, which must not). The validation split is a universe, so early stopping watches the
validation rank IC, which a callback predicts during the fit; the training and validation splits hold an odd
number of windows (429 and 99), so each epoch ends on a batch that two devices cannot split evenly.

Tolerance: the two runs differ only in the order of float32 additions. One device sums a batch's 32 gradients in
one reduction; two devices each sum 16 and then add the two partial sums, so each gradient differs by a few
float32 roundings (relative 2**-23 = 1.2e-7 each). Adam divides the averaged gradient by its running RMS, so a
relative change of the gradient of ~1e-7 moves each step (at most the learning rate, 1e-3) by ~1e-10, and the
42 steps of three epochs accumulate ~1e-8 per weight, with the network's nonlinearity amplifying it a little
(measured: 3e-8). ``WEIGHT_ATOL = 1e-5`` leaves a factor of ~1000 for that; a wrong global batch, a gradient
averaged over half the batch or another shuffling changes the weights by the order of the learning rate or more
(the control: 1.2e-2), over a hundred times the tolerance.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from skills.cli import main
from skills.training import (
    DeviceError,
    TrainConfig,
    data_parallel,
    device_count,
    global_batch_size,
    train,
    visible_devices,
)

REPO = Path(__file__).resolve().parents[2]
WEIGHT_ATOL = 1e-5
PROBA_ATOL = 1e-6  # the same weights, predicted on one device or on two: the same float32 arithmetic per window

_TWO_DEVICE_RUN = r"""
import json, logging, sys
import numpy as np
from skills.data import load_universe, prepare_dataset
from skills.models import make_model

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s", force=True)
out = sys.argv[1]
tickers = ["AMGN", "COST", "FDX", "GILD", "LMT", "MA", "MDT", "NKE", "QCOM", "SBUX", "TMO"]
universe = load_universe("data/universe", on_bad_rows="drop", tickers=tickers)
data = prepare_dataset({t: bars.iloc[-67:] for t, bars in universe.items()}, sequence_length=5,
                       label="cross_section", features="price_volume")

def fit(batch_size, devices):
    model = make_model("lstm", lstm_units=4)
    model.fit(data, epochs=3, batch_size=batch_size, devices=devices, patience=3, verbose=0)
    return model

two = fit(16, 2)
weights_on = sorted(len(w.value.sharding.device_set) for w in two.network_.weights)
one, control = fit(32, 1), fit(16, 1)
gap = lambda a, b: max(float(np.abs(x - y).max()) for x, y in zip(a.network_.get_weights(), b.network_.get_weights()))
two.save(f"{out}/two.h5")
np.save(f"{out}/windows.npy", np.asarray(data.test.X, dtype=np.float32))
np.save(f"{out}/two_proba.npy", two.predict_proba(data.test.X))
print(json.dumps({
    "windows": {"train": len(data.train), "val": len(data.val)},
    "weights_on_devices": weights_on,
    "same_global_batch_gap": gap(two, one), "control_gap": gap(one, control),
    "histories": {"two": two.history_, "one": one.history_},
    "global_batch": [m.metadata_["training"]["global_batch_size"] for m in (two, one, control)],
    "batch_size": [m.metadata_["training"]["batch_size"] for m in (two, one, control)],
}))
"""


@pytest.mark.integration
def test_two_devices_learn_what_one_device_learns_from_the_same_global_batch(tmp_path):
    flags = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_force_host_platform_device_count=2"]))
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": flags}
    done = subprocess.run([sys.executable, "-c", _TWO_DEVICE_RUN, str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["windows"]["train"] % 2 == 1 and result["windows"]["val"] % 2 == 1  # an uneven last batch
    assert "data parallel over 2 devices (cpu:0, cpu:1)" in done.stderr
    assert "global batch 32 = 16 windows per device x 2" in done.stderr
    assert "val_rank_ic" in result["histories"]["two"]  # a callback predicted during the 2-device fit
    assert result["weights_on_devices"] == [2] * len(result["weights_on_devices"])  # trained on both devices
    assert result["global_batch"] == [32, 32, 16] and result["batch_size"] == [16, 32, 16]

    assert result["same_global_batch_gap"] < WEIGHT_ATOL, result
    assert result["control_gap"] > 100 * WEIGHT_ATOL, result  # the tolerance tells another global batch apart
    for key, values in result["histories"]["one"].items():
        np.testing.assert_allclose(result["histories"]["two"][key], values, rtol=1e-4, atol=1e-6, err_msg=key)

    # the file written on two devices loads here, on the one device of a plain process, and predicts the same
    from skills.models import load_model

    assert len(visible_devices()) == 1
    model = load_model(tmp_path / "two.h5")
    proba = model.predict_proba(np.load(tmp_path / "windows.npy"))
    np.testing.assert_allclose(proba, np.load(tmp_path / "two_proba.npy"), atol=PROBA_ATOL)
    assert model.metadata_["training"]["global_batch_size"] == 32


_TENSORFLOW_RUN = r"""
import json, logging, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]  # two logical CPUs, before TensorFlow starts
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from skills.data import load_ohlcv, prepare_dataset
from skills.models import make_model

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s", force=True)
data = prepare_dataset(load_ohlcv("data/AAPL.csv").iloc[-500:], sequence_length=5, features="price_volume")
X, y = np.asarray(data.train.X, dtype=np.float32)[:320], data.train.y[:320]
assert len(X) == 320  # ten whole global batches of 32

def fit(batch_size, devices):
    model = make_model("lstm", lstm_units=4, dropout_rate=0.0)
    model.fit(X, y, epochs=2, batch_size=batch_size, devices=devices, verbose=0)
    return model

two, one = fit(16, 2), fit(32, 1)
gap = max(float(np.abs(a - b).max()) for a, b in zip(two.network_.get_weights(), one.network_.get_weights()))
print(json.dumps({"gap": gap, "global_batch": two.metadata_["training"]["global_batch_size"]}))
"""


@pytest.mark.integration
def test_tensorflow_mirrors_two_logical_cpus_as_one_device():
    """`MirroredStrategy` over two logical CPUs: whole global batches (320 windows) and no dropout, where
    TensorFlow's replicas learn what one device learns (each replica draws its own dropout masks, and a batch
    split unevenly averages each replica's part alone: see `skills.training.distribution`)."""
    done = subprocess.run([sys.executable, "-c", _TENSORFLOW_RUN], cwd=REPO, env={**os.environ,
                          "KERAS_BACKEND": "tensorflow"}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "data parallel over 2 devices" in done.stderr and "by tf.distribute.MirroredStrategy" in done.stderr
    assert result["global_batch"] == 32 and result["gap"] < WEIGHT_ATOL, result


# -- without a second device -----------------------------------------------------------------------------------


def _tiny_network():
    inputs = keras.Input((4, 2))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))


def test_one_device_sets_no_distribution_and_keeps_the_batch():
    with data_parallel(1, 32) as run:
        assert keras.distribution.distribution() is None
        assert (run.n_devices, run.global_batch_size) == (1, 32)
    assert global_batch_size(16, 1) == 16 and device_count("all") == len(visible_devices())


def test_more_devices_than_visible_is_one_line_naming_how_many_there_are():
    seen = visible_devices()
    asked = len(seen) + 1
    with pytest.raises(DeviceError) as error:
        device_count(asked)
    message = str(error.value)
    assert f"devices={asked}" in message and f"sees {len(seen)} device(s) ({', '.join(seen)})" in message
    assert "\n" not in message


def test_too_many_devices_stops_the_trainer_before_it_builds_anything():
    built = []
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4, 2)).astype("float32"), rng.integers(0, 3, 20)
    with pytest.raises(DeviceError, match="devices="):
        train(lambda: built.append(1) or _tiny_network(), (X, y),
              config=TrainConfig(devices=len(visible_devices()) + 1, epochs=1, verbose=0))
    assert built == [] and keras.distribution.distribution() is None


@pytest.mark.parametrize("devices", [2, "all"])
def test_torch_says_several_devices_are_not_supported_yet(devices):
    with pytest.raises(DeviceError, match=rf"devices={devices!r}: .*not supported under the torch backend yet"):
        device_count(devices, backend="torch")
    assert device_count(1, backend="torch") == 1  # one device trains as it always did


def test_batches_by_date_are_not_split_over_devices():
    with pytest.raises(DeviceError, match="batch_by='date'.*not split over several devices"):
        device_count(2, backend="jax", batch_by="date")


def test_the_cli_prints_the_device_error_in_one_line_and_exits_2(tmp_path, data_dir, capsys, caplog):
    asked = len(visible_devices()) + 1
    with caplog.at_level(logging.WARNING):
        code = main(["train", "--data-path", str(data_dir / "AAPL.csv"), "--model", "lstm", "--epochs", "1",
                     "--sequence-length", "5", "--devices", str(asked), "--quiet",
                     "--model-path", str(tmp_path / "m.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("skills train: error: devices=")
    assert f"sees {len(visible_devices())} device(s)" in err[-1] and not (tmp_path / "m.h5").exists()


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_the_devices_flag_takes_a_positive_integer_or_all(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--devices", value])
    assert exit_.value.code == 2 and "--devices" in capsys.readouterr().err
