"""Qlib's Alpha158 features of one ticker's daily bars.

The 158 columns are those of ``qlib.contrib.data.loader.Alpha158DL.get_feature_config()`` with its
default configuration, in its order and under its names: 9 k-bar shapes (``KMID`` ... ``KSFT2``),
4 price ratios (``OPEN0 HIGH0 LOW0 VWAP0``) and 29 rolling families over 5, 10, 20, 30 and 60 bars
(``ROC5`` ... ``VSUMD60``). Each is Qlib's expression on ``$open $high $low $close $volume``:

- ``ROC`` ``Ref(close, d) / close``; ``MA`` ``Mean(close, d) / close``; ``STD`` ``Std(close, d) / close``
  (sample std, ddof 1).
- ``BETA`` ``Slope(close, d) / close``, ``RSQR`` ``Rsquare(close, d)``, ``RESI`` ``Resi(close, d) / close``:
  the least-squares line of the window's closes on x = 1..d (its slope, its R², the last close's residual).
- ``MAX`` ``Max(high, d) / close``; ``MIN`` ``Min(low, d) / close``; ``QTLU`` / ``QTLD`` the 0.8 / 0.2
  quantiles of the closes (linear interpolation) over close; ``RANK`` the last close's percentile rank in
  its window (ties share their average rank, divided by d); ``RSV`` ``(close - MIN) / (MAX - MIN + 1e-12)``
  on prices.
- ``IMAX`` / ``IMIN`` the position 1..d of the window's highest high / lowest low (first occurrence,
  oldest bar = 1), over d; ``IMXD`` their difference over d.
- ``CORR`` ``Corr(close, log(volume + 1), d)``; ``CORD`` ``Corr(close / close[-1], log(volume / volume[-1]
  + 1), d)``.
- ``CNTP`` / ``CNTN`` the share of up / down closes, ``CNTD`` their difference; ``SUMP`` / ``SUMN`` / ``SUMD``
  the sum of gains / losses / gains minus losses over the sum of absolute close changes (+ 1e-12).
- ``VMA`` / ``VSTD`` the mean / std of volume over ``volume + 1e-12``; ``WVMA`` the std over the mean
  (+ 1e-12) of ``|close / close[-1] - 1| * volume``; ``VSUMP VSUMN VSUMD`` as ``SUMP ...`` on volume.

Where this differs from Qlib, and why:

- Daily bars have no VWAP: ``VWAP0`` uses the typical price ``(high + low + close) / 3``, as the package's
  price-volume windows do (:func:`skills.data.features.compute_price_volume`).
- Qlib computes a window from whatever bars exist (``min_periods=1``); here every window is full and the
  first :data:`ALPHA158_WARMUP` rows are NaN (the 60-bar windows of one-bar changes read 61 bars).
- After the warm-up every value is finite: what Qlib leaves NaN (a correlation or R² where a side's rolling
  std is within 2e-5 of 0, as Qlib masks it; a correlation over a window holding ``log(v / 0 + 1)``) reads 0,
  as Qlib's ``Fillna`` processor fills it; values are clipped to ±1e6 (only a zero-volume bar, divided by
  ``volume + 1e-12``, comes near), as :func:`skills.data.features.compute_features` clips.
- Everything is computed in float64 (Qlib reads float32 bars).

The value at bar t uses bars <= t only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from .io import OHLCV_COLUMNS, DataError

__all__ = ["ALPHA158_NAMES", "ALPHA158_WARMUP", "ALPHA158_WINDOWS", "compute_alpha158"]

#: The rolling windows of Qlib's default Alpha158 configuration.
ALPHA158_WINDOWS: tuple[int, ...] = (5, 10, 20, 30, 60)
_KBAR = ("KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2")
_PRICE = ("OPEN0", "HIGH0", "LOW0", "VWAP0")
_ROLLING = ("ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV", "IMAX",
            "IMIN", "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD", "VMA", "VSTD", "WVMA",
            "VSUMP", "VSUMN", "VSUMD")

#: The 158 feature names, in Qlib's order.
ALPHA158_NAMES: tuple[str, ...] = _KBAR + _PRICE + tuple(f"{family}{d}" for family in _ROLLING
                                                          for d in ALPHA158_WINDOWS)

#: Rows at the start of a series whose Alpha158 features are NaN: the longest window (60) of one-bar
#: changes reads 61 bars, so row 60 is the first with every window full.
ALPHA158_WARMUP = max(ALPHA158_WINDOWS)

_EPS = 1e-12  # Qlib's guard against a zero denominator
_FLAT_STD = 2e-5  # Qlib's np.isclose(rolling std, 0, atol=2e-05): a flat window has no correlation or R²
_CLIP = 1e6


def _shift1(x: np.ndarray) -> np.ndarray:
    return np.concatenate(([np.nan], x[:-1]))


class _Window:
    """The statistics of one series over the windows of d bars ending at rows d-1 .. n-1."""

    def __init__(self, x: np.ndarray, d: int):
        self.d, self.w = d, sliding_window_view(x, d)
        self.mean = self.w.mean(axis=1)
        self.dev = self.w - self.mean[:, None]
        self.ss = np.einsum("ij,ij->i", self.dev, self.dev)  # sum of squared deviations
        self.std = np.sqrt(self.ss / (d - 1))

    def sum(self) -> np.ndarray:
        return self.w.sum(axis=1)

    def corr(self, other: _Window) -> np.ndarray:
        """Pearson correlation, NaN where either side's std is within 2e-5 of 0."""
        r = np.einsum("ij,ij->i", self.dev, other.dev) / np.sqrt(self.ss * other.ss)
        return np.where((np.abs(self.std) <= _FLAT_STD) | (np.abs(other.std) <= _FLAT_STD), np.nan, r)


def _sums(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sum of gains, sum of losses, sum of |changes|)`` of x's one-bar changes over d bars."""
    change = x - _shift1(x)
    gains = sliding_window_view(np.maximum(change, 0.0), d).sum(axis=1)
    losses = sliding_window_view(np.maximum(-change, 0.0), d).sum(axis=1)
    return gains, losses, sliding_window_view(np.abs(change), d).sum(axis=1)


def _check(df: pd.DataFrame) -> None:
    source = df.attrs.get("source", "bars")
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} needed for features")
    if not df.index.is_monotonic_increasing:
        raise DataError(f"{source}: index is not sorted by date")


def _columns(o, h, l, c, v) -> dict[str, np.ndarray]:
    """Every feature by name; rolling ones hold the rows d-1 .. n-1 of their window d."""
    out: dict[str, np.ndarray] = {}
    span = h - l + _EPS
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    out.update(KMID=(c - o) / o, KLEN=(h - l) / o, KMID2=(c - o) / span, KUP=(h - top) / o, KUP2=(h - top) / span,
               KLOW=(bottom - l) / o, KLOW2=(bottom - l) / span, KSFT=(2 * c - h - l) / o,
               KSFT2=(2 * c - h - l) / span)
    out.update(OPEN0=o / c, HIGH0=h / c, LOW0=l / c, VWAP0=(h + l + c) / 3.0 / c)
    c1, v1 = _shift1(c), _shift1(v)
    up, down = (c > c1).astype(float), (c < c1).astype(float)
    log_volume = np.log(v + 1.0)
    ratio, log_volume_ratio = c / c1, np.log(v / v1 + 1.0)
    weighted = np.abs(c / c1 - 1.0) * v
    count_up, count_down = np.concatenate(([0.0], np.cumsum(up))), np.concatenate(([0.0], np.cumsum(down)))
    for d in ALPHA158_WINDOWS:
        last = slice(d - 1, None)  # the rows where a window of d bars ends
        cl = c[last]
        close = _Window(c, d)
        x = np.arange(1.0, d + 1.0) - (d + 1.0) / 2.0  # 1..d, centred
        sxy = close.dev @ x
        slope = sxy / (x @ x)
        out[f"ROC{d}"] = np.concatenate((np.full(d, np.nan), c[:-d])) / c
        out[f"MA{d}"] = close.mean / cl
        out[f"STD{d}"] = close.std / cl
        out[f"BETA{d}"] = slope / cl
        out[f"RSQR{d}"] = np.where(np.abs(close.std) <= _FLAT_STD, np.nan, sxy * sxy / ((x @ x) * close.ss))
        out[f"RESI{d}"] = (close.dev[:, -1] - slope * x[-1]) / cl
        highs, lows = sliding_window_view(h, d), sliding_window_view(l, d)
        high, low = highs.max(axis=1), lows.min(axis=1)
        out[f"MAX{d}"], out[f"MIN{d}"] = high / cl, low / cl
        ordered = np.sort(close.w, axis=1)
        for name, q in (("QTLU", 0.8), ("QTLD", 0.2)):
            position = q * (d - 1)
            below = int(np.floor(position))
            above = min(below + 1, d - 1)
            value = ordered[:, below] + (ordered[:, above] - ordered[:, below]) * (position - below)
            out[f"{name}{d}"] = value / cl
        latest = close.w[:, -1:]
        out[f"RANK{d}"] = ((close.w < latest).sum(axis=1) + ((close.w == latest).sum(axis=1) + 1) / 2.0) / d
        out[f"RSV{d}"] = (cl - low) / (high - low + _EPS)
        imax, imin = highs.argmax(axis=1) + 1.0, lows.argmin(axis=1) + 1.0
        out[f"IMAX{d}"], out[f"IMIN{d}"], out[f"IMXD{d}"] = imax / d, imin / d, (imax - imin) / d
        out[f"CORR{d}"] = close.corr(_Window(log_volume, d))
        out[f"CORD{d}"] = _Window(ratio, d).corr(_Window(log_volume_ratio, d))
        cntp = (count_up[d:] - count_up[:-d]) / d
        cntn = (count_down[d:] - count_down[:-d]) / d
        out[f"CNTP{d}"], out[f"CNTN{d}"], out[f"CNTD{d}"] = cntp, cntn, cntp - cntn
        for prefix, series in (("", c), ("V", v)):
            gains, losses, total = _sums(series, d)
            out[f"{prefix}SUMP{d}"] = gains / (total + _EPS)
            out[f"{prefix}SUMN{d}"] = losses / (total + _EPS)
            out[f"{prefix}SUMD{d}"] = (gains - losses) / (total + _EPS)
        volume = _Window(v, d)
        out[f"VMA{d}"] = volume.mean / (v[last] + _EPS)
        out[f"VSTD{d}"] = volume.std / (v[last] + _EPS)
        wv = _Window(weighted, d)
        out[f"WVMA{d}"] = wv.std / (wv.mean + _EPS)
    return out


def compute_alpha158(df: pd.DataFrame) -> pd.DataFrame:
    """Compute Qlib's Alpha158 features (:data:`ALPHA158_NAMES`) for one ticker's bars.

    Args:
        df: DataFrame with float columns ``open high low close volume`` on a sorted index
            (as returned by :func:`skills.data.load_ohlcv`).

    Returns:
        A float64 DataFrame on the same index with the columns :data:`ALPHA158_NAMES`. The value at
        bar t uses bars <= t only. The first :data:`ALPHA158_WARMUP` rows are NaN; after them every
        value is finite and within ±1e6: what Qlib leaves undefined (a correlation or R² over a flat
        window, a ratio to a zero volume change) is 0, as Qlib's ``Fillna`` processor makes it.
        ``VWAP0`` uses the typical price ``(high + low + close) / 3`` (daily bars have no VWAP).

    Raises:
        DataError: a required column is missing or the index is not sorted.
    """
    _check(df)
    n = len(df)
    out = np.full((n, len(ALPHA158_NAMES)), np.nan)
    if n > ALPHA158_WARMUP:
        o, h, l, c, v = (df[k].to_numpy(dtype=np.float64) for k in OHLCV_COLUMNS)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            columns = _columns(o, h, l, c, v)
        for j, name in enumerate(ALPHA158_NAMES):
            values = columns[name]
            out[n - len(values):, j] = values
        out[~np.isfinite(out)] = 0.0
        np.clip(out, -_CLIP, _CLIP, out=out)
        out[:ALPHA158_WARMUP] = np.nan
    return pd.DataFrame(out, index=df.index, columns=list(ALPHA158_NAMES))
