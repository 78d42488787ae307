"""Tests for skills.evaluation: metrics and ICs against hand-computed values, baselines, walk-forward, tables."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from skills import evaluation
from skills.data.labels import CLASS_NAMES
from skills.evaluation import (
    BASELINES,
    SUMMARY_KEYS,
    LastBarClassifier,
    backtest_metrics,
    classification_metrics,
    compare,
    format_confusion,
    format_summary_table,
    format_table,
    lightgbm_baseline,
    majority_baseline,
    prior_baseline,
    signal_metrics,
    signal_score,
    standard_baselines,
    walk_forward,
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


# -- signal metrics --------------------------------------------------------------------------------------------


def _proba_from_score(score, flat=0.2):
    """Rows whose P(up) − P(down) equals `score` (|score| <= 1 - flat), P(flat) fixed."""
    score = np.asarray(score, dtype=float)
    rest = 1.0 - flat
    return np.c_[(rest - score) / 2, np.full(len(score), flat), (rest + score) / 2]


def test_signal_score_is_p_up_minus_p_down():
    np.testing.assert_allclose(signal_score([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]), [0.6, -0.4])
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        signal_score(np.ones((2, 2)) / 2)


def test_ic_of_a_perfect_ranking_is_one_and_of_a_reversed_one_minus_one():
    r = np.array([0.010, -0.020, 0.030, -0.005, 0.002])
    dates = pd.bdate_range("2021-03-01", periods=5)  # one month
    perfect = signal_metrics(_proba_from_score(r * 10), r, dates)
    assert perfect["ic"] == pytest.approx(1.0) and perfect["rank_ic"] == pytest.approx(1.0)
    assert perfect["n_months"] == 1 and perfect["icir"] is None  # one month: no spread to divide by
    assert perfect["monthly"] == {"2021-03": {"ic": pytest.approx(1.0), "rank_ic": pytest.approx(1.0), "n": 5}}
    reversed_ = signal_metrics(_proba_from_score(-r * 10), r, dates)
    assert reversed_["ic"] == pytest.approx(-1.0) and reversed_["rank_ic"] == pytest.approx(-1.0)
    # a monotone but non-linear score ranks perfectly, yet its Pearson IC is below 1
    bent = signal_metrics(_proba_from_score(np.sign(r) * np.abs(r * 20) ** 3), r, dates)
    assert bent["rank_ic"] == pytest.approx(1.0) and bent["ic"] < 0.99


def test_monthly_ic_rank_ic_and_icir_match_hand_computations():
    # January: score -0.2, 0, 0.2 against returns -1 %, 2 %, 1 %.
    #   Pearson: centred x = (-1, 0, 1), centred y ∝ (-5/3, 4/3, 1/3): r = 2 / (√2 · √42 / 3) = 6 / √84.
    #   Spearman: ranks (1, 2, 3) vs (1, 3, 2): 1 - 6 · 2 / (3 · 8) = 0.5.
    # February: a perfect ranking, IC = rank IC = 1.
    score = [-0.2, 0.0, 0.2, -0.1, 0.1, 0.3]
    r = [-0.01, 0.02, 0.01, -0.02, 0.01, 0.04]
    dates = pd.to_datetime(["2020-01-06", "2020-01-07", "2020-01-31", "2020-02-03", "2020-02-04", "2020-02-05"])
    m = signal_metrics(_proba_from_score(score), r, dates)
    jan = 6 / math.sqrt(84)
    assert m["monthly"]["2020-01"] == {"ic": pytest.approx(jan), "rank_ic": pytest.approx(0.5), "n": 3}
    assert m["monthly"]["2020-02"]["ic"] == pytest.approx(1.0)
    assert m["ic"] == pytest.approx((jan + 1) / 2)
    assert m["icir"] == pytest.approx(((jan + 1) / 2) / ((1 - jan) / math.sqrt(2)))  # std with ddof=1
    assert m["rank_ic"] == pytest.approx(0.75)
    assert m["rank_icir"] == pytest.approx(3 / math.sqrt(2))
    assert m["n_months"] == 2
    assert json.loads(json.dumps(m)) == m


def test_ic_pools_tickers_of_a_month_and_ignores_row_order():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 40)
    score = np.clip(r * 20 + rng.normal(0, 0.1, 40), -0.7, 0.7)
    dates = np.tile(pd.bdate_range("2019-05-01", periods=20), 2)  # two tickers, same dates
    m = signal_metrics(_proba_from_score(score), r, dates)
    assert list(m["monthly"]) == ["2019-05"] and m["monthly"]["2019-05"]["n"] == 40
    assert m["ic"] == pytest.approx(np.corrcoef(score, r)[0, 1])
    order = rng.permutation(40)
    assert signal_metrics(_proba_from_score(score[order]), r[order], dates[order])["ic"] == pytest.approx(m["ic"])


def test_ic_reads_p_down_too_not_only_p_up():
    r = np.array([0.01, -0.02, 0.03, -0.01])
    p_down = 0.5 - r * 10  # P(up) constant: only P(down) carries the signal
    proba = np.c_[p_down, 0.7 - p_down, np.full(4, 0.3)]
    assert signal_metrics(proba, r, pd.bdate_range("2022-06-01", periods=4))["ic"] == pytest.approx(1.0)


def test_constant_score_has_no_ic():
    r = np.array([0.01, -0.02, 0.03, -0.01])
    m = signal_metrics(np.tile([0.0, 0.0, 1.0], (4, 1)), r, pd.bdate_range("2022-06-01", periods=4))
    assert m["ic"] is None and m["rank_ic"] is None and m["icir"] is None and m["n_months"] == 0
    assert m["monthly"]["2022-06"] == {"ic": None, "rank_ic": None, "n": 4}


@pytest.mark.parametrize(
    "proba, r, dates, match",
    [
        (PROBA, [0.1, 0.2, 0.3], pd.bdate_range("2020-01-01", periods=3), r"shape \(3, 3\)"),
        (PROBA, [0.1, np.nan, 0.3, 0.0], pd.bdate_range("2020-01-01", periods=4), "finite"),
        (PROBA, [0.1, 0.2, 0.3, 0.0], pd.bdate_range("2020-01-01", periods=3), "dates has 3"),
        (PROBA, [], [], "non-empty"),
    ],
)
def test_signal_metrics_rejects_bad_inputs(proba, r, dates, match):
    with pytest.raises(ValueError, match=match):
        signal_metrics(proba, r, dates)


# -- walk-forward, backtests and the summary table -------------------------------------------------------------


@pytest.fixture(scope="module")
def two_tickers(data_dir):
    from skills.data import load_ohlcv

    return {t: load_ohlcv(data_dir / f"{t}.csv").iloc[-600:] for t in ("AAPL", "GOOG")}


@pytest.fixture(scope="module")
def baseline_report(two_tickers):
    from skills.data import prepare_walk_forward

    folds = prepare_walk_forward(two_tickers, n_splits=2, sequence_length=10)
    return folds, walk_forward(folds, {}, bars=two_tickers, baselines=BASELINES)


def test_walk_forward_scores_every_baseline_on_every_fold(baseline_report):
    folds, report = baseline_report
    assert [record["fold"] for record in report["folds"]] == [1, 2]
    for fold, record in zip(folds, report["folds"]):
        assert record["dates"] == fold.bounds.to_dict()
        assert record["windows"] == {"train": len(fold.train), "val": len(fold.val), "test": len(fold.test)}
        assert record["tickers"] == ["AAPL", "GOOG"]
        results = record["results"]
        assert set(results) == set(BASELINES)
        # the majority baseline is the training mode, scored on the fold's test block
        expected = classification_metrics(fold.test.y, majority_baseline(fold.train.y, len(fold.test)))
        assert results["majority"]["macro_f1"] == pytest.approx(expected["macro_f1"])
        assert results["majority"]["ic"] is None  # a constant score ranks nothing
        lgb = lightgbm_baseline(fold.train.X, fold.train.y, fold.test.X)
        assert results["lightgbm"]["ic"] == pytest.approx(
            signal_metrics(lgb, fold.test.forward_returns, fold.test.dates)["ic"])
        assert set(results["lightgbm"]["backtest"]) == {"AAPL", "GOOG"}
        assert results["lightgbm"]["sharpe"] == pytest.approx(
            np.mean([m["sharpe"] for m in results["lightgbm"]["backtest"].values()]))
    summary = report["summary"]
    means = [figures["macro_f1"]["mean"] for figures in summary.values()]
    assert means == sorted(means, reverse=True)
    for figures in summary.values():
        assert set(figures) == set(SUMMARY_KEYS)
    values = [record["results"]["lightgbm"]["accuracy"] for record in report["folds"]]
    assert summary["lightgbm"]["accuracy"] == {"mean": pytest.approx(np.mean(values)),
                                               "std": pytest.approx(np.std(values, ddof=1)), "values": values}
    assert json.loads(json.dumps(report)) == report


def test_walk_forward_fold_ignores_bars_after_its_test_block(two_tickers, baseline_report):
    """Rewriting every bar after fold 1's test block (and the bar its last label reads) changes nothing in fold 1."""
    from skills.data import prepare_walk_forward

    folds, report = baseline_report
    cut = folds[0].bounds.test[1]
    rng = np.random.default_rng(1)
    changed = {}
    for ticker, bars in two_tickers.items():
        bars = bars.copy()
        later = bars.index > bars.index[bars.index.get_loc(cut) + 1]
        bars.loc[later, ["open", "high", "low", "close"]] *= rng.uniform(0.8, 1.2, (later.sum(), 1))
        bars.loc[later, "volume"] *= 3
        changed[ticker] = bars
    new_folds = prepare_walk_forward(changed, n_splits=2, sequence_length=10)
    assert new_folds[0].bounds == folds[0].bounds
    again = walk_forward(new_folds[:1], {}, bars=changed, baselines=BASELINES)
    assert again["folds"][0] == report["folds"][0]


def test_backtest_of_always_up_is_buy_and_hold_and_of_always_flat_is_no_trade(aapl):
    from sklearn.dummy import DummyClassifier

    from skills.data import FEATURE_NAMES

    bars = aapl.iloc[-300:]
    start = bars.index[150]

    def constant(cls):
        return LastBarClassifier(DummyClassifier(strategy="most_frequent").fit(np.zeros((3, 1)), [cls] * 3),
                                 FEATURE_NAMES)

    up = backtest_metrics(constant(2), bars, start, bars.index[-1])
    assert up["n_trades"] == 1 and up["total_return"] == pytest.approx(up["buy_and_hold_return"])
    assert up["buy_and_hold_return"] == pytest.approx(0.95 * (bars["close"].iloc[-1] / bars["open"].iloc[151] - 1),
                                                      rel=0.02)
    flat = backtest_metrics(constant(1), {"AAPL": bars}, start, bars.index[-1])
    assert flat["per_ticker"]["AAPL"] == {"sharpe": 0.0, "total_return": 0.0, "max_drawdown": 0.0, "n_trades": 0,
                                          "buy_and_hold_return": pytest.approx(up["buy_and_hold_return"])}
    with pytest.raises(ValueError, match="MSFT"):
        backtest_metrics(constant(1), {"AAPL": bars}, start, bars.index[-1], tickers=["MSFT"])


def test_last_bar_classifier_predict_frame_matches_the_baseline(aapl):
    from skills.data import FEATURE_NAMES, compute_features

    features = compute_features(aapl.iloc[-400:])[list(FEATURE_NAMES)].dropna()
    labels = (features["log_return_1"] > 0).astype(int).to_numpy() * 2  # down / up from the bar's own return
    lgb = evaluation._fit_lightgbm(features.to_numpy()[:200], labels[:200])
    frame = LastBarClassifier(lgb, FEATURE_NAMES).predict_frame(aapl.iloc[-400:])
    assert list(frame.columns) == list(CLASS_NAMES) and frame.index.equals(features.index)
    np.testing.assert_allclose(
        frame.to_numpy(), lightgbm_baseline(features.to_numpy()[:200], labels[:200], features.to_numpy()))
    # with a window length, the same dates as a sequence model's predict_frame: the first 9 bars have no window
    windowed = LastBarClassifier(lgb, FEATURE_NAMES, sequence_length=10).predict_frame(aapl.iloc[-400:])
    assert windowed.index.equals(features.index[9:])
    np.testing.assert_allclose(windowed.to_numpy(), frame.to_numpy()[9:])


def test_walk_forward_rejects_bad_arguments(baseline_report):
    folds, _ = baseline_report
    with pytest.raises(ValueError, match="at least one fold"):
        walk_forward([], {}, baselines=["majority"])
    with pytest.raises(ValueError, match="model or baseline"):
        walk_forward(folds, {}, baselines=[])
    with pytest.raises(ValueError, match="unknown baseline"):
        walk_forward(folds, {}, baselines=["oracle"])
    with pytest.raises(ValueError, match="clash"):
        walk_forward(folds, {"majority": object}, baselines=["majority"])


def _figure(values):
    defined = [v for v in values if v is not None]
    return {"mean": float(np.mean(defined)) if defined else None,
            "std": float(np.std(defined, ddof=1)) if len(defined) > 1 else None, "values": values}


def test_format_summary_table_rows_sorted_by_macro_f1_with_mean_and_std():
    base = {key: _figure([0.5, 0.5]) for key in SUMMARY_KEYS}
    summary = {
        "majority": {**base, "macro_f1": _figure([0.17, 0.19]), "ic": _figure([None, None])},
        "lightgbm": {**base, "macro_f1": _figure([0.36, 0.38]), "sharpe": _figure([0.8])},
    }
    table = format_summary_table(summary)
    lines = table.splitlines()
    assert lines[0].split() == ["model", "accuracy", "balanced", "acc", "macro-F1", "log", "loss", "IC", "ICIR",
                                "Sharpe", "return", "%", "B&H", "return", "%", "trades"]
    assert [line.split()[0] for line in lines[1:]] == ["lightgbm", "majority"]
    lightgbm, majority = (line.split() for line in lines[1:])
    assert lightgbm[3] == "0.370±0.014" and lightgbm[7] == "0.80"  # one fold: no ± std
    assert lightgbm[8] == "50.0±0.0"  # returns in per cent
    assert majority[5] == "n/a"
    assert len({len(line) for line in lines}) == 1
    with pytest.raises(ValueError, match="no 'icir'"):
        format_summary_table({"m": {k: v for k, v in base.items() if k != "icir"}})
    with pytest.raises(ValueError):
        format_summary_table({})
