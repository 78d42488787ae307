"""Hyperparameter search on Ray Tune: a space per architecture (`space`), one trial scored on walk-forward
validation splits (`objective`), the trial table and the best configuration on disk (`results`), and `tune`,
which runs the search (Optuna's TPE, ASHA early stopping), resumes it, and refits the best configuration."""

from skills.tuning.objective import METRICS, Setup, run_trial
from skills.tuning.results import STATUSES, flag_config
from skills.tuning.search import TuneResult, TuningError, refit_best, tune
from skills.tuning.space import DEFAULT_SPACES, TRAINING_KEYS, load_space, search_space, tunable_keys

__all__ = ["tune", "TuneResult", "TuningError", "refit_best", "METRICS", "Setup", "run_trial", "STATUSES",
           "flag_config", "DEFAULT_SPACES", "TRAINING_KEYS", "load_space", "search_space", "tunable_keys"]
