"""``--track`` / ``tracking=``: `train`, `compare` and `backtest` runs read back with `MlflowClient` from a
temporary local store: params, one metric step per epoch, the test figures, the artifacts (the logged model file
predicts what the trained model predicts), FAILED runs, and a bad URI stopping the command before it trains."""

import json

import numpy as np
import pytest

from skills import pipeline
from skills.cli import main
from skills.data import DataError
from skills.models import load_model
from skills.tracking import Tracking

from .conftest import TINY, TINY_FLAGS

LSTM = {key: value for key, value in TINY.items() if key != "attention_units"}  # a tiny LSTM's options

pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.artifacts import download_artifacts  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, aapl_file, store):
    """The same tiny LSTM trained twice on the AAPL slice, once tracked: (tracked result, untracked result, its run,
    the folder of both)."""
    folder = tmp_path_factory.mktemp("tracked")
    options = {**LSTM, "epochs": 2, "patience": 5}
    tracking = Tracking(store, "train").check()
    result = pipeline.train(aapl_file, model="lstm", model_path=folder / "t.keras", tracking=tracking, **options)
    plain = pipeline.train(aapl_file, model="lstm", model_path=folder / "p.keras", **options)
    [run] = MlflowClient(store).search_runs([tracking.experiment_id])
    return result, plain, run, folder


def test_tracking_changes_no_figure(tracked):
    result, plain, _, _ = tracked
    assert result.results == plain.results and result.model.history_ == plain.model.history_


def test_a_train_run_holds_params_tags_and_the_test_figures_beside_the_baselines(tracked, aapl_file):
    result, _, run, _ = tracked
    assert run.info.status == "FINISHED" and run.info.run_name == "train lstm"
    params = run.data.params
    assert params["lstm_units"] == "4" and params["model"] == "lstm" and params["epochs"] == "2"
    assert float(params["learning_rate"]) == result.model.metadata_["training"]["learning_rate"]  # resolved
    assert params["label.basis"] == "open_to_open" and params["flag.sequence_length"] == "10"
    tags = run.data.tags
    assert tags["tickers"] == "AAPL" and tags["backend"] and tags["precision"] == result.precision
    assert tags["dates.test"] == " .. ".join(result.report["data"]["date_ranges"]["test"])
    metrics = run.data.metrics
    for figure in ("accuracy", "macro_f1", "log_loss"):
        assert metrics[f"test_{figure}"] == pytest.approx(result.results["lstm"][figure])
        assert metrics[f"baselines/lightgbm/test_{figure}"] == pytest.approx(result.results["lightgbm"][figure])
        assert metrics[f"baselines/majority/test_{figure}"] == pytest.approx(result.results["majority"][figure])


def test_the_metric_history_has_one_step_per_epoch_run(tracked, store):
    result, _, run, _ = tracked
    client = MlflowClient(store)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == list(range(result.epochs_run))
        assert [m.value for m in history] == pytest.approx(result.model.history_[key])


def test_the_logged_model_file_predicts_the_same_probabilities(tracked, store, tmp_path):
    result, _, run, _ = tracked
    client = MlflowClient(store)
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert names == ["t.confusion.png", "t.curves.png", "t.keras", "t.report.json"]
    local = download_artifacts(run_id=run.info.run_id, artifact_path="t.keras", dst_path=str(tmp_path),
                               tracking_uri=store)
    logged = load_model(local)
    test = result.data.test
    np.testing.assert_allclose(logged.predict_proba(test), result.model.predict_proba(test), atol=1e-6)
    report = json.loads(open(download_artifacts(run_id=run.info.run_id, artifact_path="t.report.json",
                                                dst_path=str(tmp_path), tracking_uri=store)).read())
    assert report["test_metrics"] == json.loads(json.dumps(result.results))


def test_a_run_that_fails_is_marked_failed(aapl, tmp_path, store):
    tracking = Tracking(store, "fails").check()
    with pytest.raises(DataError):  # 30 bars: too short, found after the run has started
        pipeline.train(aapl.iloc[:30], model="lstm", model_path=tmp_path / "m.keras", tracking=tracking, **LSTM)
    [run] = MlflowClient(store).search_runs([tracking.experiment_id])
    assert run.info.status == "FAILED" and not (tmp_path / "m.keras").exists()


def test_the_cli_stops_on_an_unreachable_server_before_training(aapl_file, tmp_path, capsys):
    path = tmp_path / "m.keras"
    code = main(["train", "--model", "lstm", "--data-path", str(aapl_file), "--model-path", str(path),
                 "--track", "--tracking-uri", "http://127.0.0.1:9", *TINY_FLAGS])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "http://127.0.0.1:9" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_compare_logs_a_parent_with_the_summary_and_a_child_per_model_and_fold(aapl_file, store):
    tracking = Tracking(store, "compare").check()
    result = pipeline.compare(aapl_file, models="", baselines="majority,lightgbm", n_splits=2, tracking=tracking,
                              sequence_length=10)
    client = MlflowClient(store)
    runs = client.search_runs([tracking.experiment_id])
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(run.info.run_name for run in children) == ["lightgbm fold 1", "lightgbm fold 2",
                                                             "majority fold 1", "majority fold 2"]
    assert all(run.info.status == "FINISHED" for run in runs)
    summary = result.summary["lightgbm"]["macro_f1"]
    assert parent.data.metrics["lightgbm/macro_f1_mean"] == pytest.approx(summary["mean"])
    assert parent.data.metrics["lightgbm/macro_f1_std"] == pytest.approx(summary["std"])
    fold_two = next(run for run in children if run.info.run_name == "lightgbm fold 2")
    assert fold_two.data.metrics["test_macro_f1"] == pytest.approx(result.report["folds"][1]["results"]["lightgbm"]
                                                                   ["macro_f1"])
    assert fold_two.data.params["fold"] == "2" and fold_two.data.tags["kind"] == "baseline"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.txt", "summary_table.txt", "compare.json"} <= artifacts
    assert client.download_artifacts(parent.info.run_id, "summary_table.txt")  # readable


def test_backtest_logs_its_figures_and_the_equity_plot(tracked, aapl_file, store):
    folder = tracked[3]
    tracking = Tracking(store, "backtest").check()
    run = pipeline.backtest(folder / "t.keras", aapl_file, tracking=tracking)
    [logged] = MlflowClient(store).search_runs([tracking.experiment_id])
    assert logged.info.status == "FINISHED" and logged.data.params["strategy"] == "ml"
    assert logged.data.metrics["total_return"] == pytest.approx(run.metrics["total_return"])
    assert logged.data.metrics["buy_and_hold_return"] == pytest.approx(run.metrics["buy_and_hold_return"])
    artifacts = {a.path for a in MlflowClient(store).list_artifacts(logged.info.run_id)}
    assert artifacts == {"backtest.png", "backtest.txt"} and run.files == []
