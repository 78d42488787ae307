"""The trading defaults, each defined once: which strategy trades a universe, the top-k portfolio's size, its
rebalancing period and the ML strategy's fallback entry threshold.

`TopKStrategy`, `run_backtest`, training, walk-forward comparison and the command line all take them from here.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_REBALANCE", "TOPK_MIN_TICKERS", "default_strategy", "names_per_side",
           "topk_defaults"]

#: A universe of at least this many tickers is traded as one top-k portfolio (`default_strategy`).
TOPK_MIN_TICKERS = 10
#: The top-k portfolio (and its equal-weight benchmark) rebalances every this many bars.
DEFAULT_REBALANCE = 5
#: The ML strategy's entry threshold on P(up) / P(down) for a model that stores no validation-chosen one.
DEFAULT_CONFIDENCE = 0.65


def names_per_side(n_tickers: int, long_short: bool) -> int:
    """The most names one side can hold among ``n_tickers``: all of them, or half when long-short."""
    return n_tickers // 2 if long_short else n_tickers


def _whole(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and int(value) == value


def topk_defaults(n_tickers: int, k=None, n_drop=None, long_short: bool = False) -> tuple[int, int]:
    """The top-k portfolio's ``k`` and ``n_drop`` for a universe of ``n_tickers``, as Qlib's TopkDropout holds
    50 of CSI300's 300 names and swaps 5 a day.

    Args:
        n_tickers: tickers in the universe.
        k: names held per side; None: a tenth of the names a side can hold (`names_per_side`), at least 1.
        n_drop: at most this many held names replaced per rebalance; None: ``k // 5``, at least 1. A value of
            ``k`` or more lets every held name that left the top k go.
        long_short: whether the portfolio also holds ``k`` names short (a side then holds at most half the
            tickers).

    Returns:
        tuple ``(k, n_drop)`` of ints.

    Raises:
        ValueError: ``k`` is not a whole number from 1 to the names a side can hold, or ``n_drop`` is not a
            whole number >= 0.

    Example:
        >>> topk_defaults(50)
        (5, 1)
        >>> topk_defaults(300, long_short=True)
        (15, 3)
    """
    most = names_per_side(n_tickers, long_short)
    if k is None:
        k = max(1, most // 10)
    if not _whole(k) or not 1 <= k <= most:
        side = "half the" if long_short else "the"
        raise ValueError(f"k must be a whole number from 1 to {side} {n_tickers} tickers (at most {most} per "
                         f"side), got {k!r}")
    k = int(k)
    if n_drop is None:
        n_drop = max(1, k // 5)
    if not _whole(n_drop) or n_drop < 0:
        raise ValueError(f"n_drop must be a whole number >= 0, got {n_drop!r}")
    return k, int(n_drop)


def default_strategy(n_tickers: int, label_method: str | None = None) -> str:
    """``"topk"`` (one top-k portfolio over the universe) or ``"ml"`` (a position per ticker on its own signal).

    Top-k when there are several tickers and either the labels rank them against each other
    (``label_method="cross_section"``) or there are at least `TOPK_MIN_TICKERS` of them; else ML.

    Example:
        >>> default_strategy(3, "cross_section"), default_strategy(3, "fixed"), default_strategy(12, "fixed")
        ('topk', 'ml', 'topk')
    """
    return "topk" if n_tickers > 1 and (label_method == "cross_section" or n_tickers >= TOPK_MIN_TICKERS) else "ml"
