"""The search's early stopping: ASHA, except for the trial of the defaults, whose full objective is the figure
every other trial is compared with."""

from __future__ import annotations

import math

__all__ = ["is_point", "scheduler"]


def is_point(config: dict, point: dict | None) -> bool:
    """Whether ``config`` holds every value of ``point`` (floats to a relative 1e-9)."""
    if point is None:
        return False
    return all(config.get(key) == value or (isinstance(value, float) and isinstance(config.get(key), (int, float))
                                            and math.isclose(config[key], value, rel_tol=1e-9))
               for key, value in point.items())


def scheduler(*, max_t: int, grace_period: int, reduction_factor: int, keep=None):
    """`ray.tune.schedulers.ASHAScheduler` on the ``slot`` a trial reports (fold × epoch) that stops the trials
    trailing the others at the same slot, but never the trial whose config is the point ``keep`` (the defaults
    `train` fits): "the best beats the defaults by ..." then compares with their objective over every fold, not
    with a running figure of the first."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class KeepDefaults(ASHAScheduler):
        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            if (decision == TrialScheduler.STOP and result.get("slot", max_t) < max_t
                    and is_point(trial.config, keep)):
                return TrialScheduler.CONTINUE
            return decision

    return KeepDefaults(time_attr="slot", max_t=max_t, grace_period=grace_period, reduction_factor=reduction_factor)
