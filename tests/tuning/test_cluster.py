"""A search attached to a Ray cluster places its trials on every node: a head and a worker node, one CPU each,
simulated in this machine with `ray.cluster_utils.Cluster`."""

import shutil

import pytest

from skills.data import load_ohlcv
from skills.tuning import tune

from .conftest import TINY_SPACE, short_tmp

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray at a time under -n


def _start(Cluster, folder, attempts=3):
    """A head and a worker node; Ray gives a node 30 s to start, which a busy 2-core machine can miss."""
    for _ in range(attempts):
        cluster = Cluster(shutdown_at_exit=True)
        try:
            cluster.add_node(num_cpus=1, include_dashboard=False, temp_dir=folder)
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            return cluster
        except Exception as exc:
            cluster.shutdown()
            if "timed out during startup" not in str(exc):
                raise
    pytest.skip(f"Ray could not start two nodes on this machine in {attempts} attempts (it gives a node 30 s)")


def test_trials_run_on_both_nodes_of_a_two_node_cluster(bars_csv, tmp_path, ray_env):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    folder = short_tmp()
    cluster = _start(Cluster, folder)
    try:
        ray.init(address=cluster.address, log_to_driver=False, runtime_env={"env_vars": ray_env})
        nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
        assert len(nodes) == 2
        result = tune("lstm", load_ohlcv(bars_csv), trials=2, folds=2, epochs=1, out=tmp_path / "out",
                      space=TINY_SPACE, fit={"patience": 1}, refit=False, quiet=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    assert set(result.trials["status"]) <= {"finished", "stopped"}  # ASHA may stop the one that trails
    assert set(result.trials["node_id"]) == nodes  # one trial per 1-CPU node, both at once
