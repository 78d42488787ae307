"""How the commands read ``--data-path`` (`skills.pipeline.load_bars`, with a universe's load report printed),
``--features``, and how a library `OptionError` becomes a one-line `UsageError` naming the flag."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from skills.cli.parser import UsageError
from skills.data import features
from skills.pipeline import OptionError, is_universe
from skills.pipeline import load_bars as load_data
from skills.pipeline.loading import UNIVERSE_DEFAULTS

__all__ = ["flag_errors", "is_universe", "load_bars", "resolve_features", "tracking"]

log = logging.getLogger("skills")

_SHOWN = 10  # skipped files and dropped rows named on the terminal; the JSON report lists them all
#: Library argument -> flag, where the flag is not ``--`` and the argument's name with dashes.
_FLAGS = {"data": "--data-path", "json_path": "--json"}


def flag(name: str, renamed=None) -> str:
    """The command-line spelling of library argument ``name`` (``model_path`` -> ``--model-path``)."""
    renamed = {**_FLAGS, **(renamed or {})}
    return renamed.get(name, "--" + name.replace("_", "-"))


@contextmanager
def flag_errors(**renamed):
    """Turn a library `OptionError` raised in the block into a `UsageError` that names flags, not arguments;
    ``renamed`` maps the arguments whose flag is not their name (``model="--model-path"``)."""
    try:
        yield
    except OptionError as exc:
        raise UsageError(exc.spelled(lambda name: flag(name, renamed))) from None


def load_bars(args):
    """The bars ``--data-path`` names (`skills.pipeline.load_bars` under ``--on-bad-rows`` / ``--on-bad-files``).

    A universe's report's summary is printed on stdout (under ``--quiet`` only when something was left out),
    and the report (every row dropped and file skipped) is kept on ``args.load_report`` for the JSON outputs.

    Raises:
        UsageError: no such file or folder. DataError: bad data under the policies, as one line.
    """
    rows, files = getattr(args, "on_bad_rows", None), getattr(args, "on_bad_files", None)
    args.load_report = None
    with flag_errors():
        bars = load_data(args.data_path, on_bad_rows=rows, on_bad_files=files)
    report = getattr(bars, "report", None)
    if report is None:
        if files is not None:
            log.info("--on-bad-files %s: %s is one file, read as one ticker", files, args.data_path)
        return bars
    args.load_report = report.to_frame().to_dict(orient="records")
    text = report.summary(limit=_SHOWN).replace("report.to_frame() lists them all", "the --json / report file "
                                                "lists them all")
    if report.skipped or report.dropped or not getattr(args, "quiet", False):
        rows, files = rows or UNIVERSE_DEFAULTS["on_bad_rows"], files or UNIVERSE_DEFAULTS["on_bad_files"]
        print(f"{text}\n  (policies: --on-bad-rows {rows} --on-bad-files {files})", flush=True)
    return bars


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


def tracking(args):
    """The `skills.tracking.Tracking` that ``--track`` / ``--tracking-uri`` / ``--experiment`` ask for, connected
    (`Tracking.check`) before any data is read; None without them.

    Raises:
        TrackingError: MLflow missing, a malformed URI or a server that does not answer (one line).
    """
    if not (getattr(args, "track", False) or getattr(args, "tracking_uri", None) or getattr(args, "experiment", None)):
        return None
    from skills.tracking import Tracking

    return Tracking(args.tracking_uri, args.experiment).check()
