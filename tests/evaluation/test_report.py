"""Tests for skills.evaluation.report: a model beside its baselines on the test split, the run report, tables."""

import json

import numpy as np
import pytest

from skills.data import prepare_dataset
from skills.data.labels import CLASS_NAMES
from skills.evaluation import (
    compare,
    format_confusion,
    format_table,
    majority_baseline,
    make_baseline,
    score_on_test,
    training_report,
)
from skills.models import AttentionLSTMModel
from skills.training import PRECISIONS

# Four rows: predictions 0, 2, 2, 0 against truth 0, 1, 2, 2 -> rows 0 and 2 right.
Y = np.array([0, 1, 2, 2])
PROBA = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])


@pytest.fixture(scope="module")
def fitted(aapl):
    """A real, tiny Attention-LSTM fitted for one epoch (a few batches) on recent AAPL windows."""
    data = prepare_dataset(aapl.iloc[-500:], sequence_length=5)
    model = AttentionLSTMModel(sequence_length=5, lstm_units=4, attention_units=4)
    return model.fit(data, epochs=1, batch_size=128, verbose=0), data


def _table_values(table, n_columns):
    """Map each row label of a format_table string to its numeric cells."""
    rows = {}
    for line in table.splitlines()[1:]:
        parts = line.split()
        rows[" ".join(parts[:-n_columns])] = [float(v) for v in parts[-n_columns:]]
    return rows


def test_score_on_test_puts_the_model_beside_baselines_fitted_on_the_training_split(fitted):
    model, data = fitted
    results = score_on_test(model, data, name="attention_lstm", seed=3)
    assert list(results) == ["attention_lstm", "majority", "prior", "lightgbm"]
    expected = compare(data.test.y, model.predict_proba(data.test.X), {
        name: make_baseline(name, seed=3).fit(data.train.X, data.train.y).predict_proba(data.test.X)
        for name in ("majority", "prior", "lightgbm")}, model_name="attention_lstm")
    assert results == expected
    assert results["majority"]["n"] == len(data.test)
    only = score_on_test(model, data, baselines=("prior",))
    assert list(only) == ["model", "prior"] and only["prior"] == results["prior"]
    with pytest.raises(ValueError, match="unknown baseline"):
        score_on_test(model, data, baselines=("oracle",))
    with pytest.raises(ValueError, match="clashes"):
        score_on_test(model, data, name="prior")


def test_training_report_records_model_data_metrics_and_files(fitted, tmp_path):
    model, data = fitted
    results = score_on_test(model, data, name="attention_lstm", baselines=("majority",))
    settings = {"data_path": tmp_path / "AAPL.csv", "epochs": 1, "model": "attention_lstm", "start": None,
                "tickers": ("AAPL",), "extra": {"seed": np.int64(3)}}
    files = {"model": tmp_path / "m.keras", "curves": tmp_path / "m.curves.png"}
    report = training_report(model, data, results, name="attention_lstm", settings=settings,
                             timings={"train_s": 1.5}, files=files)
    assert json.loads(json.dumps(report)) == report  # JSON types only
    assert list(report) == ["model", "model_class", "model_path", "params", "flags", "training", "precision",
                            "precision_reason",
                            "backend", "versions", "data", "test_metrics", "history", "timings", "files"]
    assert report["model"] == "attention_lstm" and report["model_class"] == "AttentionLSTMModel"
    assert report["model_path"] == str(tmp_path / "m.keras") and report["files"]["curves"].endswith("curves.png")
    assert report["params"] == model.network_.count_params() > 0
    assert report["flags"] == {"data_path": str(tmp_path / "AAPL.csv"), "epochs": 1, "model": "attention_lstm",
                               "start": None, "tickers": ["AAPL"], "extra": {"seed": 3}}
    policy = model.metadata_["training"]["precision"]  # the policy it trained under, "auto" resolved
    assert report["precision"] == policy and policy in PRECISIONS and policy != "auto"
    assert report["precision_reason"] == model.metadata_["training"]["precision_reason"] != ""
    assert report["data"] == {
        "path": str(tmp_path / "AAPL.csv"),
        "tickers": data.tickers,
        "features": data.n_features,
        "date_ranges": data.bounds.to_dict(),
        "windows": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "class_counts": {"train": data.train.class_counts, "val": data.val.class_counts,
                         "test": data.test.class_counts},
        "label_rule": data.label_rule.to_dict(),
    }
    assert report["test_metrics"] == results
    assert len(report["history"]["loss"]) == 1 and report["history"]["loss"] == model.history_["loss"]
    assert report["timings"] == {"train_s": 1.5}
    bare = training_report(model, data, results, name="attention_lstm")
    assert bare["flags"] == {} and bare["files"] == {} and bare["model_path"] is None and bare["data"]["path"] is None


def test_compare_names_the_bad_baseline():
    with pytest.raises(ValueError, match="baseline 'broken'"):
        compare(Y, PROBA, {"broken": PROBA[:, :2]})
    with pytest.raises(ValueError, match="clashes"):
        compare(Y, PROBA, {"model": PROBA})


def test_format_table_shows_every_metric_and_model_with_its_numbers():
    baselines = {"majority": majority_baseline([2, 2, 0], len(Y))}
    results = compare(Y, PROBA, baselines, model_name="attention_lstm")
    table = format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "attention_lstm", "majority"]
    rows = _table_values(table, 2)
    assert list(rows) == ["accuracy", "balanced acc", "macro-F1", "log loss"]
    for label, key in [("accuracy", "accuracy"), ("balanced acc", "balanced_accuracy"),
                       ("macro-F1", "macro_f1"), ("log loss", "log_loss")]:
        for column, name in enumerate(["attention_lstm", "majority"]):
            assert rows[label][column] == pytest.approx(results[name][key], abs=5e-5)
    assert rows["accuracy"] == [0.5, 0.5]  # majority says "up": right on rows 2 and 3
    assert len({len(line) for line in lines}) == 1  # aligned


def test_format_table_and_confusion_print_the_readme_layout():
    figures = {"attention_lstm": (0.3936, 0.3742, 0.3013, 1.0836), "majority": (0.3431, 0.3333, 0.1703, 23.6770),
               "prior": (0.3431, 0.3333, 0.1703, 1.1886), "lightgbm": (0.3846, 0.3755, 0.3684, 1.0878)}
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
    assert format_table({name: dict(zip(keys, values)) for name, values in figures.items()}) == (
        "metric        attention_lstm  majority   prior  lightgbm\n"
        "accuracy              0.3936    0.3431  0.3431    0.3846\n"
        "balanced acc          0.3742    0.3333  0.3333    0.3755\n"
        "macro-F1              0.3013    0.1703  0.1703    0.3684\n"
        "log loss              1.0836   23.6770  1.1886    1.0878")
    assert format_confusion([[0, 135, 510], [0, 298, 514], [0, 186, 575]]) == (
        "true\\pred  down  flat   up\n"
        "down          0   135  510\n"
        "flat          0   298  514\n"
        "up            0   186  575")
    assert format_table({"m": dict(zip(keys, (1, 0.5, 0.25, 0.125)))}) == (
        "metric             m\naccuracy      1.0000\nbalanced acc  0.5000\nmacro-F1      0.2500\nlog loss      0.1250")


def test_format_table_rejects_empty_or_incomplete_results():
    with pytest.raises(ValueError):
        format_table({})
    with pytest.raises(ValueError, match="log_loss"):
        format_table({"m": {"accuracy": 1, "balanced_accuracy": 1, "macro_f1": 1}})


def test_format_confusion_has_class_headers_and_counts():
    text = format_confusion([[3, 1, 0], [0, 12, 1], [1, 0, 4]])
    lines = text.splitlines()
    assert lines[0].split() == ["true\\pred", *CLASS_NAMES]
    assert [line.split() for line in lines[1:]] == [["down", "3", "1", "0"], ["flat", "0", "12", "1"],
                                                     ["up", "1", "0", "4"]]
    assert len({len(line) for line in lines}) == 1
    assert format_confusion(np.array([[0.5, 0.25, 0.25], [0, 1, 0], [0, 0, 1]])).splitlines()[1].split() == [
        "down", "0.5", "0.25", "0.25"]
    with pytest.raises(ValueError, match="3x3"):
        format_confusion([[1, 2], [3, 4]])
