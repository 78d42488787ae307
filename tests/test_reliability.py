"""Atomic writes under SIGKILL, the NaN stop, and how the commands report unexpected errors."""

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from skills.cli import main
from skills.data import prepare_dataset
from skills.models import LSTMModel, load_model

REPO = Path(__file__).resolve().parents[1]
NET = ["--model", "lstm", "--sequence-length", "10", "--lstm-units", "4", "--epochs", "2",
       "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def small(aapl):
    return prepare_dataset(aapl.iloc[-400:], sequence_length=10)


@pytest.fixture(scope="module")
def csv(tmp_path_factory, aapl):
    path = tmp_path_factory.mktemp("reliability") / "AAPL.csv"
    aapl.iloc[-400:].to_csv(path)
    return path


# -- atomic writes: kill a writer at random moments -------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import itertools, json, sys
    from pathlib import Path
    from skills._atomic import atomic_path
    from skills.models import load_model
    from skills.plots import plot_training_curves, save_figure

    folder = Path(sys.argv[1])
    models = [load_model(folder / "a.h5"), load_model(folder / "b.h5")]
    payloads = [{"version": v, "numbers": list(range(k, k + 300_000))} for v, k in (("a", 0), ("b", 1))]
    curves = [{"loss": [1.0, 0.5]}, {"loss": [0.5, 1.0]}]
    for i in itertools.count():
        which = i % 2
        models[which].save(folder / "model.h5")
        save_figure(plot_training_curves(curves[which]), folder / "curves.png")
        with atomic_path(folder / "report.json") as tmp:
            tmp.write_text(json.dumps(payloads[which]))
        if i < 2:
            save_figure(plot_training_curves(curves[which]), folder / f"ref_{which}.png")
        if i == 1:
            print("writing", flush=True)
    """
)


def test_a_writer_killed_while_writing_leaves_the_old_file_or_the_new_one(small, tmp_path):
    windows = np.asarray(small.test.X)
    model = LSTMModel(sequence_length=10, lstm_units=4).fit(small, epochs=1, verbose=0)
    model.save(tmp_path / "a.h5")
    expected = [model.predict_proba(windows)]
    model.network_.set_weights([w * 1.5 for w in model.network_.get_weights()])  # another model, same shape
    model.save(tmp_path / "b.h5")
    expected.append(model.predict_proba(windows))
    assert not np.allclose(*expected)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    mid_write = 0
    for target in ("model", "curves", "report"):  # kill the writer while it writes this file
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready, _, _ = select.select([writer.stdout], [], [], 240)
            assert ready and writer.stdout.readline().strip() == "writing", "the writer did not start"
            deadline = time.monotonic() + 120
            while not any(name.startswith(f".{target}.") for name in os.listdir(tmp_path)):
                assert time.monotonic() < deadline and writer.poll() is None
            writer.send_signal(signal.SIGKILL)  # the temporary file is there: the write is under way
        finally:
            writer.kill()
            writer.wait(timeout=60)
        mid_write += any(p.name.startswith(f".{target}.") for p in tmp_path.iterdir())  # killed mid-write
        proba = load_model(tmp_path / "model.h5").predict_proba(windows)
        assert any(np.array_equal(proba, e) for e in expected)
        assert json.loads((tmp_path / "report.json").read_text())["version"] in ("a", "b")
        png = (tmp_path / "curves.png").read_bytes()
        assert png in ((tmp_path / "ref_0.png").read_bytes(), (tmp_path / "ref_1.png").read_bytes())
    assert mid_write >= 2  # the kills landed inside writes (temporary files were left), as the test intends
    load_model(tmp_path / "a.h5").save(tmp_path / "model.h5")  # the next write sweeps a killed writer's temp files
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".model.")]


# -- NaN loss ------------------------------------------------------------------------------------------


def _diverge_from(at):
    """Drives training to a NaN loss from epoch ``at`` (0-based) on: an infinite learning rate."""
    return keras.callbacks.LearningRateScheduler(lambda epoch, rate: float("inf") if epoch >= at else rate)


def _model():
    return LSTMModel(sequence_length=10, lstm_units=4)


def test_a_nan_loss_stops_training_and_keeps_the_best_weights(small, caplog):
    options = dict(epochs=5, batch_size=32, verbose=0, lr_schedule="constant")
    with caplog.at_level("WARNING", logger="skills.training"):
        diverged = _model().fit(small, callbacks=[_diverge_from(2)], **options)
    assert "the training loss became nan at epoch 3, batch" in caplog.text
    assert "kept the best weights so far" in caplog.text
    assert len(diverged.history_["loss"]) == 3 and np.isnan(diverged.history_["loss"][-1])  # stopped at once
    two_epochs = _model().fit(small, **{**options, "epochs": 2})
    np.testing.assert_array_equal(diverged.predict_proba(small.test), two_epochs.predict_proba(small.test))
    # a NaN before any epoch finished: nothing worth keeping (the train command below shows it as one line)


def test_the_train_command_reports_a_nan_loss_in_one_line_and_writes_nothing(csv, tmp_path, capsys):
    """A NaN in the first epoch (1e39 overflows float32: an infinite rate): exit 2 and no files."""
    code = main(["train", "--data-path", str(csv), "--model-path", str(tmp_path / "m.h5"), *NET,
                 "--learning-rate", "1e39"])
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skills")]
    assert len(err) == 1 and "the training loss became" in err[0] and "lower the learning rate" in err[0]
    assert list(tmp_path.iterdir()) == []  # no model, report, plot or backup


# -- unexpected errors -----------------------------------------------------------------------------------


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorBoard logs need TensorFlow")
@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_an_unexpected_error_exits_1_with_the_traceback_only_under_debug(debug, csv, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where TensorBoard wants a folder")
    out = tmp_path / "out"
    argv = ["train", "--data-path", str(csv), "--model-path", str(out / "m.h5"), *NET,
            "--tensorboard", str(blocker / "logs"), *debug]
    assert main(argv) == 1
    err = capsys.readouterr().err
    if debug:
        assert "Traceback (most recent call last)" in err and "is not a directory" in err
    else:
        lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
        assert len(lines) == 1 and "Traceback" not in err
        assert lines[0].startswith("skills train: unexpected error: ") and "rerun with --debug" in lines[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_debug_may_come_before_the_command_and_unknown_flags_are_one_line(csv, capsys):
    assert main(["--debug", "data", "--data-path", str(csv), "--sequence-length", "10"]) == 0
    with pytest.raises(SystemExit) as info:
        main(["data", "--data-path", str(csv), "--bogus"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "skills: error: unrecognized arguments: --bogus"
