"""A search attached to a Ray cluster places its trials on every node: a head and a worker node, one CPU each,
simulated in this machine with `ray.cluster_utils.Cluster`; ``tune`` attaches through the same `RayOptions` as
``compare``."""

import shutil

import pytest
import ray
from ray.cluster_utils import Cluster

from skills.data import load_ohlcv
from skills.evaluation.parallel import RayOptions
from skills.tuning import tune

from .conftest import TINY_SPACE, short_tmp, start_with_retries, stop_shared_ray

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray at a time


def _two_nodes(folder) -> Cluster:
    """A head and a worker node, waited for up to 2 minutes."""
    cluster = Cluster(shutdown_at_exit=True)
    try:
        cluster.add_node(num_cpus=1, include_dashboard=False, temp_dir=folder)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes(timeout=120)
    except Exception:
        cluster.shutdown()
        raise
    return cluster


def test_trials_run_on_both_nodes_of_a_two_node_cluster(bars_csv, tmp_path, monkeypatch):
    stop_shared_ray()  # this test attaches to its own cluster
    folder = short_tmp()
    cluster = start_with_retries(lambda: _two_nodes(folder))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        result = tune("lstm", load_ohlcv(bars_csv), trials=2, folds=2, epochs=1, out=tmp_path / "out",
                      space=TINY_SPACE, fit={"patience": 1}, refit=False, quiet=True,
                      parallel=RayOptions(address=cluster.address))
        assert not ray.is_initialized()  # tune attached, and let go of the cluster after
        ray.init(address=cluster.address, log_to_driver=False)
        nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    assert len(nodes) == 2
    assert set(result.trials["status"]) <= {"finished", "stopped"}  # ASHA may stop the one that trails
    assert set(result.trials["node_id"]) == nodes  # one trial per 1-CPU node, both at once
