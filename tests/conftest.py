"""Shared fixtures: the bundled real data, and NumPy, Python and Keras seeded before every test."""

import os
from pathlib import Path

# The tests train tiny networks for an epoch or two, so XLA's compile time dominates them under jax: compile
# without LLVM's optimisation passes (tests/models/test_estimator.py: 154 s -> 98 s). Set before jax is imported,
# so child processes and Ray workers inherit it; a value already in the environment wins.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import skills  # noqa: F401,E402  (first, so the package's default Keras backend applies before a test imports keras)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state: NumPy's global RNG, Python's, and the backend's."""
    import keras

    np.random.seed(0)
    keras.utils.set_random_seed(0)  # seeds Python, NumPy and the backend (TensorFlow / torch / jax)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def aapl():
    """Real AAPL daily bars (2004-2018) as load_ohlcv returns them."""
    from skills.data import load_ohlcv

    return load_ohlcv(DATA_DIR / "AAPL.csv")
