"""Matplotlib figures for training and evaluation, the single-panel equity curve, and `save_figure`.

The Agg backend is selected at import, so plots work on a headless machine and before backtrader's plotting
module (which would otherwise ask for TkAgg).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from skills._atomic import atomic_path  # noqa: E402
from skills.data.labels import CLASS_NAMES  # noqa: E402

__all__ = [
    "plot_training_curves",
    "plot_confusion_matrix",
    "plot_attention_heatmap",
    "plot_attention_by_lag",
    "plot_attention_report",
    "plot_walk_forward",
    "plot_equity_curve",
    "save_figure",
]

_PREFERRED_ORDER = ("loss", "accuracy")  # panels that come first when present


def _figure_and_ax(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_training_curves(history, axes=None):
    """Per-epoch curves from a Keras history, one panel per metric with its validation twin.

    `loss` (with `val_loss`) comes first and `accuracy` (with `val_accuracy`) second when present; any other
    metric in the history gets a panel after them.

    Args:
        history (dict[str, list[float]] or keras.callbacks.History): metric name -> value per epoch
            (`History` objects are read through their `.history`).
        axes (sequence of Axes, optional): one per panel; default a new figure with a row of panels.

    Returns:
        matplotlib.figure.Figure: the figure holding the panels.

    Raises:
        ValueError: the history has no metric, or `axes` has the wrong length.
    """
    history = dict(getattr(history, "history", history))
    bases = [k for k in history if not k.startswith("val_")]
    bases += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]  # val-only metrics
    if not bases:
        raise ValueError("history holds no metric")
    bases.sort(key=lambda k: (_PREFERRED_ORDER.index(k) if k in _PREFERRED_ORDER else len(_PREFERRED_ORDER)))
    if axes is None:
        fig, axes = plt.subplots(1, len(bases), figsize=(5 * len(bases), 3.5), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.ravel(axes))
        if len(axes) != len(bases):
            raise ValueError(f"need {len(bases)} axes for panels {bases}, got {len(axes)}")
        fig = axes[0].figure
    for ax, base in zip(axes, bases):
        for key, style in ((base, "-"), (f"val_{base}", "--")):
            if key in history:
                values = np.asarray(history[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(base)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm, class_names=CLASS_NAMES, normalize=False, ax=None):
    """A confusion matrix as an annotated heatmap (rows = true class, columns = predicted class).

    Drawn by scikit-learn's `ConfusionMatrixDisplay`, on a colour scale from 0 to the largest count (to 1 when
    normalised).

    Args:
        cm (array-like, shape (k, k)): counts, e.g. `metrics["confusion_matrix"]`.
        class_names (sequence of str, default `CLASS_NAMES`): tick labels, length k.
        normalize (bool, default False): show each row as fractions of its true class (an empty row stays 0);
            cells then read `0.25`, otherwise they read the integer counts.
        ax (Axes, optional): where to draw; default a new figure.

    Returns:
        matplotlib.figure.Figure: the figure holding the heatmap and its colorbar.

    Raises:
        ValueError: `cm` is not square or does not match `class_names`.
    """
    counts = np.asarray(cm, dtype=float)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"cm must be {k}x{k} to match class_names {tuple(class_names)}, got {counts.shape}")
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    else:
        values = np.rint(counts).astype(np.int64)
    fig, ax = _figure_and_ax(ax, (4.5, 4))
    ConfusionMatrixDisplay(values, display_labels=list(class_names)).plot(
        ax=ax, cmap="Blues", values_format=".2f" if normalize else "d",
        im_kw={"vmin": 0, "vmax": 1 if normalize else max(values.max(), 1)})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    return fig


def plot_attention_heatmap(weights, dates=None, ax=None, windows_axis="y", cax=None):
    """Attention weights over the window, one row (or column) per sample.

    Args:
        weights (array-like, shape (n, T)): attention per window step, e.g. `model.get_attention_weights(X)`.
            Step T-1 is the last bar of the window (lag 0).
        dates (sequence, optional): length n, the date each window ends on; labels the windows.
        ax (Axes, optional): where to draw; default a new figure.
        windows_axis (str, default "y"): `"y"` draws one row per window (steps along x); `"x"` one column per
            window at x = 0 .. n-1 (steps down the y axis, lag 0 at the bottom), to line up under a price panel.
        cax (Axes, optional): where to draw the colorbar; default space taken from `ax`.

    Returns:
        matplotlib.figure.Figure: the figure holding the heatmap and its colorbar.

    Raises:
        ValueError: `weights` is not 2-D, `dates` has the wrong length, or `windows_axis` is not "x" or "y".
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"weights must be a non-empty (n, T) array, got shape {w.shape}")
    n, steps = w.shape
    if dates is not None and len(dates) != n:
        raise ValueError(f"dates has {len(dates)} entries for {n} rows of weights")
    if windows_axis not in ("x", "y"):
        raise ValueError(f"windows_axis must be 'x' or 'y', got {windows_axis!r}")
    lag_axis = "x" if windows_axis == "y" else "y"
    figsize = (8, max(3, min(10, 0.25 * n + 1.5))) if windows_axis == "y" else (10, 4)
    fig, ax = _figure_and_ax(ax, figsize)
    image = ax.imshow(w if windows_axis == "y" else w.T, aspect="auto", cmap="viridis", interpolation="nearest")
    lag_ticks = np.unique(np.linspace(0, steps - 1, min(steps, 7)).round().astype(int))
    _set_ticks(ax, lag_axis, lag_ticks, [str(t - (steps - 1)) for t in lag_ticks], "bar relative to window end")
    if dates is not None:
        ticks = np.unique(np.linspace(0, n - 1, min(n, 12 if windows_axis == "y" else 7)).round().astype(int))
        labels = [pd.Timestamp(dates[i]).strftime("%Y-%m-%d") if _is_datelike(dates[i]) else str(dates[i])
                  for i in ticks]
        _set_ticks(ax, windows_axis, ticks, labels, "window end")
    else:
        getattr(ax, f"set_{windows_axis}label")("sample")
    ax.set_title("attention weights")
    fig.colorbar(image, ax=ax, cax=cax, label="weight")
    return fig


def _set_ticks(ax, axis, ticks, labels, title):
    getattr(ax, f"set_{axis}ticks")(ticks, labels=labels)
    getattr(ax, f"set_{axis}label")(title)


def plot_attention_by_lag(weights, ax=None):
    """Mean attention weight at each lag, with the uniform weight 1/T as a reference line.

    Args:
        weights (array-like, shape (n, T)): attention per window step; step T-1 is lag 0.
        ax (Axes, optional): where to draw; default a new figure.

    Returns:
        matplotlib.figure.Figure: the figure holding the bars (one per lag, x = -(T-1) .. 0).

    Raises:
        ValueError: `weights` is not a non-empty 2-D array.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"weights must be a non-empty (n, T) array, got shape {w.shape}")
    steps = w.shape[1]
    fig, ax = _figure_and_ax(ax, (8, 3))
    ax.bar(np.arange(steps) - (steps - 1), w.mean(axis=0), color="tab:blue", label="mean weight")
    ax.axhline(1 / steps, color="black", linestyle="--", linewidth=1, label=f"uniform 1/{steps}")
    ax.set_xlabel("bar relative to window end")
    ax.set_ylabel("mean weight")
    ax.set_title(f"mean attention by lag ({w.shape[0]} windows)")
    ax.legend()
    return fig


_CLASS_COLORS = {"down": "tab:red", "flat": "tab:gray", "up": "tab:green"}


def plot_attention_report(weights, dates, close, proba, title=None):
    """Price with the predicted class, the attention heatmap under it, and mean attention by lag.

    The top panel draws the close at each window's last bar, one marker per window coloured by the predicted
    class (argmax of `proba`); the heatmap below has one column per window on the same x axis (steps back
    down the y axis, lag 0 at the bottom); the bottom panel is `plot_attention_by_lag`.

    Args:
        weights (array-like, shape (n, T)): attention weights of the n windows.
        dates (sequence, length n): the date each window ends on.
        close (array-like, shape (n,)): the close on those dates.
        proba (array-like, shape (n, 3)): class probabilities in `CLASS_NAMES` order.
        title (str, optional): title of the top panel.

    Returns:
        matplotlib.figure.Figure: four axes (price, heatmap, colorbar, lag bars).

    Raises:
        ValueError: lengths differ, or an input has the wrong shape.
    """
    w = np.asarray(weights, dtype=float)
    close = np.asarray(close, dtype=float)
    proba = np.asarray(proba, dtype=float)
    n = len(w)
    if close.shape != (n,) or proba.shape != (n, len(CLASS_NAMES)):
        raise ValueError(f"close must be ({n},) and proba ({n}, {len(CLASS_NAMES)}) to match the weights, got "
                         f"{close.shape} and {proba.shape}")
    fig = plt.figure(figsize=(11, 8.5))
    grid = fig.add_gridspec(3, 2, height_ratios=[1.3, 2, 1.3], width_ratios=[1, 0.015], hspace=0.45, wspace=0.02)
    price_ax = fig.add_subplot(grid[0, 0])
    heat_ax = fig.add_subplot(grid[1, 0], sharex=price_ax)
    plot_attention_heatmap(w, dates, ax=heat_ax, windows_axis="x", cax=fig.add_subplot(grid[1, 1]))
    x = np.arange(n)
    predicted = proba.argmax(axis=1)
    price_ax.plot(x, close, color="black", linewidth=1, label="close")
    for k, name in enumerate(CLASS_NAMES):
        mask = predicted == k
        price_ax.scatter(x[mask], close[mask], s=14, color=_CLASS_COLORS.get(name), zorder=3,
                         label=f"predicted {name} ({mask.sum()})")
    price_ax.tick_params(labelbottom=False)
    price_ax.set_ylabel("close")
    price_ax.set_title(title or "close and predicted class")
    price_ax.grid(alpha=0.3)
    price_ax.legend(fontsize="small", ncol=4, loc="best")
    plot_attention_by_lag(w, ax=fig.add_subplot(grid[2, 0]))
    return fig


def _is_datelike(value):
    return isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "strftime")


def plot_equity_curve(equity, benchmark=None, ax=None):
    """Portfolio value over time, with an optional benchmark (e.g. buy-and-hold) beside it.

    Args:
        equity (pd.Series): portfolio value indexed by date.
        benchmark (pd.Series, optional): a comparable value series, drawn dashed.
        ax (Axes, optional): where to draw; default a new figure.

    Returns:
        matplotlib.figure.Figure: the figure holding the curve(s).

    Raises:
        ValueError: `equity` is empty.
    """
    equity = pd.Series(equity)
    if equity.empty:
        raise ValueError("equity is empty")
    fig, ax = _figure_and_ax(ax, (8, 4))
    ax.plot(equity.index, equity.to_numpy(dtype=float), label=equity.name or "strategy")
    if benchmark is not None:
        benchmark = pd.Series(benchmark)
        ax.plot(benchmark.index, benchmark.to_numpy(dtype=float), "--", label=benchmark.name or "benchmark")
    ax.set_ylabel("value")
    ax.set_title("equity curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.autofmt_xdate()
    return fig


def plot_walk_forward(summary, keys=("macro_f1", "ic", "sharpe")):
    """Walk-forward figures side by side: a bar per model (mean over folds, std as the error bar) and a dot
    per fold.

    Args:
        summary (Mapping[str, Mapping]): `skills.evaluation.walk_forward(...)["summary"]`.
        keys (sequence of str): which figures, one panel each.

    Returns:
        matplotlib.figure.Figure: one panel per key; a model without that figure (e.g. a baseline's Sharpe)
        gets no bar and the text "n/a".

    Raises:
        ValueError: `summary` is empty or lacks a key.
    """
    if not summary:
        raise ValueError("summary is empty")
    names = list(summary)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 0.45 * len(names) + 1.8), squeeze=False)
    y = np.arange(len(names))
    for ax, key in zip(axes[0], keys):
        missing = [name for name in names if key not in summary[name]]
        if missing:
            raise ValueError(f"summary[{missing[0]!r}] has no {key!r}")
        for i, name in enumerate(names):
            figure = summary[name][key]
            if figure["mean"] is None:
                ax.text(0, i, " n/a", va="center", color="gray")
                continue
            ax.barh(i, figure["mean"], xerr=figure["std"] or 0, color="tab:blue", alpha=0.6, capsize=3)
            folds = [v for v in figure["values"] if v is not None]
            ax.plot(folds, np.full(len(folds), i), "k.", markersize=5)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, labels=names)
        ax.set_ylim(len(names) - 0.5, -0.5)  # first row on top
        ax.set_title(key)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def save_figure(fig, path, dpi=120):
    """Write a figure atomically, then close it.

    The image goes to a temporary file in the destination folder and is moved into place with `os.replace`, so
    a reader never sees a half-written file; the format follows the suffix (`.png`, `.pdf`, `.svg`, ...).

    Args:
        fig (matplotlib.figure.Figure): the figure to write; closed afterwards, also on failure.
        path (str or Path): destination; its folder is created if missing.
        dpi (int, default 120): resolution for raster formats.

    Returns:
        Path: the written path.

    Raises:
        ValueError: `path` has no suffix to choose a format from.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    try:
        if not fmt:
            raise ValueError(f"{path}: give a suffix such as .png so the image format is known")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
