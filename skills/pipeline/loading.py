"""What every pipeline call shares: reading bars (`load_bars`), building a model by name (`new_model`), and
`OptionError`, the error of an argument value that cannot work."""

from __future__ import annotations

import json
from pathlib import Path

from skills._atomic import atomic_path
from skills.data import DataError, default_data_path, load_ohlcv, load_universe
from skills.data.universe import holds_long_format
from skills.models import make_model, model_params

__all__ = ["OptionError", "UNIVERSE_DEFAULTS", "is_universe", "load_bars", "load_records", "new_model",
           "write_json"]

#: The policies a universe is loaded under when none is given: a real universe has bad rows and short
#: histories (the bundled one: NaN prices, high below low, a 44-row ticker), and one of them should not stop a
#: run of hundreds of tickers; every row dropped and file skipped is in the universe's ``report``.
UNIVERSE_DEFAULTS = {"on_bad_rows": "drop", "on_bad_files": "skip"}


class OptionError(ValueError):
    """An argument value that cannot work, as one line naming the argument.

    The message is written with the names of the arguments in braces, ``"{model_path} must end in .h5"``;
    ``str(error)`` shows them as written in Python (``model_path must end in .h5``) and `spelled` in any other
    spelling (a command line's ``--model-path``).
    """

    def __init__(self, template: str, *names: str):
        self.template, self.names = template, names
        super().__init__(self.spelled(str))

    def spelled(self, spell) -> str:
        """The message with each argument name replaced by ``spell(name)``."""
        text = self.template
        for name in self.names:
            text = text.replace("{" + name + "}", spell(name))
        return text


def is_universe(path) -> bool:
    """True unless ``path`` is one ticker's CSV (a file without a ticker column, not gzipped)."""
    path = Path(path)
    return path.is_dir() or holds_long_format(path)


def load_bars(data=None, on_bad_rows=None, on_bad_files=None):
    """The bars ``data`` names: a DataFrame for one ticker's CSV, else a `Universe` (a dict of frames with its
    ``report`` of every row dropped and file skipped). Bars already loaded (a DataFrame or a dict of them) are
    returned as they are.

    Args:
        data: a path (one ticker's CSV, a folder of CSVs, a long-format ``date,ticker,...`` file or a folder
            holding one), or bars; None: the bundled real data (`skills.data.default_data_path`).
        on_bad_rows: ``"raise"`` or ``"drop"``; None: raise for one ticker's CSV, ``UNIVERSE_DEFAULTS`` for a
            universe.
        on_bad_files: ``"raise"`` or ``"skip"`` a bad or too short ticker of a universe; None:
            ``UNIVERSE_DEFAULTS``. Unused for one ticker's CSV.

    Raises:
        OptionError: no such file or folder.
        DataError: bad data under the policies, as one line.
    """
    if data is None:
        data = default_data_path()
    if not isinstance(data, (str, Path)):
        return data
    if not Path(data).exists():
        raise OptionError(f"{{data}} {data}: no such file or folder", "data")
    if not is_universe(data):
        return load_ohlcv(data, drop_bad_rows=on_bad_rows == "drop")
    rows, files = on_bad_rows or UNIVERSE_DEFAULTS["on_bad_rows"], on_bad_files or UNIVERSE_DEFAULTS["on_bad_files"]
    try:
        return load_universe(data, on_bad_rows=rows, on_bad_files=files)
    except DataError as exc:  # the "no ticker left" error carries the whole report: keep the first line
        lines = str(exc).splitlines()
        more = f" (and {len(lines) - 1} more line(s) of report)" if len(lines) > 1 else ""
        raise DataError(f"{lines[0]}{more}") from None


def load_records(bars) -> list[dict] | None:
    """Every row dropped and file skipped while loading a universe, as JSON-ready records; None for bars that
    were not loaded by `load_universe` (one ticker's CSV, frames given as they are)."""
    report = getattr(bars, "report", None)
    return None if report is None else report.to_frame().to_dict(orient="records")


def new_model(name: str, sequence_length: int, **params):
    """An unfitted ``name`` model (one of `skills.models.MODEL_NAMES`) with these hyperparameters.

    Raises:
        OptionError: an unknown name, a hyperparameter the architecture does not take, or a value it refuses.
    """
    try:
        takes = model_params(name)
    except ValueError as exc:
        raise OptionError(f"{{model}} {name}: {exc}", "model") from None
    unknown = sorted(set(params) - set(takes))
    if unknown:
        raise OptionError(f"{{model}} {name} takes no {', '.join(unknown)}", "model")
    try:
        return make_model(name, sequence_length=sequence_length, **params)
    except (ValueError, TypeError) as exc:
        raise OptionError(f"{{model}} {name}: {exc}", "model") from None


def write_json(path, payload: dict) -> None:
    """Write ``payload`` as indented JSON (values that are not JSON types as text), atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2, default=str))
