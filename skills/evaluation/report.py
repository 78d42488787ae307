"""The test-split report: a model beside its baselines, the JSON report of a training run, and text tables.

`score_on_test` is what `python -m skills train` prints; `training_report` is the report file it writes
beside the model. Both are plain library calls, so a Python user gets the same figures.

Example:
    >>> import numpy as np
    >>> always_up = np.tile([0.0, 0.0, 1.0], (2, 1))
    >>> results = compare([0, 2], np.eye(3)[[0, 2]], {"majority": always_up})
    >>> print(format_table(results))
    metric         model  majority
    accuracy      1.0000    0.5000
    balanced acc  1.0000    0.5000
    macro-F1      1.0000    0.3333
    log loss      0.0000   18.0218
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from skills.data.labels import CLASS_NAMES
from skills.evaluation.baselines import BASELINES, make_baseline
from skills.metrics import N_CLASSES, classification_metrics, daily_ic, ic_basis

__all__ = ["compare", "score_on_test", "training_report", "format_table", "format_confusion"]

# (key in the metrics dict, row label in format_table)
_TABLE_ROWS = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced acc"),
    ("macro_f1", "macro-F1"),
    ("log_loss", "log loss"),
)
# rows shown when every entry has the key (a universe's `score_on_test`): (key, label, scale)
_UNIVERSE_ROWS = (
    ("rank_ic", "rank IC (daily)", 1),
    ("rank_icir", "rank ICIR", 1),
    ("ic", "IC (daily)", 1),
    ("icir", "ICIR", 1),
    ("excess_annual_return", "top-k excess %", 100),
    ("information_ratio", "top-k IR", 1),
    ("topk_max_drawdown", "top-k max DD %", 100),
    ("turnover", "top-k turnover", 1),
)


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


def score_on_test(model, data, *, name="model", baselines=BASELINES, seed=0, bars=None, topk_options=None):
    """A fitted model and the baselines (fitted on the training split) scored on the test split.

    On a universe (`ic_basis(test.dates)` is `"daily"`: at least `DAILY_IC_MIN_TICKERS` tickers on the median
    test date) each entry also holds Qlib's daily cross-sectional IC figures (`daily_ic`: `ic`, `rank_ic`,
    their std, `icir`, `rank_icir`, `n_dates`, per-date `daily`); with `bars` and `topk_options`, also the
    top-k portfolio traded on the test windows' probabilities (`walk_forward.topk_metrics`; `TOPK_KEYS`).

    Args:
        model: a fitted model with `predict_proba(windows)`.
        data (PreparedData): the data the model was trained on.
        name (str, default "model"): the model's key in the result.
        baselines (sequence of str, default `BASELINES`): baseline names for `make_baseline`.
        seed (int, default 0): LightGBM's seed.
        bars (dict[str, DataFrame], optional): the OHLCV bars of the test split's tickers, for the top-k run.
        topk_options (dict, optional): `run_backtest` keyword arguments of the top-k run (`k`, `n_drop`, ...);
            None: no top-k run.

    Returns:
        dict[str, dict]: `{name: metrics, **{baseline: metrics}}` as from `compare`, plus the signal and top-k
        figures above where they apply.

    Raises:
        ValueError: an unknown baseline, or a baseline named `name`.
    """
    train, test = data.train, data.test
    if name in baselines:
        raise ValueError(f"baseline name {name!r} clashes with the model's name")
    probas = {name: model.predict_proba(test)}  # a Split: a graph network (gats) groups it by date
    fitted = {b: make_baseline(b, seed=seed).fit(train.X, train.y) for b in baselines}
    probas.update({b: est.predict_proba(test.X) for b, est in fitted.items()})
    results = compare(test.y, probas[name], {b: probas[b] for b in fitted}, model_name=name)
    if ic_basis(test.dates) == "daily":
        for key, proba in probas.items():
            results[key].update(daily_ic(proba, test.forward_returns, test.dates), ic_basis="daily")
    if bars is not None and topk_options is not None:
        from skills.evaluation.walk_forward import topk_figures, topk_metrics  # it imports this module

        for key, proba in probas.items():
            results[key].update(topk_figures(topk_metrics(test, proba, bars, **topk_options).metrics))
    return results


def training_report(model, data, results, *, name, settings=None, timings=None, files=None):
    """The JSON-ready record of a training run: model, settings, data, test metrics, history, timings, files.

    Args:
        model: the fitted model (`network_`, `metadata_`, `history_`).
        data (PreparedData): the data it was trained on.
        results (Mapping[str, dict]): `score_on_test(...)`.
        name (str): the architecture's name (e.g. `"attention_lstm"`).
        settings (Mapping, optional): the settings of the run (e.g. the command-line flags); values that are not
            JSON types are written as text.
        timings (Mapping, optional): seconds per stage and speeds.
        files (Mapping[str, path], optional): what was written; `files["model"]` is the model file.

    Returns:
        dict: `model`, `model_class`, `model_path`, `params`, `flags`, `precision` (the dtype policy trained under),
        `precision_reason` (why: asked for, or the measurement `--precision auto` went by), `backend`, `versions`,
        `data` (`path`, `tickers`, `features`, `date_ranges`, `windows`, `class_counts`, `label_rule`),
        `test_metrics`, `history`, `timings`, `files`.
    """
    import keras

    from skills import __version__

    settings = {key: _plain(value) for key, value in (settings or {}).items()}
    files = {key: str(path) for key, path in (files or {}).items()}
    splits = (data.train, data.val, data.test)
    return {
        "model": name,
        "model_class": type(model).__name__,
        "model_path": files.get("model"),
        "params": int(model.network_.count_params()),
        "flags": settings,
        "precision": (model.metadata_.get("training") or {}).get("precision"),
        "precision_reason": (model.metadata_.get("training") or {}).get("precision_reason"),
        "backend": keras.backend.backend(),
        "versions": {"skills": __version__, "keras": keras.__version__},
        "data": {
            "path": settings.get("data_path"),
            "tickers": list(data.tickers),
            "features": len(data.feature_names),
            "date_ranges": data.bounds.to_dict(),
            "windows": {s.name: len(s) for s in splits},
            "class_counts": {s.name: s.class_counts for s in splits},
            "label_rule": data.label_rule.to_dict(),
        },
        "test_metrics": dict(results),
        "history": {key: [float(v) for v in values] for key, values in getattr(model, "history_", {}).items()},
        "timings": dict(timings or {}),
        "files": files,
    }


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value.item() if isinstance(value, np.generic) else str(value)


def format_table(results):
    """A text table: one row per headline metric (4 decimals), one column per model.

    On a universe (every entry's `ic_basis` is `"daily"`) the daily rank IC, rank ICIR, IC and ICIR rows follow,
    and the top-k portfolio's rows where the entries have them (`n/a` where a figure is undefined).

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
    columns = {}
    for name, metrics in results.items():
        missing = [key for key, _ in _TABLE_ROWS if key not in metrics]
        if missing:
            raise ValueError(f"results[{name!r}] has no {missing[0]!r}")
        columns[str(name)] = [f"{float(metrics[key]):.4f}" for key, _ in _TABLE_ROWS]
    labels = [label for _, label in _TABLE_ROWS]
    daily = all(metrics.get("ic_basis") == "daily" for metrics in results.values())
    for key, label, scale in _UNIVERSE_ROWS:
        if daily and all(key in metrics for metrics in results.values()):
            labels.append(label)
            for name, metrics in results.items():
                value = metrics[key]
                columns[str(name)].append("n/a" if value is None else f"{float(value) * scale:.4f}")
    return _text_table(pd.DataFrame(columns, index=labels), "metric")


def format_confusion(cm):
    """A confusion matrix as text, rows = true class, columns = predicted class.

    Args:
        cm (array-like, shape (3, 3)): counts in `CLASS_NAMES` order, e.g. `metrics["confusion_matrix"]`.

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
    cells = [[f"{v:g}" if arr.dtype.kind == "f" else str(int(v)) for v in row] for row in arr]
    return _text_table(pd.DataFrame(cells, index=list(CLASS_NAMES), columns=list(CLASS_NAMES)), "true\\pred")


def _text_table(cells, corner):
    """`cells` (a DataFrame of strings) as text: the row labels left-aligned under `corner`, the other columns
    right-aligned, two spaces between columns."""
    cells = cells.copy()
    cells.columns = pd.Index([str(c) for c in cells.columns], name=corner)
    widths = {c: 1 + max(len(c), *(len(v) for v in cells[c])) for c in cells.columns}
    return cells.to_string(col_space=widths)
