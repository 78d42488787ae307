"""Property: whatever is done to a real CSV, load_ohlcv returns a valid frame or raises DataError, nothing else."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skills.data import DataError, default_data_path, load_ohlcv

AAPL = default_data_path() / "AAPL.csv"
LINES = AAPL.read_bytes().splitlines()[:31]  # the header and 30 real rows
COLUMNS = ["open", "high", "low", "close", "volume"]


def assert_valid(frame: pd.DataFrame) -> None:
    """What load_ohlcv promises for every frame it returns."""
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique and len(frame) > 0
    assert list(frame.columns[:5]) == COLUMNS and set(frame.columns) <= set(COLUMNS) | {"adj_close"}
    assert all(frame[c].dtype == np.float64 for c in frame.columns)
    values = frame.to_numpy()
    assert np.isfinite(values).all()
    o, h, l, c, v = (frame[k].to_numpy() for k in COLUMNS)
    assert (frame[["open", "high", "low", "close"]].to_numpy() > 0).all() and (v >= 0).all()
    assert (h >= l).all() and (h >= np.maximum(o, c)).all() and (l <= np.minimum(o, c)).all()


row_index = st.one_of(st.just(0), st.integers(min_value=0, max_value=len(LINES) - 1))  # the header half the time
TOKENS = ["", " ", "nan", "NULL", "inf", "-inf", "-1", "0", "1e308", "1,234.5", "12,5", "2004-08-19", "2004-13-45",
          "1092873600", "Date", "close", " Close", "OPEN", "Adj Close", "volume", "timestamp", '"', "a;b", "\t"]
cell_text = st.one_of(st.text(max_size=12), st.sampled_from(TOKENS))  # arbitrary text, and the tricky spellings
mutation = st.one_of(
    st.tuples(st.just("cell"), row_index, st.integers(0, 6), cell_text),
    st.tuples(st.just("delete"), row_index),
    st.tuples(st.just("duplicate"), row_index),
    st.tuples(st.just("swap"), row_index, row_index),
)
flip = st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255))


def mutate(mutations, flips) -> bytes:
    lines = list(LINES)
    for kind, *args in mutations:
        if not lines:
            break
        i = args[0] % len(lines)
        if kind == "cell":
            cells = lines[i].split(b",")
            cells[args[1] % len(cells)] = args[2].encode("utf-8")
            lines[i] = b",".join(cells)
        elif kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        else:
            j = args[1] % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
    data = bytearray(b"\n".join(lines) + b"\n")
    for position, mask in flips:
        if data:
            data[position % len(data)] ^= mask
    return bytes(data)


def load_or_data_error(path: Path, drop_bad_rows: bool):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = load_ohlcv(path, drop_bad_rows=drop_bad_rows)
    except DataError:
        return None
    assert_valid(frame)
    return frame


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, max_size=4), flips=st.lists(flip, max_size=3), drop_bad_rows=st.booleans())
@example(mutations=[("cell", 0, 5, "close")], flips=[], drop_bad_rows=False)  # found by it: see the test below
@example(mutations=[("cell", 0, 0, "Open")], flips=[], drop_bad_rows=True)  # "Open" twice and no date column
def test_mutated_real_csv_gives_a_valid_frame_or_a_data_error(tmp_path_factory, mutations, flips, drop_bad_rows):
    path = tmp_path_factory.mktemp("prop") / "AAPL.csv"
    path.write_bytes(mutate(mutations, flips))
    load_or_data_error(path, drop_bad_rows)


def test_the_unmutated_slice_loads_as_the_first_30_bars(tmp_path):
    """Without a mutation the property's input is a valid file: a `load_ohlcv` that refused everything would
    pass the property test, not this one."""
    path = tmp_path / "AAPL.csv"
    path.write_bytes(mutate([], []))
    for drop_bad_rows in (False, True):
        frame = load_or_data_error(path, drop_bad_rows)
        assert frame is not None
        pd.testing.assert_frame_equal(frame, load_ohlcv(AAPL).iloc[:30], check_freq=False)


@pytest.mark.parametrize("header", ["Date,Open,High,Low,Close,Adj Close,Open",
                                    "Date,Open,High,Low,Close,Adj Close,Volume,close"])
def test_a_column_named_twice_is_a_data_error(tmp_path, header):
    # found by the property test above: pandas renames a repeated header cell ("Open.1"), but two
    # spellings that normalise to one name ("Close", "close") reached `.str` on a DataFrame (AttributeError)
    path = tmp_path / "TWICE.csv"
    path.write_bytes(b"\n".join([header.encode()] + LINES[1:4]) + b"\n")
    if header.endswith(",Open"):
        with pytest.raises(DataError, match="missing column"):
            load_ohlcv(path)
    else:
        with pytest.raises(DataError, match="column.*close.*appear twice"):
            load_ohlcv(path)
