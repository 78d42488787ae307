"""Mixed precision on the active Keras backend: every policy trains and loads back under float32, recurrent
layers keep float32 under jax, and ``"auto"`` never picks a policy its own measurement found slower.

The expected dtypes differ by backend: the fast tier checks the default one (jax), and
test_backend_branches.py runs this file again under TensorFlow and torch.
"""

import keras
import numpy as np
import pytest

from skills.data import prepare_dataset
from skills.models import AttentionLSTMModel, GRUModel, LSTMModel, load_model
from skills.training import (
    MEASURED_PRECISION,
    PRECISIONS,
    Measurement,
    choose_precision,
    fastest_policy,
    gpu_available,
    precision_scope,
    resolve_precision,
)

MIXED = ("mixed_float16", "mixed_bfloat16")
#: How far a network trained under each policy may predict from its file loaded under float32. float32: the same
#: weights through the same float32 arithmetic (measured identical on jax and TensorFlow; 1e-6 leaves room for a
#: reordered sum). Mixed: the trained network rounds activations to the half type (unit roundoff u = 2**-11 for
#: float16, 2**-8 for bfloat16) before its dense layers, and a probability moves by at most 1/4 of its logit's
#: change; measured over 8 seeds, at most 0.55 u (TensorFlow, recurrent layers mixed too; 0.2 u under jax), so u.
#: The old 2e-2 also passed a file holding the weights of one more training step (measured 3e-3 to 2.6e-2 away).
ROUND_TRIP_ATOL = {"float32": 1e-6, "mixed_float16": 2.0 ** -11, "mixed_bfloat16": 2.0 ** -8}
BACKEND = keras.backend.backend()
DEVICE = "gpu" if gpu_available() else "cpu"


@pytest.fixture(scope="module")
def few_windows(aapl):
    """64 real AAPL training windows of 5 bars and 16 test windows: one batch per epoch."""
    data = prepare_dataset(aapl.iloc[-330:], sequence_length=5)
    return data.train.X[:64], data.train.y[:64], data.test.X[:16]


def _recurrent(network):
    kinds = (keras.layers.LSTM, keras.layers.GRU, keras.layers.Bidirectional)
    return [layer for layer in network.layers if isinstance(layer, kinds)]


@pytest.mark.parametrize("precision", [p for p in PRECISIONS if p != "auto"])
def test_every_precision_trains_and_loads_back_under_float32(precision, few_windows, tmp_path):
    X, y, windows = few_windows
    model = LSTMModel(sequence_length=5, lstm_units=4, num_layers=1)
    model.fit(X, y, epochs=1, batch_size=64, verbose=0, precision=precision)
    assert model.precision_ == precision and model.metadata_["training"]["precision_reason"] == "asked for"
    assert np.isfinite(model.history_["loss"]).all()
    assert model.network_.get_layer("probs").compute_dtype == "float32"  # the softmax stays float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    loaded = load_model(model.save(tmp_path / f"{precision}.keras"))
    assert {layer.dtype_policy.name for layer in loaded.network_.layers} == {"float32"}
    proba = loaded.predict_proba(windows)
    assert proba.dtype == np.float32 and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    # the file holds the trained weights exactly (every policy keeps float32 variables) and predicts what the
    # trained network predicts, up to the rounding of the policy it computed in
    for saved, trained in zip(loaded.network_.get_weights(), model.network_.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, trained)
    np.testing.assert_allclose(proba, model.predict_proba(windows), rtol=0, atol=ROUND_TRIP_ATOL[precision])


@pytest.mark.parametrize("precision", MIXED)
def test_recurrent_layers_are_float32_under_jax_the_rest_mixed(precision):
    with precision_scope(precision):
        attention = AttentionLSTMModel(sequence_length=5, lstm_units=4, attention_units=4)._build_network(
            3, [0.0] * 3, [1.0] * 3)
        gru = GRUModel(sequence_length=5, hidden_size=4)._build_network(3, [0.0] * 3, [1.0] * 3)
    expected = "float32" if BACKEND == "jax" else precision
    for network in (attention, gru):
        recurrent = _recurrent(network)
        assert recurrent, "the network has recurrent layers"
        assert {layer.dtype_policy.name for layer in recurrent} == {expected}
        assert network.get_layer("probs").compute_dtype == "float32"
    assert attention.get_layer("head_dense").dtype_policy.name == precision  # the rest runs mixed
    assert attention.get_layer("bi_lstm_1").forward_layer.dtype_policy.name == expected
    with precision_scope("float32"):
        plain = AttentionLSTMModel(sequence_length=5, lstm_units=4, attention_units=4)._build_network(
            3, [0.0] * 3, [1.0] * 3)
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}


def test_fastest_policy_never_picks_a_slower_one():
    assert fastest_policy({"float32": 1906, "mixed_float16": 1525}) == "float32"
    assert fastest_policy({"float32": 100, "mixed_float16": 180, "mixed_bfloat16": 150}) == "mixed_float16"
    assert fastest_policy({"float32": 100, "mixed_float16": None, "mixed_bfloat16": 101}) == "mixed_bfloat16"
    assert fastest_policy({"float32": 100, "mixed_float16": 100}) == "float32"  # a tie keeps float32
    assert fastest_policy({"mixed_float16": None}) == "float32"  # a policy that failed is never chosen
    assert fastest_policy({}) == "float32"


@pytest.mark.parametrize("figures, expected", [
    ({"float32": 1906, "mixed_float16": 1525}, "float32"),
    ({"float32": 1000, "mixed_float16": 1200, "mixed_bfloat16": 900}, "mixed_float16"),
    ({"float32": 1000, "mixed_float16": None, "mixed_bfloat16": 1100}, "mixed_bfloat16"),
])
def test_auto_follows_the_measurement_for_this_backend_and_device(figures, expected):
    table = {(BACKEND, DEVICE): {"AttentionLSTMModel": Measurement(figures, "a test table")}}
    chosen, reason = choose_precision("auto", "AttentionLSTMModel", table=table)
    assert chosen == expected and "a test table" in reason and expected in reason
    # a network measured on its own goes by its own figures; one that is not goes by the Attention-LSTM's
    own = {**table[(BACKEND, DEVICE)], "GRUModel": Measurement({"float32": 10, "mixed_bfloat16": 20}, "gru table")}
    assert choose_precision("auto", "GRUModel", table={(BACKEND, DEVICE): own})[0] == "mixed_bfloat16"
    fallback, why = choose_precision("auto", "KRNNModel", table={(BACKEND, DEVICE): own})
    assert fallback == expected and "(measured on AttentionLSTMModel)" in why
    # measurements of another backend or device do not count here
    assert choose_precision("auto", table={("no-such-backend", DEVICE): table[(BACKEND, DEVICE)]})[0] == "float32"


def test_the_package_table_is_never_overruled():
    for (backend, device), entries in MEASURED_PRECISION.items():
        for network, measurement in entries.items():
            chosen = fastest_policy(measurement.samples_per_s)
            speeds = {p: s for p, s in measurement.samples_per_s.items() if s is not None}
            assert chosen in speeds and speeds[chosen] >= max(speeds.values()), (backend, device, network)
    chosen, reason = choose_precision("auto", "AttentionLSTMModel")
    assert chosen == resolve_precision("auto", "AttentionLSTMModel") and reason
    assert choose_precision("mixed_bfloat16") == ("mixed_bfloat16", "asked for")
    with pytest.raises(ValueError, match="precision"):
        choose_precision("float8")
