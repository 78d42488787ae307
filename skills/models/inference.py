"""Prediction on raw daily bars: one ticker's frame (`predict_frame`) or a whole universe (`predict_universe`).

The features are computed from the bars exactly as for training (`skills.data.feature_windows`,
`skills.data.universe_windows`: a value on date t uses bars up to t only), then every window goes through the
network in one batched pass (`SequenceClassifier.predict_proba`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skills.data import (
    ALPHA158_NAMES,
    CLASS_NAMES,
    FEATURE_NAMES,
    PRICE_VOLUME_FEATURES,
    WindowArray,
    feature_windows,
    universe_windows,
)

__all__ = ["BarPrediction"]


class BarPrediction:
    """The bar-level prediction methods of `skills.models.SequenceClassifier`.

    A mixin: it reads the fitted state (``feature_names_``, ``sequence_length_``, ``metadata_``) and predicts
    through the estimator's ``predict_proba`` and batched ``_run``.
    """

    def predict_frame(self, ohlcv) -> pd.DataFrame:
        """Probabilities for every complete window of a bar frame.

        Args:
            ohlcv: DataFrame of daily bars (``open high low close volume``, DatetimeIndex).

        Returns:
            DataFrame indexed by the date of each window's last bar, columns ``CLASS_NAMES``.

        Raises:
            ModelFileError: the model reads features that neither the bars nor `compute_features` provide,
                or it was trained on features normalised across a universe's tickers, which one ticker's
                bars cannot give.
            DataError: the bars are too few for one complete window.
        """
        self._check_fitted()
        across = self._cross_section
        if across != "none":
            raise self._error(f"trained on features normalised across the tickers of each date ({across!r}); "
                              "one ticker's bars cannot give them: predict_universe(frames) predicts on the whole "
                              "universe")
        self._check_computable(ohlcv.columns, ohlcv.attrs.get("source", "the bars"))
        windows, dates = feature_windows(ohlcv, self.feature_names_, self.sequence_length_)
        proba = self.predict_proba(windows, dates=dates)  # a graph network: one stock per date
        return pd.DataFrame(proba, index=pd.DatetimeIndex(dates, name="date"), columns=list(CLASS_NAMES))

    @property
    def needs_universe(self) -> bool:
        """True when one ticker's bars cannot give this model's input: features normalised across each date's
        tickers (``cross_section``), or a graph network attending across the day's stocks. Predict with
        `predict_universe`; `skills.strategy.run_backtest` and `TopKStrategy` then do so."""
        self._check_fitted()
        return self._cross_section != "none" or bool(self._batches_by_date)

    def predict_universe(self, frames) -> dict:
        """Probabilities for every complete window of every ticker of a universe, in one batched pass.

        The features are computed and, for a model trained with ``cross_section`` ``"rank"`` or
        ``"zscore"``, normalised across each date's tickers as before training
        (`skills.data.universe_windows`; a value on date t uses bars up to t only); a graph network
        (GATs) attends across each date's stocks. Pass the universe the model was trained on: the ranks
        depend on which tickers are there.

        Args:
            frames: ``dict[ticker, DataFrame]`` of daily bars (e.g. `skills.data.load_universe`).

        Returns:
            ``{ticker: DataFrame}`` as `predict_frame` gives one ticker; tickers with too few bars for a
            complete window are left out.

        Raises:
            ModelFileError: the model reads features this version of skills does not compute.
            DataError: no ticker has a complete window.
        """
        self._check_fitted()
        self._check_computable([], "the universe")
        length = self.sequence_length_
        got = universe_windows(frames, self.feature_names_, length, cross_section=self._cross_section)
        first = next(iter(got.values()))[0]
        ends = np.concatenate([windows.ends for windows, _ in got.values()])
        everything = WindowArray(first.values, ends, length, first.relative)
        dates = pd.DatetimeIndex(np.concatenate([d.to_numpy() for _, d in got.values()]))
        tickers = np.concatenate([np.full(len(d), t, dtype=object) for t, (_, d) in got.items()]).astype(str)
        if self._batches_by_date:
            proba = self._run(self.network_, everything, dates=dates, tickers=tickers).astype(np.float32)
        else:
            proba = self.predict_proba(everything)
        out, start = {}, 0
        for ticker, (_, when) in got.items():
            out[ticker] = pd.DataFrame(proba[start:start + len(when)], index=pd.DatetimeIndex(when, name="date"),
                                       columns=list(CLASS_NAMES))
            start += len(when)
        return out

    @property
    def _cross_section(self) -> str:
        """How the training features were normalised across each date's tickers (``"none"`` in older files)."""
        return (self.metadata_.get("data") or {}).get("cross_section", "none")

    def _check_computable(self, columns, source) -> None:
        """Every model feature is an indicator, Alpha158 or price-volume column skills computes, or in ``columns``."""
        known = set(FEATURE_NAMES) | set(PRICE_VOLUME_FEATURES) | set(ALPHA158_NAMES) | set(columns)
        unknown = [f for f in self.feature_names_ if f not in known]
        if unknown:
            raise self._error(f"the data cannot provide the model's features: {source} lacks {', '.join(unknown)} "
                              f"(not computed by this version of skills)")
