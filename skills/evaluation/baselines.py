"""The baselines every model metric stands beside: one factory, scikit-learn estimators.

Next-bar direction is close to a coin toss and class balance moves the floor, so a model's figures are read
beside baselines fitted on the same training rows: the majority class (`DummyClassifier(strategy=
"most_frequent")`), the training class prior (`strategy="prior"`, the reference for log loss) and LightGBM on
the last bar's features. `make_baseline` returns any of them as an unfitted `LastBarClassifier`, which `clone`,
`get_params` and `score` treat like any scikit-learn classifier and `run_backtest` trades like a model.

On a universe, the baselines a quant already has are computed from the bars (`BAR_BASELINES`,
`skills.evaluation.factors`): LightGBM on Qlib's Alpha158 features (the baseline of Qlib's tables), and the
reversal and 20-bar momentum factors. `make_baseline` builds them too, given the bars; they predict a `Split`
(its tickers and dates).

Example:
    >>> import numpy as np
    >>> baseline = make_baseline("majority").fit(np.zeros((4, 2)), [0, 2, 2, 1])
    >>> baseline.predict_proba(np.zeros((1, 2))).tolist()
    [[0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.utils.validation import check_is_fitted

from skills.data.dataset import Split
from skills.data.labels import CLASS_NAMES
from skills.data.windows import feature_windows
from skills.evaluation.factors import FACTORS, Alpha158Classifier, FactorBaseline, class_proba, fit_or_prior
from skills.metrics import N_CLASSES, check_labels

__all__ = ["ALL_BASELINES", "BAR_BASELINES", "BASELINES", "UNIVERSE_BASELINES", "LastBarClassifier",
           "make_baseline", "majority_baseline", "prior_baseline", "lightgbm_baseline", "standard_baselines"]

#: The baselines fitted on a fold's windows alone (no bars needed): `LastBarClassifier`s.
BASELINES = ("majority", "prior", "lightgbm")
#: The baselines computed from the bars: `make_baseline` and `walk_forward` need the bars for them.
BAR_BASELINES = ("lightgbm_alpha158",) + FACTORS
#: Every baseline `make_baseline` builds, in the order the universe tables show them.
ALL_BASELINES = ("lightgbm_alpha158", "lightgbm", "reversal", "momentum", "majority", "prior")
#: The baselines `skills.pipeline.compare` fits on a universe unless told otherwise.
UNIVERSE_BASELINES = ("lightgbm_alpha158", "lightgbm", "reversal", "momentum", "majority")


def _last_bar(X, name="X"):
    """The features of each window's last bar as float64 rows `(n, n_features)`, as the network sees them: after
    the cross-sectional normalisation, and relative to the window's last bar for price-volume features. `X` may
    be a `Split` (its windows are used)."""
    if isinstance(X, Split):
        X = X.X
    if hasattr(X, "last_rows"):  # a lazy WindowArray: read the last rows, no N×T×F copy
        return np.asarray(X.last_rows(), dtype=np.float64)
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 3:  # windows (n, sequence_length, n_features): keep the bar the label belongs to
        arr = arr[:, -1, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (n, n_features) or windows (n, T, n_features), got shape {arr.shape}")
    return arr


class LastBarClassifier(ClassifierMixin, BaseEstimator):
    """A classifier of each window's last bar, with the `predict_frame` that `run_backtest` calls.

    With the same `sequence_length` as a sequence model it predicts on exactly the bars that model has a window
    for, so a baseline trades the same period beside the same buy-and-hold.

    Args:
        estimator: an unfitted scikit-learn classifier; a clone of it is fitted on the last bar of each window.
        feature_names (sequence of str, optional): the `compute_features` columns the rows hold, in order;
            `predict_frame` needs them.
        sequence_length (int, default 1): `predict_frame` predicts only where a window of this many complete
            bars ends.

    Attributes:
        estimator_: the fitted clone (a class-prior `DummyClassifier` when the training labels hold one class).
        classes_ (np.ndarray): `[0, 1, 2]`, in `CLASS_NAMES` order.
        n_features_in_ (int): features per bar.
    """

    def __init__(self, estimator, feature_names=None, sequence_length=1):
        self.estimator = estimator
        self.feature_names = feature_names
        self.sequence_length = sequence_length

    def fit(self, X, y):
        """Fit a clone of `estimator` on the last bar of each window.

        Args:
            X: a lazy `WindowArray`, windows `(n, T, n_features)`, or last-bar rows `(n, n_features)`.
            y (array-like of int, shape (n,)): class ids in {0, 1, 2}.

        Returns:
            self.

        Raises:
            ValueError: `y` is not class ids, its length differs from `X`'s, or `feature_names` does not
                match the number of features.
        """
        rows = _last_bar(X)
        y = check_labels(y, "y")
        if len(rows) != len(y):
            raise ValueError(f"X has {len(rows)} rows but y has {len(y)}")
        if self.feature_names is not None and len(self.feature_names) != rows.shape[1]:
            raise ValueError(f"X has {rows.shape[1]} features but feature_names names {len(self.feature_names)}")
        self.estimator_ = fit_or_prior(self.estimator, rows, y)
        self.classes_ = np.arange(N_CLASSES)
        self.n_features_in_ = rows.shape[1]
        return self

    def predict_proba(self, X):
        """Probabilities of windows (their last bar) or of last-bar rows.

        Returns:
            np.ndarray: `(n, 3)` float64 in `CLASS_NAMES` order; 0 for a class absent from training.

        Raises:
            NotFittedError: before `fit`.
            ValueError: `X` has another number of features than the training rows.
        """
        check_is_fitted(self, "estimator_")
        rows = _last_bar(X)
        if rows.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {rows.shape[1]} features, the baseline was fitted on {self.n_features_in_}")
        return class_proba(self.estimator_, rows)

    def predict(self, X):
        """Class ids `(n,)`: the most probable class of each row."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_frame(self, ohlcv):
        """Probabilities of every bar that ends a complete window, as a DataFrame indexed by date.

        Raises:
            ValueError: `feature_names` was not given.
            DataError: the bars lack a feature or are too few for one window.
        """
        if self.feature_names is None:
            raise ValueError("predict_frame needs the baseline's feature_names; pass them to make_baseline")
        windows, dates = feature_windows(ohlcv, self.feature_names, self.sequence_length)
        return pd.DataFrame(self.predict_proba(windows), index=pd.DatetimeIndex(dates, name="date"),
                            columns=list(CLASS_NAMES))


def _lightgbm(seed):
    from lightgbm import LGBMClassifier  # imported here: a slow import only the LightGBM baselines need

    return LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, random_state=seed,
                          deterministic=True, force_row_wise=True, n_jobs=2, verbose=-1)


def make_baseline(name, *, seed=0, feature_names=None, sequence_length=1, bars=None):
    """An unfitted baseline by name.

    Args:
        name (str): one of `ALL_BASELINES`: `"majority"` (the training mode on every row), `"prior"` (the
            training class frequencies on every row), `"lightgbm"` (200 trees, learning rate 0.05, 15 leaves,
            deterministic, 2 threads: the same inputs and seed give the same probabilities) on the last bar of
            each window; or, from the bars (`BAR_BASELINES`), `"lightgbm_alpha158"` (the same LightGBM on the
            Alpha158 features of each window's ticker and date), `"reversal"` or `"momentum"` (the factors of
            `skills.evaluation.factors`, learned from nothing).
        seed (int, default 0): LightGBM's `random_state`.
        feature_names (sequence of str, optional): the feature columns, for `predict_frame` (`BASELINES`).
        sequence_length (int, default 1): window length `predict_frame` predicts on (`BASELINES`).
        bars (DataFrame or dict[str, DataFrame], optional): the bars of the windows' tickers; the
            `BAR_BASELINES` fit and predict from them.

    Returns:
        LastBarClassifier, `skills.evaluation.factors.Alpha158Classifier` or
        `skills.evaluation.factors.FactorBaseline`: unfitted.

    Raises:
        ValueError: `name` is not in `ALL_BASELINES`.
    """
    if name in FACTORS:
        return FactorBaseline(name, bars=bars)
    if name == "lightgbm_alpha158":
        return Alpha158Classifier(_lightgbm(seed), bars=bars)
    if name == "majority":
        estimator = DummyClassifier(strategy="most_frequent")
    elif name == "prior":
        estimator = DummyClassifier(strategy="prior")
    elif name == "lightgbm":
        estimator = _lightgbm(seed)
    else:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(ALL_BASELINES)}")
    return LastBarClassifier(estimator, feature_names=feature_names, sequence_length=sequence_length)


def _fitted_proba(name, X_train, y_train, X_eval, seed=0):
    y = check_labels(y_train, "y_train")
    return make_baseline(name, seed=seed).fit(X_train, y).predict_proba(X_eval)


def majority_baseline(y_train, n):
    """`(n, 3)` one-hot rows on the training split's most frequent class (ties: the lowest class id).

    Raises:
        ValueError: `y_train` is not 1-D ids in {0, 1, 2}, or `n` is negative.
    """
    return _dummy_proba("majority", y_train, n)


def prior_baseline(y_train, n):
    """`(n, 3)` rows equal to the training split's class frequencies (0 for a class absent from training).

    Raises:
        ValueError: `y_train` is not 1-D ids in {0, 1, 2}, or `n` is negative.
    """
    return _dummy_proba("prior", y_train, n)


def _dummy_proba(name, y_train, n):
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _fitted_proba(name, np.zeros((len(np.asarray(y_train)), 1)), y_train, np.zeros((int(n), 1)))


def lightgbm_baseline(X_train_last, y_train, X_eval_last, seed=0):
    """`(n_eval, 3)` probabilities of `make_baseline("lightgbm", seed=seed)` fitted on the training rows.

    `X_train_last` and `X_eval_last` are last-bar rows `(n, n_features)` or windows, reduced to their last bar.

    Raises:
        ValueError: shapes disagree, or `y_train` is not ids in {0, 1, 2}.
    """
    return _fitted_proba("lightgbm", X_train_last, y_train, X_eval_last, seed)


def standard_baselines(X_train_last, y_train, X_eval_last, seed=0):
    """`{name: (n_eval, 3) probabilities}` of every baseline in `BASELINES`, fitted on the training rows."""
    return {name: _fitted_proba(name, X_train_last, y_train, X_eval_last, seed) for name in BASELINES}
