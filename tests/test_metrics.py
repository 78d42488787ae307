"""Tests for skills.metrics: classification metrics and ICs against hand-computed values."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from skills.metrics import (
    DAILY_IC_MIN_TICKERS,
    classification_metrics,
    daily_ic,
    ic_basis,
    mean_std,
    signal_metrics,
    signal_score,
    split_metrics,
    t_statistic,
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


def test_mean_std_skips_none_and_needs_two_values_for_a_spread():
    assert mean_std([1.0, None, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([None, 4.0]) == (4.0, None)
    assert mean_std([None, None]) == (None, None)


def test_split_metrics_merges_classification_and_signal_metrics_of_a_real_split(aapl):
    from skills.data import prepare_dataset

    test = prepare_dataset(aapl.iloc[-400:], sequence_length=5).test
    proba = _proba_from_score(np.clip(test.forward_returns * 20, -0.7, 0.7))  # knows the future: IC near 1
    m = split_metrics(test, proba)
    assert m == {**classification_metrics(test.y, proba), **signal_metrics(proba, test.forward_returns, test.dates),
                 "ic_basis": "monthly"}  # one ticker: a date has one row, so the IC is taken month by month
    assert m["n"] == len(test) and m["rank_ic"] > 0.9


# -- daily cross-sectional IC ------------------------------------------------------------------------------------


def _cross_section(n_dates=4, n_tickers=6, seed=0):
    """Forward returns of `n_tickers` on each of `n_dates` dates, one row per ticker and date."""
    rng = np.random.default_rng(seed)
    dates = np.repeat(pd.bdate_range("2021-03-01", periods=n_dates), n_tickers)
    return rng.normal(0, 0.02, n_dates * n_tickers), dates


def test_daily_rank_ic_is_one_for_a_score_equal_to_the_return_and_minus_one_reversed():
    r, dates = _cross_section()
    same = daily_ic(_proba_from_score(r * 10), r, dates)
    assert same["rank_ic"] == pytest.approx(1.0) and same["ic"] == pytest.approx(1.0)
    assert same["n_dates"] == 4 and same["rank_ic_std"] == pytest.approx(0.0, abs=1e-12)
    assert set(same["daily"]) == {"2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04"}
    assert all(d["n"] == 6 and d["rank_ic"] == pytest.approx(1.0) for d in same["daily"].values())
    reversed_ = daily_ic(_proba_from_score(-r * 10), r, dates)
    assert reversed_["rank_ic"] == pytest.approx(-1.0) and reversed_["ic"] == pytest.approx(-1.0)


def test_daily_ic_matches_pandas_per_date_and_its_icir_is_mean_over_std():
    r, dates = _cross_section(n_dates=5, n_tickers=8, seed=3)
    score = np.clip(r * 10 + np.random.default_rng(4).normal(0, 0.2, r.size), -0.9, 0.9)
    m = daily_ic(_proba_from_score(score), r, dates)
    frame = pd.DataFrame({"s": score, "r": r, "d": dates})
    rank = frame.groupby("d").apply(lambda g: g["s"].corr(g["r"], method="spearman"), include_groups=False)
    pearson = frame.groupby("d").apply(lambda g: g["s"].corr(g["r"]), include_groups=False)
    assert [d["rank_ic"] for d in m["daily"].values()] == pytest.approx(rank.tolist())
    assert m["ic"] == pytest.approx(pearson.mean()) and m["ic_std"] == pytest.approx(pearson.std(ddof=1))
    assert m["rank_icir"] == pytest.approx(rank.mean() / rank.std(ddof=1))
    # the row order does not matter
    order = np.random.default_rng(5).permutation(r.size)
    assert daily_ic(_proba_from_score(score[order]), r[order], dates[order])["rank_ic"] == pytest.approx(m["rank_ic"])


def test_a_date_with_one_ticker_or_a_constant_score_has_no_daily_ic():
    r, dates = _cross_section(n_dates=2, n_tickers=5)
    r, dates = np.append(r, 0.01), np.append(dates, pd.Timestamp("2021-03-03"))  # a third date, one ticker
    m = daily_ic(_proba_from_score(r * 10), r, dates)
    assert m["daily"]["2021-03-03"] == {"ic": None, "rank_ic": None, "n": 1}
    assert m["n_dates"] == 2 and m["rank_ic"] == pytest.approx(1.0)
    flat = daily_ic(np.tile([0.0, 0.0, 1.0], (r.size, 1)), r, dates)  # the majority baseline: a score that never moves
    assert flat["ic"] is None and flat["rank_ic"] is None and flat["icir"] is None and flat["n_dates"] == 0
    with pytest.raises(ValueError, match="min_tickers"):
        daily_ic(_proba_from_score(r), r, dates, min_tickers=1)
    with pytest.raises(ValueError, match="dates has"):
        daily_ic(_proba_from_score(r), r, dates[:-1])


def test_daily_t_statistic_is_known_for_purpose_built_rankings():
    """Three tickers a date; the score ranks them in the return's order (rank IC 1) or with the first two swapped
    (rank IC 1 - 6 * 2 / (3 * 8) = 0.5). Daily rank ICs 1, 0.5, 0.5, 1: mean 0.75, std sqrt(1/12), t = 3 sqrt(3)."""
    r = np.tile([0.01, 0.02, 0.03], 4)
    score = np.concatenate([[1, 2, 3], [2, 1, 3], [2, 1, 3], [1, 2, 3]]) / 10
    dates = np.repeat(pd.bdate_range("2021-03-01", periods=4), 3)
    m = daily_ic(_proba_from_score(score), r, dates)
    assert [d["rank_ic"] for d in m["daily"].values()] == pytest.approx([1.0, 0.5, 0.5, 1.0])
    assert m["rank_ic_t"] == pytest.approx(3 * math.sqrt(3))
    pearson = [np.corrcoef(score[i:i + 3], r[i:i + 3])[0, 1] for i in range(0, 12, 3)]
    assert m["ic_t"] == pytest.approx(np.mean(pearson) / np.std(pearson, ddof=1) * 2)
    # the same rank IC every day: no spread, no t
    assert daily_ic(_proba_from_score(r * 10), r, dates)["rank_ic_t"] is None
    assert t_statistic([0.5]) is None and t_statistic([None, 0.2, 0.2]) is None
    assert t_statistic([1.0, 0.5, None, 0.5, 1.0]) == pytest.approx(3 * math.sqrt(3))


def test_ic_basis_is_daily_only_with_enough_tickers_on_the_median_date():
    _, many = _cross_section(n_dates=3, n_tickers=DAILY_IC_MIN_TICKERS)
    _, few = _cross_section(n_dates=3, n_tickers=DAILY_IC_MIN_TICKERS - 1)
    assert ic_basis(many) == "daily" and ic_basis(few) == "monthly"
    assert ic_basis(pd.bdate_range("2020-01-01", periods=300)) == "monthly"
