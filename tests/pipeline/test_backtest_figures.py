"""What `skills.pipeline.backtest` shows of the run: each ticker's row under the pooled table and in the JSON for
several tickers, and the figure (price with the fills for one ticker; each ticker's last bar marked for several)."""

import json

import pytest

from skills import pipeline
from skills.data import load_ohlcv
from skills.evaluation.tables import format_ticker_table

TICKERS = ("AAPL", "GOOG", "NVDA", "ORCL", "YHOO")


@pytest.fixture(scope="module")
def five_folder(tmp_path_factory, data_dir):
    """The five bundled tickers from 2013 on, each to its own last bar (2014-12-31 .. 2018-01-19)."""
    folder = tmp_path_factory.mktemp("five")
    for ticker in TICKERS:
        load_ohlcv(data_dir / f"{ticker}.csv").loc["2013-06":].to_csv(folder / f"{ticker}.csv")
    return folder


def test_several_tickers_print_and_write_each_tickers_row(trained, five_folder, tmp_path):
    _, folder = trained
    out = tmp_path / "bt.json"
    run = pipeline.backtest(folder / "tiny.h5", five_folder, strategy="ml", start="2014-06-02", json_path=out)
    table = run.result.per_ticker
    assert list(table.index) == list(TICKERS) and run.format().endswith("\n\n" + format_ticker_table(table))
    assert table.loc["ORCL", "last"] == table.loc["NVDA", "last"] == "2014-12-31"
    assert table.loc["YHOO", "last"] == "2015-12-31" and table.loc["AAPL", "last"] == run.metrics["end"]
    assert (table["first"] == "2014-06-02").all() and table["trades"].sum() == run.metrics["n_trades"]
    written = json.loads(out.read_text())["per_ticker"]
    assert [row["ticker"] for row in written] == list(TICKERS)
    assert [row["bars"] for row in written] == list(table["bars"])
    fig = run.figure()
    assert [ax.get_ylabel() for ax in fig.axes] == ["value", "drawdown %"]
    assert [t.get_text().strip() for t in fig.axes[0].texts] == ["NVDA, ORCL: last bar", "YHOO: last bar"]
    assert fig._suptitle.get_text().startswith("AAPL, GOOG, NVDA, ORCL, YHOO, ML strategy, 2014-06-02 .. ")


def test_one_ticker_prints_no_ticker_rows_and_draws_its_price_with_the_fills(trained, aapl_file, tmp_path):
    _, folder = trained
    plot = tmp_path / "bt.png"
    run = pipeline.backtest(folder / "tiny.h5", aapl_file, plot=plot, confidence_threshold=0.34)
    assert "ticker " not in run.format() and plot.read_bytes()[:4] == b"\x89PNG"
    fig = run.figure()
    assert [ax.get_ylabel() for ax in fig.axes] == ["value", "drawdown %", "price"]
    fills = [line for line in fig.axes[2].get_lines() if line.get_label() != "AAPL close"]
    assert sum(len(line.get_xdata()) for line in fills) == len(run.result.orders) > 0
    assert sorted(x for line in fills for x in line.get_xdata()) == sorted(run.result.orders["date"])
