"""Lazy sliding windows over one 2-D feature array, and Keras ``PyDataset`` s that batch them.

No N × T × F copy is ever made: a window is gathered from the 2-D array when it is asked for (and,
for price-volume columns, made relative to its last bar then). ``WindowDataset`` batches windows in
fixed-size batches; ``DateBatchDataset`` puts all windows of one date in one batch.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd

from .features import RelativeSpec, feature_frame, relative_spec
from .io import OHLCV_COLUMNS, DataError

__all__ = ["DateBatchDataset", "WindowArray", "WindowDataset", "feature_windows", "universe_windows"]


class WindowArray:
    """Windows ``values[end - sequence_length + 1 : end + 1]`` for each ``end`` in ``ends``.

    Behaves like a read-only array of shape ``(len(ends), sequence_length, n_features)``:
    ``len``, ``.shape``, integer / slice / integer-array / boolean indexing (each returns a numpy
    array, gathered on demand), and ``np.asarray`` (which materialises all windows).

    Args:
        values: 2-D float array (rows × features), shared, never copied.
        ends: 1-D int array, the row of each window's last bar (each >= ``sequence_length - 1``).
        sequence_length: int, bars per window.
        relative: RelativeSpec or None. When given, each gathered window is made relative to its
            last bar (price columns divided by its last close, log-volume minus its last one; see
            :func:`skills.data.features.relative_spec`); ``values`` stay as they are.
    """

    def __init__(self, values: np.ndarray, ends: np.ndarray, sequence_length: int,
                 relative: RelativeSpec | None = None):
        if values.ndim != 2:
            raise ValueError(f"values must be 2-D (rows, features), got shape {values.shape}")
        ends = np.asarray(ends, dtype=np.int64)
        if ends.size and (ends.min() < sequence_length - 1 or ends.max() >= len(values)):
            raise ValueError("window ends out of range for the values array")
        self.values = values
        self.ends = ends
        self.sequence_length = int(sequence_length)
        self.relative = relative
        self._offsets = np.arange(-self.sequence_length + 1, 1, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.ends), self.sequence_length, self.values.shape[1])

    @property
    def dtype(self):
        return self.values.dtype

    ndim = 3

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[np.asarray([index])][0]
        out = self.values[self.ends[index][:, None] + self._offsets]
        return out if self.relative is None else self.relative.apply(out)

    def last_rows(self) -> np.ndarray:
        """Each window's last bar ``(n, n_features)`` as the windows show it (relative, if they are)."""
        if self.relative is None:
            return self.values[self.ends]
        return self.relative.apply(self.values[self.ends][:, None, :])[:, 0, :]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def subset(self, index) -> "WindowArray":
        """A WindowArray over the same values with only the selected windows (no copy of values)."""
        return WindowArray(self.values, self.ends[index], self.sequence_length, self.relative)

    def __repr__(self) -> str:
        return f"WindowArray(shape={self.shape}, dtype={self.dtype})"


class _Gathered(keras.utils.PyDataset):
    """What both batchers share: the windows, labels and weights gathered for a batch's indices, and the
    per-epoch reshuffle of the order of ``n_units`` units (windows or dates), seeded."""

    def __init__(self, X, y, sample_weight, n_units: int, shuffle: bool, seed, **kwargs):
        super().__init__(**kwargs)
        if y is not None and len(y) != len(X):
            raise ValueError(f"X has {len(X)} windows but y has {len(y)} labels")
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.shuffle = bool(shuffle)
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(n_units)
        if self.shuffle:
            self._rng.shuffle(self._order)

    def _gather(self, idx):
        x = self.X[idx]
        if self.y is None:
            return (x,)
        if self.sample_weight is None:
            return x, self.y[idx]
        return x, self.y[idx], self.sample_weight[idx]

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)


class WindowDataset(_Gathered):
    """Batches of windows gathered by index, for ``model.fit`` / ``predict`` on any backend.

    Args:
        X: WindowArray (or any array indexable by an integer array).
        y: labels or None (prediction).
        sample_weight: per-window weights or None.
        batch_size: int, default 32.
        shuffle: bool, default False. Reshuffles the window order every epoch; use it for the
            training split only (``Split.dataset`` does).
        seed: int or None, seed of the shuffling.
        **kwargs: passed to ``keras.utils.PyDataset`` (``workers``, ``use_multiprocessing``, ...).
    """

    def __init__(self, X, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False,
                 seed: int | None = None, **kwargs):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(X, y, sample_weight, len(X), shuffle, seed, **kwargs)
        self.batch_size = int(batch_size)

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int):
        return self._gather(self._order[index * self.batch_size:(index + 1) * self.batch_size])


class DateBatchDataset(_Gathered):
    """One batch per date: all windows that end on that date, ordered by ticker.

    For cross-sectional losses and for models that attend across the day's stocks. Batches differ
    in size (the tickers with a window that day).

    Args:
        X: WindowArray (or any array indexable by an integer array).
        y: labels or None (prediction).
        dates: the date of each window's last bar (same length as ``X``).
        tickers: the ticker of each window, or None (then windows keep their order within a date).
        sample_weight: per-window weights or None.
        shuffle: bool, default False. Reshuffles the order of the dates every epoch (the windows of
            a date stay together, in ticker order); for the training split only.
        seed: int or None, seed of the shuffling.
        **kwargs: passed to ``keras.utils.PyDataset``.
    """

    def __init__(self, X, y=None, dates=None, tickers=None, sample_weight=None, shuffle: bool = False,
                 seed: int | None = None, **kwargs):
        if dates is None or len(dates) != len(X):
            raise ValueError(f"batching by date needs one date per window: {len(X)} windows, "
                             f"{'no' if dates is None else len(dates)} dates")
        if tickers is not None and len(tickers) != len(X):
            raise ValueError(f"X has {len(X)} windows but {len(tickers)} tickers")
        codes, self.dates = pd.factorize(pd.DatetimeIndex(dates), sort=True)
        keys = (codes,) if tickers is None else (np.asarray(tickers, dtype=str), codes)
        order = np.lexsort(keys)  # by date, then ticker; stable
        cuts = np.flatnonzero(np.diff(codes[order])) + 1
        self.batches = np.split(order, cuts) if len(order) else []
        super().__init__(X, y, sample_weight, len(self.batches), shuffle, seed, **kwargs)

    def __len__(self) -> int:
        return len(self.batches)

    def batch_date(self, index: int) -> pd.Timestamp:
        """The date of batch ``index`` in the current epoch's order."""
        return self.dates[self._order[index]]

    def __getitem__(self, index: int):
        return self._gather(self.batches[self._order[index]])


def feature_windows(bars: pd.DataFrame, feature_names, sequence_length: int):
    """All complete windows of raw features over one ticker's bars (for prediction).

    Price-volume features (``pv_*``) come out relative to each window's last bar, as in training:
    the names alone decide it (:func:`skills.data.features.relative_spec`).

    Args:
        bars: OHLCV DataFrame (features are computed) or a DataFrame that already holds the
            feature columns (``pv_*`` ones un-normalised, as ``compute_price_volume`` gives them).
        feature_names: the features, in the model's order.
        sequence_length: int.

    Returns:
        ``(WindowArray, DatetimeIndex)``: the windows, and the date of each window's last bar.

    Raises:
        DataError: a feature is missing, or the bars are too few for one window.
    """
    feature_names = list(feature_names)
    has_bars = set(OHLCV_COLUMNS) <= set(bars.columns)
    try:
        frame = (feature_frame(bars, feature_names) if has_bars and not set(feature_names) <= set(bars.columns)
                 else bars)
    except ValueError as exc:  # a feature this version of skills does not compute
        raise DataError(f"{bars.attrs.get('source', 'data')}: {exc}") from None
    missing = [f for f in feature_names if f not in frame.columns]
    if missing:
        raise DataError(f"{bars.attrs.get('source', 'data')}: lacks feature(s) {', '.join(missing)} "
                        f"that the model was trained on")
    values = frame[feature_names].to_numpy(dtype=np.float32)
    valid = np.isfinite(values).all(axis=1)
    # a window is complete when its sequence_length rows are all valid
    run = np.convolve(valid.astype(np.int64), np.ones(sequence_length, dtype=np.int64), "full")[:len(valid)]
    ends = np.flatnonzero(run == sequence_length)
    if ends.size == 0:
        raise DataError(f"{bars.attrs.get('source', 'data')}: {len(bars)} bars give no complete window "
                        f"of {sequence_length} bars after the indicator warm-up")
    return WindowArray(values, ends, sequence_length, relative_spec(feature_names)), frame.index[ends]


def universe_windows(frames, feature_names, sequence_length: int, cross_section: str = "none") -> dict:
    """All complete windows of every ticker of a universe, features normalised across each date's tickers.

    The features of each ticker are computed as for training (from its first bar with every feature
    defined), then, with ``cross_section`` ``"rank"`` or ``"zscore"``, each value is replaced by its rank
    or z-score among the tickers present on the same date
    (:func:`skills.data.features.cross_section_normalise`): what ``prepare_dataset(...,
    cross_section=...)`` did before training. A value on date t uses the bars of date t and before
    only, so windows ending before a date never change when later bars do. The ranks depend on which
    tickers are there: predict on the universe the model was trained on.

    Args:
        frames: ``dict[ticker, DataFrame]`` of OHLCV bars.
        feature_names: the features, in the model's order.
        sequence_length: int.
        cross_section: ``"none"``, ``"rank"`` or ``"zscore"``.

    Returns:
        ``{ticker: (WindowArray, DatetimeIndex)}`` as :func:`feature_windows` gives for one ticker (the
        WindowArrays share one values array); a ticker with too few bars for one window is left out.

    Raises:
        DataError: a feature is missing, or no ticker has a complete window.
    """
    from .features import cross_section_normalise

    names = list(feature_names)
    blocks, index = {}, {}
    for ticker, bars in frames.items():
        try:
            values = feature_frame(bars, names).to_numpy(dtype=np.float32)
        except ValueError as exc:
            raise DataError(f"{bars.attrs.get('source', ticker)}: {exc}") from None
        valid = np.flatnonzero(np.isfinite(values).all(axis=1))
        if len(valid):  # a ticker without a full window yet still counts in its dates' cross-section
            blocks[ticker], index[ticker] = values[valid[0]:], bars.index[valid[0]:]
    if not any(len(block) >= sequence_length for block in blocks.values()):
        raise DataError(f"no ticker of the {len(frames)} has a complete window of {sequence_length} bars")
    stacked = np.concatenate(list(blocks.values()))
    dates = np.concatenate([index[t].to_numpy() for t in blocks])
    stacked = cross_section_normalise(stacked, dates, cross_section)
    out, start = {}, 0
    for ticker, block in blocks.items():
        valid = np.isfinite(stacked[start:start + len(block)]).all(axis=1)
        run = np.convolve(valid.astype(np.int64), np.ones(sequence_length, dtype=np.int64), "full")[:len(valid)]
        ends = np.flatnonzero(run == sequence_length)
        if ends.size:  # windows over the one shared array, never across two tickers
            out[ticker] = (WindowArray(stacked, start + ends, sequence_length, relative_spec(names)),
                           index[ticker][ends])
        start += len(block)
    return out
