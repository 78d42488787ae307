"""The package version: the installed distribution's, or ``pyproject.toml``'s in a source checkout.

``__version__`` is what ``importlib.metadata`` records for the installed ``skills`` when this copy of the
package is that installation; run from a source checkout (``pip install -r requirements.txt``, nothing
installed, or an older installation shadowed by the checkout) it is the ``version`` of the checkout's
``pyproject.toml``.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

__all__ = ["__version__", "is_installed_copy"]

_PACKAGE = Path(__file__).resolve().parent
_UNKNOWN = "0+unknown"


def _installed_distribution():
    """The installed ``skills`` distribution when this copy of the package is the one it installed, else None."""
    try:
        dist = metadata.distribution("skills")
        return dist if Path(dist.locate_file("skills/_version.py")).resolve() == Path(__file__).resolve() else None
    except (metadata.PackageNotFoundError, OSError, TypeError, ValueError):
        return None


def is_installed_copy() -> bool:
    """Whether this copy of the package is the installed distribution (not a source checkout shadowing it)."""
    return _installed_distribution() is not None


def _installed_version() -> str | None:
    """The version ``importlib.metadata`` records for ``skills``, if that distribution is this copy."""
    dist = _installed_distribution()
    return None if dist is None else dist.version


def _checkout_version() -> str | None:
    """``version = "..."`` of the ``[project]`` table of the ``pyproject.toml`` beside the package folder."""
    try:
        text = (_PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    project = re.search(r"^\[project\][ \t]*$(.*?)(?=^\[|\Z)", text, flags=re.M | re.S)
    if project is None or not re.search(r'^name\s*=\s*"skills"', project.group(1), flags=re.M):
        return None
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), flags=re.M)
    return found.group(1) if found else None


__version__: str = _installed_version() or _checkout_version() or _UNKNOWN
