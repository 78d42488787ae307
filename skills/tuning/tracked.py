"""What `tune` logs into MLflow (`skills.tracking`) when it is given a `Tracking`: a parent run for the search and,
through Ray Tune's own `MLflowLoggerCallback`, a child run per trial."""

from __future__ import annotations

import dataclasses
import json

__all__ = ["log_search", "trial_logger"]


def trial_logger(tracking, parent):
    """Ray Tune's `MLflowLoggerCallback`, each trial a child run of ``parent`` (its config as params, every result
    it reports as metrics, stepped by report; FINISHED, or FAILED when the trial raised)."""
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    return MLflowLoggerCallback(tracking_uri=tracking.uri, experiment_name=tracking.experiment,
                                tags={"mlflow.parentRunId": parent.run_id, "kind": "trial"})


def log_search(run, result, setup, space: dict, trials: int, out) -> None:
    """The search's settings as params, the best objective (and the defaults' trial's) as metrics, and the trial
    table, ``best_config.json``, ``best.json`` and the refitted model as artifacts."""
    run.log_params({"trials": trials, **{key: value for key, value in dataclasses.asdict(setup).items()},
                    "space": json.dumps(space, default=str)})
    counts = result.trials["status"].value_counts().to_dict() if len(result.trials) else {}
    run.log_metrics({"best_objective": result.best_objective, "seconds": result.seconds,
                     **{f"trials_{status}": n for status, n in counts.items()}})
    default = result.default_trial
    if default is not None:
        run.log_metrics({"default_objective": default.get("objective")})
    if result.best_params is not None:
        run.log_params({f"best.{key}": value for key, value in result.best_params.items()})
    run.log_text(result.table, "trials.txt")
    for name in ("trials.csv", "trials.json", "best_config.json", "best.json"):
        if (out / name).exists():
            run.log_artifact(out / name)
    if result.best_model_path is not None and result.best_model_path.exists():
        run.log_artifact(result.best_model_path)
