"""The frames a backtest trades: each ticker's bars joined with the model's class probabilities.

The model predicts each ticker's bars once, in one batched call (a model whose input spans the universe, once for
all of them). Each frame then starts at the ticker's first bar with a prediction (or at ``start``), so that every
figure of a backtest, the strategy's and its benchmark's alike, covers the same tradable period.
"""

from __future__ import annotations

from skills.data.dataset import as_frames
from skills.data.io import DataError
from skills.strategy.ml_strategy import PROBABILITY_LINES

__all__ = ["probability_feeds"]


def probability_feeds(model, data, start, end, skipped=None) -> dict:
    """``{ticker: bars + probabilities}`` from each ticker's first bar with a prediction (or ``start``) to ``end``.

    With ``model=None`` every frame must already carry the probability columns (``p_down p_flat p_up``). A
    ticker with no bar with a prediction in ``[start, end]`` raises `DataError`, or, when ``skipped`` is a
    dict, is left out and recorded there with the reason.
    """
    feeds = {}
    frames = as_frames(data)
    # a model whose input spans the universe (cross-sectional features, a graph network) predicts it at once
    universe = (model.predict_universe({t: b.loc[:end] if end is not None else b for t, b in frames.items()})
                if getattr(model, "needs_universe", False) else None)
    for ticker, bars in frames.items():
        bars = bars.loc[:end] if end is not None else bars
        if "source" not in bars.attrs:  # name the ticker in data errors, without touching the caller's frame
            bars = bars.copy(deep=False)
            bars.attrs["source"] = ticker
        if model is None:
            missing = [name for name in PROBABILITY_LINES if name not in bars.columns]
            if missing:
                raise DataError(f"{ticker}: no model given and no probability column(s) {', '.join(missing)}")
            proba = bars[list(PROBABILITY_LINES)].dropna()
            bars = bars.drop(columns=list(PROBABILITY_LINES))
            if proba.empty:
                raise DataError(f"{ticker}: every row's probabilities are NaN")
        else:
            if universe is None:
                proba = model.predict_frame(bars)                  # one batched call per ticker
            elif ticker in universe:
                proba = universe[ticker].copy()
            else:
                reason = f"{len(bars)} bars give no complete window"
                if skipped is None:
                    raise DataError(f"{ticker}: {reason}")
                skipped[ticker] = reason
                continue
            proba.columns = list(PROBABILITY_LINES)
        first = proba.index[0] if start is None else max(proba.index[0], start)
        frame = bars.loc[first:].join(proba)
        if frame.empty:
            reason = f"no bar with a prediction between {first.date()} and {bars.index[-1].date()}"
            if skipped is None:
                raise DataError(f"{ticker}: {reason}")
            skipped[ticker] = reason
            continue
        feeds[ticker] = frame
    return feeds
