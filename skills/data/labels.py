"""Down / flat / up labels from the forward return, and the rule that makes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

__all__ = ["CLASS_NAMES", "LABEL_METHODS", "LabelRule", "cross_section_labels", "make_labels", "forward_return"]

#: Class ids are positions in this tuple: 0 = down, 1 = flat, 2 = up. Defined here only.
CLASS_NAMES: tuple[str, ...] = ("down", "flat", "up")
LABEL_METHODS = ("fixed", "volatility", "quantile", "cross_section")
_DEFAULT_THRESHOLD = {"fixed": 0.005, "volatility": 0.5, "quantile": None, "cross_section": None}
_NO_THRESHOLD = ("quantile", "cross_section")
#: Fewest tickers with a forward return on a date for ``cross_section`` labels on it (one per class).
MIN_TICKERS = 3


def forward_return(close: pd.Series, horizon: int = 1) -> pd.Series:
    """Simple return from bar t's close to bar t+horizon's close; the last ``horizon`` rows are NaN."""
    return close.shift(-horizon) / close - 1.0


@dataclass(frozen=True)
class LabelRule:
    """How a forward return becomes a class id.

    Args:
        horizon: int, default 1. Bars ahead of t whose close defines the return.
        method: ``"fixed"`` (up if r > threshold, down if r < -threshold), ``"volatility"`` (band =
            threshold × rolling σ of the past ``vol_window`` one-bar log returns × sqrt(horizon),
            all bars <= t), ``"quantile"`` (terciles of the training split's forward returns), or
            ``"cross_section"`` (each date's forward returns ranked across the tickers: see
            :func:`cross_section_labels`; it needs all tickers at once, so :meth:`apply` on one
            ticker raises and :meth:`apply_universe` is the way in).
        threshold: float or None. Band half-width; None means 0.005 for ``fixed`` and 0.5 σ for
            ``volatility``. Unused by ``quantile`` and ``cross_section``.
        vol_window: int, default 20. Look-back of the volatility band.
        edges: (low, high) or None. The tercile edges of the ``quantile`` method, learned by
            :meth:`fit` on training rows only.
        min_tickers: int, default 3. ``cross_section`` only: a date on which fewer tickers have a
            forward return gets no label.
    """

    horizon: int = 1
    method: str = "fixed"
    threshold: float | None = None
    vol_window: int = 20
    edges: tuple[float, float] | None = None
    min_tickers: int = MIN_TICKERS

    def __post_init__(self):
        if self.method not in LABEL_METHODS:
            raise ValueError(f"label method must be one of {LABEL_METHODS}, got {self.method!r}")
        if int(self.horizon) != self.horizon or self.horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {self.horizon!r}")
        if self.threshold is None:
            object.__setattr__(self, "threshold", _DEFAULT_THRESHOLD[self.method])
        if self.method not in _NO_THRESHOLD and not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")
        if self.vol_window < 2:
            raise ValueError(f"vol_window must be >= 2, got {self.vol_window!r}")
        if int(self.min_tickers) != self.min_tickers or self.min_tickers < MIN_TICKERS:
            raise ValueError(f"min_tickers must be an integer >= {MIN_TICKERS} (one ticker per class), "
                             f"got {self.min_tickers!r}")
        if self.edges is not None:
            object.__setattr__(self, "edges", tuple(float(e) for e in self.edges))

    @property
    def is_fitted(self) -> bool:
        return self.method != "quantile" or self.edges is not None

    def fit(self, returns) -> "LabelRule":
        """Learn the ``quantile`` edges from training forward returns; other methods learn nothing."""
        if self.method != "quantile":
            return self
        r = np.asarray(returns, dtype=float)
        r = r[np.isfinite(r)]
        if r.size < 3:
            raise ValueError("quantile labels need at least 3 training forward returns to learn terciles")
        low, high = np.quantile(r, [1 / 3, 2 / 3])
        return replace(self, edges=(float(low), float(high)))

    def band(self, close: pd.Series) -> tuple[pd.Series, pd.Series]:
        """The (lower, upper) return edges at each bar; they use bars <= t only."""
        self._check_single()
        if self.method == "fixed":
            upper = pd.Series(self.threshold, index=close.index)
            return -upper, upper
        if self.method == "volatility":
            sigma = np.log(close).diff().rolling(self.vol_window).std()
            upper = self.threshold * sigma * np.sqrt(self.horizon)
            return -upper, upper
        if self.edges is None:
            raise ValueError("quantile labels need edges learned on the training split: call fit() first "
                             "(prepare_dataset does this on training rows only)")
        return (pd.Series(self.edges[0], index=close.index), pd.Series(self.edges[1], index=close.index))

    def apply(self, close: pd.Series) -> pd.Series:
        """Labels 0/1/2 (float, NaN where undefined: the last ``horizon`` rows and the σ warm-up).

        Raises:
            ValueError: the method is ``cross_section`` (use :meth:`apply_universe`).
        """
        self._check_single()
        r = forward_return(close, self.horizon)
        lower, upper = self.band(close)
        labels = pd.Series(1.0, index=close.index)
        labels[r < lower] = 0.0
        labels[r > upper] = 2.0
        labels[r.isna() | lower.isna() | upper.isna()] = np.nan
        return labels.rename("label")

    def apply_universe(self, closes) -> pd.DataFrame:
        """Labels of several tickers at once: a wide frame (dates × tickers) of 0/1/2 or NaN.

        Args:
            closes: ``dict[ticker, close Series]`` or a wide DataFrame of closes (see
                :func:`cross_section_labels`).

        Returns:
            A float DataFrame on the union of dates, one column per ticker in the given order; NaN
            where a ticker has no bar or no label.
        """
        if self.method == "cross_section":
            return cross_section_labels(closes, self.horizon, self.min_tickers)
        series = _as_series(closes)
        return pd.DataFrame({t: self.apply(c) for t, c in series.items()})

    def _check_single(self) -> None:
        if self.method == "cross_section":
            raise ValueError("cross_section labels rank each date's tickers against each other, so one ticker "
                             "alone has none: use cross_section_labels(closes) or LabelRule.apply_universe")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["edges"] = list(self.edges) if self.edges is not None else None
        if self.method != "cross_section":  # the other methods' records stay as they were
            d.pop("min_tickers")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LabelRule":
        keys = ("horizon", "method", "threshold", "vol_window", "edges", "min_tickers")
        return cls(**{k: d[k] for k in keys if k in d})


def _as_series(closes) -> dict[str, pd.Series]:
    if isinstance(closes, pd.DataFrame):  # a wide frame: each ticker's own bars are its non-NaN rows
        return {str(t): closes[t].dropna().astype(float) for t in closes.columns}
    if isinstance(closes, dict) and closes:
        return {str(t): (c["close"] if isinstance(c, pd.DataFrame) else c).astype(float) for t, c in closes.items()}
    raise ValueError(f"closes must be a non-empty dict of Series / DataFrames or a wide DataFrame, "
                     f"got {type(closes).__name__}")


def cross_section_labels(closes, horizon: int = 1, min_tickers: int = MIN_TICKERS) -> pd.DataFrame:
    """Market-neutral labels: each date's forward returns ranked across the tickers.

    On each date, the tickers that have a forward ``horizon``-bar return (over each ticker's own
    bars, as :func:`forward_return`) are ranked; with ``n`` of them, the lowest ``n // 3`` are
    down (0), the highest ``n // 3`` up (2) and the rest flat (1), so every labelled date has as
    many ups as downs. Ties are broken by ticker name (sorted), the earlier name ranking lower, so
    the result does not depend on the order the tickers come in. A date on which fewer than
    ``min_tickers`` tickers have a forward return gets no label (NaN) for any ticker; so do the
    last ``horizon`` bars of every ticker.

    Args:
        closes: ``dict[ticker, Series or OHLCV DataFrame]`` (each on its own sorted dates), or a
            wide DataFrame of closes (dates × tickers; a ticker's bars are its non-NaN rows).
        horizon: int, default 1. Bars ahead.
        min_tickers: int, default 3 (the fewest for one ticker per class).

    Returns:
        A float DataFrame (union of dates × tickers, in the given order) of 0 / 1 / 2 or NaN.

    Raises:
        ValueError: a bad ``horizon`` / ``min_tickers``, or ``closes`` of the wrong kind.
    """
    LabelRule(horizon=horizon, method="cross_section", min_tickers=min_tickers)  # checks the arguments
    series = _as_series(closes)
    returns = pd.DataFrame({t: forward_return(c, horizon) for t, c in series.items()})
    returns = returns.sort_index()
    order = sorted(returns.columns)
    ranked = returns[order].rank(axis=1, method="first")  # 1 = lowest; ties: the earlier name lower
    n = returns.notna().sum(axis=1).to_numpy()[:, None]
    k = n // 3
    r = ranked.to_numpy()
    labels = np.where(r <= k, 0.0, np.where(r > n - k, 2.0, 1.0))
    labels[np.isnan(r) | (n < min_tickers)] = np.nan
    return pd.DataFrame(labels, index=returns.index, columns=order)[list(returns.columns)]


def make_labels(df, horizon: int = 1, method: str = "fixed", threshold: float | None = None, *,
                vol_window: int = 20, edges=None) -> pd.Series:
    """Label each bar 0 = down, 1 = flat, 2 = up from its forward return over ``horizon`` bars.

    Args:
        df: DataFrame with a ``close`` column, or a close Series.
        horizon: int, default 1.
        method: ``"fixed"``, ``"volatility"`` or ``"quantile"`` (see :class:`LabelRule`);
            ``"cross_section"`` needs several tickers: :func:`cross_section_labels`.
        threshold: float or None. ``fixed``: return band (default 0.005); ``volatility``: multiple of
            the rolling σ (default 0.5).
        vol_window: int, default 20.
        edges: (low, high). Required by ``quantile``: learn them on training rows only, e.g.
            ``LabelRule(method="quantile").fit(train_returns).edges``; ``prepare_dataset`` does this.

    Returns:
        A float Series named ``label`` of 0/1/2 on ``df``'s index; the last ``horizon`` rows (and,
        for ``volatility``, the σ warm-up) are NaN.

    Raises:
        ValueError: a bad argument, or ``method="cross_section"`` (one ticker has no cross-section).
    """
    close = df["close"] if isinstance(df, pd.DataFrame) else df
    rule = LabelRule(horizon=horizon, method=method, threshold=threshold, vol_window=vol_window, edges=edges)
    return rule.apply(close.astype(float))
