"""Resume after a SIGKILL, and determinism, through ``python -m skills train``.

The tests start real ``python -m skills train`` processes on the last 400 real AAPL bars with a
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

import pytest

from skills.cli import main
from skills.models import load_model

pytestmark = pytest.mark.integration  # fresh training processes, killed and rerun

REPO = Path(__file__).resolve().parents[2]
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


@pytest.mark.slow
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


def _unlocked(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".lock")


@pytest.mark.slow
def test_a_run_killed_after_epoch_1_resumes_at_epoch_2_and_ends_as_if_never_killed(csv, tmp_path, uninterrupted):
    path = tmp_path / "m.h5"
    state = _kill_after_first_epoch(csv, path)
    assert 1 <= state["epochs_done"] == state["epoch"] < 3  # 1 unless the machine stalled the poll
    # no model, report or plot yet; a killed run leaves its lock sidecars, released by the OS (the rerun removes them)
    assert _unlocked(tmp_path) == ["m.backup"]
    done, report = _train(csv, path)  # the same command again
    assert [line for line in done.stderr.splitlines() if "resuming" in line] == [_resumed_line(path, state)]
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES  # and the backup is gone
    _same_run(report, uninterrupted[0][1])  # same split, every epoch's losses, test metrics
    assert load_model(path).scaler_ == load_model(uninterrupted[0][0]).scaler_


@pytest.mark.slow
def test_a_backup_of_another_run_is_refused_and_kept_then_resume_finishes_it(csv, tmp_path, uninterrupted, capsys):
    path = tmp_path / "m.h5"
    state = _kill_after_first_epoch(csv, path)
    argv = ["train", "--data-path", str(csv), "--model-path", str(path), *FLAGS]
    assert main([*argv, "--learning-rate", "0.002"]) == 2  # not the command that wrote the backup
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a backup of a different run" in err[0] and "delete" in err[0]
    assert _unlocked(tmp_path) == ["m.backup"]
    assert json.loads((path.with_suffix(".backup") / "state.json").read_text()) == state  # nothing lost
    assert main([*argv, "--resume"]) == 0  # --resume continues the killed run (there is no model file yet)
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "resuming" in line] == [_resumed_line(path, state)]
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES
    _same_run(json.loads(path.with_suffix(".report.json").read_text()), uninterrupted[0][1])
