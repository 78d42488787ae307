"""Fixtures of the command-line tests: small slices of the bundled real bars as CSV files."""

import pytest


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory, aapl):
    """The last 500 real AAPL bars as a Yahoo-style CSV (Date, Open, ..., Adj Close, Volume)."""
    path = tmp_path_factory.mktemp("yahoo") / "AAPL.csv"
    frame = aapl.iloc[-500:].rename(columns=str.title).rename(columns={"Adj_Close": "Adj Close"})
    frame.index.name = "Date"
    frame.to_csv(path)
    return path


@pytest.fixture(scope="session")
def aapl_csv(tmp_path_factory, aapl):
    """The last 600 real AAPL bars as a lower-case CSV (2015-08 .. 2018-01)."""
    path = tmp_path_factory.mktemp("bars") / "AAPL.csv"
    aapl.iloc[-600:][["open", "high", "low", "close", "volume"]].to_csv(path)
    return path
