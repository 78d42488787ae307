"""Resume after a crash, and determinism: the trainer's per-epoch backup, through the library and a SIGKILL.

The command-line tests start real ``python -m skills train`` processes on the last 400 real AAPL bars with a
tiny network, kill one with SIGKILL right after its first epoch's backup, rerun it, and compare with runs that
were never interrupted: same seed, same machine -> the same split, history and test metrics.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from skills.cli import main
from skills.data import prepare_dataset
from skills.models import AttentionLSTMModel, load_model
from skills.training import TrainingError, remove_backup

REPO = Path(__file__).resolve().parents[1]
EXACT = keras.backend.backend() == "tensorflow"
TIMEOUT = 300  # seconds for one training process on a loaded 2-core machine
FLAGS = ["--model", "lstm", "--sequence-length", "10", "--lstm-units", "4", "--epochs", "3",
         "--patience", "10", "--batch-size", "32", "--seed", "7", "--quiet"]


@pytest.fixture(scope="module")
def csv(tmp_path_factory, aapl):
    path = tmp_path_factory.mktemp("resume_data") / "AAPL.csv"
    aapl.iloc[-400:].to_csv(path)
    return path


def _command(csv, model_path, *extra):
    return [sys.executable, "-m", "skills", "train", "--data-path", str(csv), "--model-path", str(model_path),
            *FLAGS, *extra]


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _train(csv, model_path, *extra):
    done = subprocess.run(_command(csv, model_path, *extra), cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(model_path.with_suffix(".report.json").read_text())


def _kill_after_first_epoch(csv, model_path):
    """Start a training process, SIGKILL it as soon as its backup holds a finished epoch; the backup's state."""
    state_file = model_path.with_suffix(".backup") / "state.json"
    process = subprocess.Popen(_command(csv, model_path), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not state_file.exists():  # poll: no fixed sleeps, whatever the machine's load
            assert process.poll() is None, "training ended before its first backup"
            assert time.monotonic() < deadline, "no backup appeared"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return json.loads(state_file.read_text())


@pytest.fixture(scope="module")
def uninterrupted(csv, tmp_path_factory):
    """The same command run twice, start to finish (in this process: the training processes are below)."""
    runs = []
    for name in ("first", "second"):
        path = tmp_path_factory.mktemp(name) / "m.h5"
        assert main(["train", "--data-path", str(csv), "--model-path", str(path), *FLAGS]) == 0
        runs.append((path, json.loads(path.with_suffix(".report.json").read_text())))
    return runs


def _same_run(report, other):
    assert report["data"]["date_ranges"] == other["data"]["date_ranges"]
    assert report["data"]["windows"] == other["data"]["windows"]
    assert report["history"] == other["history"]
    assert report["test_metrics"] == other["test_metrics"]


def test_the_same_seed_gives_the_same_split_and_metrics(uninterrupted):
    (path_a, a), (path_b, b) = uninterrupted
    _same_run(a, b)
    assert len(a["history"]["loss"]) == 3
    assert load_model(path_a).scaler_ == load_model(path_b).scaler_
    assert not path_a.with_suffix(".backup").exists()  # a finished run removes its backup


def _resumed_line(path, state):
    done = state["epochs_done"]
    backup = path.with_suffix(".backup")
    return f"resuming from epoch {done + 1} of 3: {backup} holds {done} finished epoch(s) of this run"


FILES = ["m.confusion.png", "m.curves.png", "m.h5", "m.report.json"]


def test_a_run_killed_after_epoch_1_resumes_at_epoch_2_and_ends_as_if_never_killed(csv, tmp_path, uninterrupted):
    path = tmp_path / "m.h5"
    state = _kill_after_first_epoch(csv, path)
    assert 1 <= state["epochs_done"] < 3 and not state["finished"]  # 1 unless the machine stalled the poll
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.backup"]  # no model, report or plot yet
    done, report = _train(csv, path)  # the same command again
    assert [line for line in done.stderr.splitlines() if "resuming" in line] == [_resumed_line(path, state)]
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES  # and the backup is gone
    _same_run(report, uninterrupted[0][1])  # same split, every epoch's losses, test metrics
    assert load_model(path).scaler_ == load_model(uninterrupted[0][0]).scaler_


def test_a_backup_of_another_run_is_refused_and_kept_then_resume_finishes_it(csv, tmp_path, uninterrupted, capsys):
    path = tmp_path / "m.h5"
    state = _kill_after_first_epoch(csv, path)
    argv = ["train", "--data-path", str(csv), "--model-path", str(path), *FLAGS]
    assert main([*argv, "--learning-rate", "0.002"]) == 2  # not the command that wrote the backup
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a backup of a different run" in err[0] and "delete" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.backup"]
    assert json.loads((path.with_suffix(".backup") / "state.json").read_text()) == state  # nothing lost
    assert main([*argv, "--resume"]) == 0  # --resume continues the killed run (there is no model file yet)
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "resuming" in line] == [_resumed_line(path, state)]
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES
    _same_run(json.loads(path.with_suffix(".report.json").read_text()), uninterrupted[0][1])


# -- the library ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(aapl):
    return prepare_dataset(aapl.iloc[-400:], sequence_length=10)


def _crash_before(at):
    """Stands in for a crash: raises as epoch ``at`` (0-based) begins."""

    def crash(epoch, logs=None):
        if epoch == at:
            raise KeyboardInterrupt(f"crash before epoch {epoch + 1}")

    return keras.callbacks.LambdaCallback(on_epoch_begin=crash)


def _model():
    return AttentionLSTMModel(sequence_length=10, lstm_units=4, attention_units=4, dropout_rate=0.3)


def test_library_resume_restores_weights_optimizer_callbacks_dropout_and_shuffling(small, tmp_path, caplog):
    options = dict(epochs=5, batch_size=32, patience=1, verbose=0, learning_rate=0.02)
    reference = _model().fit(small, **options)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _model().fit(small, backup_dir=str(backup), callbacks=[_crash_before(2)], **options)
    state = json.loads((backup / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["history"]["loss"] == reference.history_["loss"][:2]
    with caplog.at_level("WARNING", logger="skills.training"):
        resumed = _model().fit(small, backup_dir=str(backup), **options)
    assert "resuming from epoch 3 of 5" in caplog.text
    # early stopping (patience 1) and the plateau schedule stop and decay on the same epochs as the reference
    # (bit for bit on TensorFlow; PyTorch draws unseeded dropout from its global RNG, which is not replayed)
    assert len(resumed.history_["loss"]) == len(reference.history_["loss"])
    assert resumed.history_["loss"][:2] == reference.history_["loss"][:2]
    if EXACT:
        assert resumed.history_ == reference.history_
        np.testing.assert_array_equal(resumed.predict_proba(small.test), reference.predict_proba(small.test))
    # the backup now holds the finished run: fitting again trains nothing and gives the same model
    caplog.clear()
    with caplog.at_level("WARNING", logger="skills.training"):
        again = _model().fit(small, backup_dir=str(backup), **options)
    assert "holds this run's finished training" in caplog.text and again.history_ == resumed.history_
    np.testing.assert_array_equal(again.predict_proba(small.test), resumed.predict_proba(small.test))
    assert remove_backup(backup) and not backup.exists() and not remove_backup(backup)


def test_library_refuses_another_runs_or_a_damaged_backup(small, tmp_path, data_dir):
    from skills.data import load_ohlcv

    goog = load_ohlcv(data_dir / "GOOG.csv").iloc[-400:]  # other real bars over the same dates
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup), callbacks=[_crash_before(1)])
    with pytest.raises(TrainingError, match="different run"):  # another seed: another run
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup), seed=1)
    with pytest.raises(TrainingError, match="different run"):  # other data: another split and scaler
        _model().fit(prepare_dataset(goog, sequence_length=10), epochs=3, verbose=0, backup_dir=str(backup))
    (backup / "state.json").write_text('{"format": "skills-training-backup", "epochs')  # a torn write
    with pytest.raises(TrainingError, match="unreadable training backup"):
        _model().fit(small, epochs=3, verbose=0, backup_dir=str(backup))
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "keep.txt").write_text("mine")
    assert not remove_backup(unrelated) and (unrelated / "keep.txt").exists()  # only ever deletes a backup

