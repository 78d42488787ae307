"""Classification, signal and trading metrics, the baselines every model metric stands beside, walk-forward.

A model's test-split figures mean little alone: next-bar direction is close to a coin toss, and class balance
moves the floor. So every metric here is computed the same way for the model and for baselines fitted on the
training rows only: the majority class (`DummyClassifier(strategy="most_frequent")`), the training class prior
(`strategy="prior"`, the reference for log loss) and LightGBM on the last bar's features.

- classification: `classification_metrics` (accuracy, balanced accuracy, macro-F1, log loss, per class,
  confusion matrix);
- signal: `signal_metrics`, the monthly IC / rank IC of P(up) − P(down) against the forward return and ICIR;
- trading: `backtest_metrics`, `skills.strategy.run_backtest` per ticker, averaged;
- `walk_forward` trains and scores models and baselines fold by fold; `format_summary_table` prints it.

All results are plain Python types, ready for `json.dump`. Probabilities are `(n, 3)` in `CLASS_NAMES` order.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 2, 2])
    >>> proba = np.eye(3)[[0, 1, 1, 2]]
    >>> classification_metrics(y, proba)["accuracy"]
    0.75
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier

from skills.data.dataset import as_frames
from skills.data.labels import CLASS_NAMES
from skills.data.windows import feature_windows
from skills.metrics import (  # noqa: F401  (re-exported: public names of skills.evaluation)
    N_CLASSES,
    _check_labels,
    _check_proba,
    classification_metrics,
    signal_metrics,
    signal_score,
    split_metrics,
)
from skills.metrics import (
    mean_std as _mean_std,
)

__all__ = [
    "classification_metrics",
    "majority_baseline",
    "prior_baseline",
    "lightgbm_baseline",
    "standard_baselines",
    "compare",
    "format_table",
    "format_confusion",
    "signal_score",
    "signal_metrics",
    "split_metrics",
    "backtest_metrics",
    "walk_forward",
    "LastBarClassifier",
    "format_summary_table",
    "BASELINES",
    "BACKTEST_KEYS",
    "SUMMARY_KEYS",
]

log = logging.getLogger(__name__)


# (key in the metrics dict, row label in format_table)
_TABLE_ROWS = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced acc"),
    ("macro_f1", "macro-F1"),
    ("log_loss", "log loss"),
)


def _full_proba(estimator, proba):
    """Spread an estimator's `(n, len(classes_))` probabilities onto all three `CLASS_NAMES` columns."""
    out = np.zeros((proba.shape[0], N_CLASSES), dtype=np.float64)
    out[:, np.asarray(estimator.classes_, dtype=np.int64)] = proba
    return out


def _fit_dummy(strategy, y_train):
    y = _check_labels(y_train, "y_train")
    return DummyClassifier(strategy=strategy).fit(np.zeros((len(y), 1)), y)


def _dummy_proba(strategy, y_train, n):
    dummy = _fit_dummy(strategy, y_train)
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _full_proba(dummy, dummy.predict_proba(np.zeros((int(n), 1))))


def majority_baseline(y_train, n):
    """Probabilities of always predicting the training split's most frequent class.

    `DummyClassifier(strategy="most_frequent")` fitted on `y_train`: every row is one-hot on the training mode
    (ties go to the lowest class id), whatever the evaluation split looks like.

    Args:
        y_train (array-like of int, shape (n_train,)): training class ids.
        n (int): number of evaluation rows.

    Returns:
        np.ndarray: `(n, 3)` float64 one-hot rows.

    Raises:
        ValueError: `y_train` is not 1-D ids in {0, 1, 2}, or `n` is negative.
    """
    return _dummy_proba("most_frequent", y_train, n)


def prior_baseline(y_train, n):
    """Probabilities equal to the training split's class frequencies, on every row.

    `DummyClassifier(strategy="prior")`: the argmax is the majority class, and the probabilities are the
    honest floor for log loss. A class absent from training gets probability 0.

    Args:
        y_train (array-like of int, shape (n_train,)): training class ids.
        n (int): number of evaluation rows.

    Returns:
        np.ndarray: `(n, 3)` float64, every row equal to the training class frequencies.

    Raises:
        ValueError: `y_train` is not 1-D ids in {0, 1, 2}, or `n` is negative.
    """
    return _dummy_proba("prior", y_train, n)


def _last_bar(X, name):
    if hasattr(X, "values") and hasattr(X, "ends"):  # a lazy WindowArray: read the last rows, no N×T×F copy
        return np.asarray(X.values[X.ends], dtype=np.float64)
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 3:  # windows (n, sequence_length, n_features): keep the bar the label belongs to
        arr = arr[:, -1, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (n, n_features) or windows (n, T, n_features), got shape {arr.shape}")
    return arr


def lightgbm_baseline(X_train_last, y_train, X_eval_last, seed=0):
    """LightGBM on the last bar's features: the floor a sequence model has to beat to justify its window.

    Small and deterministic (200 trees, learning rate 0.05, 15 leaves, `deterministic=True`, 2 threads), so the
    same inputs and seed give the same probabilities.

    Args:
        X_train_last (array-like, shape (n_train, n_features)): training features at each window's last bar.
            Windows `(n, T, n_features)` are accepted and reduced to their last step.
        y_train (array-like of int, shape (n_train,)): training class ids.
        X_eval_last (array-like, shape (n_eval, n_features)): evaluation features, same columns.
        seed (int, default 0): LightGBM `random_state`.

    Returns:
        np.ndarray: `(n_eval, 3)` float64 probabilities in `CLASS_NAMES` order (0 for a class absent from
        training; a single training class gives one-hot rows).

    Raises:
        ValueError: shapes disagree, or `y_train` is not ids in {0, 1, 2}.
    """
    X_eval = _last_bar(X_eval_last, "X_eval_last")
    clf = _fit_lightgbm(X_train_last, y_train, seed)
    if X_eval.shape[1] != clf.n_features_in_:
        raise ValueError(f"X_eval_last has {X_eval.shape[1]} features, X_train_last has {clf.n_features_in_}")
    return _full_proba(clf, clf.predict_proba(X_eval))


def _fit_lightgbm(X_train_last, y_train, seed=0):
    """The fitted LightGBM of `lightgbm_baseline` (a class-prior `DummyClassifier` for a single class)."""
    from lightgbm import LGBMClassifier  # imported here: a slow import only this baseline needs

    X_train = _last_bar(X_train_last, "X_train_last")
    y = _check_labels(y_train, "y_train")
    if len(X_train) != len(y):
        raise ValueError(f"X_train_last has {len(X_train)} rows but y_train has {len(y)}")
    if len(np.unique(y)) < 2:  # LightGBM refuses a single class; its answer would be this anyway
        return DummyClassifier(strategy="prior").fit(X_train, y)
    clf = LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=15,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=2,
        verbose=-1,
    )
    return clf.fit(X_train, y)


def standard_baselines(X_train_last, y_train, X_eval_last, seed=0):
    """The three baselines that stand beside a model on one split, keyed by name.

    Args:
        X_train_last, y_train, X_eval_last, seed: as in `lightgbm_baseline`.

    Returns:
        dict[str, np.ndarray]: `{"majority": ..., "prior": ..., "lightgbm": ...}`, each `(n_eval, 3)`.
    """
    n_eval = len(_last_bar(X_eval_last, "X_eval_last"))
    return {
        "majority": majority_baseline(y_train, n_eval),
        "prior": prior_baseline(y_train, n_eval),
        "lightgbm": lightgbm_baseline(X_train_last, y_train, X_eval_last, seed=seed),
    }


def compare(y_true, model_proba, baselines, model_name="model"):
    """Score a model and its baselines on the same rows.

    Args:
        y_true (array-like of int, shape (n,)): true class ids.
        model_proba (array-like, shape (n, 3)): the model's probabilities.
        baselines (Mapping[str, array-like]): name -> `(n, 3)` probabilities, e.g. `standard_baselines(...)`.
        model_name (str, default "model"): key for the model's entry.

    Returns:
        dict[str, dict]: `{model_name: metrics, **{name: metrics}}` in that order, each from
        `classification_metrics`.

    Raises:
        ValueError: a baseline is named `model_name`, or any shape check in `classification_metrics` fails.
    """
    if model_name in baselines:
        raise ValueError(f"baseline name {model_name!r} clashes with the model's name")
    results = {model_name: classification_metrics(y_true, model_proba)}
    for name, proba in baselines.items():
        try:
            results[name] = classification_metrics(y_true, proba)
        except ValueError as err:
            raise ValueError(f"baseline {name!r}: {err}") from None
    return results


def format_table(results):
    """A compact, aligned text table: one row per headline metric, one column per model.

    Args:
        results (Mapping[str, Mapping]): name -> metrics, as returned by `compare`.

    Returns:
        str: e.g. ::

            metric         model  majority
            accuracy      0.5000    0.4000
            balanced acc  0.4500    0.3333
            macro-F1      0.4200    0.1905
            log loss      1.0310   21.5850

    Raises:
        ValueError: `results` is empty or an entry lacks a headline metric.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping of name -> metrics")
    names = [str(name) for name in results]
    cells = []
    for key, label in _TABLE_ROWS:
        row = [label]
        for name, metrics in results.items():
            if key not in metrics:
                raise ValueError(f"results[{name!r}] has no {key!r}")
            row.append(f"{float(metrics[key]):.4f}")
        cells.append(row)
    return _align(["metric", *names], cells)


def _align(header, rows):
    """Text table: the first column left-aligned, the others right-aligned, two spaces between columns."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))])
        for row in [header, *rows]
    )


def format_confusion(cm):
    """A confusion matrix as aligned text, rows = true class, columns = predicted class.

    Args:
        cm (array-like of int, shape (3, 3)): counts in `CLASS_NAMES` order, e.g. `metrics["confusion_matrix"]`.

    Returns:
        str: e.g. ::

            true\\pred  down  flat  up
            down          3     1   0
            flat          0     2   1
            up            1     0   4

    Raises:
        ValueError: `cm` is not 3x3.
    """
    arr = np.asarray(cm)
    if arr.shape != (N_CLASSES, N_CLASSES):
        raise ValueError(f"cm must be {N_CLASSES}x{N_CLASSES}, got shape {arr.shape}")
    corner = "true\\pred"
    head_w = max(len(corner), *(len(name) for name in CLASS_NAMES))
    values = [[f"{v:g}" if arr.dtype.kind == "f" else str(int(v)) for v in row] for row in arr]
    col_w = [max(len(CLASS_NAMES[j]), *(len(values[i][j]) for i in range(N_CLASSES))) for j in range(N_CLASSES)]
    lines = [corner.ljust(head_w) + "  " + "  ".join(n.rjust(w) for n, w in zip(CLASS_NAMES, col_w))]
    for name, row in zip(CLASS_NAMES, values):
        lines.append(name.ljust(head_w) + "  " + "  ".join(v.rjust(w) for v, w in zip(row, col_w)))
    return "\n".join(lines)


# -- signal metrics: does the model's conviction rank the forward returns? ------------------------------------


# -- trading metrics -------------------------------------------------------------------------------------------

#: Backtest figures averaged over tickers (`backtest_metrics`) and reported by `walk_forward`.
BACKTEST_KEYS = ("sharpe", "total_return", "buy_and_hold_return", "max_drawdown", "n_trades")


def backtest_metrics(model, bars, start, end, tickers=None, **options):
    """Backtest a fitted model on each ticker from `start` to `end`, and average the figures over tickers.

    Each ticker runs alone through `skills.strategy.run_backtest` on its bars up to `end`; the bars before
    `start` only warm up the features and the first window (no order before `start`). A ticker the strategy
    never trades counts as Sharpe 0 (no position, no return; `run_backtest` leaves it undefined). Otherwise a
    figure's mean is taken over the tickers where it is defined.

    Args:
        model: a fitted model (anything `run_backtest` accepts).
        bars (DataFrame or dict[str, DataFrame]): OHLCV bars as from `skills.data.load_ohlcv`.
        start, end (date-like): first and last bar that may trade.
        tickers (sequence of str, optional): which tickers to run; default all of `bars`.
        **options: passed to `run_backtest` (`confidence_threshold`, `cash`, `commission`, ...).

    Returns:
        dict: the mean over tickers of each of `BACKTEST_KEYS` (None where no ticker defines it), plus
        `per_ticker` (`{ticker: {key: value}}`).

    Raises:
        ValueError: a ticker is not in `bars`.
    """
    from skills.strategy import run_backtest  # imported here: backtrader is only needed for backtests

    frames = as_frames(bars)  # the one place that names a lone frame's ticker
    tickers = list(frames) if tickers is None else [str(t) for t in tickers]
    unknown = [t for t in tickers if t not in frames]
    if unknown:
        raise ValueError(f"no bars for ticker(s) {', '.join(unknown)}; have {', '.join(frames)}")
    end = pd.Timestamp(end)
    per_ticker = {}
    for ticker in tickers:
        result = run_backtest(model, frames[ticker].loc[:end], start=pd.Timestamp(start), end=end, **options)
        figures = {key: result.metrics.get(key) for key in BACKTEST_KEYS}  # floats, or None where undefined
        if figures["sharpe"] is None and figures["n_trades"] == 0:
            figures["sharpe"] = 0.0
        per_ticker[ticker] = figures
    means = {key: _mean_std(m[key] for m in per_ticker.values())[0] for key in BACKTEST_KEYS}
    return {**means, "per_ticker": per_ticker}


# -- walk-forward comparison -----------------------------------------------------------------------------------

#: Baselines `walk_forward` can put beside the models, each fitted on the fold's training split only.
BASELINES = ("majority", "prior", "lightgbm")
#: The figures `walk_forward` summarises over folds (mean ± std), in table order.
SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ic", "rank_ic", "icir",
                "sharpe", "total_return", "buy_and_hold_return", "n_trades")


class LastBarClassifier:
    """A baseline fitted on the last bar's features, with the `predict_frame` that `run_backtest` calls.

    It lets a baseline trade through `skills.strategy.run_backtest` as a sequence model does: with the same
    `sequence_length` it predicts on exactly the bars a sequence model has a window for, so both trade the same
    period beside the same buy-and-hold.

    Args:
        estimator: a fitted scikit-learn style classifier (`predict_proba`, `classes_` in {0, 1, 2}), e.g. the
            majority `DummyClassifier` or the LightGBM of `lightgbm_baseline`.
        feature_names (sequence of str): the `compute_features` columns it reads, in training order.
        sequence_length (int, default 1): predict only where a window of this many complete bars ends.
    """

    def __init__(self, estimator, feature_names, sequence_length=1):
        self.estimator = estimator
        self.feature_names_ = list(feature_names)
        self.sequence_length = sequence_length

    def predict_proba(self, X):
        """`(n, 3)` probabilities of windows `(n, T, F)` (their last bar) or of last-bar rows `(n, F)`."""
        return _full_proba(self.estimator, self.estimator.predict_proba(_last_bar(X, "X")))

    def predict_frame(self, ohlcv):
        """Probabilities of every bar that ends a complete window, as a DataFrame indexed by date.

        Raises:
            DataError: the bars lack a feature or are too few for one window.
        """
        windows, dates = feature_windows(ohlcv, self.feature_names_, self.sequence_length)
        return pd.DataFrame(self.predict_proba(windows), index=pd.DatetimeIndex(dates, name="date"),
                            columns=list(CLASS_NAMES))


def _fit_baseline(name, train, seed):
    if name == "lightgbm":
        return _fit_lightgbm(train.X, train.y, seed)
    return _fit_dummy("most_frequent" if name == "majority" else "prior", train.y)


def _score(predictor, proba, fold, bars, backtest_options):
    """`split_metrics` on the fold's test split, plus the backtest over its block (None figures without bars)."""
    test = fold.test
    metrics = split_metrics(test, proba)
    if bars is None:
        return {**metrics, **dict.fromkeys(BACKTEST_KEYS), "backtest": {}}
    first, last = fold.bounds.test
    trading = backtest_metrics(predictor, bars, first, last, sorted(set(test.tickers.tolist())), **backtest_options)
    return {**metrics, **{key: trading[key] for key in BACKTEST_KEYS}, "backtest": trading["per_ticker"]}


def walk_forward(folds, models, *, bars=None, baselines=("majority", "lightgbm"), fit_options=None,
                 backtest_options=None, seed=0):
    """Fit every model on each fold's past, score it on the fold's next block, beside the baselines.

    Each fold (e.g. from `skills.data.prepare_walk_forward`) trains a new model on its training split, with
    early stopping on its validation split, and predicts its test split, the block of dates after it; each
    baseline is fitted on the same training split (`LastBarClassifier`). Everything gets `split_metrics` on
    that block, and with `bars` a backtest on each ticker of the block (`backtest_metrics`: trading from the
    block's first date to its last, averaged over tickers). The summary is the mean and standard deviation
    (ddof=1) over folds of each of `SUMMARY_KEYS`.

    Args:
        folds (sequence of PreparedData): the walk-forward folds, oldest first.
        models (Mapping[str, callable]): name -> a function returning a new, unfitted model (a
            `SequenceClassifier`), called once per fold.
        bars (DataFrame or dict[str, DataFrame], optional): the bars the folds were made from; None skips the
            backtests (their figures are then None).
        baselines (sequence of str, default ("majority", "lightgbm")): names from `BASELINES`.
        fit_options (dict, optional): keyword arguments for `model.fit` (`epochs`, `patience`, `verbose`, ...).
        backtest_options (dict, optional): keyword arguments for `run_backtest` (`confidence_threshold`, ...).
        seed (int, default 0): LightGBM's seed.

    Returns:
        dict: `folds`, one entry per fold with its `dates`, `windows`, `tickers` and `results` (`{name:
        metrics}`: `split_metrics`, the `BACKTEST_KEYS`, `backtest` per ticker, and for a model `epochs_run`
        and `fit_seconds`); and `summary`, `{name: {key: {"mean", "std", "values"}}}` for `SUMMARY_KEYS`,
        sorted by mean macro-F1, best first. Plain Python types.

    Raises:
        ValueError: no folds, no models or baselines, an unknown baseline, or a name used twice.
    """
    folds, models, baselines = list(folds), dict(models), list(baselines)
    if not folds:
        raise ValueError("walk_forward needs at least one fold")
    if not models and not baselines:
        raise ValueError("walk_forward needs at least one model or baseline")
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; known: {list(BASELINES)}")
    clash = sorted(set(models) & set(baselines))
    if clash:
        raise ValueError(f"model name(s) {clash} clash with baseline names")
    fit_options, backtest_options = dict(fit_options or {}), dict(backtest_options or {})
    records = []
    for number, fold in enumerate(folds, start=1):
        results = {}
        for name, make in models.items():
            started = time.perf_counter()
            model = make().fit(fold, **fit_options)
            fit_seconds = time.perf_counter() - started
            results[name] = {**_score(model, model.predict_proba(fold.test.X), fold, bars, backtest_options),
                             "epochs_run": len(getattr(model, "history_", {}).get("loss", [])),
                             "fit_seconds": round(fit_seconds, 1)}
            log.info("fold %d/%d %-22s macro-F1 %.3f  IC %s  Sharpe %s  (%d epochs, %.0f s)", number, len(folds),
                     name, results[name]["macro_f1"], _fmt(results[name]["ic"]), _fmt(results[name]["sharpe"]),
                     results[name]["epochs_run"], fit_seconds)
        for name in baselines:
            baseline = LastBarClassifier(_fit_baseline(name, fold.train, seed), fold.feature_names,
                                         fold.sequence_length)
            results[name] = _score(baseline, baseline.predict_proba(fold.test.X), fold, bars, backtest_options)
        records.append({
            "fold": number,
            "dates": fold.bounds.to_dict(),
            "windows": {split.name: len(split) for split in (fold.train, fold.val, fold.test)},
            "tickers": sorted(set(fold.test.tickers.tolist())),
            "results": results,
        })
    return {"folds": records, "summary": _summarise(records)}


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _summarise(records):
    summary = {}
    for name in records[0]["results"]:
        summary[name] = {}
        for key in SUMMARY_KEYS:
            values = [record["results"][name][key] for record in records]
            mean, std = _mean_std(values)
            summary[name][key] = {"mean": mean, "std": std, "values": values}
    return dict(sorted(summary.items(), key=lambda item: -(item[1]["macro_f1"]["mean"] or 0.0)))


# (key in a walk_forward summary, column header, scale, decimals)
_SUMMARY_COLUMNS = (
    ("accuracy", "accuracy", 1, 3),
    ("balanced_accuracy", "balanced acc", 1, 3),
    ("macro_f1", "macro-F1", 1, 3),
    ("log_loss", "log loss", 1, 3),
    ("ic", "IC", 1, 3),
    ("icir", "ICIR", 1, 2),
    ("sharpe", "Sharpe", 1, 2),
    ("total_return", "return %", 100, 1),
    ("buy_and_hold_return", "B&H return %", 100, 1),
    ("n_trades", "trades", 1, 1),
)


def format_summary_table(summary):
    """The walk-forward summary as aligned text: one row per model or baseline, `mean ± std` over folds.

    Rows are sorted by mean macro-F1, best first; a figure that is not defined (the baselines' trading
    columns, the majority's IC) reads `n/a`, and one defined in a single fold has no `± std`.

    Args:
        summary (Mapping[str, Mapping]): `walk_forward(...)["summary"]`.

    Returns:
        str: e.g. ::

            model        accuracy  balanced acc  ...  Sharpe       return %  B&H return %
            lightgbm  0.384±0.010   0.376±0.012  ...     n/a            n/a           n/a
            majority  0.343±0.020   0.333±0.000  ...     n/a            n/a           n/a

    Raises:
        ValueError: `summary` is empty or a row lacks a column.
    """
    if not isinstance(summary, Mapping) or not summary:
        raise ValueError("summary must be a non-empty mapping of name -> figures")
    rows = sorted(summary.items(), key=lambda item: -(_mean(item, "macro_f1") or 0.0))
    cells = []
    for name, figures in rows:
        row = [str(name)]
        for key, _, scale, digits in _SUMMARY_COLUMNS:
            mean = _mean((name, figures), key)
            std = figures[key].get("std")
            if mean is None:
                row.append("n/a")
            elif std is None:
                row.append(f"{mean * scale:.{digits}f}")
            else:
                row.append(f"{mean * scale:.{digits}f}±{std * scale:.{digits}f}")
        cells.append(row)
    return _align(["model", *(label for _, label, _, _ in _SUMMARY_COLUMNS)], cells)


def _mean(item, key):
    name, figures = item
    if key not in figures:
        raise ValueError(f"summary[{name!r}] has no {key!r}")
    return figures[key].get("mean")
