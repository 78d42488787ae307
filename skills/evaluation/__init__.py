"""Every model metric beside its baselines: the test-split report, walk-forward, and their text tables.

- `baselines`: `make_baseline` (majority class, class prior, LightGBM on the last bar) as a scikit-learn
  estimator, `LastBarClassifier`; and, from the bars, LightGBM on Alpha158 and the reversal and momentum factors
  (`factors`: `Alpha158Classifier`, `FactorBaseline`);
- `report`: `score_on_test` (the figures `python -m skills train` prints), `training_report` (its JSON report),
  `compare`;
- `walk_forward`: `walk_forward`, `backtest_metrics`, `topk_metrics` (a universe's top-k portfolio), `summarise`
  (with `pooled_rank_ic`: the t-statistic of the mean daily rank IC over every test day);
- `tables`: every figure above as a text table: `format_table`, `format_confusion`, `format_summary_table`.

The metrics themselves live in `skills.metrics` and are re-exported here. All results are plain Python types,
ready for `json.dump`; probabilities are `(n, 3)` in `CLASS_NAMES` order.
"""

from skills.evaluation.baselines import (
    ALL_BASELINES,
    BAR_BASELINES,
    BASELINES,
    UNIVERSE_BASELINES,
    LastBarClassifier,
    lightgbm_baseline,
    majority_baseline,
    make_baseline,
    prior_baseline,
    standard_baselines,
)
from skills.evaluation.factors import FACTORS, Alpha158Classifier, FactorBaseline, factor_score
from skills.evaluation.report import compare, score_on_test, training_report
from skills.evaluation.tables import TOPK_KEYS, format_confusion, format_summary_table, format_table
from skills.evaluation.walk_forward import (
    BACKTEST_KEYS,
    SUMMARY_KEYS,
    backtest_metrics,
    pooled_rank_ic,
    summarise,
    topk_figures,
    topk_metrics,
    walk_forward,
)
from skills.metrics import N_CLASSES, classification_metrics, daily_ic, signal_metrics, signal_score, split_metrics

__all__ = [
    "classification_metrics",
    "signal_score",
    "signal_metrics",
    "daily_ic",
    "split_metrics",
    "N_CLASSES",
    "BASELINES",
    "BAR_BASELINES",
    "ALL_BASELINES",
    "UNIVERSE_BASELINES",
    "FACTORS",
    "make_baseline",
    "Alpha158Classifier",
    "FactorBaseline",
    "factor_score",
    "LastBarClassifier",
    "majority_baseline",
    "prior_baseline",
    "lightgbm_baseline",
    "standard_baselines",
    "compare",
    "score_on_test",
    "training_report",
    "format_table",
    "format_confusion",
    "BACKTEST_KEYS",
    "SUMMARY_KEYS",
    "TOPK_KEYS",
    "topk_metrics",
    "topk_figures",
    "backtest_metrics",
    "walk_forward",
    "summarise",
    "pooled_rank_ic",
    "format_summary_table",
]
