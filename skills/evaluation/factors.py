"""Baselines computed from the bars, not from a fold's windows: the factors a quant already has, and LightGBM on
Qlib's Alpha158.

- `FactorBaseline`: a one-line score of each (ticker, date), learned from nothing: ``"reversal"``, minus the last
  bar's close-to-close return ``-(close[t] / close[t-1] - 1)`` (what fell yesterday rises today), or
  ``"momentum"``, the 20-bar return ``close[t] / close[t-20] - 1``. Both read bars <= t only.
- `Alpha158Classifier`: a classifier (LightGBM in `skills.evaluation.baselines.make_baseline`) fitted on the
  Alpha158 features (`skills.data.alpha158.compute_alpha158`) of each training window's (ticker, date),
  whatever features the fold's networks read.

Both predict a `skills.data.Split` (its `tickers` and `dates` say which bar each window ends on) from the bars
they were given, so `walk_forward` scores and trades them exactly as it does a network; both have the
`predict_frame` that `skills.strategy.run_backtest` calls.

How a factor becomes probabilities: with u = s / (scale + |s|), a strictly increasing map of the score s onto
(-1, 1) that never saturates, ``P(down), P(flat), P(up) = (1 - u) / 3, 1 / 3, (1 + u) / 3``. The rows sum to
1 and P(up) - P(down) = 2u / 3 rises with s, so the baseline's rank IC (daily or monthly) is the factor's own
rank IC exactly, and a top-k portfolio holds the tickers of the highest scores. A window whose score is not
defined (the first bars of a ticker) gets u = 0: 1/3 each. The Pearson IC is that of u, not of s; the
classification figures read the argmax: up where s > 0, down where s < 0.

Example:
    >>> import pandas as pd
    >>> bars = pd.DataFrame({"close": [10.0, 11.0, 9.9]}, index=pd.bdate_range("2020-01-01", periods=3))
    >>> factor_score(bars, "reversal").round(3).tolist()
    [nan, -0.1, 0.1]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.dummy import DummyClassifier
from sklearn.utils.validation import check_is_fitted

from skills.data.alpha158 import ALPHA158_NAMES, ALPHA158_WARMUP, compute_alpha158
from skills.data.dataset import Split, as_frames
from skills.data.labels import CLASS_NAMES
from skills.metrics import N_CLASSES, check_labels

__all__ = ["FACTORS", "FACTOR_SCALES", "MOMENTUM_BARS", "Alpha158Classifier", "FactorBaseline", "class_proba",
           "factor_proba", "factor_score", "fit_or_prior"]

#: The factor baselines, by name.
FACTORS = ("reversal", "momentum")
#: Bars of the momentum return.
MOMENTUM_BARS = 20
#: The score each factor maps to u = 1/2 (P(up) - P(down) = 1/3): about one typical move, a day's or 20 days'.
#: Any positive scale gives the same ranking; only the log loss and the per-ticker trades depend on it.
FACTOR_SCALES = {"reversal": 0.02, "momentum": 0.10}
_BARS_READ = {"reversal": 2, "momentum": MOMENTUM_BARS + 1}


def _check_factor(name):
    if name not in FACTORS:
        raise ValueError(f"unknown factor {name!r}; known: {', '.join(FACTORS)}")


def factor_score(bars, name):
    """The factor `name` of one ticker's bars, on their dates.

    Args:
        bars (DataFrame): one ticker's bars with a ``close`` column on a sorted date index.
        name (str): one of `FACTORS`.

    Returns:
        pd.Series: float64; NaN on the first bars (1 for reversal, `MOMENTUM_BARS` for momentum). The value at
        bar t reads the closes of bars <= t only.

    Raises:
        ValueError: an unknown factor, or bars without ``close``.
    """
    _check_factor(name)
    if "close" not in bars.columns:
        raise ValueError(f"{bars.attrs.get('source', 'bars')}: no 'close' column for the {name} factor")
    close = bars["close"].astype(np.float64)
    if name == "reversal":
        return (-(close / close.shift(1) - 1.0)).rename(name)
    return (close / close.shift(MOMENTUM_BARS) - 1.0).rename(name)


def _check_scale(scale):
    try:
        number = float(scale)
    except (TypeError, ValueError):
        number = np.nan
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return number


def factor_proba(score, scale):
    """Probabilities `(n, 3)` of scores: ``((1 - u) / 3, 1 / 3, (1 + u) / 3)`` with u = s / (scale + |s|), and
    u = 0 where a score is NaN. P(up) - P(down) = 2u / 3 is strictly increasing in s.

    Raises:
        ValueError: `scale` is not a positive number.
    """
    scale = _check_scale(scale)
    s = np.asarray(score, dtype=np.float64)
    u = np.nan_to_num(s / (scale + np.abs(s)), nan=0.0)
    return np.column_stack([(1.0 - u) / 3.0, np.full_like(u, 1.0 / 3.0), (1.0 + u) / 3.0])


def _rows_of(split, frames, values_of, width):
    """The rows of `values_of(ticker bars)` (a Series or DataFrame by date) at each window's (ticker, date),
    `(len(split), width)`; NaN where a date is not among the bars."""
    if not isinstance(split, Split):
        raise ValueError(f"a bar-based baseline predicts a Split (its tickers and dates), got {type(split).__name__}")
    tickers = np.asarray(split.tickers)
    dates = pd.DatetimeIndex(split.dates)
    missing = sorted(set(tickers.tolist()) - set(frames))
    if missing:
        raise ValueError(f"no bars for ticker(s) {', '.join(missing[:5])}; the baseline has {len(frames)} tickers")
    out = np.full((len(tickers), width), np.nan)
    for ticker in sorted(set(tickers.tolist())):
        rows = np.flatnonzero(tickers == ticker)
        values = values_of(frames[ticker])
        out[rows] = np.asarray(values.reindex(dates[rows]), dtype=np.float64).reshape(len(rows), width)
    return out


def _frames(bars, name):
    if bars is None:
        raise ValueError(f"the {name} baseline is computed from the bars: pass bars=")
    return as_frames(bars)


def fit_or_prior(estimator, rows, y):
    """A fitted clone of `estimator`, or a class-prior `DummyClassifier` when `y` holds one class (LightGBM
    refuses a single class; every baseline's answer is this anyway)."""
    if len(np.unique(y)) < 2:
        return DummyClassifier(strategy="prior").fit(rows, y)
    return clone(estimator).fit(rows, y)


def class_proba(estimator, rows):
    """`(n, 3)` probabilities of a fitted estimator, 0 for a class it never saw."""
    out = np.zeros((len(rows), N_CLASSES), dtype=np.float64)
    out[:, np.asarray(estimator.classes_, dtype=np.int64)] = estimator.predict_proba(rows)
    return out


def _frame(proba, index):
    return pd.DataFrame(proba, index=pd.DatetimeIndex(index, name="date"), columns=list(CLASS_NAMES))


class FactorBaseline(ClassifierMixin, BaseEstimator):
    """A factor of the bars as a classifier: learns nothing, scores each window's (ticker, date).

    Args:
        factor (str, default "reversal"): one of `FACTORS`.
        bars (DataFrame or dict[str, DataFrame], optional): the bars of the windows' tickers; `predict_proba`
            needs them (`predict_frame` reads the bars it is given).
        scale (float, optional): the score that maps to u = 1/2 (module docstring); default
            `FACTOR_SCALES[factor]`.

    Attributes:
        classes_ (np.ndarray): `[0, 1, 2]`, in `CLASS_NAMES` order.
        sequence_length (int): bars each score reads (2 for reversal, 21 for momentum).
    """

    def __init__(self, factor="reversal", bars=None, scale=None):
        self.factor = factor
        self.bars = bars
        self.scale = scale

    @property
    def sequence_length(self):
        return _BARS_READ[self.factor]

    def _scale(self):
        _check_factor(self.factor)
        return FACTOR_SCALES[self.factor] if self.scale is None else _check_scale(self.scale)

    def fit(self, X=None, y=None):
        """Nothing to learn: checks the factor and, when given, the labels; there so the baseline goes where a
        classifier goes.

        Returns:
            self.

        Raises:
            ValueError: an unknown factor, a bad scale, or `y` that is not class ids.
        """
        self._scale()
        if y is not None:
            check_labels(y, "y")
        self.classes_ = np.arange(N_CLASSES)
        return self

    def scores(self, X):
        """The factor of each window of the Split `X`, `(len(X),)` float64 (NaN where undefined).

        Raises:
            ValueError: no bars, `X` is not a Split, or a ticker of `X` has no bars.
        """
        frames = _frames(self.bars, self.factor)
        return _rows_of(X, frames, lambda bars: factor_score(bars, self.factor), 1)[:, 0]

    def predict_proba(self, X):
        """`(len(X), 3)` probabilities of the windows of the Split `X` (module docstring)."""
        return factor_proba(self.scores(X), self._scale())

    def predict(self, X):
        """Class ids: up where the score is positive, down where negative."""
        return np.arange(N_CLASSES)[self.predict_proba(X).argmax(axis=1)]

    def predict_frame(self, ohlcv):
        """Probabilities of every bar of one ticker's bars whose score is defined, as a DataFrame by date."""
        score = factor_score(ohlcv, self.factor).dropna()
        return _frame(factor_proba(score.to_numpy(), self._scale()), score.index)


class Alpha158Classifier(ClassifierMixin, BaseEstimator):
    """A classifier of the Alpha158 features of each window's (ticker, date), computed from the bars.

    Args:
        estimator: an unfitted scikit-learn classifier (LightGBM in `make_baseline("lightgbm_alpha158")`); a
            clone is fitted on the training windows' Alpha158 rows (NaN in a ticker's first
            `ALPHA158_WARMUP` bars, which LightGBM takes as missing).
        bars (DataFrame or dict[str, DataFrame], optional): the bars of the windows' tickers; `fit` and
            `predict_proba` need them.

    Attributes:
        estimator_: the fitted clone (a class-prior `DummyClassifier` when the training labels hold one class).
        classes_ (np.ndarray): `[0, 1, 2]`.
        n_features_in_ (int): 158.
        feature_names_ (list of str): `ALPHA158_NAMES`.
        sequence_length (int): bars the features read, `ALPHA158_WARMUP + 1`.
    """

    sequence_length = ALPHA158_WARMUP + 1

    def __init__(self, estimator, bars=None):
        self.estimator = estimator
        self.bars = bars

    def features(self, X):
        """The Alpha158 rows of the windows of the Split `X`, `(len(X), 158)` float64.

        Raises:
            ValueError: no bars, `X` is not a Split, or a ticker of `X` has no bars.
        """
        return _rows_of(X, _frames(self.bars, "lightgbm_alpha158"), compute_alpha158, len(ALPHA158_NAMES))

    def fit(self, X, y):
        """Fit a clone of `estimator` on the Alpha158 rows of the Split `X` and the labels `y`.

        Returns:
            self.

        Raises:
            ValueError: as `features`, or `y` is not class ids of `X`'s length.
        """
        rows, y = self.features(X), check_labels(y, "y")
        if len(rows) != len(y):
            raise ValueError(f"X has {len(rows)} windows but y has {len(y)}")
        self.estimator_ = fit_or_prior(self.estimator, rows, y)
        self.classes_ = np.arange(N_CLASSES)
        self.n_features_in_ = rows.shape[1]
        self.feature_names_ = list(ALPHA158_NAMES)
        return self

    def predict_proba(self, X):
        """`(len(X), 3)` probabilities of the windows of the Split `X`, in `CLASS_NAMES` order.

        Raises:
            NotFittedError: before `fit`.
        """
        check_is_fitted(self, "estimator_")
        return class_proba(self.estimator_, self.features(X))

    def predict(self, X):
        """Class ids: the most probable class of each window."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_frame(self, ohlcv):
        """Probabilities of every bar of one ticker's bars after the Alpha158 warm-up, as a DataFrame by date."""
        check_is_fitted(self, "estimator_")
        rows = compute_alpha158(ohlcv).iloc[ALPHA158_WARMUP:]
        return _frame(class_proba(self.estimator_, rows.to_numpy()), rows.index)
