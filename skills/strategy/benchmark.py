"""A strategy and its benchmark in one backtrader run, both measured by backtrader's own analyzers.

A benchmark is an ordinary backtrader strategy (`BuyAndHold`, `EqualWeight`). `run_with_benchmark` adds it to the
strategy's Cerebro trading on a broker of its own (`OwnBroker`): a copy of the Cerebro's broker, with the same
cash, commission and slippage, stepped on every bar as the Cerebro steps its own, so that its orders fill at the
next bar's open exactly as in a separate run. The feeds are loaded once and the bars are walked once. Every
figure of either portfolio comes from the same analyzers (`add_analyzers`, read by `analyze`): backtrader's
SharpeRatio (and the daily TimeReturn it is computed from), Returns, TimeDrawDown (on daily values, the largest
fall from a running peak), TradeAnalyzer and Transactions, and `TickerTrades` for each feed's trades and profit.
"""

from __future__ import annotations

import functools
import math

import backtrader as bt
import numpy as np
import pandas as pd

from skills.strategy.ml_strategy import NeedsCerebro, ProbabilityData

__all__ = ["BuyAndHold", "OwnBroker", "TRADING_DAYS", "TickerTrades", "add_analyzers", "analyze", "on_own_broker",
           "run_with_benchmark"]

TRADING_DAYS = 252


class BuyAndHold(bt.Strategy, metaclass=NeedsCerebro):
    """Buy ``stake`` of equity in each feed on the first bar where every feed has started (filled at the next
    open) and hold to the end."""

    params = (
        ("stake", None),  # fraction of equity per feed; None = 0.95 / number of feeds
    )

    def __init__(self):
        self.stake = 0.95 / len(self.datas) if self.p.stake is None else float(self.p.stake)

    def nextstart(self):  # the first bar on which every feed has a bar
        for data in self.datas:
            self.order_target_percent(data=data, target=self.stake)


class OwnBroker(bt.Strategy):
    """Mixin: the strategy trades on a broker of its own, beside the Cerebro's, so that it can run in another
    strategy's Cerebro without touching that strategy's cash and positions.

    The broker is a `backtrader.brokers.BackBroker` with the Cerebro broker's parameters (cash, slippage, ...)
    and commission. At the start of each bar it fills the orders of the bar before, at this bar's open, and
    reports them to the strategy, as the Cerebro does with its own broker; the strategy's analyzers and
    ``self.broker`` see this broker only.
    """

    def __init__(self):
        shared = self.broker
        own = bt.brokers.BackBroker(**{name: getattr(shared.p, name) for name in bt.brokers.BackBroker.params._getkeys()
                                       if hasattr(shared.p, name)})
        own.comminfo = dict(shared.comminfo)
        own.start()
        self.broker = own
        self.setsizer(self.getsizer())  # the sizer sizes against this broker
        super().__init__()

    def _notify(self, qorders=[], qtrades=[]):  # noqa: B006 (backtrader's signature)
        if not qorders:  # the call at the start of each bar, not a quick notification
            self.broker.next()
            quick = self.cerebro.p.quicknotify
            while (order := self.broker.get_notification()) is not None:
                self._addnotification(order, quicknotify=quick)
        super()._notify(qorders, qtrades)


class TickerTrades(bt.Analyzer):
    """Each feed's trades and profit in one strategy's run: ``{ticker: {"trades": n, "pnl": profit}}``.

    ``trades`` counts the trades opened on the feed, as TradeAnalyzer's ``total`` counts them over all feeds, so the
    feeds' counts add up to it. ``pnl`` is the feed's closed trades' profit after commission plus its open trade's
    (commission paid, and the position marked at the feed's last close, as the broker values it), so the feeds'
    profits add up to the change in the strategy's value.
    """

    def start(self):
        self._trades = {}  # each trade's latest state, by ref
        self.rets = {data._name: {"trades": 0, "pnl": 0.0} for data in self.strategy.datas}

    def notify_trade(self, trade):
        if trade.justopened:
            self.rets[trade.data._name]["trades"] += 1
        self._trades[trade.ref] = trade

    def stop(self):
        for trade in self._trades.values():
            marked = trade.size * (trade.data.close[0] - trade.price) if trade.isopen else 0.0
            self.rets[trade.data._name]["pnl"] += trade.pnlcomm + marked


@functools.cache
def on_own_broker(strategy: type) -> type:
    """``strategy`` trading on a broker of its own (`OwnBroker`), to run beside another strategy in one Cerebro."""
    return type(strategy)(f"{strategy.__name__}OnOwnBroker", (OwnBroker, strategy), {"__doc__": strategy.__doc__})


def add_analyzers(cerebro) -> None:
    """The analyzers `analyze` reads, on every strategy of ``cerebro``."""
    days = bt.TimeFrame.Days
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=days, annualize=True,
                        riskfreerate=0.0, factor=TRADING_DAYS)
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns", timeframe=days, tann=TRADING_DAYS)
    cerebro.addanalyzer(bt.analyzers.TimeDrawDown, _name="drawdown", timeframe=days)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(bt.analyzers.Transactions, _name="transactions")
    cerebro.addanalyzer(TickerTrades, _name="tickers")


def run_with_benchmark(feeds: dict, strategy, benchmark, cash, commission, slippage, params=None,
                       benchmark_params=None):
    """One Cerebro over ``feeds`` (``{ticker: bars + probabilities}``) with ``strategy`` on its broker and
    ``benchmark`` (or None) on a broker of its own, both with `add_analyzers`.

    Returns:
        list: the strategy instance, then the benchmark's when there is one.
    """
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    if slippage:
        cerebro.broker.set_slippage_perc(slippage)
    for name, frame in feeds.items():
        cerebro.adddata(ProbabilityData(dataname=frame, name=name))
    cerebro.addstrategy(strategy, **(params or {}))
    if benchmark is not None:
        cerebro.addstrategy(on_own_broker(benchmark), **(benchmark_params or {}))
    add_analyzers(cerebro)
    return cerebro.run()


def none_if_nan(value):
    """``value`` as a float, or None when it is None, NaN or infinite."""
    return None if value is None or not np.isfinite(value) else float(value)


def analyze(strat, cash) -> tuple[dict, pd.Series, pd.DataFrame, dict]:
    """The figures of one strategy of a `run_with_benchmark` run, from its analyzers.

    Returns:
        tuple ``(metrics, equity, orders, analyses)``: metrics ``total_return``, ``annual_return`` (Returns'
        annualised figure), ``sharpe`` (SharpeRatio: daily, annualised, risk-free 0), ``max_drawdown``
        (TimeDrawDown, daily, a fraction), ``n_trades``, ``win_rate`` (TradeAnalyzer) and ``exposure`` (the
        share of bars ending with a position, from the fills); equity, the value at each bar's close from the
        daily returns SharpeRatio works on; orders, one row per fill (Transactions); analyses, each analyzer's
        ``get_analysis()`` by name.
    """
    analyzers = strat.analyzers
    analyses = {name: analyzers.getbyname(name).get_analysis() for name in analyzers.getnames()}
    daily = pd.Series(analyzers.sharpe.timereturn.get_analysis(), dtype=float)
    daily.index = pd.DatetimeIndex(daily.index, name="date")
    equity = cash * (1.0 + daily).cumprod()
    fills = [(date, symbol, "buy" if size > 0 else "sell", abs(size), price, abs(value))
             for date, rows in analyses["transactions"].items() for size, price, _, symbol, value in rows]
    orders = pd.DataFrame(fills, columns=["date", "ticker", "side", "size", "price", "value"])
    orders["date"] = pd.to_datetime(orders["date"]).dt.normalize()
    trades = analyses["trades"]
    closed = trades.get("total", {}).get("closed", 0)
    metrics = {
        "total_return": none_if_nan(equity.iloc[-1] / cash - 1.0 if len(equity) else math.nan),
        "annual_return": none_if_nan(analyses["returns"].get("rnorm")),
        "sharpe": none_if_nan(analyses["sharpe"].get("sharperatio")),
        "max_drawdown": none_if_nan(analyses["drawdown"]["maxdrawdown"] / 100.0),
        "n_trades": int(trades.get("total", {}).get("total", 0)),
        "win_rate": trades.get("won", {}).get("total", 0) / closed if closed else None,
        "exposure": _exposure(orders, equity.index),
    }
    return metrics, equity, orders, analyses


def _exposure(orders: pd.DataFrame, dates: pd.DatetimeIndex) -> float:
    """The share of ``dates`` that end with a position in some ticker, from the fills."""
    if orders.empty or not len(dates):
        return 0.0
    size = orders["size"].astype(float)
    signed = size.where(orders["side"] == "buy", -size)
    held = (signed.groupby([orders["date"], orders["ticker"]]).sum().unstack(fill_value=0.0)
            .reindex(dates, fill_value=0.0).cumsum())
    return float((held != 0).any(axis=1).mean())
