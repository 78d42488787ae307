"""The search's early stopping: ASHA stops a trailing trial, but never the trial of the defaults."""

import pytest

from skills.tuning.schedule import is_point, scheduler

pytest.importorskip("ray.tune")
from ray.tune.schedulers import TrialScheduler  # noqa: E402


class _Trial:
    """What ASHA reads of a trial: its id and config."""

    def __init__(self, trial_id, config):
        self.trial_id, self.config = trial_id, config

    def __hash__(self):
        return hash(self.trial_id)


def _decisions(keep):
    stopper = scheduler(max_t=4, grace_period=1, reduction_factor=2, keep=keep)
    stopper.set_search_properties(metric="objective", mode="max")
    trials = [_Trial(f"t{i}", {"units": units, "rate": rate})
              for i, (units, rate) in enumerate([(64, 1e-3), (32, 3e-4), (16, 1e-4)])]
    for trial in trials:
        stopper.on_trial_add(None, trial)
    decisions = {}
    for trial, objective in zip(trials[1:] + trials[:1], (0.30, 0.31, 0.20)):  # the first trial reports last, worst
        decisions[trial.trial_id] = stopper.on_trial_result(None, trial, {"slot": 1, "objective": objective,
                                                                          "training_iteration": 1})
    return decisions


def test_asha_stops_the_trailing_trial_unless_it_is_the_defaults():
    assert _decisions(keep=None)["t0"] == TrialScheduler.STOP  # plain ASHA: the worst at the rung stops
    kept = _decisions(keep={"units": 64, "rate": 1e-3})
    assert kept["t0"] == TrialScheduler.CONTINUE  # the defaults run on
    assert _decisions(keep={"units": 32, "rate": 3e-4})["t0"] == TrialScheduler.STOP  # another point: no effect


def test_is_point_compares_floats_to_a_relative_tolerance():
    assert is_point({"rate": 0.1 + 0.2, "units": 8, "other": 1}, {"rate": 0.3, "units": 8})
    assert not is_point({"rate": 0.31, "units": 8}, {"rate": 0.3, "units": 8})
    assert not is_point({"units": 8}, None)
