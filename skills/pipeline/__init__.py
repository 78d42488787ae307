"""One call per command of ``python -m skills``, each returning a result object with the figures the command
prints (its ``format()`` is the command's text):

- `train` -> `TrainResult`: load, prepare, fit, score beside the baselines, write model + report + plots;
- `backtest` -> `BacktestRun`: a saved model's signals traded out of sample (ML or top-k strategy);
- `attention` -> `AttentionResult`: a model's attention weights over one ticker's windows, drawn;
- `compare` -> `CompareResult`: walk-forward comparison of models beside baselines;
- `predict` -> `PredictResult`: a saved model's probabilities at a bar's close and what its backtest's strategy
  would do at the next open;
- `prepare`: the windows ``python -m skills data`` summarises; `load_bars`: a CSV, folder or universe file.

Example:
    >>> from skills import pipeline
    >>> result = pipeline.train("data/AAPL.csv", model="lstm", model_path="models/aapl.h5", epochs=2)  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP

A bad argument value raises `OptionError` (a ValueError naming the argument); bad data `DataError`, a bad model
file `ModelFileError`.
"""

from skills.pipeline.attention import DEFAULT_LAST, AttentionResult, attention
from skills.pipeline.backtest import BacktestRun, backtest, topk_rule
from skills.pipeline.compare import DEFAULT_COMPARE_MODELS, DEFAULT_SPLITS, CompareResult, compare
from skills.pipeline.loading import UNIVERSE_DEFAULTS, OptionError, is_universe, load_bars, new_model
from skills.pipeline.predict import PredictResult, predict
from skills.pipeline.train import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_PATH,
    TrainResult,
    check_fractions,
    check_model_path,
    prepare,
    train,
)

__all__ = ["AttentionResult", "BacktestRun", "CompareResult", "DEFAULT_COMPARE_MODELS", "DEFAULT_LAST",
           "DEFAULT_MODEL", "DEFAULT_MODEL_PATH", "DEFAULT_SPLITS", "OptionError", "PredictResult", "TrainResult",
           "UNIVERSE_DEFAULTS", "attention", "backtest", "check_fractions", "check_model_path", "compare",
           "is_universe", "load_bars", "new_model", "predict", "prepare", "topk_rule", "train"]
