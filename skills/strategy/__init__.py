"""Backtesting a model's signals in backtrader: `MLStrategy` and `run_backtest`."""

from skills.strategy.backtest import METRIC_NAMES, BacktestResult, BuyAndHold, out_of_sample_start, run_backtest
from skills.strategy.ml_strategy import PROBABILITY_LINES, MLStrategy, ProbabilityData

__all__ = ["BacktestResult", "BuyAndHold", "METRIC_NAMES", "MLStrategy", "PROBABILITY_LINES", "ProbabilityData",
           "out_of_sample_start", "run_backtest"]
