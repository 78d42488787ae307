"""Classification metrics and the baselines every model metric stands beside.

A model's test-split figures mean little alone: next-bar direction is close to a coin toss, and class balance
moves the floor. So every metric here is computed the same way for the model and for baselines fitted on the
training rows only: the majority class (`DummyClassifier(strategy="most_frequent")`), the training class prior
(`strategy="prior"`, the reference for log loss) and LightGBM on the last bar's features.

All results are plain Python types, ready for `json.dump`. Probabilities are `(n, 3)` in `CLASS_NAMES` order.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 2, 2])
    >>> proba = np.eye(3)[[0, 1, 1, 2]]
    >>> classification_metrics(y, proba)["accuracy"]
    0.75
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from skills.data.labels import CLASS_NAMES

__all__ = [
    "classification_metrics",
    "majority_baseline",
    "prior_baseline",
    "lightgbm_baseline",
    "standard_baselines",
    "compare",
    "format_table",
    "format_confusion",
]

N_CLASSES = len(CLASS_NAMES)
_LABELS = list(range(N_CLASSES))
_SUM_TOLERANCE = 1e-3  # float32 softmax rows sum to 1 within ~1e-6; anything past this is not a distribution

# (key in the metrics dict, row label in format_table)
_TABLE_ROWS = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced acc"),
    ("macro_f1", "macro-F1"),
    ("log_loss", "log loss"),
)


def _check_labels(y, name="y_true"):
    """Return `y` as a 1-D int64 array of class ids in {0, 1, 2}; raise ValueError otherwise."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class ids, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class ids in {_LABELS}, got non-integer floats")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class ids in {_LABELS}, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = sorted(set(np.unique(arr).tolist()) - set(_LABELS))
    if bad:
        raise ValueError(f"{name} must hold class ids in {_LABELS} ({', '.join(CLASS_NAMES)}), got {bad}")
    return arr


def _check_proba(proba, n, name="proba"):
    """Return `proba` as a float64 `(n, 3)` array whose rows sum to 1; raise ValueError otherwise."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.shape != (n, N_CLASSES):
        raise ValueError(f"{name} must have shape ({n}, {N_CLASSES}) to match the labels, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    sums = arr.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name} rows must sum to 1, row {worst} sums to {sums[worst]:.6g}")
    return arr / sums[:, None]


def classification_metrics(y_true, proba):
    """Score class probabilities against true class ids.

    The predicted class is the argmax of each row. Macro-F1 and balanced accuracy follow scikit-learn: they
    average over the classes that occur (in `y_true`, or in the predictions for F1), so a class absent from a
    short test split does not count as a zero. Log loss always uses all three classes.

    Args:
        y_true (array-like of int, shape (n,)): true class ids in {0, 1, 2} (`CLASS_NAMES` order).
        proba (array-like of float, shape (n, 3)): class probabilities, rows summing to 1.

    Returns:
        dict: `n`, `accuracy`, `balanced_accuracy`, `macro_f1`, `log_loss` (floats), `confusion_matrix` (3x3
        list of ints, rows = true class, columns = predicted class, both in `CLASS_NAMES` order),
        `class_counts` (true-class support, `{name: int}`), `predicted_counts` (`{name: int}`) and `per_class`
        (`{name: {"precision", "recall", "f1", "support"}}`, 0.0 where undefined). All plain Python types.

    Raises:
        ValueError: `y_true` is not 1-D ids in {0, 1, 2}, or `proba` is not `(n, 3)` rows that sum to 1.
    """
    y = _check_labels(y_true)
    p = _check_proba(proba, len(y))
    y_pred = p.argmax(axis=1)
    cm = confusion_matrix(y, y_pred, labels=_LABELS)
    with warnings.catch_warnings():
        # A class missing from a short split is expected here, and documented above.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y, y_pred)
        macro_f1 = f1_score(y, y_pred, average="macro", zero_division=0)
        precision, recall, f1, support = precision_recall_fscore_support(
            y, y_pred, labels=_LABELS, zero_division=0
        )
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, y_pred)),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(macro_f1),
        "log_loss": float(log_loss(y, p, labels=_LABELS)),
        "confusion_matrix": cm.astype(int).tolist(),
        "class_counts": {name: int(c) for name, c in zip(CLASS_NAMES, cm.sum(axis=1))},
        "predicted_counts": {name: int(c) for name, c in zip(CLASS_NAMES, cm.sum(axis=0))},
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(CLASS_NAMES)
        },
    }


def _full_proba(estimator, proba):
    """Spread an estimator's `(n, len(classes_))` probabilities onto all three `CLASS_NAMES` columns."""
    out = np.zeros((proba.shape[0], N_CLASSES), dtype=np.float64)
    out[:, np.asarray(estimator.classes_, dtype=np.int64)] = proba
    return out


def _dummy_proba(strategy, y_train, n):
    y = _check_labels(y_train, "y_train")
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    dummy = DummyClassifier(strategy=strategy).fit(np.zeros((len(y), 1)), y)
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
    from lightgbm import LGBMClassifier  # imported here: a slow import only this baseline needs

    X_train = _last_bar(X_train_last, "X_train_last")
    X_eval = _last_bar(X_eval_last, "X_eval_last")
    y = _check_labels(y_train, "y_train")
    if len(X_train) != len(y):
        raise ValueError(f"X_train_last has {len(X_train)} rows but y_train has {len(y)}")
    if X_eval.shape[1] != X_train.shape[1]:
        raise ValueError(f"X_eval_last has {X_eval.shape[1]} features, X_train_last has {X_train.shape[1]}")
    if len(np.unique(y)) < 2:  # LightGBM refuses a single class; its answer would be this anyway
        return _dummy_proba("prior", y, len(X_eval))
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
    clf.fit(X_train, y)
    return _full_proba(clf, clf.predict_proba(X_eval))


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
    header = ["metric", *names]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = []
    for row in [header, *cells]:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join([first, *rest]))
    return "\n".join(lines)


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
