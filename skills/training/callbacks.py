"""Keras callbacks of the trainer: the validation split's mean daily rank IC, logged after every epoch."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

from skills.data.windows import DateBatchDataset, WindowDataset
from skills.metrics import daily_ic

__all__ = ["RankICCallback", "RANK_IC_LOG", "PREDICT_BATCH_SIZE", "is_ranked_split"]

log = logging.getLogger(__name__)

#: The name of the figure in the Keras logs and in the History.
RANK_IC_LOG = "val_rank_ic"
#: Windows per forward pass when the network does not batch by date (prediction holds no gradients).
PREDICT_BATCH_SIZE = 1024


def is_ranked_split(data) -> bool:
    """Whether ``data`` is a `Split`-like object with the dates and forward returns a daily rank IC needs."""
    return all(hasattr(data, name) for name in ("X", "dates", "forward_returns"))


class RankICCallback(keras.callbacks.Callback):
    """Writes the mean daily rank IC of the network being trained on a validation split into the epoch's logs.

    At the end of every epoch it predicts every window of ``validation_split`` once, in batches, with the
    network as that epoch left it, and scores ``P(up) - P(down)`` against the split's forward returns with
    `skills.metrics.daily_ic`: the mean over dates of the Spearman correlation across each date's tickers. The
    figure goes into ``logs["val_rank_ic"]``, so the callbacks after this one (`EarlyStopping`,
    `ReduceLROnPlateau`, the training backup, the History and the progress bar) see it: place it before them.

    A network whose score does not vary across any date's tickers ranks nothing: its figure is 0.0. A network
    whose probabilities are not finite (a diverged run) gets NaN, as its validation loss does.

    The cost is one forward pass over the validation windows per epoch (``seconds`` keeps each epoch's).

    Args:
        validation_split: a `skills.data.Split` (``X``, ``dates``, ``forward_returns``; ``tickers`` orders the
            windows of a date when batching by date).
        batch_by: ``"window"`` (default: ``batch_size`` windows per forward pass) or ``"date"`` (one pass per
            date with all its windows: for networks that attend across a date's stocks).
        batch_size: int, windows per forward pass with ``batch_by="window"``; default `PREDICT_BATCH_SIZE`.
        min_tickers: int, fewest windows a date needs for a rank IC (`daily_ic`'s argument), default 2.

    Attributes:
        values: list of float, each finished epoch's figure.
        seconds: list of float, each epoch's wall time spent predicting and scoring.
    """

    def __init__(self, validation_split, batch_by: str = "window", batch_size: int = PREDICT_BATCH_SIZE,
                 min_tickers: int = 2):
        super().__init__()
        if not is_ranked_split(validation_split):
            raise ValueError("RankICCallback needs a validation Split (windows with their dates and forward "
                             f"returns), got {type(validation_split).__name__}")
        if len(validation_split.X) == 0:
            raise ValueError("RankICCallback needs a validation Split with windows; this one is empty")
        self.forward_returns = np.asarray(validation_split.forward_returns, dtype=np.float64)
        self.dates = validation_split.dates
        self.min_tickers = min_tickers
        if batch_by == "date":
            self.batches = DateBatchDataset(validation_split.X, dates=self.dates,
                                            tickers=getattr(validation_split, "tickers", None))
            # the rows come back in date-batch order; this puts them back in the split's order
            self._order = np.argsort(np.concatenate(self.batches.batches))
        elif batch_by == "window":
            self.batches = WindowDataset(validation_split.X, batch_size=batch_size)
            self._order = None
        else:
            raise ValueError(f"batch_by must be 'window' or 'date', got {batch_by!r}")
        self.values: list[float] = []
        self.seconds: list[float] = []

    def rank_ic(self) -> float:
        """The mean daily rank IC of the network as it is now (0.0 when no date has a spread, NaN when the
        probabilities are not finite)."""
        proba = np.asarray(self.model.predict(self.batches, verbose=0), dtype=np.float64)
        if self._order is not None:
            proba = proba[self._order]
        if not np.all(np.isfinite(proba)):
            return float("nan")
        value = daily_ic(proba, self.forward_returns, self.dates, min_tickers=self.min_tickers)["rank_ic"]
        return 0.0 if value is None else float(value)

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        value = self.rank_ic()
        self.seconds.append(time.perf_counter() - start)
        self.values.append(value)
        if logs is not None:
            logs[RANK_IC_LOG] = value
        log.debug("epoch %d: %s %.5f (%.2f s)", epoch + 1, RANK_IC_LOG, value, self.seconds[-1])
