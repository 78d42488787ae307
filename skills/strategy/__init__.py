"""Backtesting a model's signals in backtrader: `MLStrategy`, `TopKStrategy` and `run_backtest`, beside their
benchmarks (`BuyAndHold`, `EqualWeight`), and the trading defaults (`topk_defaults`, `default_strategy`,
`TOPK_MIN_TICKERS`, `DEFAULT_REBALANCE`, `DEFAULT_CONFIDENCE`), and `next_open`: what either strategy would do
at the open after a given bar."""

from skills.strategy.backtest import (
    METRIC_NAMES,
    STRATEGIES,
    TOPK_METRIC_NAMES,
    BacktestResult,
    out_of_sample_start,
    run_backtest,
)
from skills.strategy.benchmark import BuyAndHold, OwnBroker, on_own_broker
from skills.strategy.defaults import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REBALANCE,
    TOPK_MIN_TICKERS,
    default_strategy,
    names_per_side,
    topk_defaults,
)
from skills.strategy.ml_strategy import AUTO, PROBABILITY_LINES, MLStrategy, ProbabilityData, resolve_threshold
from skills.strategy.predict import NextOpen, next_open
from skills.strategy.topk import EqualWeight, TopKStrategy

__all__ = ["AUTO", "BacktestResult", "BuyAndHold", "DEFAULT_CONFIDENCE", "DEFAULT_REBALANCE", "EqualWeight",
           "METRIC_NAMES", "MLStrategy", "NextOpen", "OwnBroker", "PROBABILITY_LINES", "ProbabilityData", "STRATEGIES",
           "TOPK_METRIC_NAMES", "TOPK_MIN_TICKERS", "TopKStrategy", "default_strategy", "names_per_side",
           "next_open", "on_own_broker", "out_of_sample_start", "resolve_threshold", "run_backtest", "topk_defaults"]
