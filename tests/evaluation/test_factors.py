"""Tests for skills.evaluation.factors: the reversal and momentum factors and LightGBM on Alpha158, computed from
real bars and scored on a Split by its tickers and dates."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skills.data.alpha158 import ALPHA158_NAMES, ALPHA158_WARMUP, compute_alpha158
from skills.evaluation import make_baseline
from skills.evaluation.factors import FACTOR_SCALES, FactorBaseline, factor_proba, factor_score
from skills.metrics import signal_score, split_metrics

TICKERS = ["A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK", "AEE", "AES", "AIG", "AIZ", "ALGN", "ALL", "AMAT"]


@pytest.fixture(scope="module")
def universe(data_dir):
    """15 real tickers of the bundled universe from 2017-03 (about 240 bars each), and the first of two
    walk-forward folds of price-volume windows on them (the networks' features: the bar baselines ignore them)."""
    from skills.data import load_universe, prepare_walk_forward

    bars = {t: f.loc["2017-03-01":] for t, f in load_universe(data_dir / "universe", tickers=TICKERS).items()}
    folds = prepare_walk_forward(bars, n_splits=2, sequence_length=5, features="price_volume")
    return bars, folds[0]


def test_reversal_is_minus_the_last_return_and_momentum_the_20_bar_return(aapl):
    close = aapl["close"]
    pd.testing.assert_series_equal(factor_score(aapl, "reversal"), -close.pct_change(), check_names=False)
    pd.testing.assert_series_equal(factor_score(aapl, "momentum"), close / close.shift(20) - 1, check_names=False)
    momentum = factor_score(aapl, "momentum")
    assert momentum.iloc[:20].isna().all() and momentum.iloc[20:].notna().all()
    with pytest.raises(ValueError, match="unknown factor 'value'"):
        factor_score(aapl, "value")
    with pytest.raises(ValueError, match="no 'close' column"):
        factor_score(aapl.drop(columns="close"), "reversal")


@pytest.mark.parametrize("factor", ["reversal", "momentum"])
def test_a_factor_at_bar_t_reads_no_bar_after_t(aapl, factor):
    bars = aapl.iloc[-300:]
    cut = bars.index[200]
    changed = bars.copy()
    later = changed.index > cut
    changed.loc[later, ["open", "high", "low", "close"]] *= np.random.default_rng(0).uniform(0.7, 1.3, (later.sum(), 1))
    before, after = factor_score(bars, factor), factor_score(changed, factor)
    pd.testing.assert_series_equal(before.loc[:cut], after.loc[:cut])
    assert not np.allclose(before.loc[cut:].iloc[1:], after.loc[cut:].iloc[1:])
    baseline = FactorBaseline(factor).fit()
    pd.testing.assert_frame_equal(baseline.predict_frame(bars).loc[:cut], baseline.predict_frame(changed).loc[:cut])


def test_factor_probabilities_are_rows_whose_signal_rises_with_the_score():
    score = np.array([-0.5, -0.02, -1e-9, 0.0, 1e-9, 0.01, 0.02, 0.3, 50.0, np.nan])
    proba = factor_proba(score, FACTOR_SCALES["reversal"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], 1 / 3)
    signal = signal_score(proba)
    assert np.all(np.diff(signal[:-1]) > 0)  # strictly increasing, no saturation even at a score of 50
    assert signal[3] == 0.0 and signal[-1] == 0.0  # no view: 1/3 each
    assert signal[6] == pytest.approx(1 / 3)  # a score of one scale gives u = 1/2
    with pytest.raises(ValueError, match="scale must be a positive number"):
        factor_proba(score, 0.0)


def test_the_factor_baseline_ranks_a_split_as_the_factor_does(universe):
    """The daily rank IC of the baseline's probabilities equals Spearman's correlation of the factor, computed
    here from a table of closes, with the forward returns, date by date."""
    bars, fold = universe
    test = fold.test
    closes = pd.DataFrame({t: f["close"] for t, f in bars.items()})
    direct = {"reversal": -(closes / closes.shift(1) - 1), "momentum": closes / closes.shift(20) - 1}
    for name, table in direct.items():
        baseline = make_baseline(name, bars=bars).fit(fold.train, fold.train.y)
        expected_scores = table.stack().reindex(pd.MultiIndex.from_arrays([test.dates, test.tickers])).to_numpy()
        np.testing.assert_allclose(baseline.scores(test), expected_scores)
        metrics = split_metrics(test, baseline.predict_proba(test))
        assert metrics["ic_basis"] == "daily"
        frame = pd.DataFrame({"s": expected_scores, "r": test.forward_returns, "d": test.dates})
        spearman = frame.groupby("d").apply(lambda g: g["s"].corr(g["r"], method="spearman"), include_groups=False)
        assert [day["rank_ic"] for day in metrics["daily"].values()] == pytest.approx(spearman.tolist(), abs=1e-12)
        assert metrics["rank_ic"] == pytest.approx(spearman.mean(), abs=1e-12)


def test_the_factor_baseline_reads_the_bars_it_is_given(universe):
    bars, fold = universe
    with pytest.raises(ValueError, match="pass bars="):
        FactorBaseline("momentum").fit().predict_proba(fold.test)
    with pytest.raises(ValueError, match="predicts a Split"):
        FactorBaseline("momentum", bars=bars).predict_proba(fold.test.X)
    with pytest.raises(ValueError, match="no bars for ticker"):
        FactorBaseline("momentum", bars={"A": bars["A"]}).predict_proba(fold.test)
    with pytest.raises(ValueError, match="scale must be"):
        FactorBaseline("momentum", scale=-1).fit()
    with pytest.raises(ValueError, match="y must hold class ids"):
        FactorBaseline("momentum").fit(fold.train, [7] * 3)


def test_lightgbm_on_alpha158_fits_and_predicts_a_universe_slice(universe):
    bars, fold = universe
    baseline = make_baseline("lightgbm_alpha158", bars=bars)
    assert type(baseline.estimator).__name__ == "LGBMClassifier"
    assert baseline.estimator.get_params() == make_baseline("lightgbm").estimator.get_params()
    with pytest.raises(NotFittedError):
        baseline.predict_proba(fold.test)
    # each window's row is the Alpha158 of its own ticker on its own date
    rows = baseline.features(fold.test)
    assert rows.shape == (len(fold.test), len(ALPHA158_NAMES))
    for i in (0, len(fold.test) // 2, len(fold.test) - 1):
        ticker, date = fold.test.tickers[i], fold.test.dates[i]
        np.testing.assert_array_equal(rows[i], compute_alpha158(bars[ticker]).loc[date].to_numpy())
    baseline.fit(fold.train, fold.train.y)
    assert baseline.n_features_in_ == 158 and baseline.feature_names_ == list(ALPHA158_NAMES)
    proba = baseline.predict_proba(fold.test)
    assert proba.shape == (len(fold.test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert len(np.unique(signal_score(proba).round(6))) > 50  # it ranks, it does not repeat one answer
    assert np.isfinite(split_metrics(fold.test, proba)["rank_ic"])
    # predict_frame (what run_backtest calls) gives the same probabilities on a ticker's bars
    ticker = fold.test.tickers[0]
    mine = fold.test.tickers == ticker
    frame = baseline.predict_frame(bars[ticker])
    assert frame.index[0] == bars[ticker].index[ALPHA158_WARMUP]
    np.testing.assert_allclose(frame.loc[fold.test.dates[mine]].to_numpy(), proba[mine])


def test_lightgbm_on_alpha158_with_one_training_class_answers_the_prior(universe):
    bars, fold = universe
    baseline = make_baseline("lightgbm_alpha158", bars=bars).fit(fold.train, np.full(len(fold.train), 2))
    np.testing.assert_array_equal(baseline.predict_proba(fold.test), np.tile([0.0, 0.0, 1.0], (len(fold.test), 1)))
    with pytest.raises(ValueError, match="pass bars="):
        make_baseline("lightgbm_alpha158").fit(fold.train, fold.train.y)
    with pytest.raises(ValueError, match="windows but y has"):
        make_baseline("lightgbm_alpha158", bars=bars).fit(fold.train, fold.train.y[:-1])
