"""One trial: train the sampled configuration on every walk-forward fold and score it on the folds' validation
splits only (never a test block), reporting to Ray Tune after every epoch so that ASHA can stop a poor trial.

Metrics:

- ``log_loss`` (minimised): the validation log loss; per epoch the Keras ``val_loss``, per fold the log loss of
  the fitted model (its best epoch's weights) on the fold's validation split.
- ``rank_ic`` (maximised): the mean daily cross-sectional rank IC of P(up) - P(down) on the validation split
  (`skills.metrics.split_metrics`), for a universe labelled ``cross_section``.

The objective is the mean over folds; while a fold trains it is the mean of the finished folds' figures and the
current epoch's. ``slot`` counts epochs as ``fold * epochs + epoch`` (1-based), so that trials are compared at
the same fold and epoch even when early stopping ends a fold sooner; the last report of a trial that ran every
fold has ``slot`` `final_slot` and ``complete`` True.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np

from skills.data import prepare_walk_forward
from skills.metrics import split_metrics
from skills.models import make_model, model_params
from skills.training import RANK_IC_LOG
from skills.tuning.space import TRAINING_KEYS

__all__ = ["METRICS", "Setup", "final_slot", "split_config", "run_trial"]

#: Objective name -> the direction Ray Tune optimises it.
METRICS = {"log_loss": "min", "rank_ic": "max", "macro_f1": "max"}


@dataclass
class Setup:
    """What every trial of a search shares.

    Attributes:
        model: architecture name.
        folds: walk-forward folds; each trains on its past and is scored on its validation split.
        epochs: epochs per fold (early stopping may end a fold sooner).
        metric: one of `METRICS`.
        mode: walk-forward mode, ``"expanding"`` or ``"rolling"``.
        val_fraction: share of each fold's training dates held out for validation.
        prepare: `prepare_walk_forward` keyword arguments (``horizon``, ``label``, ``features``, ...), not
            ``sequence_length`` (searched, or `sequence_length`).
        fit: `SequenceClassifier.fit` keyword arguments fixed for every trial (``patience``, ``seed``, ...).
        sequence_length: the window length when the space does not search it.
    """

    model: str
    folds: int
    epochs: int
    metric: str = "log_loss"
    mode: str = "expanding"
    val_fraction: float = 0.15
    prepare: dict = field(default_factory=dict)
    fit: dict = field(default_factory=dict)
    sequence_length: int = 30


def final_slot(setup: Setup) -> int:
    """The ``slot`` of a trial's last report (one past every fold's every epoch)."""
    return setup.folds * setup.epochs + 1


def split_config(model: str, config: dict, fit: dict, sequence_length: int = 30) -> tuple[dict, dict, int]:
    """``(model parameters, fit options, sequence_length)`` of a trial's ``config`` over the fixed ``fit`` and
    ``sequence_length``."""
    takes = model_params(model)
    params = {k: v for k, v in config.items() if k in takes and k != "sequence_length"}
    options = {**fit, **{k: v for k, v in config.items() if k in TRAINING_KEYS}}
    if options.get("class_weight") == "none":  # the command line's spelling of no weighting
        options["class_weight"] = None
    return params, options, int(config.get("sequence_length", sequence_length))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class _EpochReport(keras.callbacks.Callback):
    """A Keras callback reporting the running objective to Ray Tune after every epoch."""

    def __init__(self, estimator, split, setup, fold, finished, report):
        super().__init__()
        self.estimator, self.split, self.setup = estimator, split, setup
        self.fold, self.finished, self.report = fold, finished, report

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.setup.metric == "log_loss":
            value = float(logs.get("val_loss", np.nan))
        elif self.setup.metric == "rank_ic" and RANK_IC_LOG in logs:  # the trainer's early stopping scored it
            value = float(logs[RANK_IC_LOG])
        else:
            value = _val_figure(self.estimator, self.model, self.split, self.setup.metric)
        self.report(slot=self.fold * self.setup.epochs + epoch + 1, current=value, finished=self.finished,
                    fold=self.fold + 1, epoch=epoch + 1)


def _val_figure(estimator, network, split, metric: str) -> float:
    """The validation ``metric`` (rank IC, macro-F1) of ``network`` while it trains (the estimator's batched
    forward pass)."""
    extra = (split.dates, split.tickers) if estimator._batches_by_date else ()
    proba = estimator._run(network, split.X, *extra)
    value = split_metrics(split, proba)[metric]
    return np.nan if value is None else float(value)


def _fold_figure(model, split, metric: str) -> float:
    value = split_metrics(split, model.predict_proba(split))[metric]
    return np.nan if value is None else float(value)


def run_trial(config: dict, *, bars, setup: Setup, report=None) -> dict:
    """Train ``config`` on every fold of ``bars`` and return the final figures (also reported, when ``report``).

    Args:
        config: the trial's hyperparameters (model parameters, `TRAINING_KEYS`, ``sequence_length``).
        bars: the OHLCV bars (a frame or a dict of frames) the folds are made from.
        setup: `Setup`.
        report: callable taking a metrics dict (``ray.tune.report``), or None.

    Returns:
        dict with ``objective``, ``fold_values``, ``slot``, ``complete``, ``node_id`` and timings.

    Raises:
        ValueError, TypeError: a hyperparameter the architecture or trainer refuses (the trial fails).
    """
    started = time.perf_counter()
    node = _node_id()
    params, options, sequence_length = split_config(setup.model, config, setup.fit, setup.sequence_length)
    make_model(setup.model, sequence_length=sequence_length, **params)  # a bad value fails before the data work
    folds = prepare_walk_forward(bars, n_splits=setup.folds, mode=setup.mode, val_fraction=setup.val_fraction,
                                 sequence_length=sequence_length, **setup.prepare)
    values: list[float] = []

    def send(*, slot, current, finished, fold, epoch, complete=False):
        figures = finished + ([] if current is None else [current])
        metrics = {"objective": float(np.mean(figures)) if figures else np.nan, "slot": slot, "fold": fold,
                   "epoch": epoch, "complete": complete, "fold_values": [float(v) for v in finished],
                   "node_id": node, "trial_seconds": round(time.perf_counter() - started, 2)}
        if report is not None:
            report(metrics)
        return metrics

    for number, fold in enumerate(folds):
        model = make_model(setup.model, sequence_length=sequence_length, **params)
        callback = _EpochReport(model, fold.val, setup, number, list(values), send)
        model.fit(fold, **{**options, "epochs": setup.epochs, "verbose": 0}, callbacks=[callback])
        values.append(_fold_figure(model, fold.val, setup.metric))
    return send(slot=final_slot(setup), current=None, finished=values, fold=len(folds), epoch=setup.epochs,
                complete=True)


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:  # outside Ray
        return ""


def trainable(config: dict, bars=None, setup: Setup | None = None, cpus: float | None = None) -> None:
    """The Ray Tune function trainable: `run_trial` reporting through ``ray.tune.report``, with this worker's
    thread pools sized to the trial's ``cpus`` (as a task of `skills.evaluation.parallel.ray_map` is)."""
    from ray import tune

    from skills.evaluation.parallel import size_threads

    if cpus is not None:
        size_threads(cpus)
    run_trial({k: _plain(v) for k, v in config.items()}, bars=bars, setup=setup, report=tune.report)
