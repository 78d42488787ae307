"""The Keras backend: the package default in a fresh process, the user's choice kept, files portable across them."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import skills

REPO = Path(__file__).resolve().parents[1]
WHICH = "import skills, keras, os; print(keras.backend.backend(), os.environ.get('KERAS_BACKEND'))"


def run_python(code, tmp_path, **env_changes):
    """``python -c code`` from the repository root with a fresh KERAS_HOME (no keras.json) and KERAS_BACKEND unset
    unless given; returns its stdout lines."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update({"KERAS_HOME": str(tmp_path / "keras_home"), "TF_CPP_MIN_LOG_LEVEL": "3", **env_changes})
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


@pytest.mark.integration
def test_default_backend_applies_in_a_fresh_process(tmp_path):
    assert run_python(WHICH, tmp_path)[-1] == f"{skills.DEFAULT_BACKEND} {skills.DEFAULT_BACKEND}"


@pytest.mark.integration
def test_the_users_environment_variable_is_kept_in_a_fresh_process(tmp_path):
    assert run_python(WHICH, tmp_path, KERAS_BACKEND="tensorflow")[-1] == "tensorflow tensorflow"


def test_the_package_default_applies_unless_the_user_chose(tmp_path, monkeypatch):
    """`_choose_backend` as a fresh process runs it: keras not imported yet, KERAS_BACKEND unset."""
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    # keras already imported (as here): its backend stays, and nothing is set for child processes
    skills._choose_backend()
    assert "KERAS_BACKEND" not in os.environ
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    # no keras.json yet (a new user): the package's default
    skills._choose_backend()
    assert os.environ["KERAS_BACKEND"] == skills.DEFAULT_BACKEND
    # KERAS_BACKEND set by the user: kept
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    skills._choose_backend()
    assert os.environ["KERAS_BACKEND"] == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    # a keras.json naming a backend other than Keras' own default: the user's choice
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "keras.json").write_text('{"backend": "numpy"}')
    skills._choose_backend()
    assert "KERAS_BACKEND" not in os.environ
    # the same with Keras' own default written there (as Keras does on first import): the package's default
    (tmp_path / "home" / "keras.json").write_text('{"backend": "tensorflow"}')
    skills._choose_backend()
    assert os.environ["KERAS_BACKEND"] == skills.DEFAULT_BACKEND


LOAD_AND_PREDICT = textwrap.dedent(
    """
    import numpy as np, keras
    from skills.models import load_model
    X = np.load(%r)
    for path in %r:
        print(keras.backend.backend(), np.abs(load_model(path).predict_proba(X) - np.load(path + ".npy")).max())
    """
)


@pytest.mark.slow
@pytest.mark.integration
def test_a_model_file_loads_under_another_backend(tmp_path, aapl):
    """Trained here (the default backend), saved as .keras and .h5, predicted the same by another backend."""
    from skills.data import prepare_dataset
    from skills.models import AttentionLSTMModel

    data = prepare_dataset(aapl.iloc[-420:], sequence_length=20)
    test_windows = np.asarray(data.test.X)
    model = AttentionLSTMModel(sequence_length=20, lstm_units=8, attention_units=4).fit(data, epochs=1, verbose=0)
    np.save(tmp_path / "X.npy", test_windows)
    paths = []
    for suffix in (".keras", ".h5"):
        path = str(model.save(tmp_path / f"model{suffix}"))
        np.save(path + ".npy", model.predict_proba(test_windows))
        paths.append(path)
    other = "tensorflow" if keras.backend.backend() != "tensorflow" else "jax"
    lines = run_python(LOAD_AND_PREDICT % (str(tmp_path / "X.npy"), paths), tmp_path, KERAS_BACKEND=other)
    assert len(lines) == len(paths)
    for line in lines:
        backend, difference = line.split()
        assert backend == other
        assert float(difference) < 1e-5
