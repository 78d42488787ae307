"""`run_backtest`: a model's signals through `MLStrategy` beside buy-and-hold, or through `TopKStrategy` beside
the equal-weight universe, in one backtrader run, both scored by backtrader's analyzers.

The model predicts each ticker's bars once, in one batched call (`probability_feeds`); the feeds then start at
the first bar that has a prediction (or at ``start``), so every figure, the strategy's and its benchmark's alike,
covers the same tradable period. The benchmark (`BuyAndHold` for the ML strategy, `EqualWeight` on the top-k
portfolio's rebalancing schedule for top-k) trades in the same Cerebro on a broker of its own with the same cash,
commission and slippage (`run_with_benchmark`), and both portfolios' figures come from the same analyzers
(`analyze`). Top-k adds Qlib's: excess annual return, information ratio and turnover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skills.data.dataset import as_frames
from skills.data.io import DataError
from skills.strategy.benchmark import TRADING_DAYS, BuyAndHold, analyze, none_if_nan, run_with_benchmark
from skills.strategy.defaults import default_strategy, names_per_side
from skills.strategy.feeds import probability_feeds
from skills.strategy.ml_strategy import AUTO, DOWN, UP, MLStrategy, as_model, resolve_threshold
from skills.strategy.topk import EqualWeight, TopKStrategy

__all__ = ["BacktestResult", "METRIC_NAMES", "STRATEGIES", "TOPK_METRIC_NAMES", "out_of_sample_start",
           "run_backtest"]

log = logging.getLogger(__name__)

#: The keys of `BacktestResult.metrics`, in the order tables show them.
METRIC_NAMES = ("total_return", "annual_return", "sharpe", "max_drawdown", "n_trades", "win_rate", "exposure",
                "buy_and_hold_return", "buy_and_hold_annual_return", "buy_and_hold_sharpe",
                "buy_and_hold_max_drawdown")
#: The keys of `BacktestResult.metrics` for ``strategy="topk"``; ``benchmark_*`` is the equal-weight universe.
TOPK_METRIC_NAMES = ("total_return", "annual_return", "sharpe", "max_drawdown", "n_trades", "n_rebalances",
                     "turnover", "unfilled_orders", "excess_annual_return", "information_ratio", "benchmark_return",
                     "benchmark_annual_return", "benchmark_sharpe", "benchmark_max_drawdown")
#: The strategies `run_backtest` runs (``strategy="auto"`` picks one of them with `default_strategy`).
STRATEGIES = ("ml", "topk")
# a benchmark figure's name in the results, and its name in `analyze`'s metrics
_BENCHMARK_KEYS = {"return": "total_return", "annual_return": "annual_return", "sharpe": "sharpe",
                   "max_drawdown": "max_drawdown"}


@dataclass
class BacktestResult:
    """What `run_backtest` returns.

    Attributes:
        metrics: dict with ``total_return``, ``annual_return``, ``sharpe`` (annualised, daily, risk-free 0),
            ``max_drawdown`` (a fraction), ``n_trades`` (closed and open), ``win_rate`` (of closed trades),
            ``exposure`` (share of bars with a position), the ``buy_and_hold_*`` counterparts, ``start``,
            ``end``, ``bars`` and ``model_calls``. A figure that is undefined (e.g. the Sharpe ratio of a
            strategy that never trades) is None.
        orders: DataFrame of fills: ``date`` (the fill bar), ``ticker``, ``side`` (buy/sell), ``size``,
            ``price``, ``value``.
        equity: Series of portfolio value by date (name ``strategy``).
        buy_and_hold: Series of the benchmark portfolio's value, same dates and starting cash: buy-and-hold
            (name ``buy_and_hold``) for the ML strategy, the equal-weight universe (``equal_weight``) for top-k.
        analyzers: the raw ``get_analysis()`` output of each backtrader analyzer of the strategy.
        strategy: the `MLStrategy` (or `TopKStrategy`) instance after the run.
        per_ticker: DataFrame, one row per ticker traded, index ``ticker`` (ML strategy; empty for top-k):
            ``first`` and ``last`` (dates, ``YYYY-MM-DD``) and ``bars`` of the ticker's own bars in the run,
            ``trades`` (the trades opened on it; they add up to ``metrics["n_trades"]``), ``total_return`` and
            ``buy_and_hold_return`` (each portfolio's profit on the ticker after commission, open positions
            marked at the ticker's last close, as a fraction of the starting cash: they add up to the
            portfolio's total return) and ``price_return`` (the ticker's last close over its first, minus 1).
        closes: DataFrame of each ticker's close on the bars of the run, one column per ticker.
    """

    metrics: dict
    orders: pd.DataFrame
    equity: pd.Series
    buy_and_hold: pd.Series
    analyzers: dict = field(repr=False, default_factory=dict)
    strategy: object = field(repr=False, default=None)
    per_ticker: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    closes: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        """JSON-ready: metrics, orders (records), both equity curves (the benchmark's under its name) and, for the
        ML strategy, ``per_ticker`` (records with the ticker)."""
        def curve(series):
            return {str(k.date()): round(float(v), 4) for k, v in series.items()}

        orders = self.orders.assign(date=self.orders["date"].astype(str))
        payload = {"metrics": self.metrics, "orders": orders.to_dict(orient="records"), "equity": curve(self.equity),
                   str(self.buy_and_hold.name or "buy_and_hold"): curve(self.buy_and_hold)}
        if not self.per_ticker.empty:
            payload["per_ticker"] = self.per_ticker.reset_index().to_dict(orient="records")
        return payload


def _label_method(model):
    return ((getattr(model, "metadata_", None) or {}).get("label_rule") or {}).get("method")


def run_backtest(model, data, confidence_threshold=None, cash=100_000, commission=0.001, slippage=0.0,
                 start=None, end=None, strategy=AUTO, **params) -> BacktestResult:
    """Backtest a model through `MLStrategy` beside buy-and-hold, or `TopKStrategy` beside the equal-weight universe.

    Args:
        model: a fitted `SequenceClassifier`, or a path to its model file; None when every frame of ``data``
            already carries the probability columns ``p_down p_flat p_up``.
        data: one ticker's bars (DataFrame from `load_ohlcv`), a dict ``{ticker: bars}`` traded together, or a
            CSV / folder path.
        confidence_threshold: float in (0, 1], ``"auto"`` or None (default): enter when P(up) (or P(down) for
            shorts) >= it. ``"auto"``: the thresholds chosen on the model's validation split and stored in its
            file; None: those when the model has them, else `DEFAULT_CONFIDENCE`; a number is used exactly
            (`skills.strategy.ml_strategy.resolve_threshold`). ML strategy only; ignored by top-k.
        cash: starting cash.
        commission: fraction of each fill's value, e.g. 0.001 = 10 bp.
        slippage: fraction of price each fill moves against the order.
        start, end: optional dates; bars before ``start`` feed the indicators but are not traded, bars after
            ``end`` are not used at all.
        strategy: ``"ml"`` (`MLStrategy`, one position per ticker), ``"topk"`` (`TopKStrategy` over the tickers
            as one universe) or ``"auto"`` (default): `default_strategy` of the number of tickers and the label
            rule the model was trained on (top-k for several tickers with cross-sectional labels or at least
            `TOPK_MIN_TICKERS` tickers; ML otherwise).
        **params: the strategy's other params. ``"ml"``: ``exit_threshold``, ``allow_short``, ``stake``,
            ``hold_bars``, ``printlog``. ``"topk"``: ``k``, ``n_drop`` (both default to `topk_defaults`),
            ``rebalance`` (`DEFAULT_REBALANCE`), ``long_short``, ``stake``.

    Returns:
        `BacktestResult`; for ``"ml"`` its metrics are `METRIC_NAMES` plus ``start``, ``end``, ``bars``,
        ``model_calls``, ``confidence_threshold`` and ``down_threshold`` (the entry thresholds used) and
        ``threshold_source`` (``"val"``, ``"given"`` or ``"default"``); for ``"topk"`` its metrics are
        `TOPK_METRIC_NAMES` (the excess return is the annualised mean daily return over the equal-weight
        universe, the information ratio that mean over the daily excess returns' standard deviation times
        sqrt(252), the turnover the mean traded value over equity per rebalance, ``unfilled_orders`` the orders
        the broker refused or left open) plus ``start``, ``end``, ``bars``, ``model_calls``, ``k``, ``n_drop``
        and ``skipped_tickers`` (``{ticker: reason}`` of the tickers left out of the universe because they have
        no bar with a prediction in ``[start, end]``, also logged).

    Raises:
        ModelFileError: a bad model file, bars that cannot give the model's features, or ``"auto"`` for a model
            without a validation-chosen threshold.
        DataError: bad bars, or no bar with a prediction in ``[start, end]`` (``"topk"``: for any ticker, or
            for fewer than ``k`` per side).
        ValueError: an unknown ``strategy``, or a bad strategy param value.
        TypeError: a param the strategy does not take.
    """
    if strategy not in (*STRATEGIES, AUTO):
        raise ValueError(f"run_backtest: strategy must be one of {', '.join((*STRATEGIES, AUTO))}, "
                         f"got {strategy!r}")
    model = None if model is None else as_model(model)
    frames = as_frames(data)
    if strategy == AUTO:
        strategy = default_strategy(len(frames), _label_method(model))
    cls = MLStrategy if strategy == "ml" else TopKStrategy
    unknown = set(params) - (set(cls.params._getkeys()) - {"model", "start"})
    if unknown:
        raise TypeError(f"run_backtest() got unexpected {strategy} strategy param(s): {', '.join(sorted(unknown))}")
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)
    costs = dict(cash=cash, commission=commission, slippage=slippage)
    if strategy == "topk":   # a ticker of the universe with no bar in [start, end] is left out and listed
        skipped = {}
        feeds = probability_feeds(model, frames, start, end, skipped)
        calls = 0 if model is None else len(feeds) + len(skipped)
        return _run_topk(feeds, skipped, costs, calls, params)
    resolve_threshold(model, confidence_threshold)  # a bad value or a missing "auto" fails before predicting
    feeds = probability_feeds(model, frames, start, end)
    # the feeds carry the probabilities; the model is passed for its stored thresholds only
    strat, bench = run_with_benchmark(feeds, MLStrategy, BuyAndHold, **costs,
                                      params=dict(params, model=model, confidence_threshold=confidence_threshold),
                                      benchmark_params={"stake": params.get("stake")})
    metrics, equity, orders, analyzers = analyze(strat, cash)
    bench_metrics, bench_equity, _, bench_analyzers = analyze(bench, cash)
    metrics.update({f"buy_and_hold_{name}": bench_metrics[key] for name, key in _BENCHMARK_KEYS.items()})
    metrics = {name: metrics[name] for name in METRIC_NAMES}
    metrics.update(start=str(equity.index[0].date()), end=str(equity.index[-1].date()), bars=len(equity),
                   model_calls=0 if model is None else len(feeds), confidence_threshold=strat.entry[UP],
                   down_threshold=strat.entry[DOWN], threshold_source=strat.threshold_source)
    return BacktestResult(metrics=metrics, orders=orders, equity=equity.rename("strategy"),
                          buy_and_hold=bench_equity.rename("buy_and_hold"), analyzers=analyzers, strategy=strat,
                          per_ticker=_per_ticker(feeds, analyzers["tickers"], bench_analyzers["tickers"], cash),
                          closes=_closes(feeds))


def _per_ticker(feeds, mine, benchmark, cash) -> pd.DataFrame:
    """`BacktestResult.per_ticker` from the feeds the run walked and the `TickerTrades` of both portfolios."""
    rows = [{"ticker": ticker, "first": str(frame.index[0].date()), "last": str(frame.index[-1].date()),
             "bars": len(frame), "trades": mine[ticker]["trades"], "total_return": mine[ticker]["pnl"] / cash,
             "buy_and_hold_return": benchmark[ticker]["pnl"] / cash,
             "price_return": float(frame["close"].iloc[-1] / frame["close"].iloc[0] - 1.0)}
            for ticker, frame in feeds.items()]
    return pd.DataFrame(rows).set_index("ticker")


def _closes(feeds) -> pd.DataFrame:
    """Each feed's close by date, one column per ticker."""
    return pd.DataFrame({ticker: frame["close"] for ticker, frame in feeds.items()}).rename_axis(index="date")


def _run_topk(feeds, skipped, costs, calls, params) -> BacktestResult:
    """`TopKStrategy` beside the `EqualWeight` universe on the same feeds, schedule, stake and costs."""
    if skipped:
        log.warning("left out of the universe: %s", "; ".join(f"{t}: {why}" for t, why in skipped.items()))
    k, most = params.get("k"), names_per_side(len(feeds), params.get("long_short", False))
    left_out = f" ({len(skipped)} left out: {', '.join(skipped)})" if skipped else ""
    if not feeds:
        raise DataError(f"top-k: no ticker has a bar with a prediction in the period{left_out}")
    if skipped and isinstance(k, int) and not isinstance(k, bool) and k > most > 0:  # else TopKStrategy says
        raise DataError(f"top-k: k={k} but only {most} ticker(s) per side have a bar with a prediction in the "
                        f"period{left_out}")
    strat, bench = run_with_benchmark(feeds, TopKStrategy, EqualWeight, **costs, params=params,
                                      benchmark_params={key: params[key] for key in ("rebalance", "stake")
                                                        if key in params})
    cash = costs["cash"]
    metrics, equity, orders, analyzers = analyze(strat, cash)
    bench_metrics, bench_equity, _, _ = analyze(bench, cash)
    daily = equity.pct_change().fillna(equity.iloc[0] / cash - 1.0)
    bench_daily = bench_equity.pct_change().fillna(bench_equity.iloc[0] / cash - 1.0)
    excess = (daily - bench_daily.reindex(daily.index)).dropna()
    std = float(excess.std(ddof=1)) if len(excess) > 1 else np.nan
    turnover = [r["traded"] / r["equity"] for r in strat.rebalances]
    metrics.update(
        n_rebalances=len(strat.rebalances),
        turnover=float(np.mean(turnover)) if turnover else None,
        unfilled_orders=len(strat.unfilled),
        excess_annual_return=none_if_nan(excess.mean() * TRADING_DAYS if len(excess) else np.nan),
        information_ratio=none_if_nan(excess.mean() / std * np.sqrt(TRADING_DAYS) if std > 0 else np.nan),
        **{f"benchmark_{name}": bench_metrics[key] for name, key in _BENCHMARK_KEYS.items()})
    if strat.unfilled:
        log.warning("%d top-k order(s) did not fill: %s", len(strat.unfilled),
                    "; ".join(f"{day} {ticker} {status}" for day, ticker, status in strat.unfilled[:10]))
    metrics = {name: metrics[name] for name in TOPK_METRIC_NAMES}
    metrics.update(start=str(equity.index[0].date()), end=str(equity.index[-1].date()), bars=len(equity),
                   model_calls=calls, k=strat.k, n_drop=strat.n_drop, skipped_tickers=skipped)
    return BacktestResult(metrics=metrics, orders=orders, equity=equity.rename("strategy"),
                          buy_and_hold=bench_equity.rename("equal_weight"), analyzers=analyzers, strategy=strat,
                          closes=_closes(feeds))


def out_of_sample_start(model, start=None):
    """The date to trade a model from, so that its backtest is out of sample unless the caller says otherwise.

    That is ``start`` if given, else the first date the model was neither fitted nor early-stopped on: the start
    of its test split.

    Args:
        model: a fitted `SequenceClassifier` (from `fit` or `load_model`); its ``metadata_`` records the date
            ranges of the splits it was fitted on.
        start: date-like or None, default None. A date chosen by the caller: it is returned as it is, with a
            warning logged when it lies inside the model's training range (the backtest is then in sample).

    Returns:
        pd.Timestamp or None: ``start``; else the first date of the model's test split (logged); else None,
        with a warning, for a model fitted on arrays (no dates recorded: trade from the first bar).
    """
    ranges = (model.metadata_.get("data") or {}).get("date_ranges") or {}
    if start is not None:
        start = pd.Timestamp(start)
        train = ranges.get("train")
        if train and start <= pd.Timestamp(train[1]):
            log.warning("start %s lies inside the model's training range (%s .. %s): the backtest is in sample",
                        start.date(), *train)
        return start
    if "test" in ranges:
        log.info("trading from %s, the start of the model's test split (out of sample)", ranges["test"][0])
        return pd.Timestamp(ranges["test"][0])
    log.warning("the model records no test split; trading from the first bar (may be in sample)")
    return None
