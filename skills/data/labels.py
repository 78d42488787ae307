"""Down / flat / up labels from the forward return, and the rule that makes them.

The forward return of bar t is, by default, the one an order placed after bar t's close can earn: it fills
at the open of bar t+1 and is closed at the open of bar t+1+horizon (``"open_to_open"``). The close-to-close
return from bar t to bar t+horizon (``"close_to_close"``) includes the overnight move from close t to open
t+1, which no order placed after bar t can earn; it remains an option, and is what model files written
before the basis was recorded were trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from .io import DataError

__all__ = ["CLASS_NAMES", "LABEL_BASES", "LABEL_METHODS", "LabelRule", "cross_section_labels", "make_labels",
           "forward_return"]

#: Class ids are positions in this tuple: 0 = down, 1 = flat, 2 = up. Defined here only.
CLASS_NAMES: tuple[str, ...] = ("down", "flat", "up")
LABEL_METHODS = ("fixed", "volatility", "quantile", "cross_section")
#: Which prices a forward return runs between: open t+1 -> open t+1+horizon (tradable), or close t -> close t+horizon.
LABEL_BASES = ("open_to_open", "close_to_close")
#: The basis of a label rule record that does not name one (every record written before the basis existed).
_RECORD_BASIS = "close_to_close"
_DEFAULT_THRESHOLD = {"fixed": 0.005, "volatility": 0.5, "quantile": None, "cross_section": None}
_NO_THRESHOLD = ("quantile", "cross_section")
#: Fewest tickers with a forward return on a date for ``cross_section`` labels on it (one per class).
MIN_TICKERS = 3


def _check_basis(basis) -> None:
    if basis not in LABEL_BASES:
        raise ValueError(f"label basis must be one of {LABEL_BASES}, got {basis!r}")


def _column(bars: pd.DataFrame, name: str) -> pd.Series:
    if name not in bars.columns:
        source = bars.attrs.get("source") or bars.attrs.get("ticker") or "the bars"
        raise DataError(f"{source}: missing column {name!r}, which the labels read")
    return bars[name].astype(float)


def _close_of(bars) -> pd.Series:
    return _column(bars, "close") if isinstance(bars, pd.DataFrame) else bars.astype(float)


def forward_return(bars, horizon: int = 1, basis: str = "open_to_open") -> pd.Series:
    """Bar t's forward return over ``horizon`` bars, on bar t's index.

    Args:
        bars: DataFrame with ``open`` and ``close`` columns (``close`` alone suffices for
            ``close_to_close``), or a close Series (``close_to_close`` only).
        horizon: int, default 1. Bars the position is held.
        basis: ``"open_to_open"`` (default): ``open[t+1+horizon] / open[t+1] - 1``, what an order
            placed after bar t's close earns (it fills at the next open); the last ``horizon + 1``
            rows are NaN. ``"close_to_close"``: ``close[t+horizon] / close[t] - 1``; the last
            ``horizon`` rows are NaN.

    Raises:
        ValueError: a bad basis, or ``open_to_open`` asked of a close Series.
        DataError: a column the basis needs is missing.
    """
    _check_basis(basis)
    if basis == "close_to_close":
        close = _close_of(bars)
        return close.shift(-horizon) / close - 1.0
    if not isinstance(bars, pd.DataFrame):
        raise ValueError("open_to_open returns need the open prices: pass the bars (a DataFrame with open and "
                         "close), or basis='close_to_close' for a close Series")
    entry = _column(bars, "open").shift(-1)
    return entry.shift(-horizon) / entry - 1.0


@dataclass(frozen=True)
class LabelRule:
    """How a forward return becomes a class id.

    Args:
        horizon: int, default 1. Bars the forward return spans (see :func:`forward_return`).
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
        basis: ``"open_to_open"`` (default) or ``"close_to_close"``: the prices the forward return
            runs between (:func:`forward_return`). The volatility band uses past closes either way.
    """

    horizon: int = 1
    method: str = "fixed"
    threshold: float | None = None
    vol_window: int = 20
    edges: tuple[float, float] | None = None
    min_tickers: int = MIN_TICKERS
    basis: str = "open_to_open"

    def __post_init__(self):
        _check_basis(self.basis)
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
    def reach(self) -> int:
        """How many bars after bar t its label reads: ``horizon + 1`` for ``open_to_open`` (the open of
        bar t+1+horizon), ``horizon`` for ``close_to_close``. A purge gap must be at least this."""
        return self.horizon + 1 if self.basis == "open_to_open" else self.horizon

    @property
    def columns(self) -> tuple[str, ...]:
        """The bar columns the labels read: the close (the volatility band) and, for ``open_to_open``, the open."""
        return ("open", "close") if self.basis == "open_to_open" else ("close",)

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

    def band(self, bars) -> tuple[pd.Series, pd.Series]:
        """The (lower, upper) return edges at each bar; they use bars <= t only (the closes of a
        DataFrame of bars, or a close Series)."""
        self._check_single()
        close = _close_of(bars)
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

    def apply(self, bars) -> pd.Series:
        """Labels 0/1/2 (float, NaN where undefined: the last :attr:`reach` rows and the σ warm-up).

        Args:
            bars: DataFrame with ``open`` and ``close`` columns, or a close Series (``close_to_close``
                rules only).

        Raises:
            ValueError: the method is ``cross_section`` (use :meth:`apply_universe`), or an
                ``open_to_open`` rule is given a close Series.
        """
        self._check_single()
        r = forward_return(bars, self.horizon, self.basis)
        lower, upper = self.band(bars)
        labels = pd.Series(1.0, index=r.index)
        labels[r < lower] = 0.0
        labels[r > upper] = 2.0
        labels[r.isna() | lower.isna() | upper.isna()] = np.nan
        return labels.rename("label")

    def apply_universe(self, bars) -> pd.DataFrame:
        """Labels of several tickers at once: a wide frame (dates × tickers) of 0/1/2 or NaN.

        Args:
            bars: ``dict[ticker, bars DataFrame]`` (or close Series, ``close_to_close`` only), or a
                wide DataFrame of closes (``close_to_close`` only; see :func:`cross_section_labels`).

        Returns:
            A float DataFrame on the union of dates, one column per ticker in the given order; NaN
            where a ticker has no bar or no label.
        """
        if self.method == "cross_section":
            return cross_section_labels(bars, self.horizon, self.min_tickers, basis=self.basis)
        return pd.DataFrame({t: self.apply(b) for t, b in _per_ticker(bars, self.basis).items()})

    def _check_single(self) -> None:
        if self.method == "cross_section":
            raise ValueError("cross_section labels rank each date's tickers against each other, so one ticker "
                             "alone has none: use cross_section_labels(bars) or LabelRule.apply_universe")

    def to_dict(self) -> dict:
        """A JSON-ready record; :meth:`from_dict` reads it back."""
        d = asdict(self)
        d["edges"] = list(self.edges) if self.edges is not None else None
        if self.method != "cross_section":  # the other methods' records stay as they were
            d.pop("min_tickers")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LabelRule":
        """The rule of a :meth:`to_dict` record. A record without ``basis`` was written before labels
        had one, when every label was close to close: it reads as ``"close_to_close"``."""
        keys = ("horizon", "method", "threshold", "vol_window", "edges", "min_tickers")
        return cls(**{k: d[k] for k in keys if k in d}, basis=d.get("basis", _RECORD_BASIS))


def _per_ticker(bars, basis: str) -> dict:
    """``{ticker: bars DataFrame or close Series}`` from a dict of them or a wide frame of closes."""
    if isinstance(bars, pd.DataFrame):  # a wide frame: each ticker's own bars are its non-NaN rows
        if basis != "close_to_close":
            raise ValueError(f"a wide frame holds one price per ticker (its closes): {basis} labels need each "
                             f"ticker's bars, as a dict of DataFrames with open and close")
        return {str(t): bars[t].dropna().astype(float) for t in bars.columns}
    if isinstance(bars, dict) and bars:
        return {str(t): b for t, b in bars.items()}
    raise ValueError(f"bars must be a non-empty dict of DataFrames / close Series or a wide DataFrame of closes, "
                     f"got {type(bars).__name__}")


def cross_section_labels(bars, horizon: int = 1, min_tickers: int = MIN_TICKERS,
                         basis: str = "open_to_open") -> pd.DataFrame:
    """Market-neutral labels: each date's forward returns ranked across the tickers.

    On each date, the tickers that have a forward ``horizon``-bar return (over each ticker's own
    bars, as :func:`forward_return` on ``basis``) are ranked; with ``n`` of them, the lowest
    ``n // 3`` are down (0), the highest ``n // 3`` up (2) and the rest flat (1), so every labelled
    date has as many ups as downs. Ties are broken by ticker name (sorted), the earlier name ranking
    lower, so the result does not depend on the order the tickers come in. A date on which fewer
    than ``min_tickers`` tickers have a forward return gets no label (NaN) for any ticker; so do the
    last ``horizon + 1`` (``open_to_open``) or ``horizon`` (``close_to_close``) bars of every ticker.

    Args:
        bars: ``dict[ticker, OHLCV DataFrame]`` (each on its own sorted dates; close Series, or a
            wide DataFrame of closes (dates × tickers; a ticker's bars are its non-NaN rows), for
            ``close_to_close`` only).
        horizon: int, default 1. Bars ahead.
        min_tickers: int, default 3 (the fewest for one ticker per class).
        basis: ``"open_to_open"`` (default) or ``"close_to_close"`` (see :func:`forward_return`).

    Returns:
        A float DataFrame (union of dates × tickers, in the given order) of 0 / 1 / 2 or NaN.

    Raises:
        ValueError: a bad ``horizon`` / ``min_tickers`` / ``basis``, or ``bars`` of the wrong kind.
    """
    LabelRule(horizon=horizon, method="cross_section", min_tickers=min_tickers, basis=basis)  # checks the arguments
    returns = pd.DataFrame({t: forward_return(b, horizon, basis) for t, b in _per_ticker(bars, basis).items()})
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
                vol_window: int = 20, edges=None, basis: str = "open_to_open") -> pd.Series:
    """Label each bar 0 = down, 1 = flat, 2 = up from its forward return over ``horizon`` bars.

    Args:
        df: DataFrame with ``open`` and ``close`` columns, or a close Series (``close_to_close`` only).
        horizon: int, default 1.
        method: ``"fixed"``, ``"volatility"`` or ``"quantile"`` (see :class:`LabelRule`);
            ``"cross_section"`` needs several tickers: :func:`cross_section_labels`.
        threshold: float or None. ``fixed``: return band (default 0.005); ``volatility``: multiple of
            the rolling σ (default 0.5).
        vol_window: int, default 20.
        edges: (low, high). Required by ``quantile``: learn them on training rows only, e.g.
            ``LabelRule(method="quantile").fit(train_returns).edges``; ``prepare_dataset`` does this.
        basis: ``"open_to_open"`` (default: open t+1 -> open t+1+horizon, what an order placed after
            bar t's close earns) or ``"close_to_close"`` (see :func:`forward_return`).

    Returns:
        A float Series named ``label`` of 0/1/2 on ``df``'s index; the last ``horizon + 1``
        (``open_to_open``) or ``horizon`` rows (and, for ``volatility``, the σ warm-up) are NaN.

    Raises:
        ValueError: a bad argument, ``method="cross_section"`` (one ticker has no cross-section), or
            ``open_to_open`` asked of a close Series.
    """
    rule = LabelRule(horizon=horizon, method=method, threshold=threshold, vol_window=vol_window, edges=edges,
                     basis=basis)
    return rule.apply(df)
