"""From bars to leak-free train / validation / test windows.

``prepare_dataset`` computes the features of each ticker, pools the tickers into ONE 2-D float32
array (rows of different tickers never share a window), splits by date with a purge gap, learns
the label edges (quantile method) and the scaler statistics on training rows only, and returns
lazy windows over that array. Labels come from the forward return on the label rule's basis (by
default the tradable open t+1 -> open t+1+horizon: :func:`skills.data.labels.forward_return`), and
no label of a split reads a bar of the next. Optionally each indicator is replaced by its rank or
z-score across the tickers of the same date (``cross_section``), before the scaler, and labels can
be ranked across each date's tickers (``label="cross_section"``). ``features="price_volume"`` gives
raw price-volume windows (Alpha360 in the manner of Qlib) made relative to their last bar when
gathered.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .features import (
    check_cross_section,
    cross_section_normalise,
    feature_frame,
    relative_spec,
    resolve_features,
    warmup_bars,
)
from .frames import as_frames
from .io import DataError
from .labels import CLASS_NAMES, LabelRule, forward_return
from .scaling import SCALERS, ScalerStats
from .splits import SplitBounds, chronological_bounds, walk_forward_bounds
from .windows import DateBatchDataset, WindowArray, WindowDataset

__all__ = ["BATCH_BY", "PreparedData", "Split", "prepare_dataset", "prepare_walk_forward"]

#: How ``Split.dataset`` batches windows: fixed-size batches, or all windows of one date per batch.
BATCH_BY = ("window", "date")
_SCALER_ROWS = 2_000_000  # most window rows a relative (price-volume) scaler is fit on


@dataclass
class Split:
    """One chronological split: windows, labels and where each window ends.

    Attributes:
        name: ``"train"``, ``"val"`` or ``"test"``.
        X: WindowArray of raw (unscaled) features, shape (n, sequence_length, n_features).
        y: int64 labels (n,), bar t's label for the window ending at bar t.
        dates: DatetimeIndex of each window's last bar.
        tickers: str array (n,).
        forward_returns: float64 (n,), the return that made each label, on the label rule's basis
            (``open_to_open`` by default: open t+1 -> open t+1+horizon).
    """

    name: str
    X: WindowArray
    y: np.ndarray
    dates: pd.DatetimeIndex
    tickers: np.ndarray
    forward_returns: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(CLASS_NAMES))
        return {name: int(c) for name, c in zip(CLASS_NAMES, counts)}

    def dataset(self, batch_size: int = 32, shuffle: bool | None = None, seed: int | None = None,
                sample_weight=None, batch_by: str = "window", **kwargs) -> WindowDataset | DateBatchDataset:
        """A ``keras.utils.PyDataset`` of ``(X, y)`` batches; shuffled (each epoch) only for ``train``.

        Args:
            batch_size: int, windows per batch (``batch_by="window"`` only).
            shuffle: bool or None (= shuffle the training split only).
            seed: int or None, seed of the shuffling.
            sample_weight: per-window weights or None.
            batch_by: ``"window"`` (default: :class:`WindowDataset`, ``batch_size`` windows per batch)
                or ``"date"`` (:class:`DateBatchDataset`: one batch per date with all its windows,
                ordered by ticker; the dates, not the windows, are shuffled).
            **kwargs: passed to ``keras.utils.PyDataset``.
        """
        if batch_by not in BATCH_BY:
            raise ValueError(f"batch_by must be one of {BATCH_BY}, got {batch_by!r}")
        if shuffle is None:
            shuffle = self.name == "train"
        if shuffle and self.name != "train":
            raise ValueError(f"shuffling is for the training split only, not {self.name!r}")
        if batch_by == "date":
            return DateBatchDataset(self.X, self.y, self.dates, self.tickers, sample_weight=sample_weight,
                                    shuffle=shuffle, seed=seed, **kwargs)
        return WindowDataset(self.X, self.y, sample_weight=sample_weight, batch_size=batch_size,
                             shuffle=shuffle, seed=seed, **kwargs)


@dataclass
class PreparedData:
    """Train / validation / test windows plus everything a model file must carry.

    ``label_rule.basis`` says which forward return the labels and ``Split.forward_returns`` (hence
    every IC) use; ``gap`` is at least ``label_rule.reach``. ``cross_section`` is the per-date
    normalisation of the features (``"none"``, ``"rank"`` or ``"zscore"``); ``notes`` lists what a
    policy left out (e.g. dates with too few tickers for a cross-sectional label, and the windows
    dropped with them).
    """

    train: Split
    val: Split
    test: Split
    feature_names: list[str]
    sequence_length: int
    horizon: int
    gap: int
    scaler: ScalerStats
    label_rule: LabelRule
    tickers: list[str]
    bounds: SplitBounds
    cross_section: str = "none"
    notes: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def meta(self) -> dict:
        """JSON-serialisable description (stored inside model files)."""
        return {
            "feature_names": list(self.feature_names),
            "sequence_length": self.sequence_length,
            "horizon": self.horizon,
            "gap": self.gap,
            "label_rule": self.label_rule.to_dict(),
            "scaler": self.scaler.to_dict(),
            "class_names": list(CLASS_NAMES),
            "tickers": list(self.tickers),
            "date_ranges": self.bounds.to_dict(),
            "train_date_range": self.bounds.to_dict()["train"],
            "split_sizes": {s.name: len(s) for s in (self.train, self.val, self.test)},
            "cross_section": self.cross_section,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few lines a user can read: tickers, date ranges, window counts and class balance."""
        rule = self.label_rule
        detail = (f"min_tickers {rule.min_tickers}" if rule.method == "cross_section"
                  else f"threshold {rule.threshold}")
        lines = [f"tickers: {', '.join(self.tickers)}",
                 f"features: {self.n_features}, sequence_length: {self.sequence_length}, horizon: "
                 f"{self.horizon}, gap: {self.gap}, labels: {rule.method} ({detail}), label basis: {rule.basis}, "
                 f"scaler: {self.scaler.kind}"
                 + (f", cross_section: {self.cross_section}" if self.cross_section != "none" else "")]
        for split in (self.train, self.val, self.test):
            shares = ", ".join(f"{k} {v / max(len(split), 1):.1%}" for k, v in split.class_counts.items())
            lines.append(f"{split.name:>5}: {len(split):6d} windows  {split.dates.min().date()} .. "
                         f"{split.dates.max().date()}  ({shares})")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


class _Pool:
    """The features of every ticker stacked into one float32 array, with per-row bookkeeping."""

    def __init__(self, frames: dict[str, pd.DataFrame], sequence_length: int, rule: LabelRule, features,
                 cross_section: str = "none"):
        self.sequence_length, self.horizon, self.cross_section = sequence_length, rule.horizon, cross_section
        reach = self.reach = rule.reach  # the bars after t a label reads
        self.feature_names = list(features)
        self.relative = relative_spec(self.feature_names)
        warmup = warmup_bars(self.feature_names)
        blocks, tickers, dates, label_end, prices, offsets, firsts = [], [], [], [], {}, {}, {}
        candidate_ends, skipped, unwindowed = [], [], []
        start = 0
        for ticker, bars in frames.items():
            missing = [c for c in rule.columns if c not in bars.columns]
            if missing:
                raise DataError(f"{bars.attrs.get('source', ticker)}: missing column {missing[0]!r}, which "
                                f"{rule.basis} labels read")
            values = feature_frame(bars, self.feature_names).to_numpy(dtype=np.float32)
            valid = np.flatnonzero(np.isfinite(values).all(axis=1))
            n_windows = len(valid) - sequence_length + 1 - reach
            if n_windows < 1:
                if len(valid):  # no window, but its values that day count in each date's cross-section
                    unwindowed.append((values[valid[0]:], bars.index[valid[0]:].to_numpy()))
                skipped.append(f"{bars.attrs.get('source', ticker)}: {len(bars)} bars give no labelled window "
                               f"(need at least {warmup + sequence_length + reach}: the {warmup}-bar indicator "
                               f"warm-up + sequence_length {sequence_length} + the {reach} bar(s) a "
                               f"{rule.basis} label of horizon {rule.horizon} reads)")
                continue
            first = valid[0]
            block = values[first:]
            index = bars.index[first:]
            blocks.append(block)
            tickers.append(np.full(len(block), ticker, dtype=object))
            dates.append(index.to_numpy())
            # the date of bar t + reach, the last bar a label reads: it "ends" there (NaT when beyond the data)
            ahead = np.full(len(block), np.datetime64("NaT"), dtype="datetime64[ns]")
            ahead[:-reach] = index.to_numpy()[reach:]
            label_end.append(ahead)
            prices[ticker], firsts[ticker] = bars[list(rule.columns)].astype(float), first
            offsets[ticker] = start
            candidate_ends.append(start + np.arange(sequence_length - 1, len(block) - reach))
            start += len(block)
        if not blocks:
            raise DataError(f"no ticker has enough bars: {skipped[0]}"
                            + (f" [and {len(skipped) - 1} more]" if len(skipped) > 1 else ""))
        for message in skipped:
            warnings.warn(f"{message}; skipped", stacklevel=3)
        self.values = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        self.tickers = np.concatenate(tickers)
        self.dates = pd.DatetimeIndex(np.concatenate(dates))
        # each value against the other tickers' values of the same date only (causal), before any scaler
        self.values = cross_section_normalise(self.values, self.dates, cross_section, others=unwindowed)
        self.label_end = np.concatenate(label_end)
        self.prices, self.offsets, self.firsts = prices, offsets, firsts  # the columns the labels read
        self.ends = np.concatenate(candidate_ends)
        self.ticker_names = list(prices)
        self.calendar = pd.DatetimeIndex(np.unique(self.dates[self.ends]))

    def scaler_rows(self, train: WindowArray, bounds: SplitBounds) -> np.ndarray:
        """The rows the scaler is fit on: every row up to the end of training, or, for windows made
        relative to their last bar, the rows of the training windows as the network sees them (of
        evenly spaced windows when there are more than ``_SCALER_ROWS`` rows)."""
        if self.relative is None:
            return self.values[self.dates <= bounds.train[1]]
        n = max(1, min(len(train), _SCALER_ROWS // self.sequence_length))
        pick = np.unique(np.linspace(0, len(train) - 1, n).round().astype(np.int64))
        return train[pick].reshape(-1, len(self.feature_names))

    def forward_returns(self, rule: LabelRule) -> tuple[np.ndarray, np.ndarray]:
        labels = np.full(len(self.values), np.nan)
        returns = np.full(len(self.values), np.nan)
        wide = rule.apply_universe(self.prices) if rule.method == "cross_section" else None
        for ticker, bars in self.prices.items():
            first = self.firsts[ticker]
            rows = slice(self.offsets[ticker], self.offsets[ticker] + len(bars) - first)
            returns[rows] = forward_return(bars, rule.horizon, rule.basis).to_numpy()[first:]
            if wide is not None:
                labels[rows] = wide[ticker].reindex(bars.index).to_numpy()[first:]
            elif rule.is_fitted:
                labels[rows] = rule.apply(bars).to_numpy()[first:]
        return labels, returns

    def thin_dates(self, rule: LabelRule) -> pd.DatetimeIndex:
        """Dates on which some ticker has a forward return but fewer than ``min_tickers`` do."""
        if rule.method != "cross_section":
            return pd.DatetimeIndex([])
        returns = pd.DataFrame({t: forward_return(b, rule.horizon, rule.basis) for t, b in self.prices.items()})
        n = returns.notna().sum(axis=1)
        return pd.DatetimeIndex(n.index[(n > 0) & (n < rule.min_tickers)])

    def prepare(self, bounds: SplitBounds, rule: LabelRule, scaler: str, gap: int) -> PreparedData:
        if rule.reach != self.reach:
            raise ValueError(f"the label rule reads {rule.reach} bar(s) ahead; these windows were cut for {self.reach}")
        end_dates = self.dates[self.ends]
        next_start = {"train": bounds.val[0], "val": bounds.test[0], "test": None}
        _, returns = self.forward_returns(rule)

        def select(name):
            first, last = getattr(bounds, name)
            keep = (end_dates >= first) & (end_dates <= last)
            if next_start[name] is not None:  # purge: no label may read a bar of the next split
                keep &= self.label_end[self.ends] < np.datetime64(next_start[name])
            return self.ends[keep]

        chosen = {name: select(name) for name in ("train", "val", "test")}
        rule = rule.fit(returns[chosen["train"]])
        labels, returns = self.forward_returns(rule)
        thin, notes, dropped = self.thin_dates(rule), [], {}
        splits = {}
        for name, ends in chosen.items():
            if len(thin):
                dropped[name] = int(np.isin(self.dates[ends], thin).sum())
            ends = ends[np.isfinite(labels[ends])]
            if ends.size == 0:
                raise DataError(f"the {name} split has no labelled windows; use more bars or other fractions")
            splits[name] = Split(name, WindowArray(self.values, ends, self.sequence_length, self.relative),
                                 labels[ends].astype(np.int64), self.dates[ends],
                                 self.tickers[ends].astype(str), returns[ends])
        if len(thin):
            notes.append(f"cross_section labels: {len(thin)} date(s) with fewer than {rule.min_tickers} tickers "
                         f"({thin[0].date()} .. {thin[-1].date()}) get no label; windows dropped: "
                         + ", ".join(f"{name} {n}" for name, n in dropped.items()))
        stats = ScalerStats.fit(self.scaler_rows(splits["train"].X, bounds), scaler)
        return PreparedData(splits["train"], splits["val"], splits["test"], self.feature_names,
                            self.sequence_length, self.horizon, gap, stats, rule, self.ticker_names, bounds,
                            self.cross_section, notes)


def _label_rule(label, horizon: int, threshold, basis: str) -> LabelRule:
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    horizon = int(horizon)
    if isinstance(label, LabelRule):
        rule = label
    elif isinstance(label, dict):
        rule = LabelRule.from_dict({"horizon": horizon, "basis": basis, **label})
    else:
        rule = LabelRule(horizon=horizon, method=label, threshold=threshold, basis=basis)
    if rule.horizon != horizon:
        raise ValueError(f"label rule horizon {rule.horizon} differs from horizon {horizon}")
    if rule.basis != basis:
        raise ValueError(f"label rule basis {rule.basis!r} differs from label_basis {basis!r}")
    return rule


def _check_args(sequence_length, rule: LabelRule, gap, cross_section="none", features=()):
    check_cross_section(cross_section, features)
    if int(sequence_length) != sequence_length or sequence_length < 1:
        raise ValueError(f"sequence_length must be a positive integer, got {sequence_length!r}")
    gap = rule.reach if gap is None else gap
    if gap < rule.reach:
        raise ValueError(f"gap must be >= the {rule.reach} bar(s) a {rule.basis} label of horizon {rule.horizon} "
                         f"reads after its bar, so no training label reads a validation bar; got {gap}")
    return int(gap)


def prepare_dataset(data, sequence_length: int = 30, horizon: int = 1, label="fixed", threshold=None,
                    val_fraction: float = 0.15, test_fraction: float = 0.15, scaler: str = "standard",
                    gap: int | None = None, features=None, cross_section: str = "none",
                    label_basis: str = "open_to_open") -> PreparedData:
    """Build leak-free train / validation / test windows from daily bars.

    Args:
        data: a CSV path, a folder of CSVs, one OHLCV DataFrame, or ``dict[ticker, DataFrame]``.
        sequence_length: int, default 30. Bars per window; the window ending at bar t carries bar
            t's label.
        horizon: int, default 1. Label horizon in bars.
        label: ``"fixed"``, ``"volatility"``, ``"quantile"``, ``"cross_section"``, a dict of
            :class:`LabelRule` fields (e.g. ``{"method": "cross_section", "min_tickers": 5}``), or a
            LabelRule. Quantile edges are learned on training rows only; ``cross_section`` ranks
            each date's forward returns across the tickers (:func:`cross_section_labels`), and the
            dates with fewer than ``min_tickers`` tickers, with the windows dropped, are listed in
            ``notes``.
        threshold: float or None, the label band (see :class:`LabelRule`).
        val_fraction, test_fraction: float, default 0.15 each. Shares of the window-end dates.
        scaler: ``"standard"``, ``"minmax"`` or ``"robust"``; fit on training rows only.
        gap: int or None (= the label rule's ``reach``: ``horizon + 1`` for ``open_to_open``,
            ``horizon`` for ``close_to_close``; no less is accepted). Dates left out between splits;
            windows whose label reads a bar of the next split are purged as well.
        features: list of feature names, a set name, or None (= all of ``FEATURE_NAMES``).
            ``"price_volume"`` (alias ``"alpha360"``) is :data:`PRICE_VOLUME_FEATURES`: each bar's
            open, high, low, close and VWAP (the typical price ``(h + l + c) / 3``: daily bars have
            no real VWAP) divided by the window's last close, and ``log((1 + volume) / (1 + last
            volume))`` (finite on zero volume), made relative when a window is gathered; the scaler
            is then fit on the rows of the relative training windows. The names alone determine
            this, so ``feature_windows`` and a saved model's ``predict_frame`` do the same. Needs
            ``cross_section="none"``. ``"alpha158"`` is Qlib's 158 engineered ratios
            (:mod:`skills.data.alpha158`, 60-bar warm-up; any ``cross_section`` mode). Lists may mix
            indicators, Alpha158 names and ``pv_`` columns.
        cross_section: ``"none"`` (default), ``"rank"`` or ``"zscore"``: replace each feature
            value by its rank in [0, 1] or z-score among the tickers present on the same date
            (:func:`skills.data.features.cross_section_normalise`; that date only, so causal),
            before the scaler.
        label_basis: ``"open_to_open"`` (default) or ``"close_to_close"``
            (:data:`skills.data.labels.LABEL_BASES`): the forward return the labels and
            ``Split.forward_returns`` use. ``open_to_open`` runs from the open of bar t+1, where an
            order placed after bar t's close fills, to the open of bar t+1+horizon;
            ``close_to_close`` from close t to close t+horizon (it includes the overnight move to
            open t+1, which no strategy here can earn). A ``label`` LabelRule or dict must agree.

    Returns:
        PreparedData. Tickers are split by date (the same cut dates for all), and no window
        crosses two tickers.

    Raises:
        DataError: unreadable data, or too few bars for the windows and splits asked for.
        ValueError: an impossible argument value, e.g. ``cross_section`` other than ``"none"`` with
            price-volume features.
    """
    features = resolve_features(features)
    rule = _label_rule(label, horizon, threshold, label_basis)
    gap = _check_args(sequence_length, rule, gap, cross_section, features)
    if scaler not in SCALERS:
        raise ValueError(f"scaler must be one of {SCALERS}, got {scaler!r}")
    pool = _Pool(as_frames(data), int(sequence_length), rule, features, cross_section)
    bounds = chronological_bounds(pool.calendar, val_fraction, test_fraction, gap)
    return pool.prepare(bounds, rule, scaler, gap)


def prepare_walk_forward(data, n_splits: int = 5, mode: str = "expanding", sequence_length: int = 30,
                         horizon: int = 1, label="fixed", threshold=None, val_fraction: float = 0.15,
                         scaler: str = "standard", gap: int | None = None, features=None,
                         train_size: int | None = None, test_size: int | None = None,
                         cross_section: str = "none", label_basis: str = "open_to_open") -> list[PreparedData]:
    """Walk-forward folds (expanding or rolling), each a PreparedData with its own training-only
    scaler and label edges. Arguments as in :func:`prepare_dataset` and
    :func:`skills.data.splits.walk_forward_bounds`. The folds share one feature array."""
    features = resolve_features(features)
    rule = _label_rule(label, horizon, threshold, label_basis)
    gap = _check_args(sequence_length, rule, gap, cross_section, features)
    pool = _Pool(as_frames(data), int(sequence_length), rule, features, cross_section)
    folds = walk_forward_bounds(pool.calendar, n_splits, mode, val_fraction, gap, train_size, test_size)
    return [pool.prepare(bounds, rule, scaler, gap) for bounds in folds]
