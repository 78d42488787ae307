"""The backtest figure: the equity curve beside its benchmark, both drawdowns under it and, for one ticker, its
price with the bars where orders filled.

The drawdown is computed from the equity series the figure draws (the fall from the running peak), and the
markers sit at the fills' own dates and prices (`skills.strategy.BacktestResult.orders`).
"""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

import skills.plots.core  # noqa: F401  (selects the Agg backend first)

__all__ = ["drawdown", "fill_kinds", "plot_backtest"]

#: How `plot_backtest` marks each kind of fill (`fill_kinds`): matplotlib marker, colour, and whether it is filled.
FILL_STYLES = {"buy": ("^", "tab:green", True), "sell": ("v", "tab:red", True), "exit": ("o", "black", False)}
_HELD = {"buy": ("tab:green", "held long"), "sell": ("tab:red", "held short")}  # span colour and legend label


def drawdown(equity) -> pd.Series:
    """The fall of a value series from its running peak at each date, in percent (0 at a new high).

    Args:
        equity (pd.Series): portfolio value by date.

    Returns:
        pd.Series: ``(equity / equity.cummax() - 1) * 100``, same index and name; its minimum is minus the
        maximum drawdown in percent.
    """
    equity = pd.Series(equity, dtype=float)
    return (equity / equity.cummax() - 1.0) * 100.0


def fill_kinds(orders) -> pd.Series:
    """What each fill of one ticker did, from the position it leaves (the fills taken in order from flat):
    ``"buy"`` (a long position), ``"sell"`` (a short one) or ``"exit"`` (none).

    Args:
        orders (pd.DataFrame): fills of one ticker with ``side`` (``buy`` / ``sell``) and ``size`` (> 0), in
            the order they filled, e.g. `skills.strategy.BacktestResult.orders`.

    Returns:
        pd.Series of str, same index as ``orders``.
    """
    size = orders["size"].astype(float)
    position = size.where(orders["side"] == "buy", -size).cumsum().to_numpy()
    kinds = np.where(np.isclose(position, 0.0), "exit", np.where(position > 0, "buy", "sell"))
    return pd.Series(kinds, index=orders.index, dtype=object)


def _held_spans(orders, kinds, last):
    """``(from, to, kind)`` of each stretch a position is held: from a fill that leaves one to the next fill (or
    ``last``, the last date, for a position still open)."""
    dates = list(pd.DatetimeIndex(orders["date"])) + [pd.Timestamp(last)]
    return [(dates[i], dates[i + 1], kind) for i, kind in enumerate(kinds) if kind != "exit"]


def _label(series, default):
    return str(series.name).replace("_", " ") if series.name else default


def plot_backtest(equity, benchmark=None, orders=None, close=None, title=None, ends=None):
    """A backtest at a glance: equity beside its benchmark, both drawdowns and, given ``close``, one ticker's price
    with a marker at each fill.

    Panels, sharing the date axis: the value of the strategy (solid) and of the benchmark (dashed); their
    drawdowns in percent (`drawdown`; the strategy's shaded, each legend entry with its largest); with ``close``,
    the ticker's close and one marker per fill of ``orders`` at its date and fill price, by `fill_kinds`:
    green up-triangle ``buy``, red down-triangle ``sell``, hollow black circle ``exit``, over a light green (red)
    band where a long (short) position is held. ``ends`` draws a dotted line, labelled, at each date where
    tickers of the portfolio have their last bar before the end.

    Args:
        equity (pd.Series): portfolio value by date.
        benchmark (pd.Series, optional): the benchmark's value, same starting cash (e.g. buy-and-hold).
        orders (pd.DataFrame, optional): the fills of the ticker of ``close``: ``date``, ``side``, ``size``,
            ``price`` (and ``ticker``, one value), as `skills.strategy.BacktestResult.orders` holds them.
        close (pd.Series, optional): the ticker's close by date; its name labels the panel. None: no price panel.
        title (str, optional): the figure's title.
        ends (Mapping, optional): date -> label (e.g. ``{"2014-12-31": "NVDA, ORCL end"}``), drawn on the value
            and drawdown panels.

    Returns:
        matplotlib.figure.Figure: axes ``[equity, drawdown]``, or ``[equity, drawdown, price]`` with ``close``.

    Raises:
        ValueError: ``equity`` is empty, ``orders`` without ``close``, or ``orders`` of several tickers.
    """
    equity = pd.Series(equity, dtype=float)
    if equity.empty:
        raise ValueError("equity is empty")
    if orders is not None and close is None:
        raise ValueError("orders are drawn on the price panel: give the ticker's close too")
    if orders is not None and "ticker" in orders and orders["ticker"].nunique() > 1:
        raise ValueError(f"the price panel shows one ticker; orders hold {orders['ticker'].nunique()}")
    heights = [3.0, 1.5] + ([2.5] if close is not None else [])
    fig, axes = plt.subplots(len(heights), 1, sharex=True, figsize=(12, 1.3 * sum(heights) + 0.7),
                             height_ratios=heights, layout="constrained")
    curves = [(equity, _label(equity, "strategy"), "-", "tab:blue")]
    if benchmark is not None:
        benchmark = pd.Series(benchmark, dtype=float)
        curves.append((benchmark, _label(benchmark, "benchmark"), "--", "tab:orange"))
    value_ax, drawdown_ax = axes[0], axes[1]
    for series, label, style, color in curves:
        value_ax.plot(series.index, series.to_numpy(), style, color=color, linewidth=1.3, label=label)
        falls = drawdown(series)
        drawdown_ax.plot(falls.index, falls.to_numpy(), style, color=color, linewidth=1.0,
                         label=f"{label} (max {falls.min():.1f}%)")
    strategy_falls = drawdown(equity)
    drawdown_ax.fill_between(strategy_falls.index, strategy_falls.to_numpy(), 0.0, color="tab:blue", alpha=0.2,
                             linewidth=0)
    value_ax.set_ylabel("value")
    value_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _legend(value_ax)
    drawdown_ax.set_ylabel("drawdown %")
    drawdown_ax.set_ylim(top=0.0)
    _legend(drawdown_ax)
    for date, label in (ends or {}).items():
        for ax in (value_ax, drawdown_ax):
            ax.axvline(pd.Timestamp(date), color="dimgray", linestyle=":", linewidth=1.0)
        value_ax.text(pd.Timestamp(date), 0.97, f"{label} ", transform=value_ax.get_xaxis_transform(), rotation=90,
                      ha="right", va="top", fontsize="small", color="dimgray")
    if close is not None:
        _price_panel(axes[2], pd.Series(close, dtype=float), orders)
    for ax in axes:
        ax.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, formats=_DATE_FORMATS,
                                                                   zero_formats=_ZERO_FORMATS, show_offset=False))
    if title:
        fig.suptitle(title)
    fig.align_ylabels(axes)
    return fig


# every tick label names its year: "Apr 2016", "2017" (January), "12 Apr" only within a short span
_DATE_FORMATS = ["%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M", "%S.%f"]
_ZERO_FORMATS = ["", "%Y", "%b %Y", "%d %b", "%H:%M", "%H:%M"]


def _legend(ax):
    """The legend beside the panel, on its right, where it hides no line."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0, fontsize="small")


def _price_panel(ax, close, orders):
    """The close and a marker per fill, at the fill's date and price."""
    ax.plot(close.index, close.to_numpy(), color="black", linewidth=0.9, alpha=0.8,
            label=f"{close.name} close" if close.name else "close")
    if orders is not None and len(orders):
        kinds = fill_kinds(orders)
        labelled = set()
        for start, end, kind in _held_spans(orders, kinds, close.index[-1]):
            color, label = _HELD[kind]
            ax.axvspan(start, end, color=color, alpha=0.12, linewidth=0,
                       label=None if kind in labelled else label)
            labelled.add(kind)
        for kind, (marker, color, solid) in FILL_STYLES.items():
            fills = orders[kinds == kind]
            if len(fills):
                ax.plot(pd.DatetimeIndex(fills["date"]), fills["price"].to_numpy(dtype=float), linestyle="none",
                        marker=marker, markersize=7 if solid else 6, color=color,
                        markerfacecolor=color if solid else "none", markeredgewidth=0.6 if solid else 1.2,
                        markeredgecolor="white" if solid else color, label=f"{kind} ({len(fills)})",
                        zorder=4 if solid else 3)
    ax.set_ylabel("price")
    _legend(ax)
