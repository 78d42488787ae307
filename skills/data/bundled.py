"""Where the bundled real bars are: ``data/`` of a source checkout, or the copy a wheel installs."""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_data_path"]

_PACKAGE = Path(__file__).resolve().parents[1]


def default_data_path() -> Path:
    """The folder of the bundled daily bars (five tickers' CSVs, ``universe/`` with 250 S&P 500 stocks).

    Installed from a wheel, it is ``skills/bundled_data`` inside the installed package; run from a source
    checkout, it is the checkout's ``data/`` folder. The folder is not checked here: loading from it names
    the path when it is missing.
    """
    installed = _PACKAGE / "bundled_data"
    if installed.is_dir() or not (_PACKAGE.parent / "pyproject.toml").is_file():
        return installed
    return _PACKAGE.parent / "data"
