"""The test-split report: a model beside its baselines, and the JSON report of a training run.

`score_on_test` is what `python -m skills train` prints (as a table: `skills.evaluation.tables.format_table`);
`training_report` is the report file it writes beside the model. Both are plain library calls, so a Python user
gets the same figures.

Example:
    >>> import numpy as np
    >>> always_up = np.tile([0.0, 0.0, 1.0], (2, 1))
    >>> results = compare([0, 2], np.eye(3)[[0, 2]], {"majority": always_up})
    >>> round(results["model"]["accuracy"], 4), round(results["majority"]["accuracy"], 4)
    (1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from skills._version import __version__
from skills.evaluation.baselines import BASELINES, make_baseline
from skills.evaluation.walk_forward import topk_figures, topk_metrics
from skills.metrics import classification_metrics, daily_ic, ic_basis

__all__ = ["compare", "score_on_test", "training_report"]



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
        dict: `model`, `model_class`, `model_path`, `params`, `flags`, `training` (the settings the trainer
        resolved: learning rate, epochs run, ``global_batch_size`` = batch per device x devices, ...),
        `precision` (the dtype policy trained under),
        `precision_reason` (why: asked for, or the measurement `--precision auto` went by), `backend`, `versions`,
        `data` (`path`, `tickers`, `features`, `date_ranges`, `windows`, `class_counts`, `label_rule`),
        `test_metrics`, `history`, `timings`, `files`.
    """
    import keras

    settings = {key: _plain(value) for key, value in (settings or {}).items()}
    files = {key: str(path) for key, path in (files or {}).items()}
    splits = (data.train, data.val, data.test)
    return {
        "model": name,
        "model_class": type(model).__name__,
        "model_path": files.get("model"),
        "params": int(model.network_.count_params()),
        "flags": settings,
        "training": {key: _plain(value) for key, value in (model.metadata_.get("training") or {}).items()
                     if key not in ("precision", "precision_reason")},
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
