"""Causal, stationary technical indicators computed with ``ta``.

Every column is a return, a ratio or distance to a moving average, an oscillator or a
normalised range: never a raw price or a cumulative level (OBV, A/D line, cumulative return),
so a model trained on one period or ticker sees comparable numbers on another.

The value at bar t depends on bars <= t only. ``ta`` pads the first rows of a few indicators
(KST, Ichimoku, DPO) with the mean of the *whole* series, which is look-ahead; those rows and
every other indicator's warm-up are set to NaN (the first :data:`WARMUP_BARS` rows), and
``tests/data/test_features.py`` proves prefix invariance for every column.

Besides the indicators, a model may read Qlib's Alpha158 columns (:mod:`skills.data.alpha158`) and
the raw price-volume columns of Alpha360-style windows (:func:`compute_price_volume`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from ta import momentum, trend, volatility, volume

from .alpha158 import ALPHA158_NAMES, ALPHA158_WARMUP, compute_alpha158
from .io import OHLCV_COLUMNS, DataError

__all__ = ["CROSS_SECTION_MODES", "FEATURE_NAMES", "FEATURE_SETS", "PRICE_VOLUME_FEATURES", "RelativeSpec",
           "WARMUP_BARS", "compute_features", "compute_price_volume", "check_cross_section", "cross_section_normalise",
           "feature_frame", "relative_spec", "resolve_features", "warmup_bars"]

#: Rows at the start of every series whose features are NaN: longer than the longest indicator
#: warm-up in ``ta`` (Ichimoku 52, KST 45, SMA 50, the mean-padded rows of KST/DPO).
WARMUP_BARS = 80

#: Per-date normalisation of the pooled indicators across tickers: none, rank in [0, 1], z-score.
CROSS_SECTION_MODES = ("none", "rank", "zscore")
_BLOCK = 8  # feature columns normalised at a time (bounds the float64 temporaries)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator - 1.0


def _build(df: pd.DataFrame) -> dict[str, pd.Series]:
    o, h, l, c, v = (df[k] for k in OHLCV_COLUMNS)
    macd = trend.MACD(c)
    adx = trend.ADXIndicator(h, l, c)
    kst = trend.KSTIndicator(c)
    ichimoku = trend.IchimokuIndicator(h, l, visual=False)
    bb = volatility.BollingerBands(c)
    kc = volatility.KeltnerChannel(h, l, c, original_version=False)
    dc = volatility.DonchianChannel(h, l, c)
    stoch = momentum.StochasticOscillator(h, l, c)
    vortex = trend.VortexIndicator(h, l, c)
    log_volume = np.log1p(v)
    return {
        # returns and bar shape
        "log_return_1": momentum.ROCIndicator(c, window=1).roc().div(100).pipe(np.log1p),
        "return_5": momentum.ROCIndicator(c, window=5).roc() / 100,
        "return_20": momentum.ROCIndicator(c, window=20).roc() / 100,
        "high_low_range": (h - l) / c,
        "close_open_return": _ratio(c, o),
        "overnight_gap": _ratio(o, c.shift(1)),
        # trend: distances to moving averages, normalised oscillators
        "close_to_sma_10": _ratio(c, trend.SMAIndicator(c, 10).sma_indicator()),
        "close_to_sma_20": _ratio(c, trend.SMAIndicator(c, 20).sma_indicator()),
        "close_to_sma_50": _ratio(c, trend.SMAIndicator(c, 50).sma_indicator()),
        "close_to_ema_12": _ratio(c, trend.EMAIndicator(c, 12).ema_indicator()),
        "close_to_ema_26": _ratio(c, trend.EMAIndicator(c, 26).ema_indicator()),
        "macd_to_close": macd.macd() / c,
        "macd_signal_to_close": macd.macd_signal() / c,
        "macd_diff_to_close": macd.macd_diff() / c,
        "adx": adx.adx() / 100,
        "adx_pos": adx.adx_pos() / 100,
        "adx_neg": adx.adx_neg() / 100,
        "cci": trend.CCIIndicator(h, l, c).cci() / 100,
        "aroon": trend.AroonIndicator(h, l).aroon_indicator() / 100,
        "vortex_diff": vortex.vortex_indicator_diff(),
        "trix": trend.TRIXIndicator(c).trix(),
        "mass_index": trend.MassIndex(h, l).mass_index() / 25,
        "kst": kst.kst() / 100,
        "kst_diff": kst.kst_diff() / 100,
        "close_to_ichimoku_a": _ratio(c, ichimoku.ichimoku_a()),
        "close_to_ichimoku_b": _ratio(c, ichimoku.ichimoku_b()),
        "dpo_to_close": trend.DPOIndicator(c).dpo() / c,
        # momentum oscillators
        "rsi_14": momentum.RSIIndicator(c).rsi() / 100,
        "stoch_k": stoch.stoch() / 100,
        "stoch_d": stoch.stoch_signal() / 100,
        "williams_r": momentum.WilliamsRIndicator(h, l, c).williams_r() / 100,
        "roc_10": momentum.ROCIndicator(c, window=10).roc() / 100,
        "tsi": momentum.TSIIndicator(c).tsi() / 100,
        "ultimate_oscillator": momentum.UltimateOscillator(h, l, c).ultimate_oscillator() / 100,
        "awesome_to_close": momentum.AwesomeOscillatorIndicator(h, l).awesome_oscillator() / c,
        "stoch_rsi": momentum.StochRSIIndicator(c).stochrsi(),
        "ppo": momentum.PercentagePriceOscillator(c).ppo() / 100,
        # volatility
        "atr_to_close": volatility.AverageTrueRange(h, l, c).average_true_range() / c,
        "bb_pband": bb.bollinger_pband(),
        "bb_wband": bb.bollinger_wband() / 100,
        "kc_pband": kc.keltner_channel_pband(),
        "kc_wband": kc.keltner_channel_wband() / 100,
        "dc_pband": dc.donchian_channel_pband(),
        "dc_wband": dc.donchian_channel_wband() / 100,
        "ulcer_index": volatility.UlcerIndex(c).ulcer_index() / 100,
        # volume
        "mfi": volume.MFIIndicator(h, l, c, v).money_flow_index() / 100,
        "cmf": volume.ChaikinMoneyFlowIndicator(h, l, c, v).chaikin_money_flow(),
        "force_index_norm": volume.ForceIndexIndicator(c, v).force_index()
        / (c * trend.SMAIndicator(v, 20).sma_indicator()),
        "close_to_vwap": _ratio(c, volume.VolumeWeightedAveragePrice(h, l, c, v).volume_weighted_average_price()),
        "log_volume_to_sma_20": log_volume - trend.SMAIndicator(log_volume, 20).sma_indicator(),
    }


#: What an oscillator that places the close inside a range reads when the range has zero width (a
#: halted or constant-price stretch gives 0 / 0): the middle of its scale. Other undefined values are 0.
_NEUTRAL = {"rsi_14": 0.5, "stoch_k": 0.5, "stoch_d": 0.5, "williams_r": -0.5, "stoch_rsi": 0.5,
            "ultimate_oscillator": 0.5, "mfi": 0.5, "bb_pband": 0.5, "kc_pband": 0.5, "dc_pband": 0.5}

#: The feature columns, in the order models see them. Defined once, here.
FEATURE_NAMES: tuple[str, ...] = tuple(
    _build(pd.DataFrame({k: np.linspace(1.0, 2.0, 2 * WARMUP_BARS) for k in OHLCV_COLUMNS})).keys()
)


def compute_features(df: pd.DataFrame) -> pd.DataFrame:
    """Compute the indicator columns for one ticker's bars.

    Args:
        df: DataFrame with float columns ``open high low close volume`` on a sorted index
            (as returned by :func:`skills.data.load_ohlcv`).

    Returns:
        A float64 DataFrame on the same index with the columns :data:`FEATURE_NAMES`. The value at
        bar t uses bars <= t only. The first :data:`WARMUP_BARS` rows are NaN; after them every
        value is finite and within the float32 range, also over zero-volume or constant-price
        stretches: an oscillator whose range has zero width reads the middle of its scale, any
        other undefined ratio (e.g. on a zero-volume bar) is 0.

    Raises:
        DataError: a required column is missing or the index is not sorted.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        source = df.attrs.get("source", "bars")
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} needed for features")
    if not df.index.is_monotonic_increasing:
        raise DataError(f"{df.attrs.get('source', 'bars')}: index is not sorted by date")
    bars = df[list(OHLCV_COLUMNS)].astype(float)
    if len(bars) <= WARMUP_BARS:  # nothing but warm-up; some ``ta`` indicators fail on short input
        return pd.DataFrame(np.nan, index=df.index, columns=list(FEATURE_NAMES))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame(_build(bars), index=df.index)
    out = out.replace([np.inf, -np.inf], np.nan).fillna(_NEUTRAL).fillna(0.0).clip(-1e6, 1e6)
    out.iloc[:WARMUP_BARS] = np.nan
    return out


def cross_section_normalise(values: np.ndarray, dates, mode: str = "rank", others=()) -> np.ndarray:
    """Replace each feature value by its rank or z-score among the rows of the same date.

    The value of a row on date t is computed from the rows of date t only (the tickers present
    that day), so it is causal whenever the inputs are. ``"rank"``: average rank of equal values,
    scaled to [0, 1] (lowest 0, highest 1; a date with one row reads 0.5). ``"zscore"``:
    ``(x - mean) / std`` with the population std of that date's rows (0 where the std is 0, so a
    date with one row reads 0). ``"none"`` returns ``values`` itself.

    Args:
        values: 2-D float array (rows × features), all finite.
        dates: one date (or any hashable key) per row.
        mode: one of :data:`CROSS_SECTION_MODES`.
        others: ``(values, dates)`` pairs of rows that count among their dates' rows but are not returned: the
            tickers present that day without a full window yet (whether a ticker gets one depends on how many
            bars it has later, which no date's ranks may read).

    Returns:
        A new float32 array of the same shape (or ``values`` for ``"none"``).

    Raises:
        ValueError: an unknown ``mode``, or ``dates`` of another length than ``values``.
    """
    if mode not in CROSS_SECTION_MODES:
        raise ValueError(f"cross_section must be one of {CROSS_SECTION_MODES}, got {mode!r}")
    if mode == "none":
        return values
    if len(dates) != len(values):
        raise ValueError(f"{len(values)} rows but {len(dates)} dates")
    if others:
        rows = np.concatenate([np.asarray(values), *(v for v, _ in others)])
        days = np.concatenate([np.asarray(dates, dtype="datetime64[ns]"),
                               *(np.asarray(d, dtype="datetime64[ns]") for _, d in others)])
        return cross_section_normalise(rows, days, mode)[:len(values)]
    codes = pd.factorize(np.asarray(dates))[0]
    out = np.empty(values.shape, dtype=np.float32)
    for start in range(0, values.shape[1], _BLOCK):
        block = pd.DataFrame(np.asarray(values[:, start:start + _BLOCK], dtype=np.float64))
        groups = block.groupby(codes, sort=False)
        if mode == "rank":
            count = groups.transform("count").to_numpy()
            rank = groups.rank(method="average").to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                result = np.where(count > 1, (rank - 1.0) / (count - 1.0), 0.5)
        else:
            mean = groups.transform("mean").to_numpy()
            std = groups.transform("std", ddof=0).to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                result = np.where(std > 1e-12, (block.to_numpy() - mean) / std, 0.0)
        out[:, start:start + _BLOCK] = result
    return out


# -- the raw price-volume window (Alpha360 in the manner of Qlib) ---------------------------------

#: The price-volume columns of each bar, in the order models see them. They are stored un-normalised
#: (prices as they are, volume as ``log1p(volume)``); each window is made relative at gather time
#: (:class:`RelativeSpec`), so the names alone say how: ``pv_open pv_high pv_low pv_close pv_vwap``
#: are divided by the window's last ``pv_close``, ``pv_volume`` has the window's last value subtracted.
PRICE_VOLUME_FEATURES: tuple[str, ...] = ("pv_open", "pv_high", "pv_low", "pv_close", "pv_vwap", "pv_volume")
_PV_PRICES = ("pv_open", "pv_high", "pv_low", "pv_close", "pv_vwap")

#: Named feature sets ``prepare_dataset(features=...)`` accepts besides a list of names.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "indicators": FEATURE_NAMES, "price_volume": PRICE_VOLUME_FEATURES, "alpha360": PRICE_VOLUME_FEATURES,
    "alpha158": ALPHA158_NAMES,
}
_KNOWN = frozenset(FEATURE_NAMES) | frozenset(PRICE_VOLUME_FEATURES) | frozenset(ALPHA158_NAMES)


def resolve_features(features) -> list[str]:
    """The feature names of a set name (:data:`FEATURE_SETS`), a list of names, or None (= the indicators).

    Raises:
        ValueError: an unknown set name, an unknown feature name, or a name given twice.
    """
    if features is None:
        return list(FEATURE_NAMES)
    if isinstance(features, str):
        if features not in FEATURE_SETS:
            raise ValueError(f"features must be a list of names or one of {tuple(FEATURE_SETS)}, got {features!r}")
        return list(FEATURE_SETS[features])
    names = [str(name) for name in features]
    unknown = [n for n in names if n not in _KNOWN]
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a feature is named twice in {names}")
    return names


def compute_price_volume(df: pd.DataFrame) -> pd.DataFrame:
    """The per-bar price-volume columns :data:`PRICE_VOLUME_FEATURES`, before the per-window normalisation.

    There is no real VWAP in daily OHLCV bars: ``pv_vwap`` is the bar's typical price
    ``(high + low + close) / 3``. ``pv_volume`` is ``log1p(volume)``, so that the window-relative
    value (this minus the window's last one, ``log((1 + v) / (1 + v_last))``) stays finite on
    zero-volume bars. Each value uses its own bar only (causal, no warm-up).

    Raises:
        DataError: a required column is missing.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{df.attrs.get('source', 'bars')}: missing column(s) {', '.join(missing)} needed for features")
    o, h, l, c, v = (df[k].astype(float) for k in OHLCV_COLUMNS)
    return pd.DataFrame({"pv_open": o, "pv_high": h, "pv_low": l, "pv_close": c, "pv_vwap": (h + l + c) / 3.0,
                         "pv_volume": np.log1p(v.clip(lower=0.0))}, index=df.index)


def warmup_bars(feature_names) -> int:
    """Rows at the start of a series without these features: :data:`WARMUP_BARS` with any indicator,
    else :data:`~skills.data.alpha158.ALPHA158_WARMUP` with any Alpha158 column, else 0 (``pv_`` ones only)."""
    names = set(feature_names)
    if names - set(PRICE_VOLUME_FEATURES) - set(ALPHA158_NAMES):
        return WARMUP_BARS
    return ALPHA158_WARMUP if names & set(ALPHA158_NAMES) else 0


def check_cross_section(mode: str, feature_names=()) -> None:
    """Raise ValueError for an unknown cross-sectional ``mode``, or for ``rank`` / ``zscore`` with
    price-volume features (ranking raw prices across tickers means nothing; their normalisation is
    per window, relative to its last bar). Indicators and Alpha158 columns are ratios: any mode suits them."""
    if mode not in CROSS_SECTION_MODES:
        raise ValueError(f"cross_section must be one of {CROSS_SECTION_MODES}, got {mode!r}")
    price_volume = [n for n in feature_names if n in PRICE_VOLUME_FEATURES]
    if price_volume and mode != "none":
        raise ValueError(f"cross_section={mode!r} ranks each column across the day's tickers, which is "
                         f"meaningless for raw prices ({', '.join(price_volume)}, made relative to each window's "
                         f"last bar only when gathered); use cross_section='none' with price-volume features")


def feature_frame(bars: pd.DataFrame, feature_names) -> pd.DataFrame:
    """The columns ``feature_names`` of one ticker's bars: indicators (:func:`compute_features`), Alpha158
    columns (:func:`~skills.data.alpha158.compute_alpha158`) and price-volume columns
    (:func:`compute_price_volume`), each family computed only when one of its names is asked for.

    Raises:
        ValueError: a name none of them computes.
    """
    names = list(feature_names)
    unknown = [n for n in names if n not in _KNOWN]
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}")
    wanted = set(names)
    parts = [compute(bars) for family, compute in ((FEATURE_NAMES, compute_features),
                                                   (ALPHA158_NAMES, compute_alpha158),
                                                   (PRICE_VOLUME_FEATURES, compute_price_volume))
             if wanted.intersection(family)]
    if not parts:
        return pd.DataFrame(index=bars.index)
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
    return frame[names]


@dataclass(frozen=True)
class RelativeSpec:
    """How a window of price-volume columns is made relative to its last bar (column positions).

    ``window[..., prices] /= window[last, close]`` and ``window[..., volumes] -= window[last, volume]``.
    """

    prices: tuple[int, ...]
    close: int
    volumes: tuple[int, ...]
    volume: int

    def apply(self, windows: np.ndarray) -> np.ndarray:
        """Normalise windows ``(n, T, F)`` in place (and return them)."""
        if self.prices:
            windows[..., list(self.prices)] /= windows[:, -1:, self.close][..., None]
        if self.volumes:
            windows[..., list(self.volumes)] -= windows[:, -1:, self.volume][..., None]
        return windows


def relative_spec(feature_names) -> RelativeSpec | None:
    """The per-window normalisation the feature names call for, or None when they hold no ``pv_`` column.

    Raises:
        ValueError: a ``pv_`` price column without ``pv_close`` to divide it by.
    """
    names = list(feature_names)
    prices = tuple(i for i, n in enumerate(names) if n in _PV_PRICES)
    volumes = tuple(i for i, n in enumerate(names) if n == "pv_volume")
    if not prices and not volumes:
        return None
    if prices and "pv_close" not in names:
        raise ValueError(f"price-volume columns {[names[i] for i in prices]} are divided by the window's last "
                         f"pv_close, which the features {names} lack")
    return RelativeSpec(prices, names.index("pv_close") if prices else -1, volumes,
                        volumes[0] if volumes else -1)
