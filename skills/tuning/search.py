"""`tune`: a hyperparameter search on Ray Tune (Optuna's TPE, ASHA early stopping), scored on walk-forward
validation splits, kept on disk, resumable, and refitted at the end."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from skills._atomic import atomic_path
from skills._lock import LockedError, exclusive_lock
from skills.data import prepare_dataset
from skills.data.dataset import as_frames
from skills.evaluation.parallel import RayOptions, start_ray
from skills.metrics import split_metrics
from skills.models import make_model
from skills.tracking import optional_run
from skills.tuning.objective import METRICS, Setup, final_slot, split_config, trainable
from skills.tuning.results import best_row, flag_config, format_trials, trial_frame, trial_rows, write_trials
from skills.tuning.schedule import is_point, scheduler
from skills.tuning.space import default_point, search_space, to_ray
from skills.tuning.tracked import log_search, trial_logger

__all__ = ["TuneResult", "TuningError", "tune"]

log = logging.getLogger("skills")
EXPERIMENT = "search"  # the Ray Tune experiment folder inside --out


class TuningError(ValueError):
    """A search that cannot run as asked (e.g. ``out`` holds a different search)."""


@dataclass
class TuneResult:
    """What `tune` returns.

    Attributes:
        trials: DataFrame, one row per trial (``trial``, ``trial_id``, ``status``, ``objective``, ``fold_values``,
            ``node_id``, ``seconds``, ``error``, then the hyperparameters); the same as ``out/trials.csv``.
        best_config: the best finished trial's configuration in the flag names of ``train --config`` (None when
            no trial finished); the content of ``out/best_config.json``.
        best_objective: its objective (mean over folds of the validation figure), or None.
        best_params: its searched hyperparameters, or None.
        best_model_path: the refitted best model (``out/best_model.keras``), or None.
        refit_validation: `split_metrics` of the refitted model on its validation split, or None.
        metric, direction: the objective and ``"min"`` / ``"max"``.
        restored: True when the search resumed one found in ``out``.
        interrupted: True when the search was stopped (Ctrl+C) before every trial ended: nothing is refitted and
            no best configuration is written; call `tune` again to resume it.
        seconds: wall time of the search and the refit.
        table: the printed table of trials.
        default_trial: the row of the trial that ran the defaults (`default_point`; its ``status`` and
            ``objective``), or None when they were not tried.
    """

    trials: pd.DataFrame
    best_config: dict | None
    best_objective: float | None
    best_params: dict | None
    best_model_path: Path | None
    refit_validation: dict | None
    metric: str
    direction: str
    restored: bool
    interrupted: bool
    seconds: float
    table: str
    default_trial: dict | None = None


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def _callback_class():
    from ray import tune

    class Progress(tune.Callback):
        """Prints a line per finished trial (done, best so far, time left) and rewrites ``trials.csv/json``."""

        def __init__(self, out, keys, total, direction, quiet=False):
            self.out, self.keys, self.total, self.direction, self.quiet = str(out), list(keys), total, direction, quiet
            self.started, self.ended_here = time.time(), 0

        def _update(self, trials, trial=None, status=None):
            rows = trial_rows(trials, self.keys, None if trial is None else {trial.trial_id: status})
            write_trials(self.out, rows, self.keys)
            if self.quiet or trial is None:
                return
            done = [row for row in rows if row["status"] in ("finished", "stopped", "failed")]
            running = sum(row["status"] == "running" for row in rows)
            row = next(r for r in rows if r["trial_id"] == trial.trial_id)
            best = best_row(rows, self.direction)
            elapsed = time.time() - self.started
            left = elapsed / max(1, self.ended_here) * (self.total - len(done))
            figure = "n/a" if row["objective"] is None else f"{row['objective']:.4f}"
            if row["status"] == "failed":
                what = f"failed: {row['error'] or 'its error is in trials.csv'}"
            elif row["status"] == "stopped":  # a partial figure: not comparable with a finished trial's
                what = f"stopped by ASHA at fold {row['fold']} epoch {row['epoch']}, running objective {figure}"
            else:
                what = f"{row['status']}, objective {figure}"
            best_text = "none finished yet" if best is None else f"{best['objective']:.4f} (trial {best['trial']})"
            print(f"[{len(done)}/{self.total} done, {running} running] trial {row['trial']} {what}; best "
                  f"{best_text}; {_fmt_time(elapsed)} elapsed, about {_fmt_time(left)} left", flush=True)

        def setup(self, **info):
            self.started, self.ended_here = time.time(), 0

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.ended_here += 1
            self._update(trials, trial, "TERMINATED")

        def on_trial_error(self, iteration, trials, trial, **info):
            self.ended_here += 1
            self._update(trials, trial, "ERROR")

        def on_experiment_end(self, trials, **info):
            self._update(trials)

    return Progress


def _description(setup: Setup, space: dict, trials: int, bars) -> dict:
    """What makes two searches the same one (compared before resuming)."""
    frames = as_frames(bars)
    rows = sum(len(frame) for frame in frames.values())
    first = min(frame.index.min() for frame in frames.values())
    last = max(frame.index.max() for frame in frames.values())
    data = {"tickers": len(frames), "rows": rows, "first": str(first.date()), "last": str(last.date())}
    return json.loads(json.dumps({"model": setup.model, "trials": trials, "folds": setup.folds,
                                  "epochs": setup.epochs, "metric": setup.metric, "mode": setup.mode,
                                  "val_fraction": setup.val_fraction, "sequence_length": setup.sequence_length,
                                  "prepare": setup.prepare, "fit": setup.fit, "space": space, "data": data},
                                 default=str))


def _check_same_search(out: Path, description: dict) -> None:
    path = out / "search.json"
    if not path.exists():
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(description, indent=1))
        return
    before = json.loads(path.read_text())
    changed = sorted(key for key in set(before) | set(description) if before.get(key) != description.get(key))
    if changed:
        raise TuningError(f"{out} holds a search with other settings ({', '.join(changed)} differ); resume it "
                          f"with the same command, or give another --out")


def refit_best(bars, setup: Setup, config: dict, path: Path, test_fraction: float = 0.15):
    """Train ``config`` as ``train`` would (chronological train / validation / test split, the same options) and
    save it to ``path``; returns the model and `split_metrics` on its validation split."""
    params, options, sequence_length = split_config(setup.model, config, setup.fit, setup.sequence_length)
    data = prepare_dataset(bars, sequence_length=sequence_length, val_fraction=setup.val_fraction,
                           test_fraction=test_fraction, **setup.prepare)
    model = make_model(setup.model, sequence_length=sequence_length, **params)
    model.fit(data, **{**options, "epochs": setup.epochs, "verbose": 0})
    with exclusive_lock(path, "model file"):
        model.save(path)
    return model, split_metrics(data.val, model.predict_proba(data.val))


def tune(model: str, data, *, trials: int = 20, folds: int = 3, epochs: int = 10, out, space=None,
         metric: str = "log_loss", mode: str = "expanding", val_fraction: float = 0.15, sequence_length: int = 30,
         prepare: dict | None = None, fit: dict | None = None, test_fraction: float = 0.15,
         parallel: RayOptions | None = None, seed: int = 42,
         grace_period: int | None = None, reduction_factor: int = 3, points_to_evaluate=None, refit: bool = True,
         quiet: bool = False, try_default: bool = True, tracking=None) -> TuneResult:
    """Search hyperparameters of architecture ``model`` on walk-forward validation splits, with Ray Tune.

    Each trial samples a configuration (Optuna's TPE through `ray.tune.search.optuna.OptunaSearch`), trains it on
    every fold's training split with early stopping on that fold's validation split, and is scored by the mean
    over folds of the validation ``metric``; it reports after every epoch, and ASHA (`ASHAScheduler`) stops the
    trials that trail the others at the same fold and epoch, except the first, the defaults' (`schedule.scheduler`),
    which always runs every fold. Test blocks are never read. A trial that raises is
    recorded as failed and the search goes on. Everything is kept in ``out``: the Ray Tune experiment
    (``out/search``; calling `tune` again with the same arguments resumes it: finished trials are kept,
    unfinished ones run again), ``trials.csv`` / ``trials.json`` (rewritten as trials end), ``best_config.json``
    and the best configuration refitted as ``train`` fits it (``best_model.keras``).

    Args:
        model: architecture name (`skills.models.MODEL_NAMES`).
        data: OHLCV bars: a frame, or a dict of frames / `Universe` (see `skills.data.prepare_walk_forward`).
        trials: configurations to try.
        folds: walk-forward folds (``n_splits``, at least 2); epochs: epochs per fold.
        out: folder for the results.
        space: entries replacing the architecture's default space (`skills.tuning.space.search_space`).
        metric: ``"log_loss"`` (minimised) or ``"rank_ic"`` (maximised; a universe with ``label="cross_section"``).
        mode, val_fraction: the walk-forward mode and the validation share of each fold's dates.
        sequence_length: window length when the space does not search it.
        prepare: other `prepare_walk_forward` options (``horizon``, ``label``, ``threshold``, ``scaler``,
            ``features``, ``cross_section``).
        fit: training options fixed for every trial (``patience``, ``seed``, ``precision``, ...; `TrainConfig`).
        test_fraction: the test share of the refit's chronological split (as ``train --test-fraction``).
        parallel (RayOptions, optional): where the trials run and what each asks for, as for ``compare``'s
            tasks (`skills.evaluation.parallel.RayOptions`): ``workers`` trials at once on a local Ray started
            here, or a cluster at ``address`` (default ``RAY_ADDRESS``; else a local Ray of all CPUs); each trial
            reserves ``cpus_per_task`` CPUs (its TensorFlow thread pools sized to them) and ``gpus_per_task``
            GPUs; the workers get `skills.evaluation.parallel.worker_env`. A Ray already initialised in this
            process is used as it is.
        seed: the searcher's seed.
        grace_period, reduction_factor: ASHA's, in epochs; the grace period defaults to ``epochs``, so that every
            trial trains its first fold in full before it is compared with the others.
        points_to_evaluate: configurations to try first (a list of dicts). By default the first trial is the
            configuration ``train`` would fit with the same fixed options (`default_point`), so that the result
            says whether the search beat the defaults (skipped, with a line, when a default lies outside the space).
        try_default: False leaves the defaults out (the searcher proposes every trial).
        refit: refit and save the best configuration. quiet: no progress lines.
        tracking: a `skills.tracking.Tracking`: log the search into MLflow, a parent run with the best
            configuration and the trial table, a child run per trial (`skills.tuning.tracked`); it connects
            before Ray starts. None: no tracking.

    Returns:
        TuneResult.

    Raises:
        TuningError: ``out`` holds a search with other settings or is in use by another search, a bad ``metric``,
            or fewer than 2 folds.
        DataError: a bad space entry, or data too short for the folds.
        TrackingError: ``tracking`` cannot reach its store.
    """
    if metric not in METRICS:
        raise TuningError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if int(folds) < 2:
        raise TuningError(f"a walk-forward needs at least 2 folds, got {folds}")
    started = time.perf_counter()
    space = search_space(model, space)
    setup = Setup(model=model, folds=int(folds), epochs=int(epochs), metric=metric, mode=mode,
                  val_fraction=val_fraction, prepare=dict(prepare or {}), fit=dict(fit or {}),
                  sequence_length=int(sequence_length))
    direction = METRICS[metric]
    default = None
    if points_to_evaluate is None and try_default:
        default, outside = default_point(model, space, setup.fit, setup.sequence_length)
        points_to_evaluate = None if default is None else [default]
        if outside and not quiet:
            print(f"the defaults of {', '.join(outside)} lie outside the search space: they are not tried first")
    if tracking is not None:
        tracking.check()
    shown, out = Path(out), Path(out).resolve()  # Ray Tune wants an absolute path; messages show the one given
    out.mkdir(parents=True, exist_ok=True)
    try:  # one search per folder; a refit's model file is locked too (against a `train` writing it)
        with exclusive_lock(out, "search folder"):
            _check_same_search(out, _description(setup, space, trials, data))
            with optional_run(tracking, f"tune {model}") as run:
                result = _search(model, data, out=out, setup=setup, space=space, trials=trials,
                                 direction=direction, parallel=parallel or RayOptions(), seed=seed,
                                 grace_period=grace_period, reduction_factor=reduction_factor,
                                 points_to_evaluate=points_to_evaluate, refit=refit, test_fraction=test_fraction,
                                 quiet=quiet, started=started, shown=shown, default=default,
                                 callbacks=[] if run is None else [trial_logger(tracking, run)])
                if run is not None:
                    log_search(run, result, setup, space, trials, out)
                return result
    except LockedError as exc:
        raise TuningError(str(exc)) from None


def _search(model, data, *, out, setup, space, trials, direction, parallel, seed, grace_period, reduction_factor,
            points_to_evaluate, refit, test_fraction, quiet, started, shown, default=None,
            callbacks=()) -> TuneResult:
    """`tune` once ``out`` is locked and checked."""
    import optuna
    import ray
    from ray import tune as ray_tune
    from ray.tune.search.optuna import OptunaSearch

    metric, folds, epochs = setup.metric, setup.folds, setup.epochs
    keys = list(space)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Ray's own progress table off at verbose=0; ours prints
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started_ray = start_ray(parallel)
    try:
        runnable = ray_tune.with_resources(
            ray_tune.with_parameters(trainable, bars=data, setup=setup, cpus=parallel.cpus_per_task),
            {"cpu": parallel.cpus_per_task, "gpu": parallel.gpus_per_task})
        path = out / EXPERIMENT
        restored = ray_tune.Tuner.can_restore(str(path))
        if restored:
            tuner = ray_tune.Tuner.restore(str(path), trainable=runnable, resume_unfinished=True,
                                           resume_errored=False, restart_errored=False)
        else:
            searcher = OptunaSearch(metric="objective", mode=direction, seed=seed,
                                    points_to_evaluate=points_to_evaluate)
            stopper = scheduler(max_t=final_slot(setup),
                                grace_period=setup.epochs if grace_period is None else grace_period,
                                reduction_factor=reduction_factor, keep=default)
            progress = _callback_class()(out, keys, trials, direction, quiet)
            tuner = ray_tune.Tuner(
                runnable, param_space=to_ray(space),
                tune_config=ray_tune.TuneConfig(metric="objective", mode=direction, num_samples=trials,
                                                search_alg=searcher, scheduler=stopper, reuse_actors=True),
                run_config=ray_tune.RunConfig(name=EXPERIMENT, storage_path=str(out), verbose=0,
                                              failure_config=ray_tune.FailureConfig(max_failures=0),
                                              callbacks=[progress, *callbacks]))
        if not quiet:
            where = ray.get_runtime_context().gcs_address
            cpus = ray.cluster_resources().get("CPU", 0)
            verb = "resuming the search in" if restored else "search in"
            print(f"{verb} {shown / EXPERIMENT}: {trials} trials of {model}, "
                  f"{folds} folds x {epochs} epochs, objective: mean validation {metric} ({direction}); Ray at "
                  f"{where} ({cpus:g} CPUs, {parallel.cpus_per_task:g} per trial)", flush=True)
        ray_log = logging.getLogger("ray.tune")
        level = ray_log.level
        ray_log.setLevel(logging.CRITICAL)  # a failed trial's traceback is kept in out/search; the table says why
        try:
            tuner.fit()
            rows = trial_rows(ray_tune.ExperimentAnalysis(str(path)).trials, keys)
        finally:
            ray_log.setLevel(level)
    finally:
        if started_ray:
            ray.shutdown()
    write_trials(out, rows, keys)
    interrupted = any(row["status"] in ("running", "pending") for row in rows)  # Ctrl+C: Ray Tune saved and stopped
    best = None if interrupted else best_row(rows, direction)
    best_config = best_model = refit_validation = params = None
    if best is not None:
        params = {key: best[key] for key in keys}
        best_config = flag_config(model, params, setup=setup)
        with atomic_path(out / "best_config.json") as tmp:
            tmp.write_text(json.dumps(best_config, indent=1))
        if refit:
            best_model = out / "best_model.keras"
            _, refit_validation = refit_best(data, setup, params, best_model, test_fraction)
            summary = {"trial": best["trial"], "trial_id": best["trial_id"], "objective": best["objective"],
                       "metric": metric, "config": best_config, "model_path": str(best_model),
                       "refit_validation": refit_validation}
            with atomic_path(out / "best.json") as tmp:
                tmp.write_text(json.dumps(summary, indent=1, default=str))
    return TuneResult(trials=trial_frame(rows, keys), best_config=best_config,
                      best_objective=None if best is None else best["objective"], best_params=params,
                      best_model_path=best_model, interrupted=interrupted,
                      refit_validation=refit_validation, metric=metric, direction=direction, restored=restored,
                      seconds=time.perf_counter() - started, table=format_trials(rows, keys, direction),
                      default_trial=_matching(rows, default))


def _matching(rows, point):
    """The row of the trial that ran ``point`` (the defaults), or None."""
    return next((row for row in rows if is_point(row, point)), None)
