"""``tune --track``: the search is a parent MLflow run holding its settings, best objective and best
configuration; each trial is a child run (Ray Tune's `MLflowLoggerCallback`) with its config and reports."""

import json

import pandas as pd
import pytest

from skills.cli import main

from .conftest import TINY_SPACE

pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray at a time


def test_a_tracked_search_is_a_parent_run_with_a_child_per_trial(ray_session, bars_csv, tmp_path, capsys):
    out, space, store = tmp_path / "out", tmp_path / "space.json", f"sqlite:///{tmp_path / 'mlflow.db'}"
    space.write_text(json.dumps({**TINY_SPACE, "lstm_units": {"choice": [4, 8]}}))
    assert main(["tune", "--model", "lstm", "--data-path", str(bars_csv), "--trials", "2", "--n-splits", "2",
                 "--epochs", "1", "--patience", "1", "--space", str(space), "--out", str(out), "--quiet",
                 "--tracking-uri", store, "--experiment", "search"]) == 0
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("search")
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    trials = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.run_name == "tune lstm" and parent.info.status == "FINISHED" and len(trials) == 2
    assert all(run.info.status == "FINISHED" for run in trials)
    table = pd.read_csv(out / "trials.csv")
    assert sorted(int(run.data.params["lstm_units"]) for run in trials) == sorted(table["lstm_units"])
    assert all("objective" in run.data.metrics for run in trials)
    best = table["objective"].min()  # log loss: lower is better
    assert parent.data.metrics["best_objective"] == pytest.approx(best)
    assert parent.data.params["model"] == "lstm" and parent.data.params["trials"] == "2"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"best_config.json", "trials.csv", "trials.txt", "best_model.keras"} <= artifacts
