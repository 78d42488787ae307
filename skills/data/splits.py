"""Chronological train / validation / test boundaries with a purge gap, and walk-forward folds.

Splits are made on a calendar of window-end dates (the union over tickers), never by shuffling.
Between train and validation, and between validation and test, ``gap`` calendar dates are left
out (at least the bars a label reads after its own bar, ``LabelRule.reach``), and
:mod:`skills.data.dataset` also purges every window whose label reads a bar of the next split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import TimeSeriesSplit

from .io import DataError

__all__ = ["SplitBounds", "WALK_FORWARD_MODES", "chronological_bounds", "walk_forward_bounds"]

#: How a walk-forward fold's training window moves: from the first date, or a fixed length behind the block.
WALK_FORWARD_MODES = ("expanding", "rolling")


@dataclass(frozen=True)
class SplitBounds:
    """Inclusive first and last dates of each split."""

    train: tuple[pd.Timestamp, pd.Timestamp]
    val: tuple[pd.Timestamp, pd.Timestamp]
    test: tuple[pd.Timestamp, pd.Timestamp]

    def to_dict(self) -> dict:
        return {name: [str(a.date()), str(b.date())] for name, (a, b) in
                (("train", self.train), ("val", self.val), ("test", self.test))}


def _bounds(calendar: pd.DatetimeIndex, train: np.ndarray, val: np.ndarray, test: np.ndarray) -> SplitBounds:
    def span(idx):
        return calendar[idx[0]], calendar[idx[-1]]
    return SplitBounds(span(train), span(val), span(test))


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


def chronological_bounds(calendar: pd.DatetimeIndex, val_fraction: float = 0.15, test_fraction: float = 0.15,
                         gap: int = 1) -> SplitBounds:
    """Split a sorted calendar into train | gap | val | gap | test.

    Args:
        calendar: sorted unique window-end dates.
        val_fraction, test_fraction: shares of the calendar.
        gap: dates left out between consecutive splits (>= the label rule's ``reach``).

    Raises:
        DataError: the calendar is too short for three non-empty splits.
    """
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    n = len(calendar)
    n_val, n_test = max(1, round(n * val_fraction)), max(1, round(n * test_fraction))
    n_train = n - n_val - n_test - 2 * gap
    if n_train < 1:
        raise DataError(f"only {n} window dates: too few for train, validation ({val_fraction:g}) and "
                        f"test ({test_fraction:g}) splits with a gap of {gap}; use more bars or a "
                        f"shorter sequence_length")
    idx = np.arange(n)
    return _bounds(calendar, idx[:n_train], idx[n_train + gap:n_train + gap + n_val], idx[n - n_test:])


def walk_forward_bounds(calendar: pd.DatetimeIndex, n_splits: int = 5, mode: str = "expanding",
                        val_fraction: float = 0.15, gap: int = 1, train_size: int | None = None,
                        test_size: int | None = None) -> list[SplitBounds]:
    """Walk-forward folds: each fold tests on the next block of dates, after a gap.

    Uses scikit-learn's ``TimeSeriesSplit`` (``gap``, and ``max_train_size`` for ``"rolling"``)
    on calendar positions; the last ``val_fraction`` of each fold's training dates, after a gap,
    becomes its validation split.

    Args:
        calendar: sorted unique window-end dates.
        n_splits: int, number of folds.
        mode: ``"expanding"`` (train from the start) or ``"rolling"`` (at most ``train_size`` dates).
        val_fraction: share of each fold's training dates held out for validation.
        gap: dates left out before validation and before test.
        train_size: rolling window length in dates (default: ``len(calendar) // (n_splits + 1)``).
        test_size: dates per test fold (default: scikit-learn's).
    """
    if mode not in WALK_FORWARD_MODES:
        raise ValueError(f"mode must be one of {WALK_FORWARD_MODES}, got {mode!r}")
    _check_fraction("val_fraction", val_fraction)
    n = len(calendar)
    max_train = None
    if mode == "rolling":
        max_train = train_size or n // (n_splits + 1)
    splitter = TimeSeriesSplit(n_splits=n_splits, gap=gap, max_train_size=max_train, test_size=test_size)
    folds = []
    try:
        for train_idx, test_idx in splitter.split(np.arange(n)):
            n_val = max(1, round(len(train_idx) * val_fraction))
            n_train = len(train_idx) - n_val - gap
            if n_train < 1:
                raise DataError(f"walk-forward fold with {len(train_idx)} training dates is too short for a "
                                f"validation split and a gap of {gap}")
            folds.append(_bounds(calendar, train_idx[:n_train], train_idx[n_train + gap:], test_idx))
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{n} window dates cannot make {n_splits} walk-forward folds: {exc}") from None
    return folds
