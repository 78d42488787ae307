"""A universe of tickers: many OHLCV frames loaded under one explicit bad-data policy, with a report.

``load_universe`` reads a folder of per-ticker CSVs (each through ``load_ohlcv``'s parser, so the
same checks and the same ``DataError`` messages) or one long-format file ``date,ticker,open,high,
low,close,volume`` (plain or ``.csv.gz``). Nothing is dropped silently: every skipped file and every
dropped row is listed, with its reason, in ``Universe.report``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .io import _CSV_SUFFIXES, DataError, _BadRowError, _frame_from_table, _is_gzip_csv, _read_text_table, _where

__all__ = ["BAD_FILE_POLICIES", "BAD_ROW_POLICIES", "DroppedRow", "LoadReport", "SkippedFile", "Universe",
           "load_universe"]

BAD_ROW_POLICIES = ("raise", "drop")
BAD_FILE_POLICIES = ("raise", "skip")
_TICKER_COLUMNS = ("ticker", "symbol")


@dataclass(frozen=True)
class DroppedRow:
    """One row left out under ``on_bad_rows="drop"``: where it was and what was wrong with it."""

    ticker: str
    source: str
    line: int
    date: pd.Timestamp | None
    problem: str


@dataclass(frozen=True)
class SkippedFile:
    """One ticker (a file, or a ticker's rows of a long file) left out under ``on_bad_files="skip"``."""

    ticker: str
    source: str
    problem: str


@dataclass
class LoadReport:
    """What ``load_universe`` left out, and why. ``print(report)`` gives a short summary.

    Attributes:
        source: str, the path loaded.
        loaded: list of str, the tickers kept.
        skipped: list of SkippedFile, every ticker left out, with the reason.
        dropped: list of DroppedRow, every row left out, with the reason.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    dropped: list[DroppedRow] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Every skip and drop as one row: columns ``kind ticker source line date problem``."""
        rows = [("skipped file", s.ticker, s.source, None, None, s.problem) for s in self.skipped]
        rows += [("dropped row", d.ticker, d.source, d.line, d.date, d.problem) for d in self.dropped]
        table = pd.DataFrame(rows, columns=["kind", "ticker", "source", "line", "date", "problem"])
        return table.astype({"line": "Int64", "date": "datetime64[ns]"})

    def __str__(self) -> str:
        return self.summary()

    def summary(self, limit: int = 20) -> str:
        """A few lines: counts, then the first ``limit`` skipped files and dropped rows."""
        total = len(self.loaded) + len(self.skipped)
        lines = [f"{self.source}: loaded {len(self.loaded)} of {total} tickers; skipped {len(self.skipped)} "
                 f"file(s), dropped {len(self.dropped)} row(s)"]
        lines += [f"  skipped {s.ticker}: {s.problem}" for s in self.skipped[:limit]]
        lines += [f"  dropped {d.ticker} {_where(d.line, d.date)}: {d.problem}" for d in self.dropped[:limit]]
        hidden = max(0, len(self.skipped) - limit) + max(0, len(self.dropped) - limit)
        if hidden:
            lines.append(f"  ... and {hidden} more (report.to_frame() lists them all)")
        return "\n".join(lines)


class Universe(dict):
    """``dict[ticker, DataFrame]`` with the load report attached as ``.report``.

    A plain dict subclass, because that is what ``load_ohlcv(folder)`` already returns and what
    pandas expects: ``pd.concat(universe, names=["ticker"])`` stacks it into one long frame, and
    every function that takes ``dict[ticker, DataFrame]`` takes a Universe unchanged.
    """

    def __init__(self, frames=(), report: LoadReport | None = None):
        super().__init__(frames)
        self.report = report if report is not None else LoadReport(source="")


def load_universe(path, *, on_bad_rows: str = "raise", on_bad_files: str = "raise", min_rows: int = 100,
                  tickers: Iterable[str] | None = None, workers: int | None = None) -> Universe:
    """Load many tickers' daily bars under an explicit policy for bad rows and bad files.

    Args:
        path: str or Path. A folder of CSV files (one ticker per file, named by the file's stem,
            upper-cased; a ``.csv.gz`` file, or a CSV with a ``ticker`` column, in the folder is
            read as long format), or one long-format file with columns ``date,ticker,open,high,
            low,close,volume`` (``.csv``, ``.txt`` or ``.csv.gz``; a ``symbol`` column also works).
        on_bad_rows: {"raise", "drop"}, default "raise". A bad row is one ``load_ohlcv`` rejects:
            unparseable date, missing (NaN), non-numeric, infinite or non-positive price,
            negative volume, high below low, high/low not bracketing open/close. Zero volume is
            valid. "raise": raise ``DataError`` naming file, ticker, line and date. "drop": leave
            the row out and list it in ``report.dropped``.
        on_bad_files: {"raise", "skip"}, default "raise". A bad file (or a long file's ticker) is
            unreadable, lacks columns, has one date twice with different values, has no usable row
            left, or has fewer than ``min_rows`` rows. "raise": raise ``DataError``; "skip":
            leave the ticker out and list it in ``report.skipped``.
        min_rows: int, default 100. Fewest usable rows a ticker needs; the indicators of
            ``compute_features`` take 80 bars to warm up.
            A CSV file without a ticker column is a universe of one (its stem).
        tickers: iterable of str or None. Load only these tickers (a missing one is a bad file).
        workers: int or None. Processes for a folder of per-ticker files; None or 1 loads serially.
            250 files on 2 idle cores: 2.0 s serially, 1.1 s with ``workers=2``; while other work
            keeps the cores busy, about the same. Serial is the default because the workers are
            forked ("spawn" would re-import Keras in each), and forking a process in which
            TensorFlow has started threads can deadlock; without "fork" it is always serial.

    Returns:
        Universe: ``dict[ticker, DataFrame]`` sorted by ticker, frames as ``load_ohlcv`` returns
        them (``adj_close`` only when the file has it), with ``.report`` (a LoadReport).

    Raises:
        ValueError: an unknown policy, ``min_rows < 1`` or ``workers < 1``.
        DataError: no such path; a bad row under "raise"; a bad file under "raise"; a ticker in
            two files; a long file that cannot be read at all (under either policy); no ticker left.
    """
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise ValueError(f"on_bad_rows={on_bad_rows!r}: expected one of {BAD_ROW_POLICIES}")
    if on_bad_files not in BAD_FILE_POLICIES:
        raise ValueError(f"on_bad_files={on_bad_files!r}: expected one of {BAD_FILE_POLICIES}")
    if int(min_rows) < 1:
        raise ValueError(f"min_rows={min_rows!r}: expected an integer >= 1")
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers={workers!r}: expected None or an integer >= 1")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    wanted = None if tickers is None else {str(t).strip().upper() for t in tickers}
    drop = on_bad_rows == "drop"

    if path.is_dir():
        singles, longs = _folder_files(path)
        if wanted is not None:
            singles = [f for f in singles if f.stem.upper() in wanted]
    elif _is_gzip_csv(path) or _has_ticker_column(path):
        singles, longs = [], [path]
    else:
        singles, longs = [path], []
    try:
        results = [r for long in longs for r in _long_results(long, drop, wanted)]
        results += _map(_single_result, [(f, drop) for f in singles], workers)
    except _BadRowError as exc:
        raise DataError(f"{exc} [on_bad_rows='drop' leaves bad rows out and lists them]") from None

    report = LoadReport(source=os.fspath(path))
    frames: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    found = {r[0] for r in results}
    missing = [(t, os.fspath(path), "ticker not found", None) for t in sorted((wanted or set()) - found)]
    for ticker, source, outcome, dropped in sorted(results, key=lambda r: (r[0], r[1])) + missing:
        if outcome is None:  # a long file's rows without a ticker
            report.dropped += [DroppedRow("", source, line, None, msg) for line, msg in dropped]
            continue
        if ticker in sources:
            raise DataError(f"{source}: ticker {ticker} is also in {sources[ticker]}; keep one of the two")
        sources[ticker] = source
        problem = outcome if isinstance(outcome, str) else None
        if problem is None and len(outcome) < min_rows:
            problem = (f"{len(outcome)} usable row(s), fewer than min_rows={min_rows} "
                       "(a history too short to use)")
        if problem is not None:
            if on_bad_files == "raise":
                raise DataError(f"{source}: {problem} [on_bad_files='skip' leaves this ticker out]")
            report.skipped.append(SkippedFile(ticker, source, problem))
            continue
        frames[ticker] = outcome
        report.loaded.append(ticker)
        report.dropped += [DroppedRow(ticker, source, line, None if pd.isna(stamp) else stamp, "; ".join(msgs))
                           for line, stamp, msgs in dropped or ()]
    if not frames:
        raise DataError(f"{path}: no ticker could be loaded\n{report}")
    return Universe(sorted(frames.items()), report)


def holds_long_format(path) -> bool:
    """True when ``path`` is a long-format file (gzipped, or with a ticker column) or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        return any(p.is_file() and (_is_gzip_csv(p) or (p.suffix.lower() in _CSV_SUFFIXES and _has_ticker_column(p)))
                   for p in path.iterdir())
    return path.is_file() and (_is_gzip_csv(path) or _has_ticker_column(path))


def _folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Split a folder's files into per-ticker CSVs and long-format files."""
    singles, longs = [], []
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        if _is_gzip_csv(file):
            longs.append(file)
        elif file.suffix.lower() in _CSV_SUFFIXES:
            (longs if _has_ticker_column(file) else singles).append(file)
    if not singles and not longs:
        raise DataError(f"{folder}: folder holds no .csv, .txt or .csv.gz files")
    return singles, longs


def _has_ticker_column(file: Path) -> bool:
    with open(file, "rb") as handle:
        header = handle.readline(4096).decode("utf-8-sig", errors="replace").lower()
    names = {name.strip().strip('"') for sep in (",", ";", "\t") for name in header.split(sep)}
    return any(name in names for name in _TICKER_COLUMNS)


def _ticker_result(ticker: str, source: str, path: Path, read, drop: bool, lines=None):
    """``(ticker, source, frame or problem text, dropped rows or None)`` for one ticker's table.

    ``read()`` gives the table of text cells; a bad row under ``on_bad_rows="raise"`` propagates, any other
    `DataError` (of the file or the ticker's rows) becomes the ticker's problem text.
    """
    try:
        frame, dropped = _frame_from_table(read(), source, drop_bad_rows=drop, lines=lines)
    except _BadRowError:
        raise
    except DataError as exc:
        return ticker, source, _without_source(str(exc), source), None
    frame.attrs.update(source=os.fspath(path), ticker=ticker)
    return ticker, source, frame, dropped


def _single_result(args):
    """Load one per-ticker file (see `_ticker_result`)."""
    file, drop = args
    return _ticker_result(file.stem.upper(), os.fspath(file), file, lambda: _read_text_table(file), drop)


def _long_results(path: Path, drop: bool, wanted: set[str] | None) -> list:
    """Load a long-format file, one result per ticker (see `_ticker_result`)."""
    raw = _read_text_table(path, allow_gzip=True)
    names = [str(c).strip().lower() for c in raw.columns]
    column = next((raw.columns[names.index(n)] for n in _TICKER_COLUMNS if n in names), None)
    if column is None:
        raise DataError(f"{path}: a long-format file needs a ticker column (one of {', '.join(_TICKER_COLUMNS)}; "
                        f"found {', '.join(map(str, raw.columns))})")
    lines = np.arange(len(raw)) + 2
    ticker = raw[column].fillna("").str.strip().str.upper()
    results = []
    blank = (ticker == "").to_numpy()
    if blank.any():
        first = int(np.flatnonzero(blank)[0])
        if not drop:
            raise _BadRowError(f"{path}: line {lines[first]}: missing ticker in column {column!r}"
                               f" [and {int(blank.sum()) - 1} more bad row(s)]")
        results.append(("", os.fspath(path), None,
                        [(int(line), f"missing ticker in column {column!r}") for line in lines[blank]]))
    keep = ~blank if wanted is None else ticker.isin(wanted).to_numpy()
    table, ticker, lines = raw[keep].drop(columns=column), ticker[keep], lines[keep]
    for name, positions in ticker.groupby(ticker, sort=True).indices.items():
        results.append(_ticker_result(name, f"{path} (ticker {name})", path,
                                      lambda positions=positions: table.iloc[positions], drop, lines[positions]))
    return results


def _without_source(message: str, source: str) -> str:
    prefix = f"{source}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _map(function, items: list, workers: int | None) -> list:
    """``[function(i) for i in items]``, in ``workers`` forked processes when more than one is asked for."""
    workers = min(int(workers or 1), len(items))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [function(item) for item in items]
    context = multiprocessing.get_context("fork")  # spawn would re-import Keras in every worker
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(function, items, chunksize=max(1, len(items) // (4 * workers))))
