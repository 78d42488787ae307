"""`skills.tracking`: connecting to a store, runs that end FINISHED / FAILED / KILLED, what a run logs, and the
one line a bad URI gets, read back with `MlflowClient` from a temporary local store."""

import math
import sys
import time

import numpy as np
import pytest

from skills.tracking import Tracking, TrackingError, flatten, scalars

pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A local MLflow database in a temporary folder (its artifacts in ``mlruns/`` beside it)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def test_check_creates_the_experiment_once_with_its_artifacts_beside_the_database(store):
    first = Tracking(store, "first").check()
    again = Tracking(store, "first").check()
    assert first.experiment_id == again.experiment_id
    client = first.client
    assert first.check() is first and first.client is client  # connected once: the CLI's check is not repeated
    experiment = MlflowClient(store).get_experiment(first.experiment_id)
    assert experiment.name == "first" and experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location.endswith("/mlruns") and store.split("sqlite:///")[1].rsplit("/", 1)[0] in \
        experiment.artifact_location


def test_a_relative_database_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Tracking("sqlite:///runs/mlflow.db").resolved_uri() == f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"


def test_the_environment_names_the_store_and_experiment_when_no_argument_does(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    tracking = Tracking().check()
    assert tracking.uri == store and tracking.experiment == "from-env"
    assert MlflowClient(store).get_experiment_by_name("from-env") is not None


@pytest.mark.parametrize("uri, fragment", [
    ("nosuchscheme://somewhere", "nosuchscheme://somewhere"),
    ("http://127.0.0.1:9", "http://127.0.0.1:9"),  # nothing listens on the discard port: refused at once
])
def test_a_bad_uri_or_a_server_that_does_not_answer_is_one_line_naming_it(uri, fragment):
    started = time.perf_counter()
    with pytest.raises(TrackingError) as caught:
        Tracking(uri).check()
    message = str(caught.value)
    assert fragment in message and "\n" not in message and isinstance(caught.value, ValueError)
    assert time.perf_counter() - started < 30  # no retries with back-off


def test_without_mlflow_tracking_is_one_line_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    with pytest.raises(TrackingError, match=r"tracking needs MLflow: pip install mlflow"):
        Tracking("sqlite:///unused.db").check()


def test_a_run_ends_finished_failed_or_killed_never_running(store):
    tracking = Tracking(store, "status").check()
    client = MlflowClient(store)
    with tracking.start_run("ok") as ok:
        pass
    with pytest.raises(RuntimeError), tracking.start_run("fails") as fails:
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), tracking.start_run("stopped") as stopped:
        raise KeyboardInterrupt
    statuses = {run.run_id: client.get_run(run.run_id).info.status for run in (ok, fails, stopped)}
    assert statuses == {ok.run_id: "FINISHED", fails.run_id: "FAILED", stopped.run_id: "KILLED"}


def test_params_metrics_tags_children_and_the_epoch_callback(store, tmp_path):
    tracking = Tracking(store, "logging").check()
    client = MlflowClient(store)
    with tracking.start_run("parent", params={"net": {"units": 8, "layers": [1, 2]}}, tags={"kind": "test"}) as run:
        run.log_metrics({"a": 1, "b": float("nan"), "c": None, "d": "text", "nested": {"e": np.float32(2.5)}},
                        prefix="x/")
        callback = run.callback()
        for epoch, loss in enumerate([1.0, 0.8, 0.7]):  # two fits of the same callback count on: 3 steps
            callback.on_epoch_end(epoch % 2, {"loss": np.float32(loss), "val_loss": loss + 0.1})
        (tmp_path / "f.txt").write_text("hello")
        run.log_artifact(tmp_path / "f.txt")
        with run.start_child("child") as child:
            child.log_metrics({"y": 3.0})
    got = client.get_run(run.run_id).data
    assert got.params == {"net.units": "8", "net.layers": "[1, 2]"} and got.tags["kind"] == "test"
    assert got.metrics == {"x/a": 1.0, "x/nested.e": 2.5, "loss": pytest.approx(0.7), "val_loss": pytest.approx(0.8)}
    history = client.get_metric_history(run.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2] and [round(m.value, 6) for m in history] == [1.0, 0.8, 0.7]
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["f.txt"]
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == run.run_id


def test_flatten_and_scalars():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    found = scalars({"ok": 1, "flag": True, "inf": math.inf, "s": "x", "weird key (1)": 2.0})
    assert found == {"ok": 1.0, "flag": 1.0, "weird key _1_": 2.0}
