"""Each ticker's figures of one ML backtest (`BacktestResult.per_ticker`), on real tickers that start and end on
different bars: its own bars, the strategy's trades on it, both portfolios' profit on it (they add up to the pooled
figures), and its price change; each checked against the fills and the feed's bars, not against the code under
test."""

import numpy as np
import pandas as pd
import pytest

from skills.data import load_ohlcv
from skills.evaluation.tables import format_ticker_table
from skills.strategy import PROBABILITY_LINES, BuyAndHold, run_backtest
from skills.strategy.benchmark import analyze, run_with_benchmark

COMMISSION, SLIPPAGE = 0.001, 0.0005
# the last bars of the bundled files differ: ORCL 2014-12-31, YHOO 2015-12-31, AAPL 2018-01-19
FIRST = {"AAPL": 30, "ORCL": 75, "YHOO": 140}


def _with_probabilities(bars, first):
    """Real bars with probabilities from bar ``first`` on (NaN before, so the feed starts there): P(up) high after
    an up close, P(down) high after a down close, so the strategy trades often."""
    up = (bars["close"].diff() > 0).to_numpy()
    p = np.where(up[:, None], [0.1, 0.2, 0.7], [0.7, 0.2, 0.1]).astype(float)
    p[:first] = np.nan
    return bars.join(pd.DataFrame(p, index=bars.index, columns=list(PROBABILITY_LINES)))


@pytest.fixture(scope="module")
def frames(data_dir):
    return {ticker: _with_probabilities(load_ohlcv(data_dir / f"{ticker}.csv").loc["2012":"2016-06"], first=first)
            for ticker, first in FIRST.items()}


@pytest.fixture(scope="module", params=[False, True], ids=["long", "long-short"])
def result(request, frames):
    return run_backtest(None, frames, commission=COMMISSION, slippage=SLIPPAGE, strategy="ml",
                        allow_short=request.param)


def _positions(orders):
    """Each fill's signed size and the position it leaves, per ticker, in fill order."""
    size = orders["size"].astype(float)
    signed = size.where(orders["side"] == "buy", -size)
    return signed, signed.groupby(orders["ticker"]).cumsum()


def test_each_tickers_bars_are_its_own_in_the_run(result, frames):
    table = result.per_ticker
    assert list(table.index) == list(FIRST)
    for ticker, frame in frames.items():
        own = frame.dropna(subset=list(PROBABILITY_LINES))  # the bars with a prediction: the feed
        row = table.loc[ticker]
        assert (row["first"], row["last"], row["bars"]) == (str(own.index[0].date()), str(own.index[-1].date()),
                                                            len(own))
        assert row["price_return"] == pytest.approx(own["close"].iloc[-1] / own["close"].iloc[0] - 1, rel=1e-12)
        pd.testing.assert_series_equal(result.closes[ticker].dropna(), own["close"], check_names=False)
    assert table.loc["ORCL", "last"] == "2014-12-31" and table.loc["YHOO", "last"] == "2015-12-31"
    assert table.loc["AAPL", "last"] == result.metrics["end"] and table["bars"].max() == result.metrics["bars"]


def test_each_tickers_trades_are_the_trades_opened_on_it_and_add_up_to_the_pooled_count(result):
    signed, position = _positions(result.orders)
    before = position - signed
    # a trade opens where a fill leaves a position from none, or turns a position around
    opened = (position != 0) & ((before == 0) | (np.sign(before) != np.sign(position)))
    counted = opened.groupby(result.orders["ticker"]).sum()
    assert result.per_ticker["trades"].to_dict() == counted.reindex(result.per_ticker.index, fill_value=0).to_dict()
    assert result.per_ticker["trades"].sum() == result.metrics["n_trades"] > 100
    assert (result.per_ticker["trades"] > 0).all()


def test_each_tickers_profit_is_its_fills_cash_and_last_position_and_adds_up_to_the_total_return(result, frames):
    orders = result.orders
    signed, position = _positions(orders)
    cash = 100_000
    for ticker, frame in frames.items():
        mine = orders["ticker"] == ticker
        flows = -(signed[mine] * orders.loc[mine, "price"]).sum() - COMMISSION * orders.loc[mine, "value"].sum()
        held = position[mine].iloc[-1] * frame["close"].iloc[-1]
        assert result.per_ticker.loc[ticker, "total_return"] == pytest.approx((flows + held) / cash, abs=1e-9)
    assert result.per_ticker["total_return"].sum() == pytest.approx(result.metrics["total_return"], abs=1e-9)


def test_each_tickers_buy_and_hold_is_a_separate_buy_and_holds_profit_and_adds_up_to_its_return(result, frames):
    feeds = {ticker: frame.dropna(subset=list(PROBABILITY_LINES)) for ticker, frame in frames.items()}
    [alone] = run_with_benchmark(feeds, BuyAndHold, None, 100_000, COMMISSION, SLIPPAGE)
    _, _, orders, _ = analyze(alone, 100_000)
    assert len(orders) == len(feeds) and (orders["side"] == "buy").all()
    # bought once every feed has started (YHOO's first bar), at the next bar's open plus slippage
    start = max(frame.index[0] for frame in feeds.values())
    for _, fill in orders.iterrows():
        bars = feeds[fill["ticker"]]
        entry = bars.index[bars.index.get_loc(start) + 1]
        assert fill["date"] == entry and fill["price"] == pytest.approx(bars.loc[entry, "open"] * (1 + SLIPPAGE))
        profit = fill["size"] * (bars["close"].iloc[-1] - fill["price"]) - COMMISSION * fill["value"]
        assert result.per_ticker.loc[fill["ticker"], "buy_and_hold_return"] == pytest.approx(profit / 100_000,
                                                                                            abs=1e-12)
    assert result.per_ticker["buy_and_hold_return"].sum() == pytest.approx(result.metrics["buy_and_hold_return"],
                                                                            abs=1e-12)


def test_the_json_and_the_text_table_carry_each_ticker(result):
    records = result.to_dict()["per_ticker"]
    assert [r["ticker"] for r in records] == list(FIRST)
    assert records[1]["trades"] == result.per_ticker.loc["ORCL", "trades"]
    assert records[2]["buy_and_hold_return"] == result.per_ticker.loc["YHOO", "buy_and_hold_return"]
    lines = format_ticker_table(result.per_ticker).splitlines()
    assert lines[0].split() == ["ticker", "first", "last", "bars", "trades", "strategy", "buy", "&", "hold", "price"]
    orcl = result.per_ticker.loc["ORCL"]
    assert lines[2].split() == ["ORCL", orcl["first"], "2014-12-31", str(orcl["bars"]), str(orcl["trades"]),
                                f"{orcl['total_return']:+.2%}", f"{orcl['buy_and_hold_return']:+.2%}",
                                f"{orcl['price_return']:+.2%}"]
    assert len({len(line) for line in lines[:4]}) == 1 and "add up to the total returns" in lines[-1]


def test_one_ticker_is_the_whole_portfolio_and_top_k_has_no_per_ticker_rows(frames):
    one = run_backtest(None, {"AAPL": frames["AAPL"]}, commission=COMMISSION, strategy="ml")
    row = one.per_ticker.loc["AAPL"]
    assert row["trades"] == one.metrics["n_trades"] and len(one.per_ticker) == 1
    assert row["total_return"] == pytest.approx(one.metrics["total_return"], abs=1e-9)
    assert row["buy_and_hold_return"] == pytest.approx(one.metrics["buy_and_hold_return"], abs=1e-9)
    topk = run_backtest(None, frames, strategy="topk", k=1, rebalance=5)
    assert topk.per_ticker.empty and "per_ticker" not in topk.to_dict()
    assert list(topk.closes.columns) == list(FIRST)
