"""How much Keras prints while it trains: a progress bar on a terminal, one line per epoch anywhere else."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["progress_verbosity"]


def progress_verbosity(stream: TextIO | None = None, quiet: bool = False) -> int:
    """The Keras ``verbose`` value for output going to ``stream`` (default: `sys.stdout` at call time).

    Keras' progress bar redraws itself after every batch with carriage returns; a terminal shows one line, while a
    file or a CI log keeps every redraw (hundreds of kilobytes per run). So: 0 (silent) when ``quiet``, 1 (the bar)
    when ``stream`` is a terminal, 2 (one summary line per epoch, after Keras' ``Epoch i/n`` header) otherwise. A
    stream without ``isatty``, or a closed one, counts as not a terminal.

    Args:
        stream: where the progress goes; `sys.stdout` (as it is when called) if None.
        quiet: no progress at all.

    Returns:
        int: 0, 1 or 2, for ``fit(..., verbose=...)``.
    """
    if quiet:
        return 0
    stream = sys.stdout if stream is None else stream
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty (a custom writer) or a closed file
        terminal = False
    return 1 if terminal else 2
