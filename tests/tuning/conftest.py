"""Fixtures of the search tests: a slice of the bundled real bars, a tiny search space, and one local Ray session
per test module (2 CPUs, no dashboard, its files in a short temporary folder that is removed afterwards)."""

import os
import shutil
import tempfile

import pytest

#: A space of tiny networks: one LSTM layer of 4 or 8 units on 10-bar windows.
TINY_SPACE = {"lstm_units": {"choice": [4, 8]}, "num_layers": 1, "sequence_length": 10, "batch_size": 64}


@pytest.fixture(scope="session")
def bars_csv(tmp_path_factory, aapl):
    """The last 700 real AAPL bars (2015-04 .. 2018-01) as a CSV."""
    path = tmp_path_factory.mktemp("tune") / "AAPL.csv"
    aapl.iloc[-700:][["open", "high", "low", "close", "volume"]].to_csv(path)
    return path


@pytest.fixture(scope="session")
def ray_env():
    """The environment a Ray started by a test runs with: quiet TensorFlow, no token file in the home folder."""
    return {"TF_CPP_MIN_LOG_LEVEL": "3", "RAY_AIR_NEW_OUTPUT": "0"}


@pytest.fixture(scope="module")
def ray_session(ray_env):
    """A local Ray with 2 CPUs for the tests of one module; shut down and its folder removed afterwards."""
    ray = pytest.importorskip("ray")
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay under 107 chars
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=folder, log_to_driver=False,
             runtime_env={"env_vars": ray_env})
    yield ray
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def short_tmp():
    """A new short folder under /tmp (Ray's socket paths inside a pytest tmp_path can be too long)."""
    return tempfile.mkdtemp(prefix="ray", dir=os.environ.get("TMPDIR", "/tmp"))
