"""Every evaluation figure as a text table: the test-split table, the confusion matrix, the walk-forward summary.

- `format_table`: a model beside its baselines (`report.compare` / `report.score_on_test`), one column each;
- `format_confusion`: a confusion matrix, rows = true class;
- `format_summary_table`: a walk-forward summary (`walk_forward.summarise`), mean ± std over folds;
- `text_table`: a DataFrame of strings laid out as all of them are (row labels left, figures right).

Example:
    >>> results = {"model": {"accuracy": 1.0, "balanced_accuracy": 1.0, "macro_f1": 1.0, "log_loss": 0.0},
    ...            "majority": {"accuracy": 0.5, "balanced_accuracy": 0.5, "macro_f1": 1 / 3, "log_loss": 18.0218}}
    >>> print(format_table(results))
    metric         model  majority
    accuracy      1.0000    0.5000
    balanced acc  1.0000    0.5000
    macro-F1      1.0000    0.3333
    log loss      0.0000   18.0218
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from skills.data.labels import CLASS_NAMES
from skills.evaluation.baselines import ALL_BASELINES
from skills.metrics import N_CLASSES

__all__ = ["TOPK_KEYS", "format_table", "format_confusion", "format_summary_table", "text_table"]

#: Top-k portfolio figures (`walk_forward.topk_metrics`), reported by `walk_forward` when it is given
#: `topk_options`; a `topk_` name is `run_backtest`'s figure without the prefix (kept apart from the per-ticker
#: backtest's). A summary with any of them is a universe's, and `format_summary_table` shows the universe layout.
TOPK_KEYS = ("excess_annual_return", "information_ratio", "topk_max_drawdown", "turnover", "topk_annual_return",
             "benchmark_annual_return")

# (key in the metrics dict, row label in format_table)
_TABLE_ROWS = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced acc"),
    ("macro_f1", "macro-F1"),
    ("log_loss", "log loss"),
)
# rows shown when every entry has the key (a universe's `score_on_test`): (key, label, scale)
_UNIVERSE_ROWS = (
    ("rank_ic", "rank IC (daily)", 1),
    ("rank_icir", "rank ICIR", 1),
    ("ic", "IC (daily)", 1),
    ("icir", "ICIR", 1),
    ("excess_annual_return", "top-k excess %", 100),
    ("information_ratio", "top-k IR", 1),
    ("topk_max_drawdown", "top-k max DD %", 100),
    ("turnover", "top-k turnover", 1),
)
# (key in a walk_forward summary, column header, scale, decimals)
_SUMMARY_COLUMNS = (
    ("accuracy", "accuracy", 1, 3),
    ("balanced_accuracy", "balanced acc", 1, 3),
    ("macro_f1", "macro-F1", 1, 3),
    ("log_loss", "log loss", 1, 3),
    ("ic", "IC", 1, 3),
    ("icir", "ICIR", 1, 2),
    ("sharpe", "Sharpe", 1, 2),
    ("total_return", "return %", 100, 1),
    ("buy_and_hold_return", "B&H return %", 100, 1),
    ("n_trades", "trades", 1, 1),
    ("sharpe_at_fixed", "Sharpe@0.65", 1, 2),
    ("n_trades_at_fixed", "trades@0.65", 1, 1),
    ("val_macro_f1", "val macro-F1", 1, 3),
)
# the universe layout: Qlib's figures (daily rank IC, its ICIR, the top-k portfolio) beside the classification
_UNIVERSE_COLUMNS = (
    ("accuracy", "accuracy", 1, 3),
    ("macro_f1", "macro-F1", 1, 3),
    ("rank_ic", "rank IC", 1, 4),
    ("rank_icir", "rank ICIR", 1, 2),
    ("rank_ic_t", "rank IC t", 1, 2),
    ("ic", "IC", 1, 4),
    ("excess_annual_return", "top-k excess %", 100, 1),
    ("information_ratio", "IR", 1, 2),
    ("topk_max_drawdown", "max DD %", 100, 1),
    ("turnover", "turnover", 1, 2),
    ("val_rank_ic", "val rank IC", 1, 4),
)


def text_table(cells, corner):
    """A DataFrame of strings as text: the row labels left-aligned under `corner`, the other columns
    right-aligned, two spaces between columns.

    Args:
        cells (DataFrame): the cells, already formatted as strings; its index holds the row labels.
        corner (str): the header of the row-label column.

    Returns:
        str: the table, one line per row after the header, every line the same length.
    """
    cells = cells.copy()
    cells.columns = pd.Index([str(c) for c in cells.columns], name=corner)
    widths = {c: 1 + max(len(c), *(len(v) for v in cells[c])) for c in cells.columns}
    return cells.to_string(col_space=widths)


def format_table(results):
    """A text table: one row per headline metric (4 decimals), one column per model.

    On a universe (every entry's `ic_basis` is `"daily"`) the daily rank IC, rank ICIR, IC and ICIR rows follow,
    and the top-k portfolio's rows where the entries have them (`n/a` where a figure is undefined).

    Args:
        results (Mapping[str, Mapping]): name -> metrics, as returned by `compare`.

    Returns:
        str: e.g. ::

            metric         model  majority
            accuracy      0.5000    0.4000
            balanced acc  0.4500    0.3333
            macro-F1      0.4200    0.1905
            log loss      1.0310   21.5850

    Raises:
        ValueError: `results` is empty or an entry lacks a headline metric.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping of name -> metrics")
    columns = {}
    for name, metrics in results.items():
        missing = [key for key, _ in _TABLE_ROWS if key not in metrics]
        if missing:
            raise ValueError(f"results[{name!r}] has no {missing[0]!r}")
        columns[str(name)] = [f"{float(metrics[key]):.4f}" for key, _ in _TABLE_ROWS]
    labels = [label for _, label in _TABLE_ROWS]
    daily = all(metrics.get("ic_basis") == "daily" for metrics in results.values())
    for key, label, scale in _UNIVERSE_ROWS:
        if daily and all(key in metrics for metrics in results.values()):
            labels.append(label)
            for name, metrics in results.items():
                value = metrics[key]
                columns[str(name)].append("n/a" if value is None else f"{float(value) * scale:.4f}")
    return text_table(pd.DataFrame(columns, index=labels), "metric")


def format_confusion(cm):
    """A confusion matrix as text, rows = true class, columns = predicted class.

    Args:
        cm (array-like, shape (3, 3)): counts in `CLASS_NAMES` order, e.g. `metrics["confusion_matrix"]`.

    Returns:
        str: e.g. ::

            true\\pred  down  flat  up
            down          3     1   0
            flat          0     2   1
            up            1     0   4

    Raises:
        ValueError: `cm` is not 3x3.
    """
    arr = np.asarray(cm)
    if arr.shape != (N_CLASSES, N_CLASSES):
        raise ValueError(f"cm must be {N_CLASSES}x{N_CLASSES}, got shape {arr.shape}")
    cells = [[f"{v:g}" if arr.dtype.kind == "f" else str(int(v)) for v in row] for row in arr]
    return text_table(pd.DataFrame(cells, index=list(CLASS_NAMES), columns=list(CLASS_NAMES)), "true\\pred")


def format_summary_table(summary):
    """The walk-forward summary as text: one row per model or baseline, `mean ± std` over folds.

    Rows are sorted by mean macro-F1, best first; a figure that is not defined (the baselines' trading
    columns, the majority's IC) reads `n/a`, and one defined in a single fold has no `± std`. When any row has
    a top-k figure (`walk_forward(..., topk_options=...)`, a universe) the columns are the universe's: accuracy,
    macro-F1, daily rank IC, rank ICIR, the t-statistic of the mean daily rank IC over all test days (`rank IC
    t`, one figure: no `±`), IC, and the top-k portfolio's annualised excess return over the equal-weight
    universe, information ratio, max drawdown and turnover; the baselines lead, in `ALL_BASELINES` order
    (LightGBM on Alpha158 first, then LightGBM on the last bar, reversal, momentum, majority, prior), then the
    models by macro-F1. Otherwise the per-ticker layout below.

    Args:
        summary (Mapping[str, Mapping]): `walk_forward(...)["summary"]`.

    Returns:
        str: e.g. ::

            model        accuracy  balanced acc  ...  Sharpe       return %  B&H return %
            lightgbm  0.384±0.010   0.376±0.012  ...     n/a            n/a           n/a
            majority  0.343±0.020   0.333±0.000  ...     n/a            n/a           n/a

    Raises:
        ValueError: `summary` is empty or a row lacks a column.
    """
    if not isinstance(summary, Mapping) or not summary:
        raise ValueError("summary must be a non-empty mapping of name -> figures")
    universe = any((figures.get(key) or {}).get("mean") is not None
                   for figures in summary.values() for key in TOPK_KEYS)
    columns = _UNIVERSE_COLUMNS if universe else _SUMMARY_COLUMNS
    for name, figures in summary.items():
        missing = [key for key, *_ in columns if key not in figures]
        if missing:
            raise ValueError(f"summary[{name!r}] has no {missing[0]!r}")
    rows = sorted(summary.items(), key=lambda item: -(item[1]["macro_f1"].get("mean") or 0.0))
    if universe:
        baselines = sorted((item for item in rows if item[0] in ALL_BASELINES),
                           key=lambda item: ALL_BASELINES.index(item[0]))
        rows = baselines + [item for item in rows if item[0] not in ALL_BASELINES]
    cells = pd.DataFrame([[_cell(figures[key], scale, digits) for key, _, scale, digits in columns]
                          for _, figures in rows],
                         index=[str(name) for name, _ in rows], columns=[label for _, label, *_ in columns])
    return text_table(cells, "model")


def _cell(figure, scale, digits):
    """`mean±std` scaled and rounded; `mean` alone without a std; `n/a` without a mean."""
    mean, std = figure.get("mean"), figure.get("std")
    if mean is None:
        return "n/a"
    if std is None:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f}±{std * scale:.{digits}f}"


__all__ += ["format_metrics", "format_ticker_table", "format_topk_metrics"]

# (label, strategy key, buy-and-hold key or None, format)
_BACKTEST_ROWS = (
    ("total return", "total_return", "buy_and_hold_return", "{:+.2%}"),
    ("annual return", "annual_return", "buy_and_hold_annual_return", "{:+.2%}"),
    ("Sharpe (ann.)", "sharpe", "buy_and_hold_sharpe", "{:.3f}"),
    ("max drawdown", "max_drawdown", "buy_and_hold_max_drawdown", "{:.2%}"),
    ("trades", "n_trades", None, "{:d}"),
    ("win rate", "win_rate", None, "{:.1%}"),
    ("exposure", "exposure", None, "{:.1%}"),
)
# (label, strategy key, benchmark key or None, format)
_TOPK_ROWS = (
    ("total return", "total_return", "benchmark_return", "{:+.2%}"),
    ("annual return", "annual_return", "benchmark_annual_return", "{:+.2%}"),
    ("Sharpe (ann.)", "sharpe", "benchmark_sharpe", "{:.3f}"),
    ("max drawdown", "max_drawdown", "benchmark_max_drawdown", "{:.2%}"),
    ("excess return", "excess_annual_return", None, "{:+.2%}"),
    ("info. ratio", "information_ratio", None, "{:.3f}"),
    ("turnover", "turnover", None, "{:.1%}"),
    ("rebalances", "n_rebalances", None, "{:d}"),
    ("unfilled", "unfilled_orders", None, "{:d}"),
)


def _format_table(metrics, rows, heads, widths) -> str:
    """``rows`` of (label, key, benchmark key or None, format) as fixed-width text ("n/a" where undefined)."""
    def cell(key, fmt):
        value = metrics.get(key) if key else None
        return "-" if key is None else ("n/a" if value is None else fmt.format(value))

    (left, right), (left_w, right_w) = heads, widths
    lines = [f"{'metric':<15}{left:>{left_w}}{right:>{right_w}}"]
    lines += [f"{label:<15}{cell(key, fmt):>{left_w}}{cell(other, fmt):>{right_w}}" for label, key, other, fmt in rows]
    return "\n".join(lines)


def format_metrics(metrics) -> str:
    """A backtest's metrics (`skills.strategy.run_backtest`, ML strategy) beside buy-and-hold's, as a
    fixed-width text table ("n/a" where a figure is undefined)."""
    return _format_table(metrics, _BACKTEST_ROWS, ("strategy", "buy & hold"), (12, 12))


def format_topk_metrics(metrics) -> str:
    """A top-k backtest's metrics (`skills.strategy.run_backtest`, ``strategy="topk"``) beside the equal-weight
    universe's, as a fixed-width text table ("n/a" where a figure is undefined)."""
    return _format_table(metrics, _TOPK_ROWS, ("top-k", "equal weight"), (12, 14))


_TICKER_NOTE = ("strategy, buy & hold: each portfolio's profit on the ticker after commission, as a share of the\n"
                "starting cash (they add up to the total returns above); price: the ticker's last close / first "
                "close - 1")


def format_ticker_table(per_ticker) -> str:
    """Each ticker of an ML-strategy backtest (`skills.strategy.BacktestResult.per_ticker`): its bars (first ..
    last date, count), the strategy's trades on it, both portfolios' profit on it as a share of the starting cash,
    and its price change, as a fixed-width text table with a line saying what the returns are."""
    cells = pd.DataFrame({
        "first": per_ticker["first"].astype(str), "last": per_ticker["last"].astype(str),
        "bars": per_ticker["bars"].map("{:d}".format), "trades": per_ticker["trades"].map("{:d}".format),
        "strategy": per_ticker["total_return"].map("{:+.2%}".format),
        "buy & hold": per_ticker["buy_and_hold_return"].map("{:+.2%}".format),
        "price": per_ticker["price_return"].map("{:+.2%}".format)}, index=[str(ticker) for ticker in per_ticker.index])
    return f"{text_table(cells, 'ticker')}\n{_TICKER_NOTE}"
