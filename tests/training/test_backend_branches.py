"""The training tests whose expected results depend on the Keras backend, run again under the other backends.

The test suite runs under the default backend (jax). `test_config.py` (TensorBoard logs are written under
TensorFlow only) and `test_precision_backends.py` (recurrent layers keep float32 under jax only) expect other
results under TensorFlow and torch; here they run in a fresh process under each: TensorFlow always (a
requirement), torch where it is installed (an optional backend).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

REPO = Path(__file__).resolve().parents[2]
BACKEND_DEPENDENT = ["tests/training/test_config.py", "tests/training/test_precision_backends.py"]


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_the_backend_dependent_training_tests_pass_under(backend):
    if backend == keras.backend.backend():
        pytest.skip(f"this run is under {backend}: those tests ran in it")
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch, an optional backend, is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *BACKEND_DEPENDENT],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary  # every test ran under this backend
