"""Tests for skills.evaluation: metrics against hand-computed values, baselines, tables."""

import json
import math

import numpy as np
import pytest

from skills.data.labels import CLASS_NAMES
from skills.evaluation import (
    classification_metrics,
    compare,
    format_confusion,
    format_table,
    lightgbm_baseline,
    majority_baseline,
    prior_baseline,
    standard_baselines,
)

# Four rows: predictions 0, 2, 2, 0 against truth 0, 1, 2, 2 -> rows 0 and 2 right.
Y = np.array([0, 1, 2, 2])
PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.1, 0.3, 0.6],
        [0.2, 0.2, 0.6],
        [0.5, 0.3, 0.2],
    ]
)


def _learnable(n, seed):
    """Label = sign of feature 0 with a flat band; four noise features beside it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = np.where(X[:, 0] > 0.3, 2, np.where(X[:, 0] < -0.3, 0, 1))
    return X, y


def _table_values(table, n_columns):
    """Map each row label of a format_table string to its numeric cells."""
    rows = {}
    for line in table.splitlines()[1:]:
        parts = line.split()
        rows[" ".join(parts[:-n_columns])] = [float(v) for v in parts[-n_columns:]]
    return rows


def test_metrics_match_hand_computed_values():
    m = classification_metrics(Y, PROBA)
    assert m["n"] == 4
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [1, 0, 1]]
    # recalls: down 1/1, flat 0/1, up 1/2
    assert m["balanced_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3)
    # F1: down p=1/2 r=1 -> 2/3; flat 0; up p=1/2 r=1/2 -> 1/2
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 0.5) / 3)
    expected_log_loss = -(math.log(0.7) + math.log(0.3) + math.log(0.6) + math.log(0.2)) / 4
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    assert m["class_counts"] == {"down": 1, "flat": 1, "up": 2}
    assert m["predicted_counts"] == {"down": 2, "flat": 0, "up": 2}
    assert m["per_class"]["up"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})


def test_metrics_are_plain_json_types():
    m = classification_metrics(Y, PROBA.astype(np.float32))
    assert json.loads(json.dumps(m)) == m
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)
    assert type(m["accuracy"]) is float and type(m["n"]) is int


def test_missing_class_still_scores():
    # No "flat" row in truth and none predicted.
    y = np.array([0, 0, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.4, 0.0, 0.6], [0.1, 0.1, 0.8], [0.3, 0.1, 0.6]])
    m = classification_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[1, 0, 1], [0, 0, 0], [0, 0, 2]]
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)  # over the classes present
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.4) + math.log(0.8) + math.log(0.6)) / 4)
    assert m["class_counts"]["flat"] == 0


def test_single_class_truth_scores():
    m = classification_metrics([2, 2, 2], np.tile([0.2, 0.3, 0.5], (3, 1)))
    assert m["accuracy"] == 1.0
    assert m["log_loss"] == pytest.approx(-math.log(0.5))


@pytest.mark.parametrize(
    "y, proba, match",
    [
        (Y, PROBA[:, :2], r"shape \(4, 3\)"),
        (Y, PROBA[:3], r"shape \(4, 3\)"),
        (Y, PROBA * 0.5, "sum to 1"),
        (Y, np.vstack([[1.1, -0.1, 0.0], PROBA[1:]]), "non-negative"),
        (np.array([0, 1, 3, 2]), PROBA, r"got \[3\]"),
        (np.array([0, 1, -1, 2]), PROBA, r"got \[-1\]"),
        (np.array([0.0, 1.5, 2.0, 2.0]), PROBA, "non-integer"),
        (Y.reshape(2, 2), PROBA, "1-D"),
        (np.array([], dtype=int), np.empty((0, 3)), "empty"),
        (np.array(["up", "up", "up", "up"]), PROBA, "dtype"),
        (Y, np.where(np.eye(4, 3, dtype=bool), np.nan, PROBA), "finite"),
    ],
)
def test_bad_inputs_raise_value_error(y, proba, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, proba)


def test_float_labels_that_are_whole_numbers_are_accepted():
    assert classification_metrics(Y.astype(float), PROBA)["accuracy"] == pytest.approx(0.5)


def test_majority_baseline_predicts_training_mode_not_eval_mode():
    y_train = np.array([0, 0, 0, 1, 2])
    y_eval = np.array([2, 2, 2, 1])  # eval mode is "up"
    proba = majority_baseline(y_train, len(y_eval))
    np.testing.assert_array_equal(proba, np.tile([1.0, 0.0, 0.0], (4, 1)))
    m = classification_metrics(y_eval, proba)
    assert m["accuracy"] == 0.0
    assert m["predicted_counts"] == {"down": 4, "flat": 0, "up": 0}


def test_prior_baseline_equals_training_frequencies():
    y_train = np.array([0, 0, 1, 2, 2, 2, 2, 2])
    proba = prior_baseline(y_train, 3)
    np.testing.assert_allclose(proba, np.tile([2 / 8, 1 / 8, 5 / 8], (3, 1)))
    # its log loss on rows drawn like the training split is the entropy of the prior
    m = classification_metrics(y_train, prior_baseline(y_train, len(y_train)))
    assert m["log_loss"] == pytest.approx(-(2 * math.log(2 / 8) + math.log(1 / 8) + 5 * math.log(5 / 8)) / 8)


def test_prior_baseline_spreads_a_missing_training_class_as_zero():
    np.testing.assert_allclose(prior_baseline([0, 0, 2], 2), [[2 / 3, 0, 1 / 3]] * 2)


def test_baselines_reject_bad_training_labels():
    with pytest.raises(ValueError, match="y_train"):
        majority_baseline([0, 5], 3)
    with pytest.raises(ValueError, match="n must be"):
        prior_baseline([0, 1], -1)


def test_lightgbm_baseline_learns_and_is_deterministic():
    X, y = _learnable(400, seed=0)
    X_train, y_train, X_eval, y_eval = X[:300], y[:300], X[300:], y[300:]
    proba = lightgbm_baseline(X_train, y_train, X_eval, seed=0)
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    lgb = classification_metrics(y_eval, proba)
    majority = classification_metrics(y_eval, majority_baseline(y_train, len(y_eval)))
    assert lgb["accuracy"] > 0.85
    assert lgb["accuracy"] > majority["accuracy"] + 0.3
    np.testing.assert_array_equal(lightgbm_baseline(X_train, y_train, X_eval, seed=0), proba)


def test_lightgbm_baseline_takes_the_last_bar_of_windows():
    X, y = _learnable(200, seed=1)
    rng = np.random.default_rng(2)
    windows = np.concatenate([rng.normal(size=(200, 4, 5)), X[:, None, :]], axis=1)  # (200, 5, 5), last = X
    from_windows = lightgbm_baseline(windows[:150], y[:150], windows[150:])
    np.testing.assert_array_equal(from_windows, lightgbm_baseline(X[:150], y[:150], X[150:]))


def test_lightgbm_baseline_handles_missing_and_single_training_classes():
    X, y = _learnable(200, seed=3)
    keep = y != 1
    proba = lightgbm_baseline(X[keep], y[keep], X[:10])
    assert proba.shape == (10, 3)
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(lightgbm_baseline(X[:20], np.full(20, 2), X[:4]), np.tile([0, 0, 1.0], (4, 1)))


def test_lightgbm_baseline_rejects_mismatched_shapes():
    X, y = _learnable(50, seed=4)
    with pytest.raises(ValueError, match="rows"):
        lightgbm_baseline(X, y[:-1], X)
    with pytest.raises(ValueError, match="features"):
        lightgbm_baseline(X, y, X[:, :3])


def test_standard_baselines_and_compare():
    X, y = _learnable(300, seed=5)
    baselines = standard_baselines(X[:200], y[:200], X[200:])
    assert list(baselines) == ["majority", "prior", "lightgbm"]
    model_proba = np.eye(3)[y[200:]] * 0.9 + 0.1 / 3  # a near-perfect "model"
    results = compare(y[200:], model_proba, baselines)
    assert list(results) == ["model", "majority", "prior", "lightgbm"]
    assert results["model"]["accuracy"] == 1.0
    assert results["majority"]["accuracy"] == results["prior"]["accuracy"]  # same argmax
    assert results["prior"]["log_loss"] < results["majority"]["log_loss"]  # hedged beats one-hot
    json.dumps(results)


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
    with pytest.raises(ValueError, match="3x3"):
        format_confusion([[1, 2], [3, 4]])
