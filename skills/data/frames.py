"""Bars of one or more tickers, whatever form they come in, as ``{ticker: DataFrame}``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .io import DataError, load_ohlcv
from .universe import holds_long_format, load_universe

__all__ = ["as_frames"]


def as_frames(data) -> dict[str, pd.DataFrame]:
    """``{ticker: bars}`` from a path, one DataFrame (named by its ``ticker`` attr) or a dict.

    A path to one ticker's CSV or a folder of them goes through `load_ohlcv`; a long-format file, or a folder
    holding one (e.g. ``data/universe``), through `load_universe` with its strict default policies (a bad row
    or file raises `DataError` naming the policy that would skip it: call `load_universe` yourself to choose).
    """
    if isinstance(data, (str, Path)):
        data = load_universe(data) if holds_long_format(data) else load_ohlcv(data)
    if isinstance(data, pd.DataFrame):
        return {data.attrs.get("ticker", "DATA"): data}
    if isinstance(data, dict) and data:
        return dict(data)
    raise DataError(f"expected a path, a DataFrame or a non-empty dict of DataFrames, got {type(data).__name__}")
