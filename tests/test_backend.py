"""The Keras backend: the package default in a fresh process, the user's choice kept, files portable across them."""

import os
import subprocess
import sys
import textwrap
import types
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


NO_TENSORFLOW = textwrap.dedent(
    """
    import sys
    import keras, numpy as np
    import skills, skills.cli, skills.pipeline, skills.models, skills.training, skills.evaluation, skills.plots
    import skills.tuning, skills.strategy, skills.data, skills.metrics
    assert keras.backend.backend() == %r, keras.backend.backend()
    assert "tensorflow" not in sys.modules, "imported with the package"
    from skills.data import load_ohlcv, prepare_dataset
    from skills.models import LSTMModel, load_model
    data = prepare_dataset(load_ohlcv(%r).iloc[-300:], sequence_length=10)
    model = LSTMModel(sequence_length=10, lstm_units=4).fit(data, epochs=1, batch_size=64, verbose=0, seed=3)
    for suffix in (".keras", ".h5"):
        load_model(str(model.save(%r + suffix))).predict_proba(np.asarray(data.test.X))
    assert "tensorflow" not in sys.modules, "imported by a fit, a save or a load"
    print("no tensorflow")
    """
)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_tensorflow_is_not_imported_under_another_backend(tmp_path, data_dir, backend):
    """Importing every layer of the package, a seeded fit, a save in both formats and a load leave TensorFlow out."""
    pytest.importorskip(backend)
    code = NO_TENSORFLOW % (backend, str(data_dir / "AAPL.csv"), str(tmp_path / "model"))
    assert run_python(code, tmp_path, KERAS_BACKEND=backend)[-1] == "no tensorflow"


@pytest.mark.integration
def test_the_data_command_under_jax_prints_no_tensorflow_start_up_line(tmp_path, data_dir):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND="jax", KERAS_HOME=str(tmp_path / "keras_home"))
    done = subprocess.run([sys.executable, "-m", "skills", "data", "--data-path", str(data_dir / "AAPL.csv")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train:" in done.stdout
    for line in done.stderr.splitlines():
        assert not any(mark in line for mark in ("oneDNN", "cudart", "cpu_feature_guard")), line


def test_keras_sees_tensorflow_only_once_it_is_imported(monkeypatch):
    """The guard the package installs under jax / torch: Keras' lazy handle reports TensorFlow unavailable while it
    is not imported (so Keras does not import it to ask), and available as usual once it is."""
    from keras.src.utils import module_utils

    from skills.training import keep_tensorflow_out

    if keras.backend.backend() == "tensorflow":
        assert keep_tensorflow_out() is False
        return
    handle = module_utils.tensorflow
    guarded = type(handle)
    assert guarded.__name__ == "ImportedOnly"  # installed when the package was imported
    assert keep_tensorflow_out() is True and type(handle) is guarded  # a second call changes nothing
    for name in ("_available", "module"):  # whatever this test makes Keras cache is undone afterwards
        monkeypatch.setattr(handle, name, None)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert handle.available is False
    assert "tensorflow" not in sys.modules
    imported = types.ModuleType("tensorflow")  # stands for TensorFlow once something imported it
    monkeypatch.setitem(sys.modules, "tensorflow", imported)
    assert handle.available is True
    assert handle.module is imported
