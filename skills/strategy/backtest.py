"""`run_backtest`: a model's signals through `MLStrategy` beside buy-and-hold, or through `TopKStrategy` beside
the equal-weight universe, each scored by backtrader's analyzers.

The model predicts each ticker's bars once, in one batched call. The feeds handed to backtrader then start at
the first bar that has a prediction (or at ``start``), so every metric, the strategy's and buy-and-hold's alike,
covers the same tradable period. Buy-and-hold is traded within the strategy's own run: the analyzer
`BuyAndHoldValue` keeps a second backtrader broker (same cash, commission and slippage) that buys ``stake`` of
equity in each feed on the first bar where every feed has started, as the `BuyAndHold` strategy does, fills at
the next open and holds; its returns, Sharpe ratio, drawdown and annual return follow the formulas of the
analyzers the strategy's figures come from (backtrader's ``mathsupport``), so the benchmark costs no second run.
With ``strategy="topk"`` the benchmark is `EqualWeight` (a second run) on the top-k portfolio's rebalancing
schedule, and the metrics add Qlib's: excess annual return, information ratio and turnover.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd
from backtrader.mathsupport import average, standarddev

from skills.data.dataset import as_frames
from skills.data.io import DataError
from skills.strategy.ml_strategy import (
    DOWN,
    PROBABILITY_LINES,
    UP,
    MLStrategy,
    ProbabilityData,
    as_model,
    resolve_threshold,
)
from skills.strategy.topk import EqualWeight, TopKStrategy, names_per_side

__all__ = ["BacktestResult", "BuyAndHold", "BuyAndHoldValue", "METRIC_NAMES", "STRATEGIES", "TOPK_METRIC_NAMES",
           "format_metrics", "format_topk_metrics", "out_of_sample_start", "run_backtest"]

log = logging.getLogger(__name__)

TRADING_DAYS = 252
#: The keys of `BacktestResult.metrics`, in the order tables show them.
METRIC_NAMES = ("total_return", "annual_return", "sharpe", "max_drawdown", "n_trades", "win_rate", "exposure",
                "buy_and_hold_return", "buy_and_hold_annual_return", "buy_and_hold_sharpe",
                "buy_and_hold_max_drawdown")
#: The keys of `BacktestResult.metrics` for ``strategy="topk"``; ``benchmark_*`` is the equal-weight universe.
TOPK_METRIC_NAMES = ("total_return", "annual_return", "sharpe", "max_drawdown", "n_trades", "n_rebalances",
                     "turnover", "unfilled_orders", "excess_annual_return", "information_ratio", "benchmark_return",
                     "benchmark_annual_return", "benchmark_sharpe", "benchmark_max_drawdown")
#: The strategies `run_backtest` runs.
STRATEGIES = ("ml", "topk")


class BuyAndHold(bt.Strategy):
    """Buy ``stake`` of equity in every feed on its first bar (filled at the next open) and hold to the end."""

    params = (
        ("stake", None),  # fraction of equity per feed; None = 0.95 / number of feeds
    )

    def __init__(self):
        self.stake = 0.95 / len(self.datas) if self.p.stake is None else float(self.p.stake)
        self.bought = set()

    def next(self):
        for data in self.datas:
            if len(data) and data._name not in self.bought:
                self.order_target_percent(data=data, target=self.stake)
                self.bought.add(data._name)


class BuyAndHoldValue(bt.Analyzer):
    """`BuyAndHold` traded beside the run's own strategy, on a broker of its own: the value of that portfolio.

    On the first bar where every feed has started it orders ``stake`` of equity in each feed at that bar's
    close, sized as ``order_target_percent`` sizes them; the orders fill at the next bar's open with the given
    commission and slippage, as they would in a separate run. ``get_analysis()`` is ``{datetime: value}``, one
    entry per bar, each the value after that bar's fills at its close.
    """

    params = (
        ("stake", None),  # fraction of equity per feed; None = 0.95 / number of feeds
        ("cash", 100_000.0),
        ("commission", 0.0),
        ("slippage", 0.0),
    )

    def start(self):
        self.stake = 0.95 / len(self.datas) if self.p.stake is None else float(self.p.stake)
        self.holdings = bt.brokers.BackBroker()
        self.holdings.setcash(self.p.cash)
        self.holdings.setcommission(commission=self.p.commission)
        if self.p.slippage:
            self.holdings.set_slippage_perc(self.p.slippage)
        self.holdings.start()
        self.bought = False

    def next(self):  # prenext and nextstart too: every bar of the run
        holdings = self.holdings
        holdings.next()  # fill what was ordered on the bar before, at this bar's open; value at its close
        if not self.bought and all(len(data) for data in self.datas):
            value = holdings.getvalue()
            for data in self.datas:
                size = holdings.getcommissioninfo(data).getsize(data.close[0], self.stake * value)
                if size:
                    holdings.buy(self.strategy, data, size=size, price=data.close[0])
            self.bought = True
        self.rets[self.strategy.datetime.datetime()] = holdings.getvalue()


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
            (name ``buy_and_hold``) for ``strategy="ml"``, the equal-weight universe (``equal_weight``) for
            ``"topk"``.
        analyzers: the raw ``get_analysis()`` output of each backtrader analyzer of the strategy run.
        strategy: the `MLStrategy` (or `TopKStrategy`) instance after the run.
    """

    metrics: dict
    orders: pd.DataFrame
    equity: pd.Series
    buy_and_hold: pd.Series
    analyzers: dict = field(repr=False, default_factory=dict)
    strategy: object = field(repr=False, default=None)

    def to_dict(self) -> dict:
        """JSON-ready: metrics, orders (records) and both equity curves (the benchmark's under its name)."""
        def curve(series):
            return {str(k.date()): round(float(v), 4) for k, v in series.items()}

        orders = self.orders.assign(date=self.orders["date"].astype(str))
        return {"metrics": self.metrics, "orders": orders.to_dict(orient="records"),
                "equity": curve(self.equity), str(self.buy_and_hold.name or "buy_and_hold"): curve(self.buy_and_hold)}


def _add_analyzers(cerebro, trades=True):
    days = bt.TimeFrame.Days
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=days, annualize=True,
                        riskfreerate=0.0, factor=TRADING_DAYS)
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns", timeframe=days, tann=TRADING_DAYS)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="total", timeframe=bt.TimeFrame.NoTimeFrame)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="daily", timeframe=days)
    if trades:
        cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
        cerebro.addanalyzer(bt.analyzers.PositionsValue, _name="positions")
        cerebro.addanalyzer(bt.analyzers.Transactions, _name="transactions")


def _run(feeds, strategy, cash, commission, slippage, buy_and_hold=False, **params):
    """One backtrader run of ``strategy``; with ``buy_and_hold`` also `BuyAndHoldValue` at ``params["stake"]``."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    if slippage:
        cerebro.broker.set_slippage_perc(slippage)
    for name, frame in feeds.items():
        cerebro.adddata(ProbabilityData(dataname=frame, name=name))
    cerebro.addstrategy(strategy, **params)
    _add_analyzers(cerebro, trades=strategy not in (BuyAndHold, EqualWeight))
    if buy_and_hold:
        cerebro.addanalyzer(BuyAndHoldValue, _name="buy_and_hold", stake=params.get("stake"), cash=cash,
                            commission=commission, slippage=slippage)
    return cerebro.run()[0]


def _curve_metrics(values: dict, cash) -> tuple[dict, pd.Series]:
    """The `_analyze` metrics of a portfolio from its value at each bar, by the formulas of the analyzers there:
    TimeReturn (total, daily), Returns (annual, 252 days), SharpeRatio (daily, annualised, population
    deviation, risk-free 0) and DrawDown (max, from the running peak)."""
    value = list(values.values())
    daily = [now / before - 1.0 for before, now in zip([float(cash)] + value[:-1], value)]
    total = value[-1] / cash - 1.0
    annual = math.expm1(math.log(value[-1] / cash) / len(value) * TRADING_DAYS) if value[-1] > 0 else None
    try:
        mean = average(daily)
        sharpe = math.sqrt(TRADING_DAYS) * mean / standarddev(daily, avgx=mean)
    except ZeroDivisionError:
        sharpe = None
    peak, drawdown = float("-inf"), 0.0
    for now in value:
        peak = max(peak, now)
        drawdown = max(drawdown, 100.0 * (peak - now) / peak)
    metrics = {"total_return": _none_if_nan(total), "annual_return": _none_if_nan(annual),
               "sharpe": _none_if_nan(sharpe), "max_drawdown": _none_if_nan(drawdown / 100.0)}
    equity = pd.Series(value, index=pd.DatetimeIndex(list(values), name="date"), dtype=float)
    return metrics, equity


def _none_if_nan(value):
    return None if value is None or not np.isfinite(value) else float(value)


def _analyze(strat, cash):
    """Metrics, equity and fills from one run's analyzers."""
    a = {name: strat.analyzers.getbyname(name).get_analysis() for name in strat.analyzers.getnames()}
    daily = pd.Series(a["daily"], dtype=float)
    daily.index = pd.DatetimeIndex(daily.index, name="date")
    metrics = {
        "total_return": _none_if_nan(next(iter(a["total"].values()), np.nan)),
        "annual_return": _none_if_nan(a["returns"].get("rnorm")),
        "sharpe": _none_if_nan(a["sharpe"].get("sharperatio")),
        "max_drawdown": _none_if_nan(a["drawdown"]["max"]["drawdown"] / 100.0),
    }
    equity = cash * (1.0 + daily).cumprod()
    if "trades" not in a:
        return metrics, equity, None, a
    trades = a["trades"]
    closed = trades.get("total", {}).get("closed", 0)
    positions = np.array(list(a["positions"].values()), dtype=float).reshape(len(a["positions"]), -1)
    metrics.update(
        n_trades=int(trades.get("total", {}).get("total", 0)),
        win_rate=trades.get("won", {}).get("total", 0) / closed if closed else None,
        exposure=float(np.mean(np.any(positions != 0, axis=1))) if len(positions) else 0.0,
    )
    fills = [(date, symbol, "buy" if size > 0 else "sell", abs(size), price, abs(value))
             for date, rows in a["transactions"].items() for size, price, _, symbol, value in rows]
    orders = pd.DataFrame(fills, columns=["date", "ticker", "side", "size", "price", "value"])
    orders["date"] = pd.to_datetime(orders["date"]).dt.normalize()
    return metrics, equity, orders, a


def _feeds(model, data, start, end, skipped=None) -> dict:
    """``{ticker: bars + probabilities}`` from each ticker's first bar with a prediction (or ``start``) to ``end``.

    With ``model=None`` every frame must already carry the probability columns (``p_down p_flat p_up``). A
    ticker with no bar with a prediction in ``[start, end]`` raises `DataError`, or, when ``skipped`` is a
    dict, is left out and recorded there with the reason.
    """
    feeds = {}
    frames = as_frames(data)
    # a model whose input spans the universe (cross-sectional features, a graph network) predicts it at once
    universe = (model.predict_universe({t: b.loc[:end] if end is not None else b for t, b in frames.items()})
                if getattr(model, "needs_universe", False) else None)
    for ticker, bars in frames.items():
        bars = bars.loc[:end] if end is not None else bars
        if "source" not in bars.attrs:  # name the ticker in data errors, without touching the caller's frame
            bars = bars.copy(deep=False)
            bars.attrs["source"] = ticker
        if model is None:
            missing = [name for name in PROBABILITY_LINES if name not in bars.columns]
            if missing:
                raise DataError(f"{ticker}: no model given and no probability column(s) {', '.join(missing)}")
            proba = bars[list(PROBABILITY_LINES)].dropna()
            bars = bars.drop(columns=list(PROBABILITY_LINES))
            if proba.empty:
                raise DataError(f"{ticker}: every row's probabilities are NaN")
        else:
            if universe is None:
                proba = model.predict_frame(bars)                  # one batched call per ticker
            elif ticker in universe:
                proba = universe[ticker].copy()
            else:
                reason = f"{len(bars)} bars give no complete window"
                if skipped is None:
                    raise DataError(f"{ticker}: {reason}")
                skipped[ticker] = reason
                continue
            proba.columns = list(PROBABILITY_LINES)
        first = proba.index[0] if start is None else max(proba.index[0], start)
        frame = bars.loc[first:].join(proba)
        if frame.empty:
            reason = f"no bar with a prediction between {first.date()} and {bars.index[-1].date()}"
            if skipped is None:
                raise DataError(f"{ticker}: {reason}")
            skipped[ticker] = reason
            continue
        feeds[ticker] = frame
    return feeds


def run_backtest(model, data, confidence_threshold=None, cash=100_000, commission=0.001, slippage=0.0,
                 start=None, end=None, strategy="ml", **params) -> BacktestResult:
    """Backtest a model through `MLStrategy` beside buy-and-hold, or `TopKStrategy` beside the equal-weight universe.

    Args:
        model: a fitted `SequenceClassifier`, or a path to its model file; None when every frame of ``data``
            already carries the probability columns ``p_down p_flat p_up``.
        data: one ticker's bars (DataFrame from `load_ohlcv`), a dict ``{ticker: bars}`` traded together with
            one position per ticker, or a CSV / folder path.
        confidence_threshold: float in (0, 1], ``"auto"`` or None (default): enter when P(up) (or P(down) for
            shorts) >= it. ``"auto"``: the thresholds chosen on the model's validation split and stored in its
            file; None: those when the model has them, else 0.65; a number is used exactly
            (`skills.strategy.ml_strategy.resolve_threshold`). ``strategy="ml"`` only; ignored by ``"topk"``.
        cash: starting cash.
        commission: fraction of each fill's value, e.g. 0.001 = 10 bp.
        slippage: fraction of price each fill moves against the order.
        start, end: optional dates; bars before ``start`` feed the indicators but are not traded, bars after
            ``end`` are not used at all.
        strategy: ``"ml"`` (`MLStrategy`, one position per ticker) or ``"topk"`` (`TopKStrategy` over the
            tickers as one universe).
        **params: the strategy's other params. ``"ml"``: ``exit_threshold``, ``allow_short``, ``stake``,
            ``hold_bars``, ``printlog``. ``"topk"``: ``k``, ``n_drop``, ``rebalance``, ``long_short``, ``stake``.

    Returns:
        `BacktestResult`; for ``"ml"`` its metrics are `METRIC_NAMES` plus ``start``, ``end``, ``bars``,
        ``model_calls``, ``confidence_threshold`` and ``down_threshold`` (the entry thresholds used) and
        ``threshold_source`` (``"val"``, ``"given"`` or ``"default"``); for ``"topk"`` its metrics are
        `TOPK_METRIC_NAMES` (the excess return is the annualised mean daily return over the equal-weight
        universe, the information ratio that mean over the daily excess returns' standard deviation times
        sqrt(252), the turnover the mean traded value over
        equity per rebalance, ``unfilled_orders`` the orders the broker refused or left open) plus ``start``,
        ``end``, ``bars``, ``model_calls`` and ``skipped_tickers`` (``{ticker: reason}`` of the tickers left
        out of the universe because they have no bar with a prediction in ``[start, end]``, also logged).

    Raises:
        ModelFileError: a bad model file, bars that cannot give the model's features, or ``"auto"`` for a model
            without a validation-chosen threshold.
        DataError: bad bars, or no bar with a prediction in ``[start, end]`` (``"topk"``: for any ticker, or
            for fewer than ``k`` per side).
        ValueError: an unknown ``strategy``, or a bad strategy param value.
        TypeError: a param the strategy does not take.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"run_backtest: strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    model = None if model is None else as_model(model)
    cls = MLStrategy if strategy == "ml" else TopKStrategy
    unknown = set(params) - (set(cls.params._getkeys()) - {"model", "start"})
    if unknown:
        raise TypeError(f"run_backtest() got unexpected {strategy} strategy param(s): {', '.join(sorted(unknown))}")
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)
    if strategy == "topk":   # a ticker of the universe with no bar in [start, end] is left out and listed
        skipped = {}
        feeds = _feeds(model, data, start, end, skipped)
        calls = 0 if model is None else len(feeds) + len(skipped)
        return _run_topk(feeds, skipped, cash, commission, slippage, calls, **params)
    resolve_threshold(model, confidence_threshold)  # a bad value or a missing "auto" fails before predicting
    feeds = _feeds(model, data, start, end)
    calls = 0 if model is None else len(feeds)
    # the feeds carry the probabilities; the model is passed for its stored thresholds only
    strat = _run(feeds, MLStrategy, cash, commission, slippage, buy_and_hold=True, model=model,
                 confidence_threshold=confidence_threshold, **params)
    metrics, equity, orders, analyzers = _analyze(strat, cash)
    bh_metrics, bh_equity = _curve_metrics(analyzers.pop("buy_and_hold"), cash)
    metrics.update({f"buy_and_hold_{k}": bh_metrics[k] for k in ("annual_return", "sharpe", "max_drawdown")})
    metrics["buy_and_hold_return"] = bh_metrics["total_return"]
    metrics = {name: metrics[name] for name in METRIC_NAMES}
    metrics.update(start=str(equity.index[0].date()), end=str(equity.index[-1].date()), bars=len(equity),
                   model_calls=calls, confidence_threshold=strat.entry[UP], down_threshold=strat.entry[DOWN],
                   threshold_source=strat.threshold_source)
    return BacktestResult(metrics=metrics, orders=orders, equity=equity.rename("strategy"),
                          buy_and_hold=bh_equity.rename("buy_and_hold"), analyzers=analyzers, strategy=strat)


def _run_topk(feeds, skipped, cash, commission, slippage, calls, **params) -> BacktestResult:
    """`TopKStrategy` and the `EqualWeight` universe on the same feeds, schedule, stake and costs."""
    if skipped:
        log.warning("left out of the universe: %s", "; ".join(f"{t}: {why}" for t, why in skipped.items()))
    k, most = params.get("k"), names_per_side(len(feeds), params.get("long_short", False))
    left_out = f" ({len(skipped)} left out: {', '.join(skipped)})" if skipped else ""
    if not feeds:
        raise DataError(f"top-k: no ticker has a bar with a prediction in the period{left_out}")
    if skipped and isinstance(k, int) and not isinstance(k, bool) and k > most > 0:  # else TopKStrategy says
        raise DataError(f"top-k: k={k} but only {most} ticker(s) per side have a bar with a prediction in the "
                        f"period{left_out}")
    strat = _run(feeds, TopKStrategy, cash, commission, slippage, **params)
    metrics, equity, orders, analyzers = _analyze(strat, cash)
    bench_params = {key: params[key] for key in ("rebalance", "stake") if key in params}
    bench = _run(feeds, EqualWeight, cash, commission, slippage, **bench_params)
    bench_metrics, bench_equity, _, _ = _analyze(bench, cash)
    daily = equity.pct_change().fillna(equity.iloc[0] / cash - 1.0)
    bench_daily = bench_equity.pct_change().fillna(bench_equity.iloc[0] / cash - 1.0)
    excess = (daily - bench_daily.reindex(daily.index)).dropna()
    std = float(excess.std(ddof=1)) if len(excess) > 1 else np.nan
    turnover = [r["traded"] / r["equity"] for r in strat.rebalances]
    metrics.update(
        n_rebalances=len(strat.rebalances),
        turnover=float(np.mean(turnover)) if turnover else None,
        excess_annual_return=_none_if_nan(excess.mean() * TRADING_DAYS if len(excess) else np.nan),
        information_ratio=_none_if_nan(excess.mean() / std * np.sqrt(TRADING_DAYS) if std > 0 else np.nan),
        **{f"benchmark_{k}": bench_metrics[k] for k in ("annual_return", "sharpe", "max_drawdown")},
        benchmark_return=bench_metrics["total_return"])
    metrics["unfilled_orders"] = len(strat.unfilled)
    if strat.unfilled:
        log.warning("%d top-k order(s) did not fill: %s", len(strat.unfilled),
                    "; ".join(f"{day} {ticker} {status}" for day, ticker, status in strat.unfilled[:10]))
    metrics = {name: metrics[name] for name in TOPK_METRIC_NAMES}
    metrics.update(start=str(equity.index[0].date()), end=str(equity.index[-1].date()), bars=len(equity),
                   model_calls=calls, skipped_tickers=skipped)
    return BacktestResult(metrics=metrics, orders=orders, equity=equity.rename("strategy"),
                          buy_and_hold=bench_equity.rename("equal_weight"), analyzers=analyzers, strategy=strat)


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


# (label, strategy key, buy-and-hold key or None, format)
_TABLE = (
    ("total return", "total_return", "buy_and_hold_return", "{:+.2%}"),
    ("annual return", "annual_return", "buy_and_hold_annual_return", "{:+.2%}"),
    ("Sharpe (ann.)", "sharpe", "buy_and_hold_sharpe", "{:.3f}"),
    ("max drawdown", "max_drawdown", "buy_and_hold_max_drawdown", "{:.2%}"),
    ("trades", "n_trades", None, "{:d}"),
    ("win rate", "win_rate", None, "{:.1%}"),
    ("exposure", "exposure", None, "{:.1%}"),
)


def _format_table(metrics, rows, heads, widths) -> str:
    """``rows`` of (label, key, benchmark key or None, format) as fixed-width text ("n/a" where undefined)."""
    def cell(key, fmt):
        value = metrics.get(key) if key else None
        return "-" if key is None else ("n/a" if value is None else fmt.format(value))

    (left, right), (left_w, right_w) = heads, widths
    lines = [f"{'metric':<15}{left:>{left_w}}{right:>{right_w}}"]
    lines += [f"{label:<15}{cell(key, fmt):>{left_w}}{cell(other, fmt):>{right_w}}" for label, key, other, fmt in rows]
    return "\n".join(lines)


def format_metrics(metrics) -> str:
    """The strategy's metrics beside buy-and-hold's, as a fixed-width text table ("n/a" where undefined)."""
    return _format_table(metrics, _TABLE, ("strategy", "buy & hold"), (12, 12))


# (label, strategy key, benchmark key or None, format)
_TOPK_TABLE = (
    ("total return", "total_return", "benchmark_return", "{:+.2%}"),
    ("annual return", "annual_return", "benchmark_annual_return", "{:+.2%}"),
    ("Sharpe (ann.)", "sharpe", "benchmark_sharpe", "{:.3f}"),
    ("max drawdown", "max_drawdown", "benchmark_max_drawdown", "{:.2%}"),
    ("excess return", "excess_annual_return", None, "{:+.2%}"),
    ("info. ratio", "information_ratio", None, "{:.3f}"),
    ("turnover", "turnover", None, "{:.1%}"),
    ("rebalances", "n_rebalances", None, "{:d}"),
    ("unfilled", "unfilled_orders", None, "{:d}"),
)


def format_topk_metrics(metrics) -> str:
    """The top-k portfolio's metrics beside the equal-weight universe's, as a fixed-width text table."""
    return _format_table(metrics, _TOPK_TABLE, ("top-k", "equal weight"), (12, 14))
