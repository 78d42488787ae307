"""`attention`: a model's temporal attention weights over the windows of one ticker's bars, drawn beside the close
and the predicted class: ``python -m skills attention`` as one call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skills.data import DataError, feature_windows, load_ohlcv
from skills.models import load_model
from skills.pipeline.backtest import check_range
from skills.pipeline.loading import OptionError
from skills.plots import plot_attention_report, save_figure

__all__ = ["AttentionResult", "DEFAULT_LAST", "attention"]

#: Windows `attention` reads when no ``start`` is given: the last year of bars.
DEFAULT_LAST = 250


@dataclass
class AttentionResult:
    """The windows read (their end dates), their attention weights ``(n, sequence_length)`` (oldest step first)
    and class probabilities ``(n, 3)``, the figure, and the file written. `format` is the text
    ``python -m skills attention`` prints."""

    ticker: str
    dates: pd.DatetimeIndex
    weights: np.ndarray
    proba: np.ndarray
    figure: object
    out: str | None = None

    @property
    def counts(self) -> np.ndarray:
        """Windows predicted down, flat and up."""
        return np.bincount(self.proba.argmax(axis=1), minlength=3)

    @property
    def mean_weights(self) -> np.ndarray:
        """The attention weight of each step, averaged over the windows (the last entry is lag 0)."""
        return self.weights.mean(axis=0)

    @property
    def peak_lag(self) -> int:
        """The lag (0: the window's last bar, -1 the bar before, ...) with the most attention on average."""
        mean = self.mean_weights
        return int(np.argmax(mean)) - (len(mean) - 1)

    def format(self) -> str:
        mean, counts = self.mean_weights, self.counts
        text = (f"{len(self.dates)} windows of {self.ticker}, {self.dates[0]:%Y-%m-%d} .. {self.dates[-1]:%Y-%m-%d}; "
                f"predicted down {counts[0]}, flat {counts[1]}, up {counts[2]}; most attention at lag "
                f"{self.peak_lag} (mean weight {mean.max():.3f}, uniform {1 / len(mean):.3f})")
        return text if self.out is None else f"{text}\nwrote {self.out}"


def attention(model, data, *, start=None, end=None, last: int = DEFAULT_LAST, out=None) -> AttentionResult:
    """The attention weights of the windows of ``data`` ending in [``start``, ``end``], drawn.

    Args:
        model: a model file or a fitted model with a temporal attention layer (``attention_lstm``,
            ``causal_attention_lstm``, ``alstm``).
        data: one ticker's CSV or bars (a DataFrame from `load_ohlcv`).
        start, end: dates; the windows ending between them. Without ``start``: the last ``last`` windows up to
            ``end`` (default: the last bar).
        last: windows read when ``start`` is None.
        out: write the figure there (``.png``, ``.pdf``, ``.svg``); None: only return it.

    Returns:
        AttentionResult.

    Raises:
        OptionError: ``data`` is not one ticker, no window ends in the range, the model has no attention layer or
            needs features the data cannot give, ``start`` after ``end``, ``out`` without a suffix.
        ModelFileError: a bad model file. DataError: bad bars.
    """
    if out is not None and not Path(out).suffix:
        raise OptionError(f"{{out}} must end in a suffix such as .png, got {out}", "out")
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)
    check_range(start, end)
    path = data if isinstance(data, (str, Path)) else None
    if path is not None and not Path(path).is_file():
        raise OptionError(f"{{data}} {path}: give one ticker's CSV file", "data")
    if path is None and not isinstance(data, pd.DataFrame):
        raise OptionError("{data}: give one ticker's bars (a DataFrame) or CSV file", "data")
    model_path = str(model) if isinstance(model, (str, Path)) else getattr(model, "path_", None) or "the model"
    model = load_model(model) if isinstance(model, (str, Path)) else model
    bars = load_ohlcv(path) if path is not None else data
    try:
        windows, dates = feature_windows(bars, model.feature_names_, model.sequence_length)
    except DataError:
        raise
    except ValueError as exc:  # a feature this version of skills does not compute
        raise OptionError(f"{{model}} {model_path}: the data cannot provide the model's features: {exc}",
                          "model") from None
    first, final = start or dates[0], end or dates[-1]
    keep = np.flatnonzero((dates >= first) & (dates <= final))
    if start is None:
        keep = keep[-last:]
    if keep.size == 0:
        where = path or "the data"
        raise OptionError(f"no window ends between {first:%Y-%m-%d} and {final:%Y-%m-%d}; {where} has windows "
                          f"ending {dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}")
    X, when = windows.subset(keep), dates[keep]
    try:
        weights = model.get_attention_weights(X)
    except AttributeError as exc:
        raise OptionError(f"{{model}} {model_path}: {exc}; use an attention_lstm, causal_attention_lstm or alstm "
                          f"model", "model") from None
    proba = model.predict_proba(X)
    ticker = bars.attrs.get("ticker", Path(path).stem if path else "DATA")
    figure = plot_attention_report(weights, when, bars["close"].loc[when], proba,
                                   title=f"{ticker}: close and {type(model).__name__}'s predicted class")
    if out is not None:
        save_figure(figure, out)
    return AttentionResult(ticker=ticker, dates=when, weights=weights, proba=proba, figure=figure,
                           out=None if out is None else str(out))
