"""Fixtures of the search tests: a slice of the bundled real bars, a tiny search space, and the session's local
Ray (`tests/ray_conftest.py`: 2 CPUs, started once, shut down when the session ends)."""

import pytest

from skills.evaluation.parallel import RayOptions
from tests.ray_conftest import shared_ray, short_tmp, start_with_retries, stop_shared_ray

__all__ = ["TINY_SPACE", "short_tmp", "start_with_retries", "stop_shared_ray"]

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
    """The environment of a Ray a test starts in a subprocess or a cluster: quiet TensorFlow, Ray Tune's own
    progress table off."""
    return {"TF_CPP_MIN_LOG_LEVEL": "3", "RAY_AIR_NEW_OUTPUT": "0"}


@pytest.fixture
def ray_session() -> RayOptions:
    """The session's local Ray (2 CPUs), started on first use; the `RayOptions` of a run on it."""
    return shared_ray()
