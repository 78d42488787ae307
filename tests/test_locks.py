"""One writer per model file and per training backup: the lock of skills._lock, held by one real process and
refused to another (the library raises LockedError; the train command prints one line and exits 2)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skills._lock import LockedError, exclusive_lock, lock_path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
# the holder loads skills/_lock.py alone (it imports nothing of the package), so it starts in a blink
HOLD = ("import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('lock', sys.argv[2])\n"
        "lock = importlib.util.module_from_spec(spec); spec.loader.exec_module(lock)\n"
        "with lock.exclusive_lock(sys.argv[1], 'model file'):\n    print('held', flush=True)\n    sys.stdin.read()\n")


@pytest.fixture
def holder():
    """Start processes that take the lock on a path and keep it until their stdin closes (or they are killed)."""
    started = []

    def hold(path):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(ROOT / "skills" / "_lock.py")],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _release(process):
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def test_a_second_process_is_refused_while_the_first_holds_the_path_then_admitted(tmp_path, holder):
    model = tmp_path / "m.h5"
    first = holder(model)
    with pytest.raises(LockedError) as caught:
        with exclusive_lock(model, "model file"):
            pytest.fail("the lock was granted twice")
    message = str(caught.value)
    assert str(model) in message and f"process {first.pid}" in message and "another run" in message
    assert "\n" not in message
    _release(first)
    assert not lock_path(model).exists()  # the holder removed its sidecar
    with exclusive_lock(model) as sidecar:  # free again
        assert sidecar.read_text() == str(os.getpid())
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holder_leaves_no_lock_that_blocks_the_next_run(tmp_path, holder):
    model = tmp_path / "m.keras"
    first = holder(model)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert lock_path(model).exists()  # the sidecar stays, but the OS released the lock with the process
    with exclusive_lock(model) as sidecar:
        assert sidecar.read_text() == str(os.getpid())
    assert not lock_path(model).exists()


def test_the_lock_refuses_a_second_open_in_the_same_process_and_cleans_up_folders_it_made(tmp_path):
    model = tmp_path / "new" / "deeper" / "m.h5"
    with exclusive_lock(model):
        assert lock_path(model).exists()
        with pytest.raises(LockedError):
            with exclusive_lock(model):
                pass
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the folders


def test_train_command_exits_2_with_one_line_while_another_run_writes_the_model(tmp_path, holder, aapl, capsys):
    from skills.cli import main

    csv = tmp_path.parent / f"{tmp_path.name}-AAPL.csv"
    aapl.iloc[-300:].to_csv(csv)
    model = tmp_path / "m.h5"
    first = holder(model)  # another process, as a running `train` holds it
    code = main(["train", "--data-path", str(csv), "--model-path", str(model), "--epochs", "1", "--lstm-units", "4",
                 "--attention-units", "4"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("skills train: error: ") and str(model) in lines[0]
    assert f"process {first.pid}" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5.lock"]  # the holder's sidecar, nothing else
    _release(first)
    assert list(tmp_path.iterdir()) == []


def test_the_trainer_refuses_a_backup_folder_another_process_is_training_into(tmp_path, holder):
    import keras

    from skills.training import TrainConfig, train

    backup = tmp_path / "run.backup"
    first = holder(backup)

    def build():
        inputs = keras.Input((5, 3))
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5, 3)).astype("float32"), rng.integers(0, 3, 40)
    config = TrainConfig(epochs=1, batch_size=8, verbose=0, backup_dir=str(backup))
    with pytest.raises(LockedError, match="training backup"):
        train(build, (X, y), config=config)
    assert not backup.exists()  # nothing written into the other run's backup
    _release(first)
    result = train(build, (X, y), config=config)  # the folder is free: the run goes through and backs up
    assert len(result.history.history["loss"]) == 1 and (backup / "state.json").is_file()
    assert not lock_path(backup).exists()
