"""Down / flat / up labels from the forward return, and the rule that makes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

__all__ = ["CLASS_NAMES", "LABEL_METHODS", "LabelRule", "make_labels", "forward_return"]

#: Class ids are positions in this tuple: 0 = down, 1 = flat, 2 = up. Defined here only.
CLASS_NAMES: tuple[str, ...] = ("down", "flat", "up")
LABEL_METHODS = ("fixed", "volatility", "quantile")
_DEFAULT_THRESHOLD = {"fixed": 0.005, "volatility": 0.5, "quantile": None}


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
            all bars <= t), or ``"quantile"`` (terciles of the training split's forward returns).
        threshold: float or None. Band half-width; None means 0.005 for ``fixed`` and 0.5 σ for
            ``volatility``. Unused by ``quantile``.
        vol_window: int, default 20. Look-back of the volatility band.
        edges: (low, high) or None. The tercile edges of the ``quantile`` method, learned by
            :meth:`fit` on training rows only.
    """

    horizon: int = 1
    method: str = "fixed"
    threshold: float | None = None
    vol_window: int = 20
    edges: tuple[float, float] | None = None

    def __post_init__(self):
        if self.method not in LABEL_METHODS:
            raise ValueError(f"label method must be one of {LABEL_METHODS}, got {self.method!r}")
        if int(self.horizon) != self.horizon or self.horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {self.horizon!r}")
        if self.threshold is None:
            object.__setattr__(self, "threshold", _DEFAULT_THRESHOLD[self.method])
        if self.method != "quantile" and not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")
        if self.vol_window < 2:
            raise ValueError(f"vol_window must be >= 2, got {self.vol_window!r}")
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
        """Labels 0/1/2 (float, NaN where undefined: the last ``horizon`` rows and the σ warm-up)."""
        r = forward_return(close, self.horizon)
        lower, upper = self.band(close)
        labels = pd.Series(1.0, index=close.index)
        labels[r < lower] = 0.0
        labels[r > upper] = 2.0
        labels[r.isna() | lower.isna() | upper.isna()] = np.nan
        return labels.rename("label")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["edges"] = list(self.edges) if self.edges is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LabelRule":
        return cls(**{k: d[k] for k in ("horizon", "method", "threshold", "vol_window", "edges") if k in d})


def make_labels(df, horizon: int = 1, method: str = "fixed", threshold: float | None = None, *,
                vol_window: int = 20, edges=None) -> pd.Series:
    """Label each bar 0 = down, 1 = flat, 2 = up from its forward return over ``horizon`` bars.

    Args:
        df: DataFrame with a ``close`` column, or a close Series.
        horizon: int, default 1.
        method: ``"fixed"``, ``"volatility"`` or ``"quantile"`` (see :class:`LabelRule`).
        threshold: float or None. ``fixed``: return band (default 0.005); ``volatility``: multiple of
            the rolling σ (default 0.5).
        vol_window: int, default 20.
        edges: (low, high). Required by ``quantile``: learn them on training rows only, e.g.
            ``LabelRule(method="quantile").fit(train_returns).edges``; ``prepare_dataset`` does this.

    Returns:
        A float Series named ``label`` of 0/1/2 on ``df``'s index; the last ``horizon`` rows (and,
        for ``volatility``, the σ warm-up) are NaN.
    """
    close = df["close"] if isinstance(df, pd.DataFrame) else df
    rule = LabelRule(horizon=horizon, method=method, threshold=threshold, vol_window=vol_window, edges=edges)
    return rule.apply(close.astype(float))
