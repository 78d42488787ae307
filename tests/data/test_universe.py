"""load_universe on the bundled S&P 500 universe: its 9 real anomalies under each policy, folder and long format."""

import gzip
import hashlib
import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

from skills.data import DataError, Universe, default_data_path, load_ohlcv, load_universe

BUNDLE = default_data_path() / "universe" / "sp500_5yr.csv.gz"
HEADER = "date,ticker,open,high,low,close,volume"

# The shared README's anomaly table: rows per ticker and the dates of the rows load_ohlcv rejects.
ROWS = {"AOS": 1259, "APTV": 44, "DXC": 215, "FTV": 404, "LNT": 1259, "O": 1243, "REGN": 1259, "SPG": 1259,
        "UA": 464}
BAD_DATES = {
    "AOS": ["2014-05-19"], "APTV": [], "DXC": [], "FTV": ["2016-07-01"], "LNT": ["2016-05-19"],
    "O": ["2014-08-27", "2014-11-06", "2015-07-17", "2016-01-12"], "REGN": ["2015-06-09"], "SPG": ["2014-05-28"],
    "UA": ["2016-04-07", "2016-06-10"],
}
PROBLEMS = {"AOS": "high is below low", "FTV": "missing value", "LNT": "do not bracket", "O": "do not bracket",
            "REGN": "missing value", "SPG": "do not bracket", "UA": "missing value"}  # the first bad row's
SHORT = {"APTV"}  # 44 rows < min_rows=100
POLICIES = [("raise", "raise"), ("raise", "skip"), ("drop", "raise"), ("drop", "skip")]


@pytest.fixture(scope="session")
def bundle_rows() -> dict:
    """The bundled file's data lines of the 9 anomaly tickers, in file order, by ticker."""
    rows = {ticker: [] for ticker in ROWS}
    with gzip.open(BUNDLE, "rt") as handle:
        assert handle.readline().strip() == HEADER
        for line in handle:
            ticker = line.split(",", 2)[1]
            if ticker in rows:
                rows[ticker].append(line.rstrip("\n"))
    return rows


def write_universe(folder: Path, rows: dict, tickers, layout: str) -> Path:
    """The tickers' bundled rows as one long file ("long", "gz") or one Yahoo-style CSV per ticker ("folder")."""
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "folder":
        for ticker in tickers:
            lines = [",".join(r.split(",")[:1] + r.split(",")[2:]) for r in rows[ticker]]
            (folder / f"{ticker}.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(lines) + "\n")
        return folder
    text = "\n".join([HEADER] + [r for ticker in tickers for r in rows[ticker]]) + "\n"
    if layout == "gz":
        path = folder / "universe.csv.gz"
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path = folder / "universe.csv"
        path.write_text(text)
    return path


@pytest.mark.parametrize("on_bad_rows,on_bad_files", POLICIES)
@pytest.mark.parametrize("layout", ["long", "folder"])
@pytest.mark.parametrize("ticker", sorted(ROWS))
def test_each_real_anomaly_gives_the_documented_behaviour(tmp_path, bundle_rows, ticker, layout, on_bad_rows,
                                                          on_bad_files):
    tickers = [ticker] if ticker == "DXC" else [ticker, "DXC"]  # DXC: clean, so a skipped ticker leaves one
    path = write_universe(tmp_path / "u", bundle_rows, tickers, layout)
    dates = [r.split(",")[0] for r in bundle_rows[ticker]]
    bad = BAD_DATES[ticker]
    where = f"{ticker}.csv" if layout == "folder" else f"(ticker {ticker})"

    if bad and on_bad_rows == "raise":
        line = dates.index(bad[0]) + 2  # the ticker's rows come first, after the header
        with pytest.raises(DataError) as info:
            load_universe(path, on_bad_rows=on_bad_rows, on_bad_files=on_bad_files)
        message = str(info.value)
        assert where in message and f"line {line} ({bad[0]})" in message and PROBLEMS[ticker] in message
        assert "on_bad_rows='drop'" in message  # the message says how to go on
        return
    if ticker in SHORT and on_bad_files == "raise":
        with pytest.raises(DataError, match=rf"{ticker}.*44 usable row\(s\), fewer than min_rows=100"):
            load_universe(path, on_bad_rows=on_bad_rows, on_bad_files=on_bad_files)
        return

    universe = load_universe(path, on_bad_rows=on_bad_rows, on_bad_files=on_bad_files)
    report = universe.report
    assert isinstance(universe, Universe) and isinstance(universe, dict)
    assert len(universe["DXC"]) == ROWS["DXC"]
    if ticker in SHORT:
        assert ticker not in universe
        assert [(s.ticker, "44 usable row(s)" in s.problem) for s in report.skipped] == [(ticker, True)]
        return
    frame = universe[ticker]
    assert report.skipped == []
    assert [(d.ticker, str(d.date.date())) for d in report.dropped] == [(ticker, day) for day in bad]
    assert all(d.line == dates.index(str(d.date.date())) + 2 for d in report.dropped)
    assert frame.index.strftime("%Y-%m-%d").tolist() == [d for d in dates if d not in bad]  # the rest all kept
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert not frame.isna().any().any() and (frame["high"] >= frame["low"]).all()


def test_the_bundled_file_loads_all_250_tickers_and_drops_only_the_11_bad_rows():
    universe = load_universe(BUNDLE.parent, on_bad_rows="drop", on_bad_files="skip", min_rows=1)
    assert len(universe) == 250 and list(universe) == sorted(universe)
    assert sum(len(f) for f in universe.values()) == 308_054 - 11
    dropped = {(d.ticker, str(d.date.date())) for d in universe.report.dropped}
    assert dropped == {(t, day) for t, days in BAD_DATES.items() for day in days}
    assert universe.report.skipped == []
    stacked = pd.concat(universe, names=["ticker"])  # a Universe is a plain dict to pandas
    assert stacked.index.names == ["ticker", "date"] and len(stacked) == 308_054 - 11
    assert (stacked["volume"] == 0).sum() == 0  # the 3 zero-volume rows are the NaN-price rows of FTV, O, UA


@pytest.mark.parametrize("layout", ["folder", "gz"])
def test_folder_gz_and_plain_long_file_give_the_same_frames(tmp_path, bundle_rows, layout):
    tickers = ["AOS", "DXC", "O", "UA"]
    plain = load_universe(write_universe(tmp_path / "plain", bundle_rows, tickers, "long"), on_bad_rows="drop")
    other = load_universe(write_universe(tmp_path / layout, bundle_rows, tickers, layout), on_bad_rows="drop")
    assert list(plain) == list(other) == tickers
    for ticker in tickers:
        pd.testing.assert_frame_equal(plain[ticker], other[ticker])
    assert [(d.ticker, d.date) for d in plain.report.dropped] == [(d.ticker, d.date) for d in other.report.dropped]


def test_each_folder_file_matches_load_ohlcv_on_it(tmp_path, bundle_rows):
    folder = write_universe(tmp_path / "u", bundle_rows, ["DXC", "LNT"], "folder")
    universe = load_universe(folder, on_bad_rows="drop", workers=2)  # two forked processes
    pd.testing.assert_frame_equal(universe["DXC"], load_ohlcv(folder / "DXC.csv"))
    with pytest.warns(UserWarning, match="dropped 1 bad row"):
        pd.testing.assert_frame_equal(universe["LNT"], load_ohlcv(folder / "LNT.csv", drop_bad_rows=True))


def test_the_bundle_is_the_documented_file_and_make_bundle_copies_every_cell(tmp_path, bundle_rows):
    """The bundle's md5 is the one its README gives, and `make_bundle.py` turns per-ticker files in the source's
    layout (`Adj Close` equal to `Close`) back into exactly the bundle's lines, anomalies and all."""
    readme = (BUNDLE.parent / "README.md").read_text()
    assert hashlib.md5(BUNDLE.read_bytes()).hexdigest() == re.search(r"md5 `([0-9a-f]{32})`", readme).group(1)
    spec = importlib.util.spec_from_file_location("make_bundle", BUNDLE.parent / "make_bundle.py")
    make_bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_bundle)
    source = tmp_path / "source"
    source.mkdir()
    for ticker, rows in bundle_rows.items():
        cells = [row.split(",") for row in rows]
        (source / f"{ticker}.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n" + "".join(
            ",".join([date, o, h, low, c, c, v]) + "\n" for date, _, o, h, low, c, v in cells))
    target = tmp_path / "bundle.csv.gz"
    assert make_bundle.make_bundle(source, target) == sum(ROWS.values())
    expected = "".join(line + "\n" for line in [HEADER] + [r for t in sorted(ROWS) for r in bundle_rows[t]])
    first = target.read_bytes()
    assert gzip.decompress(first).decode() == expected
    make_bundle.make_bundle(source, target)
    assert target.read_bytes() == first  # no time stamp in the gzip header: the same input, the same bytes
    (source / "DXC.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2017-04-03,1,2,0.5,1.5,1.4,10\n")
    with pytest.raises(SystemExit, match=r"DXC.csv: line 2: Adj Close '1.4' differs from Close '1.5'"):
        make_bundle.make_bundle(source, target)


def test_the_report_names_every_skipped_file_and_why(tmp_path, bundle_rows):
    folder = write_universe(tmp_path / "u", bundle_rows, ["DXC", "APTV"], "folder")
    (folder / "EMPTY.csv").write_text("")
    (folder / "NOCLOSE.csv").write_text("Date,Open,High,Low,Volume\n2020-01-02,1,2,0.5,10\n")
    (folder / "TWICE.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(
        ["2020-01-02,1,2,0.5,1.5,10", "2020-01-02,1,2,0.5,1.6,10"]))
    universe = load_universe(folder, on_bad_files="skip", tickers=["DXC", "APTV", "EMPTY", "NOCLOSE", "TWICE",
                                                                    "MISSING"])
    assert list(universe) == ["DXC"]
    reasons = {s.ticker: s.problem for s in universe.report.skipped}
    assert set(reasons) == {"APTV", "EMPTY", "NOCLOSE", "TWICE", "MISSING"}
    assert "fewer than min_rows=100" in reasons["APTV"] and "file is empty" in reasons["EMPTY"]
    assert "missing column(s) close" in reasons["NOCLOSE"] and "appears twice" in reasons["TWICE"]
    assert reasons["MISSING"] == "ticker not found"
    summary = str(universe.report)
    assert summary.splitlines()[0].endswith("loaded 1 of 6 tickers; skipped 5 file(s), dropped 0 row(s)")
    assert all(f"skipped {t}: {reasons[t]}" in summary for t in reasons)
    table = universe.report.to_frame()
    assert table["kind"].tolist() == ["skipped file"] * 5 and set(table["ticker"]) == set(reasons)


def test_long_file_rows_without_a_ticker_raise_or_are_listed(tmp_path, bundle_rows):
    rows = bundle_rows["DXC"] + [",,1,2,0.5,1.5,10"]
    path = tmp_path / "u.csv"
    path.write_text("\n".join([HEADER] + rows) + "\n")
    with pytest.raises(DataError, match=rf"u\.csv: line {len(rows) + 1}: missing ticker"):
        load_universe(path)
    universe = load_universe(path, on_bad_rows="drop")
    assert list(universe) == ["DXC"]
    assert [(d.ticker, d.line, d.problem) for d in universe.report.dropped] == [
        ("", len(rows) + 1, "missing ticker in column 'ticker'")]


def test_a_ticker_in_two_files_and_bad_arguments_raise(tmp_path, bundle_rows):
    folder = write_universe(tmp_path / "u", bundle_rows, ["DXC"], "folder")
    write_universe(folder, bundle_rows, ["DXC"], "gz")
    with pytest.raises(DataError, match="ticker DXC is also in"):
        load_universe(folder)
    with pytest.raises(DataError, match="no such file"):
        load_universe(tmp_path / "nowhere")
    for kwargs in ({"on_bad_rows": "skip"}, {"on_bad_files": "drop"}, {"min_rows": 0}, {"workers": 0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            load_universe(folder, **kwargs)
    assert list(load_universe(folder / "DXC.csv")) == ["DXC"]  # one per-ticker file is a universe of one


def test_tickers_picks_rows_of_a_long_file_in_any_case(tmp_path, bundle_rows):
    path = write_universe(tmp_path / "u", bundle_rows, ["AOS", "DXC", "SPG"], "gz")
    universe = load_universe(path, tickers=["dxc", " spg "], on_bad_rows="drop")
    assert list(universe) == ["DXC", "SPG"] and len(universe["SPG"]) == ROWS["SPG"] - 1
    assert universe["SPG"].attrs == {"source": str(path), "ticker": "SPG"}
    assert len(universe.report.summary(limit=0).splitlines()) == 2  # the counts, then "... and 1 more"
    table = universe.report.to_frame()
    assert table[["kind", "ticker", "line"]].values.tolist() == [["dropped row", "SPG", 1259 + 215 + 328]]
    assert table["date"].tolist() == [pd.Timestamp("2014-05-28")]
