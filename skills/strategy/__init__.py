"""Backtesting a model's signals in backtrader: `MLStrategy`, `TopKStrategy` and `run_backtest`."""

from skills.strategy.backtest import (
    METRIC_NAMES,
    STRATEGIES,
    TOPK_METRIC_NAMES,
    BacktestResult,
    BuyAndHold,
    BuyAndHoldValue,
    out_of_sample_start,
    run_backtest,
)
from skills.strategy.ml_strategy import AUTO, PROBABILITY_LINES, MLStrategy, ProbabilityData, resolve_threshold
from skills.strategy.topk import EqualWeight, TopKStrategy

__all__ = ["AUTO", "BacktestResult", "BuyAndHold", "BuyAndHoldValue", "EqualWeight", "METRIC_NAMES", "MLStrategy",
           "PROBABILITY_LINES", "ProbabilityData", "STRATEGIES", "TOPK_METRIC_NAMES", "TopKStrategy",
           "out_of_sample_start", "resolve_threshold", "run_backtest"]
