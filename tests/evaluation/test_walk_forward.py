"""Tests for skills.evaluation.walk_forward: baselines fold by fold, backtests, the summary and its table."""

import json

import numpy as np
import pandas as pd
import pytest

from skills.data import FEATURE_NAMES
from skills.evaluation import (
    BASELINES,
    SUMMARY_KEYS,
    TOPK_KEYS,
    backtest_metrics,
    classification_metrics,
    format_summary_table,
    lightgbm_baseline,
    majority_baseline,
    make_baseline,
    signal_metrics,
    summarise,
    walk_forward,
)


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
    assert summarise(report["folds"]) == summary
    assert json.loads(json.dumps(report)) == report


@pytest.mark.slow
def test_walk_forward_fits_a_new_model_per_fold_and_scores_it_on_the_next_block(baseline_report):
    from skills.metrics import split_metrics
    from skills.models import LSTMModel

    folds, _ = baseline_report

    def tiny():
        return LSTMModel(sequence_length=10, lstm_units=4, num_layers=1)

    fit_options = dict(epochs=1, batch_size=256, seed=5, verbose=0)
    fold = folds[0]
    report = walk_forward([fold], {"tiny": tiny}, baselines=["majority"], fit_options=fit_options)
    result = report["folds"][0]["results"]["tiny"]
    assert result["epochs_run"] == 1 and result["fit_seconds"] >= 0
    assert result["sharpe"] is None and result["backtest"] == {}  # no bars: no backtest
    again = tiny().fit(fold, **fit_options)  # the same seed gives the same network
    expected = split_metrics(fold.test, again.predict_proba(fold.test.X))
    for key in ("accuracy", "macro_f1", "log_loss", "ic"):
        assert result[key] == pytest.approx(expected[key]), key
    assert set(report["summary"]) == {"tiny", "majority"}


@pytest.mark.slow
def test_walk_forward_trades_each_model_at_its_validation_threshold_and_at_0_65(two_tickers, baseline_report):
    from skills.evaluation import backtest_metrics
    from skills.models import LSTMModel

    folds, _ = baseline_report
    fold = folds[0]
    fit_options = dict(epochs=1, batch_size=256, seed=5, verbose=0)
    report = walk_forward([fold], {"tiny": lambda: LSTMModel(sequence_length=10, lstm_units=4, num_layers=1)},
                          bars=two_tickers, baselines=["majority"], fit_options=fit_options)
    result = report["folds"][0]["results"]["tiny"]
    again = LSTMModel(sequence_length=10, lstm_units=4, num_layers=1).fit(fold, **fit_options)
    first, last = fold.bounds.test
    tickers = sorted(two_tickers)
    auto = backtest_metrics(again, two_tickers, first, last, tickers, confidence_threshold="auto")
    fixed = backtest_metrics(again, two_tickers, first, last, tickers, confidence_threshold=0.65)
    assert result["n_trades"] == auto["n_trades"] and result["sharpe"] == pytest.approx(auto["sharpe"])
    assert result["n_trades_at_fixed"] == fixed["n_trades"]
    assert result["sharpe_at_fixed"] == pytest.approx(fixed["sharpe"])
    assert result["n_trades"] > 0  # the validation-chosen threshold trades
    majority = report["folds"][0]["results"]["majority"]  # no stored threshold: 0.65 both times
    assert majority["n_trades"] == majority["n_trades_at_fixed"]


def test_walk_forward_fold_ignores_bars_after_its_test_block(two_tickers, baseline_report):
    """Rewriting every bar after fold 1's test block (and the bars its last label reads: `LabelRule.reach`) changes
    nothing in fold 1."""
    from skills.data import prepare_walk_forward

    folds, report = baseline_report
    cut = folds[0].bounds.test[1]
    rng = np.random.default_rng(1)
    changed = {}
    for ticker, bars in two_tickers.items():
        bars = bars.copy()
        later = bars.index > bars.index[bars.index.get_loc(cut) + folds[0].label_rule.reach]
        bars.loc[later, ["open", "high", "low", "close"]] *= rng.uniform(0.8, 1.2, (later.sum(), 1))
        bars.loc[later, "volume"] *= 3
        changed[ticker] = bars
    new_folds = prepare_walk_forward(changed, n_splits=2, sequence_length=10)
    assert new_folds[0].bounds == folds[0].bounds
    again = walk_forward(new_folds[:1], {}, bars=changed, baselines=BASELINES)
    assert again["folds"][0] == report["folds"][0]


def test_backtest_of_always_up_is_buy_and_hold_and_of_always_flat_is_no_trade(aapl):
    bars = aapl.iloc[-300:]
    start = bars.index[150]

    def constant(cls):
        return make_baseline("majority", feature_names=FEATURE_NAMES).fit(np.zeros((3, len(FEATURE_NAMES))),
                                                                          [cls] * 3)

    up = backtest_metrics(constant(2), bars, start, bars.index[-1])
    assert up["n_trades"] == 1 and up["total_return"] == pytest.approx(up["buy_and_hold_return"])
    assert up["buy_and_hold_return"] == pytest.approx(0.95 * (bars["close"].iloc[-1] / bars["open"].iloc[151] - 1),
                                                      rel=0.02)
    flat = backtest_metrics(constant(1), {"AAPL": bars}, start, bars.index[-1])
    assert flat["per_ticker"]["AAPL"] == {"sharpe": 0.0, "total_return": 0.0, "max_drawdown": 0.0, "n_trades": 0,
                                          "buy_and_hold_return": pytest.approx(up["buy_and_hold_return"])}
    with pytest.raises(ValueError, match="MSFT"):
        backtest_metrics(constant(1), {"AAPL": bars}, start, bars.index[-1], tickers=["MSFT"])


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
    base = {key: _figure([0.5, 0.5]) if key not in TOPK_KEYS else _figure([None]) for key in SUMMARY_KEYS}
    summary = {
        "majority": {**base, "macro_f1": _figure([0.17, 0.19]), "ic": _figure([None, None])},
        "lightgbm": {**base, "macro_f1": _figure([0.36, 0.38]), "sharpe": _figure([0.8])},
    }
    table = format_summary_table(summary)
    lines = table.splitlines()
    assert lines[0].split() == ["model", "accuracy", "balanced", "acc", "macro-F1", "log", "loss", "IC", "ICIR",
                                "Sharpe", "return", "%", "B&H", "return", "%", "trades", "Sharpe@0.65",
                                "trades@0.65", "val", "macro-F1"]
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


def test_format_summary_table_keeps_the_readme_layout():
    rows = {"lightgbm": (0.386, 0.027, 0.323, 0.017, 0.33, 0.12, 0.339, 0.443), "lstm": (0.4, 0.016, 0.315, 0.013,
                                                                                          0.43, 0.17, 0.0, 0.0)}
    summary = {}
    for name, (acc, acc_sd, f1, f1_sd, icir, icir_sd, ret, ret_sd) in rows.items():
        summary[name] = {key: {"mean": None, "std": None, "values": [None]} for key in SUMMARY_KEYS}
        summary[name].update(accuracy={"mean": acc, "std": acc_sd}, macro_f1={"mean": f1, "std": f1_sd},
                             icir={"mean": icir, "std": icir_sd}, total_return={"mean": ret, "std": ret_sd})
    assert format_summary_table(summary) == (
        "model        accuracy  balanced acc     macro-F1  log loss   IC       ICIR  Sharpe   return %  "
        "B&H return %  trades  Sharpe@0.65  trades@0.65  val macro-F1\n"
        "lightgbm  0.386±0.027           n/a  0.323±0.017       n/a  n/a  0.33±0.12     n/a  33.9±44.3"
        "           n/a     n/a          n/a          n/a           n/a\n"
        "lstm      0.400±0.016           n/a  0.315±0.013       n/a  n/a  0.43±0.17     n/a    0.0±0.0"
        "           n/a     n/a          n/a          n/a           n/a")


# -- a universe: daily rank IC and the top-k portfolio ----------------------------------------------------------


@pytest.fixture(scope="module")
def universe_report(data_dir):
    """Baselines over 2 folds of 12 real tickers of the bundled universe (2016-06 .. 2018-02), scored by daily IC
    and traded as a top-3 portfolio."""
    from skills.data import load_universe, prepare_walk_forward

    universe = load_universe(data_dir / "universe", tickers=["A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK",
                                                             "AEE", "AES", "AIG", "AIZ"])
    bars = {ticker: frame.loc["2016-06-01":] for ticker, frame in universe.items()}
    folds = prepare_walk_forward(bars, n_splits=2, sequence_length=5, label="cross_section", cross_section="rank")
    options = dict(k=3, n_drop=1, rebalance=5)
    return bars, folds, options, walk_forward(folds, {}, bars=bars, baselines=("majority", "lightgbm"),
                                              topk_options=options)


def test_walk_forward_on_a_universe_gives_daily_ic_and_top_k_figures(universe_report):
    from skills.evaluation import topk_figures, topk_metrics
    from skills.metrics import daily_ic

    bars, folds, options, report = universe_report
    for fold, record in zip(folds, report["folds"]):
        lgb = record["results"]["lightgbm"]
        assert lgb["ic_basis"] == "daily" and lgb["n_dates"] > 50
        proba = make_baseline("lightgbm", feature_names=fold.feature_names, sequence_length=fold.sequence_length) \
            .fit(fold.train.X, fold.train.y).predict_proba(fold.test.X)
        assert lgb["rank_ic"] == pytest.approx(daily_ic(proba, fold.test.forward_returns, fold.test.dates)["rank_ic"])
        val_proba = make_baseline("lightgbm").fit(fold.train.X, fold.train.y).predict_proba(fold.val.X)
        assert lgb["val_rank_ic"] == pytest.approx(  # the figure to choose by: the validation split's, not the test's
            daily_ic(val_proba, fold.val.forward_returns, fold.val.dates)["rank_ic"])
        assert lgb["val_rank_ic"] != pytest.approx(lgb["rank_ic"])
        assert {key: lgb[key] for key in TOPK_KEYS} == pytest.approx(
            topk_figures(topk_metrics(fold.test, proba, bars, **options).metrics))
        assert all(lgb[key] is None for key in ("sharpe", "n_trades"))  # no per-ticker backtests
        assert record["results"]["majority"]["rank_ic"] is None
    table = format_summary_table(report["summary"])
    assert table.splitlines()[0].split()[:7] == ["model", "accuracy", "macro-F1", "rank", "IC", "rank", "ICIR"]
    assert "top-k excess %" in table and "turnover" in table and "Sharpe" not in table


def test_factor_baselines_are_scored_and_traded_like_a_network(universe_report):
    """reversal and momentum, fitted fold by fold from the bars, get the daily IC of their own probabilities and
    the top-k portfolio of them; without the bars walk_forward refuses them."""
    from skills.evaluation import FactorBaseline, topk_figures, topk_metrics
    from skills.metrics import daily_ic

    bars, folds, options, _ = universe_report
    report = walk_forward(folds[:1], {}, bars=bars, baselines=("reversal", "momentum"), topk_options=options)
    fold, results = folds[0], report["folds"][0]["results"]
    for name in ("reversal", "momentum"):
        proba = FactorBaseline(name, bars=bars).predict_proba(fold.test)
        expected = daily_ic(proba, fold.test.forward_returns, fold.test.dates)
        assert results[name]["rank_ic"] == pytest.approx(expected["rank_ic"])
        assert results[name]["rank_ic_t"] == pytest.approx(expected["rank_ic_t"])
        assert {key: results[name][key] for key in TOPK_KEYS} == pytest.approx(
            topk_figures(topk_metrics(fold.test, proba, bars, **options).metrics))
    assert report["summary"]["reversal"]["rank_ic_t"]["mean"] == pytest.approx(results["reversal"]["rank_ic_t"])
    with pytest.raises(ValueError, match="momentum, lightgbm_alpha158 are computed from the bars"):
        walk_forward(folds, {}, baselines=("majority", "momentum", "lightgbm_alpha158"))


def _daily_record(values_by_fold, name="model"):
    """walk_forward records whose one model has these daily rank ICs on each fold (one date each)."""
    records = []
    for number, values in enumerate(values_by_fold):
        dates = pd.bdate_range(f"202{number}-01-01", periods=len(values))
        result = {key: None for key in SUMMARY_KEYS}
        result.update(macro_f1=0.3, ic_basis="daily", rank_ic=float(np.mean(values)),
                      daily={f"{d:%Y-%m-%d}": {"ic": v, "rank_ic": v, "n": 3} for d, v in zip(dates, values)})
        records.append({"fold": number + 1, "results": {name: result}})
    return records


def test_the_summary_t_pools_every_test_day_of_every_fold():
    """Daily rank ICs 1, 0.5 in fold 1 and 0.5, 1 in fold 2: pooled, mean 0.75 and std sqrt(1/12) over 4 days,
    t = 3 sqrt(3); a fold alone has t 3, and the mean of those would be 3, not the pooled t."""
    from skills.evaluation import pooled_rank_ic

    records = _daily_record([[1.0, 0.5], [0.5, 1.0]])
    for record in records:
        record["results"]["model"]["rank_ic_t"] = 3.0
    summary = summarise(records)
    assert summary["model"]["rank_ic_t"] == {"mean": pytest.approx(3 * np.sqrt(3)), "std": None,
                                             "values": [3.0, 3.0], "n_dates": 4}
    pooled = pooled_rank_ic([record["results"]["model"] for record in records])
    assert pooled == {"rank_ic": pytest.approx(0.75), "t": pytest.approx(3 * np.sqrt(3)), "n_dates": 4}
    # a monthly IC has no daily figures: no t
    monthly = _daily_record([[1.0, 0.5]])
    monthly[0]["results"]["model"]["ic_basis"] = "monthly"
    assert summarise(monthly)["model"]["rank_ic_t"]["mean"] is None


def test_the_universe_table_leads_with_the_baselines_in_order_and_shows_the_t():
    universe_figures = {key: _figure([None]) for key in SUMMARY_KEYS}
    universe_figures.update(excess_annual_return=_figure([0.01, 0.03]), rank_ic=_figure([0.01, 0.02]))
    f1 = {"lstm": 0.40, "alstm": 0.35, "majority": 0.17, "momentum": 0.30, "reversal": 0.31, "lightgbm": 0.36,
          "lightgbm_alpha158": 0.34}
    summary = {name: {**universe_figures, "macro_f1": _figure([value]),
                      "rank_ic_t": {"mean": 2.345, "std": None, "values": [1.0, 2.0], "n_dates": 400}}
               for name, value in sorted(f1.items(), key=lambda item: -item[1])}
    lines = format_summary_table(summary).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["lightgbm_alpha158", "lightgbm", "reversal", "momentum",
                                                       "majority", "lstm", "alstm"]
    header = lines[0]
    assert "rank ICIR  rank IC t" in header
    assert lines[1][header.index("rank IC t"):].split()[0] == "2.35"  # one pooled figure, no ±
    per_ticker = {name: {**figures, "excess_annual_return": _figure([None])} for name, figures in summary.items()}
    assert [line.split()[0] for line in format_summary_table(per_ticker).splitlines()[1:]] == list(summary)
