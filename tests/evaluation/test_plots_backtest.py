"""`plot_backtest` on real backtests: the drawdown panel is the drawdown of the equity the metrics use, the markers
sit at the backtest's own fills, the held bands span the positions, and the figure has the expected axes."""

import re

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from skills.plots import drawdown, fill_kinds, plot_backtest, save_figure
from skills.strategy import PROBABILITY_LINES, run_backtest


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _with_probabilities(bars):
    """P(up) high after an up close, P(down) high after a down close, from bar 20 on."""
    up = (bars["close"].diff() > 0).to_numpy()
    p = np.where(up[:, None], [0.1, 0.2, 0.7], [0.7, 0.2, 0.1]).astype(float)
    p[:20] = np.nan
    return bars.join(pd.DataFrame(p, index=bars.index, columns=list(PROBABILITY_LINES)))


@pytest.fixture(scope="module", params=[False, True], ids=["long", "long-short"])
def backtest(request, aapl):
    bars = _with_probabilities(aapl.loc["2016-03":"2016-12"])
    return run_backtest(None, {"AAPL": bars}, strategy="ml", allow_short=request.param), request.param


def _figure(result):
    return plot_backtest(result.equity, result.buy_and_hold, orders=result.orders, close=result.closes["AAPL"],
                         title="AAPL")


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_one_ticker_has_value_drawdown_and_price_panels_on_one_date_axis(backtest):
    result, _ = backtest
    fig = _figure(result)
    value_ax, drawdown_ax, price_ax = fig.axes
    assert [ax.get_ylabel() for ax in fig.axes] == ["value", "drawdown %", "price"]
    assert fig._suptitle.get_text() == "AAPL"
    assert value_ax.get_shared_x_axes().joined(value_ax, price_ax)
    np.testing.assert_array_equal(_lines(value_ax)["strategy"].get_ydata(), result.equity.to_numpy())
    np.testing.assert_array_equal(_lines(value_ax)["buy and hold"].get_ydata(), result.buy_and_hold.to_numpy())
    np.testing.assert_array_equal(_lines(price_ax)["AAPL close"].get_ydata(), result.closes["AAPL"].to_numpy())
    fig.canvas.draw()  # every date label names its year
    labels = [t.get_text() for t in price_ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 4 and all(re.search(r"\b20\d\d\b", label) for label in labels)
    assert not any(t.get_text() for t in value_ax.get_xticklabels() if t.get_visible())


def test_the_drawdown_panel_is_the_drawdown_of_the_equity_the_metrics_use(backtest):
    result, _ = backtest
    lines = list(_figure(result).axes[1].get_lines())
    keys = ("max_drawdown", "buy_and_hold_max_drawdown")
    for line, series, key in zip(lines, (result.equity, result.buy_and_hold), keys):
        values = series.to_numpy()
        expected = (values / np.maximum.accumulate(values) - 1.0) * 100.0
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=0, atol=1e-9)
        assert list(line.get_xdata()) == list(series.index)
        # its deepest point is the backtest's max drawdown (backtrader's TimeDrawDown on the same daily values)
        assert -expected.min() == pytest.approx(result.metrics[key] * 100.0, rel=1e-9)
        assert line.get_label().endswith(f"(max {expected.min():.1f}%)")
    assert result.metrics["max_drawdown"] > 0.01


def test_markers_sit_on_the_dates_and_prices_of_the_fills(backtest):
    result, short = backtest
    orders = result.orders
    markers = {label.split(" (")[0]: line for label, line in _lines(_figure(result).axes[2]).items()
               if label != "AAPL close"}
    buys, sells = orders[orders["side"] == "buy"], orders[orders["side"] == "sell"]
    assert len(buys) > 10 and len(sells) > 10
    # long only: every buy opens a long and every sell closes it; long-short: every order turns the position around
    expected = {"buy": buys, "sell": sells} if short else {"buy": buys, "exit": sells}
    assert set(markers) == set(expected)
    for kind, fills in expected.items():
        assert list(markers[kind].get_xdata()) == list(fills["date"])
        np.testing.assert_array_equal(markers[kind].get_ydata(), fills["price"].to_numpy())
        assert markers[kind].get_label() == f"{kind} ({len(fills)})"


def test_the_held_bands_run_from_each_entry_to_the_next_fill(backtest):
    result, short = backtest
    bands = _figure(result).axes[2].patches
    orders = result.orders
    entries = orders.index if short else orders.index[orders["side"] == "buy"]
    assert len(bands) == len(entries)
    dates = list(orders["date"]) + [result.closes.index[-1]]
    for band, i in zip(bands, entries):
        span = (band.get_x(), band.get_x() + band.get_width())  # a Rectangle in data units along x
        assert span == pytest.approx((mdates.date2num(dates[i]), mdates.date2num(dates[i + 1])))


def test_fill_kinds_follow_the_position_each_fill_leaves():
    orders = pd.DataFrame({"side": ["buy", "sell", "sell", "buy", "buy", "sell", "buy"],
                           "size": [10, 10, 5, 5, 3, 6, 3]})
    # positions left: 10, 0, -5, 0, 3, -3, 0
    assert list(fill_kinds(orders)) == ["buy", "exit", "sell", "exit", "buy", "sell", "exit"]


def test_top_k_has_value_and_drawdown_only_and_ends_are_marked(aapl):
    index = aapl.index[-300:]
    equity = pd.Series(np.linspace(100.0, 130.0, 300) + np.sin(np.arange(300) / 7) * 5, index=index, name="top-k")
    bench = pd.Series(np.linspace(100.0, 120.0, 300), index=index, name="equal weight")
    fig = plot_backtest(equity, bench, ends={index[100]: "X, Y: last bar"})
    assert [ax.get_ylabel() for ax in fig.axes] == ["value", "drawdown %"]
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), drawdown(equity).to_numpy())
    for ax in fig.axes:
        assert [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"] == [index[100]]
    assert [t.get_text().strip() for t in fig.axes[0].texts] == ["X, Y: last bar"]


def test_bad_inputs_and_saving(backtest, tmp_path):
    result, _ = backtest
    with pytest.raises(ValueError, match="empty"):
        plot_backtest(pd.Series([], dtype=float))
    with pytest.raises(ValueError, match="close"):
        plot_backtest(result.equity, orders=result.orders)
    two = pd.concat([result.orders, result.orders.assign(ticker="GOOG")])
    with pytest.raises(ValueError, match="one ticker"):
        plot_backtest(result.equity, orders=two, close=result.closes["AAPL"])
    path = save_figure(_figure(result), tmp_path / "bt.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
