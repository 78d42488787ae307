"""Keras' progress output: a bar on a terminal, one line per epoch in a file or pipe, nothing with --quiet."""

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from skills.training import progress_verbosity

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 2
FLAGS = ["--model", "lstm", "--sequence-length", "10", "--lstm-units", "4", "--epochs", str(EPOCHS),
         "--patience", "10", "--batch-size", "16", "--seed", "7"]
#: Keras' summary line of an epoch at verbose=2: "steps/steps - time - time/step - metric: value - ...".
EPOCH_LINE = re.compile(r"^\d+/\d+ - \S+ - \S+/step - .*\bloss: ")


def test_a_file_or_a_pipe_gets_a_line_per_epoch_a_terminal_the_bar(tmp_path):
    assert progress_verbosity(io.StringIO()) == 2
    with open(tmp_path / "log.txt", "w") as file:
        assert progress_verbosity(file) == 2
        assert progress_verbosity(file, quiet=True) == 0
    assert progress_verbosity(file) == 2  # closed: not a terminal
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
        assert progress_verbosity(writer) == 2
        assert progress_verbosity(reader) == 2
    controller, terminal = os.openpty()
    with os.fdopen(controller, "rb") as _, os.fdopen(terminal, "w") as tty:
        assert progress_verbosity(tty) == 1
        assert progress_verbosity(tty, quiet=True) == 0


def test_the_default_stream_is_stdout_when_called(monkeypatch):
    controller, terminal = os.openpty()
    with os.fdopen(controller, "rb") as _, os.fdopen(terminal, "w") as tty:
        monkeypatch.setattr(sys, "stdout", tty)
        assert progress_verbosity() == 1
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        assert progress_verbosity() == 2


@pytest.fixture(scope="module")
def csv(tmp_path_factory, aapl):
    path = tmp_path_factory.mktemp("progress_data") / "AAPL.csv"
    aapl.iloc[-400:].to_csv(path)
    return path


def _train(csv, model_path, stdout, stderr=subprocess.PIPE, backend="jax"):
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # TensorFlow's start-up lines, if it were imported, would show
    return subprocess.Popen([sys.executable, "-m", "skills", "train", "--data-path", str(csv), "--model-path",
                             str(model_path), *FLAGS], cwd=REPO, env=env, stdout=stdout, stderr=stderr)


@pytest.mark.integration
def test_train_redirected_to_a_file_writes_a_line_per_epoch_and_no_tensorflow_start_up(csv, tmp_path):
    log = tmp_path / "train.log"
    with open(log, "wb") as out:
        process = _train(csv, tmp_path / "m.keras", out)
        _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()[-3000:]
    text = log.read_bytes()
    assert b"\r" not in text and b"\x08" not in text and b"\x1b[" not in text  # no redraws, no colours
    lines = text.decode().splitlines()
    assert sum(bool(EPOCH_LINE.match(line)) for line in lines) == EPOCHS
    assert [line for line in lines if line.startswith("Epoch ")] == [f"Epoch {i}/{EPOCHS}" for i in (1, 2)]
    assert len(text) < 4096
    for line in stderr.decode().splitlines():  # jax backend: TensorFlow never started
        assert not any(mark in line for mark in ("oneDNN", "cudart", "cpu_feature_guard")), line


@pytest.mark.integration
def test_train_on_a_terminal_draws_the_bar(csv, tmp_path):
    controller, terminal = os.openpty()
    chunks = []

    def drain():
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        process = _train(csv, tmp_path / "m.keras", terminal, stderr=subprocess.DEVNULL)
        os.close(terminal)
        assert process.wait(timeout=300) == 0
        reader.join(timeout=30)
    finally:
        os.close(controller)
    text = b"".join(chunks)
    assert b"\r" in text  # the bar redraws itself in place
    assert b"Epoch 2/2" in text
