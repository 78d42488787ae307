"""load_ohlcv: formats it accepts and every DataError case, each naming file, row/column and problem."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skills.data import DataError, load_ohlcv

YAHOO = "Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD_ROWS = [
    "2020-01-02,10,11,9,10.5,10.4,1000",
    "2020-01-03,10.5,12,10,11.5,11.4,1500",
    "2020-01-06,11.5,12,11,11.8,11.7,1200",
]


def write(tmp_path, text, name="TEST.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_files_load_with_the_documented_shape(data_dir):
    frames = load_ohlcv(data_dir)
    assert sorted(frames) == ["AAPL", "GOOG", "NVDA", "ORCL", "YHOO"]
    expected_rows = {"ORCL": 5036, "NVDA": 4012, "YHOO": 4965, "AAPL": 3379, "GOOG": 3379}
    for ticker, df in frames.items():
        assert len(df) == expected_rows[ticker]
        assert df.index.name == "date" and isinstance(df.index, pd.DatetimeIndex)
        assert df.index.is_monotonic_increasing and df.index.is_unique
        assert list(df.columns) == ["open", "high", "low", "close", "volume", "adj_close"]
        assert all(df[c].dtype == np.float64 for c in df.columns)
    assert frames["AAPL"].index[0] == pd.Timestamp("2004-08-19")


def test_yahoo_lowercase_and_timestamp_headers_give_the_same_frame(tmp_path):
    yahoo = load_ohlcv(write(tmp_path, YAHOO + "\n".join(GOOD_ROWS)))
    lower = load_ohlcv(write(tmp_path, "date,open,high,low,close,volume\n" + "\n".join(
        ",".join(r.split(",")[:5] + r.split(",")[6:]) for r in GOOD_ROWS), "LOWER.csv"))
    epoch = [str(int(pd.Timestamp(r.split(",")[0]).timestamp())) for r in GOOD_ROWS]
    stamp = load_ohlcv(write(tmp_path, "timestamp,open,high,low,close,volume\n" + "\n".join(
        ",".join([e] + r.split(",")[1:5] + r.split(",")[6:]) for e, r in zip(epoch, GOOD_ROWS)), "TS.csv"))
    cols = ["open", "high", "low", "close", "volume"]
    pd.testing.assert_frame_equal(yahoo[cols], lower[cols])
    pd.testing.assert_frame_equal(yahoo[cols], stamp[cols])
    assert yahoo["adj_close"].tolist() == [10.4, 11.4, 11.7]


def test_newest_first_file_is_sorted(tmp_path):
    df = load_ohlcv(write(tmp_path, YAHOO + "\n".join(reversed(GOOD_ROWS))))
    assert df.index.is_monotonic_increasing
    assert df["close"].tolist() == [10.5, 11.5, 11.8]


def test_exact_duplicate_rows_are_dropped(tmp_path):
    df = load_ohlcv(write(tmp_path, YAHOO + "\n".join(GOOD_ROWS + [GOOD_ROWS[1]])))
    assert len(df) == 3


@pytest.mark.parametrize("bad_row, fragments", [
    ("2020-13-45,10,11,9,10.5,10.4,1000", ["line 5", "'2020-13-45'", "cannot be parsed"]),
    ("2020-01-07,10,abc,9,10.5,10.4,1000", ["line 5", "2020-01-07", "non-numeric", "'abc'", "'high'"]),
    ("2020-01-07,10,11,9,,10.4,1000", ["line 5", "missing value", "'close'"]),
    ("2020-01-07,10,11,9,inf,10.4,1000", ["line 5", "infinite", "'close'"]),
    ("2020-01-07,0,11,0,10.5,10.4,1000", ["line 5", "zero or negative price"]),
    ("2020-01-07,-1,11,-2,10.5,10.4,1000", ["line 5", "zero or negative price"]),
    ("2020-01-07,10,9,11,10,10,1000", ["line 5", "2020-01-07", "high is below low"]),
    ("2020-01-07,10,10.2,9,10.5,10.4,1000", ["line 5", "do not bracket"]),
    ("2020-01-07,10,11,9.8,9.5,9.4,1000", ["line 5", "do not bracket"]),
    ("2020-01-07,10,11,9,10.5,10.4,-5", ["line 5", "negative volume"]),
    ("2020-01-03,10.5,12,10,11.6,11.4,1500", ["2020-01-03", "twice with different values", "lines 3 and 5"]),
])
def test_bad_rows_raise_data_error_naming_file_row_and_problem(tmp_path, bad_row, fragments):
    path = write(tmp_path, YAHOO + "\n".join(GOOD_ROWS + [bad_row]))
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert isinstance(info.value, ValueError)
    assert "\n" not in message


@pytest.mark.parametrize("name, content, fragment", [
    ("EMPTY.csv", "", "file is empty"),
    ("HEADER.csv", YAHOO, "no rows"),
    ("NOCLOSE.csv", "Date,Open,High,Low,Volume\n2020-01-02,1,2,0.5,10\n", "missing column(s) close"),
    ("NODATE.csv", "Open,High,Low,Close,Volume\n1,2,0.5,1,10\n", "no date column"),
    ("prices.json", '{"a": 1}', "not a CSV file"),
    ("BIN.csv", "\x00\x01\x02binary", "binary"),
])
def test_bad_files_raise_data_error(tmp_path, name, content, fragment):
    path = write(tmp_path, content, name)
    with pytest.raises(DataError, match=r"^" + str(path).replace("\\", "\\\\")) as info:
        load_ohlcv(path)
    assert fragment in str(info.value)


def test_missing_path_raises(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_ohlcv(tmp_path / "nope.csv")


def test_drop_bad_rows_is_opt_in_and_warns(tmp_path):
    path = write(tmp_path, YAHOO + "\n".join(GOOD_ROWS + ["2020-01-07,10,abc,9,10.5,10.4,1000"]))
    with pytest.warns(UserWarning, match="dropped 1 bad row"):
        df = load_ohlcv(path, drop_bad_rows=True)
    assert len(df) == 3


def test_folder_skips_broken_file_with_a_warning_or_raises_when_strict(tmp_path):
    write(tmp_path, YAHOO + "\n".join(GOOD_ROWS), "GOOD.csv")
    write(tmp_path, YAHOO + "\n".join(GOOD_ROWS + ["2020-01-07,10,9,11,10,10,1000"]), "BROKEN.csv")
    with pytest.warns(UserWarning, match=r"BROKEN\.csv.*high is below low"):
        frames = load_ohlcv(tmp_path)
    assert list(frames) == ["GOOD"]
    with pytest.raises(DataError, match=r"BROKEN\.csv"):
        load_ohlcv(tmp_path, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (tmp_path / "GOOD.csv").unlink()
        with pytest.raises(DataError, match="none of its 1 CSV files"):
            load_ohlcv(tmp_path)


def test_a_universe_file_or_folder_is_refused_with_a_pointer_to_load_universe(tmp_path):
    rows = "date,ticker,open,high,low,close,volume\n2020-01-02,AAA,10,11,9,10.5,100\n2020-01-02,BBB,5,6,4,5.5,200\n"
    long_csv = tmp_path / "long.csv"
    long_csv.write_text(rows)
    with pytest.raises(DataError, match=r"long\.csv: a long-format file of 2 ticker\(s\).*load_universe"):
        load_ohlcv(long_csv)
    packed = tmp_path / "packed"
    packed.mkdir()
    pd.read_csv(long_csv).to_csv(packed / "universe.csv.gz", index=False)
    with pytest.raises(DataError, match=r"universe\.csv\.gz \(date,ticker,\.\.\.\): load it with .*load_universe"):
        load_ohlcv(packed)
    with pytest.raises(DataError, match="compressed long-format universe file.*load_universe"):
        load_ohlcv(packed / "universe.csv.gz")
