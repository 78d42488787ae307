"""Killing ``skills tune`` (SIGKILL, no chance to clean up) after a trial has finished and running the same
command again resumes the search: the finished trial is kept as it was, not trained again, and the search
completes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from .conftest import TINY_SPACE, short_tmp, stop_shared_ray

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray at a time
ROOT = Path(__file__).resolve().parents[2]


def _finished(out: Path) -> pd.DataFrame:
    try:
        trials = pd.read_csv(out / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=["status"])
    return trials[trials["status"] == "finished"]


def _state_saved_after(out: Path, moment: float) -> bool:
    return any(path.stat().st_mtime > moment for path in (out / "search").glob("experiment_state-*.json"))


def _run(command, env, attempts=3):
    """The command run to its end, again when its Ray missed Ray's fixed 30 s node start (a busy machine)."""
    for _ in range(attempts):
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        if "timed out during startup" not in done.stderr:
            break
    return done


def test_a_killed_search_resumes_without_redoing_finished_trials(bars_csv, tmp_path, ray_env):
    stop_shared_ray()  # the command starts its own Ray
    out, space = tmp_path / "out", tmp_path / "space.json"
    space.write_text(json.dumps(TINY_SPACE))
    command = [sys.executable, "-m", "skills", "tune", "--model", "lstm", "--data-path", str(bars_csv), "--trials",
               "2", "--n-splits", "2", "--epochs", "1", "--patience", "1", "--space", str(space), "--out", str(out),
               "--workers", "1"]  # one trial at a time
    env = {**os.environ, **ray_env, "RAY_TMPDIR": short_tmp(), "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.time() + 900  # a busy 2-core machine: Ray, TensorFlow and a first trial can take minutes
        while _finished(out).empty:
            assert first.poll() is None, "the search ended before it could be killed"
            assert time.time() < deadline, "no trial finished in 15 minutes"
            time.sleep(0.5)
        done = _finished(out)
        moment = (out / "trials.csv").stat().st_mtime
        while not _state_saved_after(out, moment):  # Ray Tune saves its state at least every 10 s
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.5)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the command and the Ray it started (same process group)
        first.wait()
    assert len(done) >= 1 and not (out / "best_config.json").exists()

    second = _run(command, env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming the search in" in second.stdout
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and (trials["status"] != "failed").all()
    kept = trials.set_index("trial_id").loc[done["trial_id"]]
    assert (kept["status"] == "finished").all()
    assert kept["seconds"].tolist() == done["seconds"].tolist()  # the same result, not a second training
    assert kept["objective"].tolist() == done["objective"].tolist()
    assert (out / "best_config.json").exists() and (out / "best_model.keras").exists()
