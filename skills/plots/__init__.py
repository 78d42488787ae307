"""Matplotlib figures for training, evaluation and backtests.

Every function takes arrays (or a dict / Series / DataFrame), draws on a given `ax` or on a new figure, and returns
the Figure; none calls `plt.show()`. The Agg backend is selected at import, so plots work on a headless machine and
before backtrader's plotting module (which would otherwise ask for TkAgg). `save_figure` writes a file atomically
and closes the figure.

- training and evaluation: `plot_training_curves`, `plot_confusion_matrix`, the attention figures
  (`plot_attention_heatmap`, `plot_attention_by_lag`, `plot_attention_report`), `plot_walk_forward`;
- backtests: `plot_backtest` (equity beside its benchmark, both drawdowns, and one ticker's price with the
  fills), its parts `drawdown` and `fill_kinds`, and the single-panel `plot_equity_curve`.
"""

from skills.plots.backtest import drawdown, fill_kinds, plot_backtest
from skills.plots.core import (
    plot_attention_by_lag,
    plot_attention_heatmap,
    plot_attention_report,
    plot_confusion_matrix,
    plot_equity_curve,
    plot_training_curves,
    plot_walk_forward,
    save_figure,
)

__all__ = [
    "plot_training_curves",
    "plot_confusion_matrix",
    "plot_attention_heatmap",
    "plot_attention_by_lag",
    "plot_attention_report",
    "plot_walk_forward",
    "plot_equity_curve",
    "plot_backtest",
    "drawdown",
    "fill_kinds",
    "save_figure",
]
