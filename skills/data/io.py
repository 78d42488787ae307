"""Loading daily OHLCV bars from CSV files, with errors that say what is wrong and where."""

from __future__ import annotations

import gzip
import io
import os
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DataError", "load_ohlcv", "PRICE_COLUMNS", "OHLCV_COLUMNS"]

PRICE_COLUMNS = ("open", "high", "low", "close")
OHLCV_COLUMNS = PRICE_COLUMNS + ("volume",)
_DATE_COLUMNS = ("date", "datetime", "timestamp", "time")
_CSV_SUFFIXES = (".csv", ".txt")


class DataError(ValueError):
    """Bad input data. The message names the file, the row or column and the problem."""


class _BadRowError(DataError):
    """A bad row (raised when bad rows are not dropped); the universe loader tells it from a bad file."""


def load_ohlcv(path, *, strict: bool = False, drop_bad_rows: bool = False):
    """Load daily OHLCV bars from a CSV file or a folder of CSV files.

    Args:
        path: str or Path. A CSV file (Yahoo style ``Date,Open,High,Low,Close,Adj Close,Volume``,
            lower-case headers, or a ``timestamp`` / ``datetime`` column), or a folder of such
            files (one ticker per file, the ticker being the file name without suffix).
        strict: bool, default False. For a folder: raise on the first broken file instead of
            skipping it with a warning that names it and why.
        drop_bad_rows: bool, default False. Drop rows with bad cells (unparseable dates,
            non-numeric / missing / non-positive prices, inconsistent High/Low) with a warning
            that counts them, instead of raising. The default never hides bad rows.

    Returns:
        A DataFrame with a sorted ``DatetimeIndex`` named ``date`` and float columns
        ``open high low close volume`` (plus ``adj_close`` when the file has it); for a folder,
        a ``dict[ticker, DataFrame]`` sorted by ticker.

    Raises:
        DataError: missing path, empty or non-CSV file, missing OHLCV columns, unparseable dates,
            non-numeric cells, NaN or inf values, non-positive prices, negative volume,
            High < Low or High/Low not bracketing Open/Close, the same date twice with
            different values.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, strict=strict, drop_bad_rows=drop_bad_rows)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return _load_file(path, drop_bad_rows=drop_bad_rows)


_UNIVERSE_HINT = "load it with skills.data.load_universe(path, on_bad_rows=..., on_bad_files=...)"


def _load_folder(folder: Path, *, strict: bool, drop_bad_rows: bool) -> dict:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _CSV_SUFFIXES)
    packed = sorted(p.name for p in folder.iterdir() if p.is_file() and _is_gzip_csv(p))
    if packed:
        raise DataError(f"{folder}: holds the long-format universe file(s) {', '.join(packed)} (date,ticker,...): "
                        f"{_UNIVERSE_HINT}")
    if not files:
        raise DataError(f"{folder}: folder holds no .csv files")
    frames = {}
    for file in files:
        try:
            frames[file.stem.upper()] = _load_file(file, drop_bad_rows=drop_bad_rows)
        except DataError as exc:
            if strict:
                raise
            warnings.warn(f"skipping {exc}", stacklevel=3)
    if not frames:
        raise DataError(f"{folder}: none of its {len(files)} CSV files could be loaded")
    return frames


def _is_gzip_csv(path: Path) -> bool:
    return path.suffix.lower() == ".gz" and Path(path.stem).suffix.lower() in _CSV_SUFFIXES


def _read_text_table(path: Path, *, allow_gzip: bool = False) -> pd.DataFrame:
    """Read a CSV file as a table of str cells (``allow_gzip``: also ``.csv.gz``)."""
    gzipped = allow_gzip and _is_gzip_csv(path)
    if path.suffix.lower() not in _CSV_SUFFIXES and not gzipped:
        expected = ".csv, .txt, .csv.gz" if allow_gzip else ".csv or .txt"
        raise DataError(f"{path}: not a CSV file (expected a {expected} suffix)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    data = path.read_bytes()
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
        if not data:
            raise DataError(f"{path}: file is empty")
    if b"\x00" in data[:4096]:
        raise DataError(f"{path}: not a CSV file (binary content)")
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                        "save the file as UTF-8") from None
    header = text.partition("\n")[0]
    sep = next((s for s in (",", ";", "\t") if s in header), ",")  # the first separator the header uses
    try:
        raw = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    if raw.empty:
        raise DataError(f"{path}: file has a header but no rows")
    return raw


def _normalise_header(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _number_hint(cell: str) -> str:
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?", cell):
        return " (thousands separators? write plain numbers such as 1234567.5)"
    if re.fullmatch(r"[-+]?\d+,\d+", cell):
        return " (a decimal comma? write numbers with a '.' such as 153.17)"
    return ""


def _parse_dates(values: pd.Series) -> pd.Series:
    text = values.str.strip()
    if text.notna().all() and text.str.fullmatch(r"\d{9,13}(\.\d+)?").all():
        numbers = text.astype(float)
        unit = "ms" if numbers.median() > 1e11 else "s"
        return pd.to_datetime(numbers, unit=unit)
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    if parsed.isna().any():
        retry = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        parsed = parsed.fillna(retry)
    return parsed.dt.tz_localize(None)


def _load_file(path: Path, *, drop_bad_rows: bool) -> pd.DataFrame:
    if _is_gzip_csv(path):
        raise DataError(f"{path}: a compressed long-format universe file (date,ticker,...): {_UNIVERSE_HINT}")
    raw = _read_text_table(path)
    ticker_column = next((c for c in raw.columns if _normalise_header(str(c)) in ("ticker", "symbol")), None)
    if ticker_column is not None:
        tickers = raw[ticker_column].nunique()
        raise DataError(f"{path}: a long-format file of {tickers} ticker(s) (column {ticker_column!r}), not one "
                        f"ticker's bars: {_UNIVERSE_HINT}")
    frame, dropped = _frame_from_table(raw, os.fspath(path), drop_bad_rows=drop_bad_rows)
    if dropped:
        line, stamp, messages = dropped[0]
        warnings.warn(f"{path}: dropped {len(dropped)} bad row(s), first at {_where(line, stamp)}: "
                      f"{messages[0]}", stacklevel=3)
    frame.attrs["source"] = os.fspath(path)
    frame.attrs["ticker"] = path.stem.upper()
    return frame


def _where(line: int, stamp) -> str:
    return f"line {line}" + ("" if pd.isna(stamp) else f" ({stamp.date()})")


def _frame_from_table(raw: pd.DataFrame, source: str, *, drop_bad_rows: bool, lines=None):
    """Check a table of text cells and turn it into an OHLCV frame.

    Args:
        raw: DataFrame of str cells as read from the file (any header spelling).
        source: str, how messages name the origin (a path, or a path and a ticker).
        drop_bad_rows: bool. Drop bad rows (and return them) instead of raising on the first.
        lines: array of int or None. The file line of each row; None means header + 1, 2, ...

    Returns:
        ``(frame, dropped)``: the sorted, de-duplicated frame and a list of ``(line, date or NaT,
        [problem, ...])``, one per dropped row, in file order (empty unless ``drop_bad_rows``).

    Raises:
        DataError: as ``load_ohlcv``; every message starts with ``source``.
    """
    raw = raw.copy()
    raw.columns = [_normalise_header(c) for c in raw.columns]
    if "adj_close" not in raw.columns and "adjclose" in raw.columns:
        raw = raw.rename(columns={"adjclose": "adj_close"})
    date_col = next((c for c in _DATE_COLUMNS if c in raw.columns), None)
    if date_col is None:
        raise DataError(f"{source}: no date column (expected one of {', '.join(_DATE_COLUMNS)}; "
                        f"found {', '.join(map(str, raw.columns))})")
    missing = [c for c in OHLCV_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}")
    if raw.columns.duplicated().any():
        raise DataError(f"{source}: column(s) {', '.join(sorted(set(raw.columns[raw.columns.duplicated()])))} "
                        "appear twice in the header")

    lines = np.arange(len(raw)) + 2 if lines is None else np.asarray(lines)  # line 1 is the header
    problems: list[tuple[int, str]] = []  # (row position, message)

    dates = _parse_dates(raw[date_col])
    for pos in np.flatnonzero(dates.isna().to_numpy()):
        problems.append((pos, f"date {raw[date_col].iloc[pos]!r} cannot be parsed (column {date_col!r})"))

    columns = list(OHLCV_COLUMNS) + (["adj_close"] if "adj_close" in raw.columns else [])
    values = {}
    for col in columns:
        numbers = pd.to_numeric(raw[col], errors="coerce").astype(float)  # it skips surrounding blanks
        for pos in np.flatnonzero(numbers.isna().to_numpy()):
            cell = raw[col].iloc[pos]
            cell = cell.strip() if isinstance(cell, str) else cell
            if pd.isna(cell) or cell.lower() in ("", "nan", "null", "none", "na"):
                problems.append((pos, f"missing value (NaN) in column {col!r}"))
            else:
                problems.append((pos, f"non-numeric value {cell!r} in column {col!r}{_number_hint(cell)}"))
        for pos in np.flatnonzero(np.isinf(numbers.to_numpy())):
            problems.append((pos, f"infinite value in column {col!r}"))
        values[col] = numbers.to_numpy()

    frame = pd.DataFrame(values)
    finite = np.isfinite(frame[list(OHLCV_COLUMNS)].to_numpy()).all(axis=1)
    o, h, l, c, v = (frame[k].to_numpy() for k in OHLCV_COLUMNS)
    with np.errstate(invalid="ignore"):
        checks = [
            ((frame[list(PRICE_COLUMNS)].to_numpy() <= 0).any(axis=1), "zero or negative price"),
            (v < 0, "negative volume"),
            (h < l, "high is below low"),
            ((h < np.maximum(o, c)) | (l > np.minimum(o, c)), "high/low do not bracket open/close"),
        ]
    for mask, what in checks:
        for pos in np.flatnonzero(mask & finite):
            row = frame.iloc[pos]
            detail = ", ".join(f"{k}={row[k]:g}" for k in OHLCV_COLUMNS)
            problems.append((pos, f"{what} ({detail})"))

    dropped = []
    if problems:
        problems.sort(key=lambda problem: problem[0])  # by row; within a row, in the order checked
        if not drop_bad_rows:
            pos, message = problems[0]
            more = len({p for p, _ in problems}) - 1
            suffix = f" [and {more} more bad row(s)]" if more else ""
            raise _BadRowError(f"{source}: {_where(lines[pos], dates.iloc[pos])}: {message}{suffix}")
        by_row: dict[int, list[str]] = {}
        for pos, message in problems:
            by_row.setdefault(int(pos), []).append(message)
        dropped = [(int(lines[pos]), dates.iloc[pos], messages) for pos, messages in by_row.items()]
        keep = np.ones(len(frame), dtype=bool)
        keep[list(by_row)] = False
        frame, dates, lines = frame[keep], dates[keep], lines[keep]
        if frame.empty:
            raise DataError(f"{source}: no valid rows left after dropping bad rows")

    frame.index = pd.DatetimeIndex(dates.to_numpy(), name="date")
    frame["_line"] = lines
    frame = frame.sort_index(kind="stable")
    dup = frame.index.duplicated(keep=False)
    if dup.any():
        for stamp, group in frame[dup].groupby(level=0):
            if len(group[columns].drop_duplicates()) > 1:
                first, second = group["_line"].iloc[:2]
                raise DataError(f"{source}: date {stamp.date()} appears twice with different values "
                                f"(lines {first} and {second})")
        frame = frame[~frame.index.duplicated(keep="first")]
    frame = frame.drop(columns="_line")
    return frame, dropped
