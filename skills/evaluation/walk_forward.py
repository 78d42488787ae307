"""Walk-forward comparison: models and baselines fitted fold by fold, scored and backtested on the next block.

- `backtest_metrics`: `skills.strategy.run_backtest` per ticker, averaged over tickers;
- `topk_metrics`: one top-k portfolio (`run_backtest(strategy="topk")`) over a split's tickers, from the
  probabilities of the split's windows (so it works for models trained on cross-sectionally normalised
  features, which cannot predict from one ticker's bars);
- `walk_forward`: every model and baseline on every fold (`split_metrics` and the backtest figures: per-ticker
  `MLStrategy` backtests, or with `topk_options` the top-k portfolio, as Qlib scores a universe);
- `summarise`: mean ± std over folds of `SUMMARY_KEYS` (as text: `skills.evaluation.tables.format_summary_table`),
  and the t-statistic of the mean daily rank IC over every fold's test days (`pooled_rank_ic`).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from skills.data.dataset import as_frames
from skills.data.io import OHLCV_COLUMNS
from skills.evaluation.baselines import ALL_BASELINES, BAR_BASELINES, make_baseline
from skills.evaluation.tables import TOPK_KEYS
from skills.metrics import mean_std, split_metrics, t_statistic

__all__ = ["BACKTEST_KEYS", "FIXED_KEYS", "TOPK_KEYS", "SUMMARY_KEYS", "VALIDATION_KEYS", "backtest_metrics",
           "topk_metrics", "walk_forward", "summarise", "pooled_rank_ic", "topk_figures"]

log = logging.getLogger(__name__)

#: Backtest figures averaged over tickers (`backtest_metrics`) and reported by `walk_forward`.
BACKTEST_KEYS = ("sharpe", "total_return", "buy_and_hold_return", "max_drawdown", "n_trades")
#: The per-ticker figures again at the seed's fixed threshold 0.65 (`DEFAULT_CONFIDENCE`), beside those at the
#: threshold each model chose on its validation split (the default, ``confidence_threshold=None``).
FIXED_KEYS = ("sharpe_at_fixed", "n_trades_at_fixed")
#: The figures `walk_forward` summarises over folds (mean ± std), in table order.
#: The figures of each fold's validation split, beside the test block's: the ones to choose a model or setting by.
VALIDATION_KEYS = ("val_macro_f1", "val_rank_ic")
SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ic", "rank_ic", "icir", "rank_icir",
                "rank_ic_t", "sharpe", "total_return", "buy_and_hold_return", "n_trades") + FIXED_KEYS + TOPK_KEYS \
    + VALIDATION_KEYS


def topk_figures(metrics):
    """The `TOPK_KEYS` (`skills.evaluation.tables`) of a top-k `BacktestResult.metrics`."""
    return {key: metrics.get(key.removeprefix("topk_")) for key in TOPK_KEYS}


def backtest_metrics(model, bars, start, end, tickers=None, **options):
    """Backtest a fitted model on each ticker from `start` to `end`, and average the figures over tickers.

    Each ticker runs alone through `skills.strategy.run_backtest` on its bars up to `end`; the bars before
    `start` only warm up the features and the first window (no order before `start`). A ticker the strategy
    never trades counts as Sharpe 0 (no position, no return; `run_backtest` leaves it undefined). Otherwise a
    figure's mean is taken over the tickers where it is defined.

    Args:
        model: a fitted model (anything `run_backtest` accepts).
        bars (DataFrame or dict[str, DataFrame]): OHLCV bars as from `skills.data.load_ohlcv`.
        start, end (date-like): first and last bar that may trade.
        tickers (sequence of str, optional): which tickers to run; default all of `bars`.
        **options: passed to `run_backtest` (`confidence_threshold`, `cash`, `commission`, ...).

    Returns:
        dict: the mean over tickers of each of `BACKTEST_KEYS` (None where no ticker defines it), plus
        `per_ticker` (`{ticker: {key: value}}`).

    Raises:
        ValueError: a ticker is not in `bars`.
    """
    from skills.strategy import run_backtest  # imported here: backtrader is only needed for backtests

    frames = as_frames(bars)  # the one place that names a lone frame's ticker
    tickers = list(frames) if tickers is None else [str(t) for t in tickers]
    unknown = [t for t in tickers if t not in frames]
    if unknown:
        raise ValueError(f"no bars for ticker(s) {', '.join(unknown)}; have {', '.join(frames)}")
    end = pd.Timestamp(end)
    per_ticker = {}
    for ticker in tickers:
        result = run_backtest(model, frames[ticker].loc[:end], start=pd.Timestamp(start), end=end, **options)
        figures = {key: result.metrics.get(key) for key in BACKTEST_KEYS}  # floats, or None where undefined
        if figures["sharpe"] is None and figures["n_trades"] == 0:
            figures["sharpe"] = 0.0
        per_ticker[ticker] = figures
    means = {key: mean_std(m[key] for m in per_ticker.values())[0] for key in BACKTEST_KEYS}
    return {**means, "per_ticker": per_ticker}


def topk_metrics(split, proba, bars, **options):
    """Trade a top-k portfolio over the tickers of `split` on the probabilities of its windows.

    Each ticker's bars from its first window in the split to the split's last date carry the probabilities
    of its windows (`p_down p_flat p_up`); `skills.strategy.run_backtest(None, ..., strategy="topk")` ranks
    the tickers by P(up) − P(down) and trades them beside the equal-weight universe of the same tickers. A
    bar without a window in the split (a purged or unlabelled one) has no score that day.

    Args:
        split (skills.data.Split): the windows, with `tickers` and `dates`.
        proba (array-like, shape (len(split), 3)): their probabilities, in order.
        bars (dict[str, DataFrame]): the OHLCV bars of (at least) the split's tickers.
        **options: passed to `run_backtest` (`k`, `n_drop`, `rebalance`, `long_short`, `cash`, `commission`,
            ...).

    Returns:
        BacktestResult: its `metrics` hold `TOPK_KEYS` among others.

    Raises:
        ValueError: a ticker of the split has no bars.
        DataError: too few tickers for `k`.
    """
    from skills.strategy import PROBABILITY_LINES, run_backtest  # backtrader is only needed for backtests

    frames = as_frames(bars)
    proba = np.asarray(proba, dtype=np.float64)
    tickers, dates = np.asarray(split.tickers), pd.DatetimeIndex(split.dates)
    unknown = sorted(set(tickers.tolist()) - set(frames))
    if unknown:
        raise ValueError(f"no bars for ticker(s) {', '.join(unknown)}; have {len(frames)} tickers")
    last = dates.max()
    feeds = {}
    for ticker in sorted(set(tickers.tolist())):
        rows = np.flatnonzero(tickers == ticker)
        scored = pd.DataFrame(proba[rows], index=dates[rows], columns=list(PROBABILITY_LINES))
        feed = frames[ticker].loc[dates[rows].min():last, list(OHLCV_COLUMNS)].join(scored)
        feeds[ticker] = feed
    return run_backtest(None, feeds, strategy="topk", **options)


def _validation_figures(predictor, val):
    """`VALIDATION_KEYS` of the fold's validation split (what a choice between models may read; the test block's
    figures may not), None without validation windows."""
    if len(val) == 0:
        return dict.fromkeys(VALIDATION_KEYS)
    figures = split_metrics(val, predictor.predict_proba(val))
    return {key: figures[key.removeprefix("val_")] for key in VALIDATION_KEYS}


def _score(predictor, fold, bars, backtest_options, topk_options=None):
    """`split_metrics` on the fold's test split, plus the backtest over its block (None figures without bars):
    per-ticker `MLStrategy` backtests, or the top-k portfolio when `topk_options` is not None."""
    test = fold.test
    proba = predictor.predict_proba(test)  # a Split: a graph network (gats) groups it by date
    metrics = {**split_metrics(test, proba), **_validation_figures(predictor, fold.val),
               **dict.fromkeys(BACKTEST_KEYS), **dict.fromkeys(TOPK_KEYS), **dict.fromkeys(FIXED_KEYS)}
    if bars is None:
        return {**metrics, "backtest": {}}
    if topk_options is not None:
        started = time.perf_counter()
        result = topk_metrics(test, proba, bars, **topk_options)
        figures = topk_figures(result.metrics)
        return {**metrics, **figures, "backtest": {**result.metrics,
                                                  "seconds": round(time.perf_counter() - started, 1)}}
    first, last = fold.bounds.test
    from skills.strategy import DEFAULT_CONFIDENCE, resolve_threshold  # backtrader: only for backtests

    tickers = sorted(set(test.tickers.tolist()))
    trading = backtest_metrics(predictor, bars, first, last, tickers, **backtest_options)
    *_, source = resolve_threshold(predictor, backtest_options.get("confidence_threshold"))
    if source == "val":  # the validation-chosen threshold: trade the fixed one as well
        fixed = backtest_metrics(predictor, bars, first, last, tickers,
                                 **{**backtest_options, "confidence_threshold": DEFAULT_CONFIDENCE})
    else:  # a given number, or 0.65 by default (a baseline): the same run
        fixed = trading
    metrics.update(sharpe_at_fixed=fixed["sharpe"], n_trades_at_fixed=fixed["n_trades"])
    return {**metrics, **{key: trading[key] for key in BACKTEST_KEYS}, "backtest": trading["per_ticker"]}


def walk_forward(folds, models, *, bars=None, baselines=("majority", "lightgbm"), fit_options=None,
                 backtest_options=None, topk_options=None, seed=0, parallel=None):
    """Fit every model on each fold's past, score it on the fold's next block, beside the baselines.

    Each fold (e.g. from `skills.data.prepare_walk_forward`) trains a new model on its training split, with
    early stopping on its validation split, and predicts its test split, the block of dates after it; each
    baseline (`make_baseline`) is fitted on the same training split (a bar baseline, `BAR_BASELINES`, reads
    the Alpha158 features or the factor of each window's ticker and date from `bars`). Everything gets
    `split_metrics` on that block, and with `bars` a backtest on each ticker of the block (`backtest_metrics`:
    trading from the block's first date to its last, averaged over tickers). The summary is `summarise` of the
    folds.

    Args:
        folds (sequence of PreparedData): the walk-forward folds, oldest first.
        models (Mapping[str, callable]): name -> a function returning a new, unfitted model (a
            `SequenceClassifier`), called once per fold.
        bars (DataFrame or dict[str, DataFrame], optional): the bars the folds were made from; None skips the
            backtests (their figures are then None). The `BAR_BASELINES` need them.
        baselines (sequence of str, default ("majority", "lightgbm")): names from `ALL_BASELINES`.
        fit_options (dict, optional): keyword arguments for `model.fit` (`epochs`, `patience`, `verbose`, ...).
        backtest_options (dict, optional): keyword arguments for `run_backtest` (`confidence_threshold`, ...).
            Without a `confidence_threshold` (or with None / "auto") each model trades at the threshold it chose
            on its validation split (0.65 for one without, e.g. the baselines), and again at 0.65: the
            `FIXED_KEYS`.
        topk_options (dict, optional): trade each test block as one top-k portfolio (`topk_metrics`) with these
            keyword arguments (`k`, `n_drop`, `rebalance`, `commission`, ...) instead of per-ticker backtests;
            the `TOPK_KEYS` are then set and the `BACKTEST_KEYS` None (and the reverse without it).
        seed (int, default 0): LightGBM's seed.
        parallel (skills.evaluation.parallel.RayOptions, optional): run every fold × model and fold × baseline
            as a Ray task (`ray_map`): on a local Ray started for the call, or on a cluster by address. The folds
            and bars go to Ray's object store once. The report is the serial one, figure for figure (only the
            timings differ): each fit is seeded from ``fit_options["seed"]`` alone and every task sizes its
            thread pools the same way.

    Returns:
        dict: `folds`, one entry per fold with its `dates`, `windows`, `tickers` and `results` (`{name:
        metrics}`: `split_metrics`, the `BACKTEST_KEYS`, `backtest` per ticker, and for a model `epochs_run`
        and `fit_seconds`); and `summary` from `summarise`. Plain Python types.

    Raises:
        ValueError: no folds, no models or baselines, an unknown baseline, a bar baseline without `bars`, or a
            name used twice.
    """
    folds, models, baselines = list(folds), dict(models), list(baselines)
    if not folds:
        raise ValueError("walk_forward needs at least one fold")
    if not models and not baselines:
        raise ValueError("walk_forward needs at least one model or baseline")
    unknown = [name for name in baselines if name not in ALL_BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; known: {list(ALL_BASELINES)}")
    from_bars = [name for name in baselines if name in BAR_BASELINES]
    if from_bars and bars is None:
        raise ValueError(f"baseline(s) {', '.join(from_bars)} are computed from the bars: pass walk_forward(..., "
                         "bars=...), the bars the folds were made from")
    clash = sorted(set(models) & set(baselines))
    if clash:
        raise ValueError(f"model name(s) {clash} clash with baseline names")
    fit_options, backtest_options = dict(fit_options or {}), dict(backtest_options or {})
    names = list(models) + baselines
    calls = [(folds, index, name, models.get(name), bars, fit_options, backtest_options, topk_options, seed)
             for index in range(len(folds)) for name in names]

    def report(position, result):
        index, name = divmod(position, len(names))
        if name < len(models):
            _log_fitted(index + 1, len(folds), names[name], result, topk_options is not None)

    if parallel is None:
        results = []
        for position, call in enumerate(calls):
            results.append(fold_result(*call))
            report(position, results[-1])
    else:
        from skills.evaluation.parallel import ray_map  # Ray is imported only when asked for

        results = ray_map(fold_result, calls, parallel, on_result=report)
    records = []
    for index, fold in enumerate(folds):
        records.append({
            "fold": index + 1,
            "dates": fold.bounds.to_dict(),
            "windows": {split.name: len(split) for split in (fold.train, fold.val, fold.test)},
            "tickers": sorted(set(fold.test.tickers.tolist())),
            "results": dict(zip(names, results[index * len(names):(index + 1) * len(names)])),
        })
    return {"folds": records, "summary": summarise(records)}


def fold_result(folds, index, name, make, bars, fit_options, backtest_options, topk_options, seed):
    """One entry of `walk_forward`: a new model from ``make()`` (or, when ``make`` is None, the baseline
    ``name``) fitted on ``folds[index]`` and scored on its test block. Everything it computes depends on its
    arguments only (the trainer seeds each fit), so a Ray task gives what the serial loop gives."""
    fold = folds[index]
    if make is None:
        baseline = make_baseline(name, seed=seed, feature_names=fold.feature_names,
                                 sequence_length=fold.sequence_length, bars=bars).fit(fold.train, fold.train.y)
        return _score(baseline, fold, bars, backtest_options, topk_options)
    started = time.perf_counter()
    model = make().fit(fold, **fit_options)
    fit_seconds = time.perf_counter() - started
    return {**_score(model, fold, bars, backtest_options, topk_options),
            "epochs_run": int(model.metadata_["training"]["epochs_run"]),  # a seed ensemble: its members' sum
            "fit_seconds": round(fit_seconds, 1)}


def _log_fitted(number, n_folds, name, result, topk):
    trading = ("top-k excess", "excess_annual_return") if topk else ("Sharpe", "sharpe")
    log.info("fold %d/%d %-22s macro-F1 %.3f  rank IC %s  %s %s  (%d epochs, %.0f s)", number, n_folds, name,
             result["macro_f1"], _fmt(result["rank_ic"]), trading[0], _fmt(result[trading[1]]),
             result["epochs_run"], result["fit_seconds"])


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def pooled_rank_ic(results):
    """The mean daily rank IC over the test days of all folds pooled, and its t-statistic.

    Args:
        results (sequence of dict): one model's metrics on each fold (`split_metrics` of a universe: each with
            its ``daily`` figures).

    Returns:
        dict: ``rank_ic`` (the mean over every day with a rank IC), ``t`` (mean / std (ddof=1) * sqrt(n), as
        `skills.metrics.t_statistic`) and ``n_dates``; the figures are None without daily figures (a monthly IC)
        or, for ``t``, with fewer than two days or no spread.
    """
    days = [day["rank_ic"] for result in results if result.get("ic_basis") == "daily"
            for day in (result.get("daily") or {}).values() if day.get("rank_ic") is not None]
    return {"rank_ic": mean_std(days)[0], "t": t_statistic(days), "n_dates": len(days)}


def summarise(records):
    """Mean and standard deviation (ddof=1) over folds of each of `SUMMARY_KEYS`, per model or baseline.

    One figure is not a mean over folds: ``rank_ic_t``'s ``mean`` is the t-statistic of the mean daily rank IC
    over the test days of all folds pooled (`pooled_rank_ic`; None on a monthly IC), its ``values`` each fold's
    own t, its ``std`` None, and it adds ``n_dates``, the days pooled.

    Args:
        records (sequence of dict): `walk_forward(...)["folds"]`.

    Returns:
        dict: `{name: {key: {"mean", "std", "values"}}}`, sorted by mean macro-F1, best first; a mean or std
        is None where fewer than one (two) folds define the figure.
    """
    summary = {}
    for name in records[0]["results"]:
        results = [record["results"][name] for record in records]
        summary[name] = {}
        for key in SUMMARY_KEYS:
            values = [result.get(key) for result in results]  # a monthly IC has no rank_ic_t
            mean, std = mean_std(values)
            summary[name][key] = {"mean": mean, "std": std, "values": values}
        pooled = pooled_rank_ic(results)
        summary[name]["rank_ic_t"].update(mean=pooled["t"], std=None, n_dates=pooled["n_dates"])
    return dict(sorted(summary.items(), key=lambda item: -(item[1]["macro_f1"]["mean"] or 0.0)))
