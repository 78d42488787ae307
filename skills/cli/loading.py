"""How the commands read ``--data-path``: one ticker's CSV through `load_ohlcv`, anything else (a folder of
CSVs, a long-format ``date,ticker,...`` file, a folder holding one) through `load_universe` under the
``--on-bad-rows`` / ``--on-bad-files`` policies, with its load report printed."""

from __future__ import annotations

import logging
from pathlib import Path

from skills.cli.parser import UsageError
from skills.data import DataError, features, load_ohlcv, load_universe
from skills.data.io import _is_gzip_csv
from skills.data.universe import _has_ticker_column

log = logging.getLogger("skills")

#: The policies a universe is loaded under when the flags are not given: a real universe has bad rows and short
#: histories (the bundled one: NaN prices, high below low, a 44-row ticker), and one of them should not stop a
#: run of hundreds of tickers; every row dropped and file skipped is printed.
UNIVERSE_DEFAULTS = {"on_bad_rows": "drop", "on_bad_files": "skip"}
_SHOWN = 10  # skipped files and dropped rows named on the terminal; the JSON report lists them all


def is_universe(path) -> bool:
    """True unless ``path`` is one ticker's CSV (a file without a ticker column, not gzipped)."""
    path = Path(path)
    return path.is_dir() or _is_gzip_csv(path) or _has_ticker_column(path)


def load_bars(args):
    """The bars ``--data-path`` names: a DataFrame for one ticker's CSV, else a `Universe` (dict of frames).

    One ticker's CSV raises `DataError` on its first bad row unless ``--on-bad-rows drop``; a universe uses
    `UNIVERSE_DEFAULTS` for the policies not given, and its report's summary is printed on stdout (under
    ``--quiet`` only when something was left out). A universe's report (every row dropped and file skipped) is
    kept on ``args.load_report`` for the JSON outputs.

    Raises:
        DataError: bad data under the policies, as one line.
    """
    rows, files = getattr(args, "on_bad_rows", None), getattr(args, "on_bad_files", None)
    args.load_report = None
    if not is_universe(args.data_path):
        if files is not None:
            log.info("--on-bad-files %s: %s is one file, read as one ticker", files, args.data_path)
        return load_ohlcv(args.data_path, drop_bad_rows=rows == "drop")
    rows, files = rows or UNIVERSE_DEFAULTS["on_bad_rows"], files or UNIVERSE_DEFAULTS["on_bad_files"]
    try:
        universe = load_universe(args.data_path, on_bad_rows=rows, on_bad_files=files)
    except DataError as exc:  # the "no ticker left" error carries the whole report: keep the first line
        lines = str(exc).splitlines()
        more = f" (and {len(lines) - 1} more line(s) of report)" if len(lines) > 1 else ""
        raise DataError(f"{lines[0]}{more}") from None
    report = universe.report
    args.load_report = report.to_frame().to_dict(orient="records")
    text = report.summary(limit=_SHOWN).replace("report.to_frame() lists them all", "the --json / report file "
                                                "lists them all")
    if report.skipped or report.dropped or not getattr(args, "quiet", False):
        print(f"{text}\n  (policies: --on-bad-rows {rows} --on-bad-files {files})", flush=True)
    return universe


def resolve_features(text: str):
    """``--features``: ``"all"`` -> None (every indicator), a set name such as ``"price_volume"`` -> that name,
    else a comma list of feature names (checked by `prepare_dataset`)."""
    text = text.strip()
    if text in ("", "all"):
        return None
    if text in getattr(features, "FEATURE_SETS", ()):  # the named sets this version of skills.data knows
        return text
    names = [name.strip() for name in text.split(",") if name.strip()]
    if len(set(names)) != len(names):
        raise UsageError(f"--features lists a name twice: {text!r}")
    return names
