"""Qlib's Alpha158 features: names and order, each family against a plain pandas computation of Qlib's
expression on real bars, causality, the warm-up, flat stretches, and ``prepare_dataset(features="alpha158")``."""

import numpy as np
import pandas as pd
import pytest

from skills.data import ALPHA158_NAMES, DataError, compute_alpha158, load_universe, prepare_dataset
from skills.data.alpha158 import ALPHA158_WARMUP
from skills.data.features import FEATURE_SETS, feature_frame, resolve_features, warmup_bars

WINDOWS = (5, 10, 20, 30, 60)
KBAR = ("KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2")
PRICE = ("OPEN0", "HIGH0", "LOW0", "VWAP0")
# Alpha158DL.get_feature_config(): the rolling operators in the order the loader appends them
# (the family Qlib selects with use("LOW") is named MIN).
FAMILIES = ("ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV", "IMAX", "IMIN",
            "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD", "VMA", "VSTD", "WVMA", "VSUMP",
            "VSUMN", "VSUMD")
UNIVERSE_TICKERS = ["A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK", "AEE", "AES", "AIG", "AIZ", "ALGN", "ALL",
                    "ALXN"]


def _fit(d):
    """``(slope, r2, last residual)`` of a window's least-squares line on x = 1..d, by np.polyfit."""
    x = np.arange(1.0, d + 1.0)

    def slope(y):
        return np.polyfit(x, y, 1)[0]

    def rsquare(y):
        fitted = np.polyval(np.polyfit(x, y, 1), x)
        return 1.0 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()

    def resi(y):
        return y[-1] - np.polyval(np.polyfit(x, y, 1), x[-1])

    return slope, rsquare, resi


def _corr(left, right, d):
    """Qlib's Corr: pandas' rolling corr, NaN where either side's rolling std is close to 0 (atol 2e-05)."""
    pairs = np.column_stack([left, right])
    r = pd.Series(np.arange(len(left)), index=left.index, dtype=float).rolling(d).apply(
        lambda idx: np.corrcoef(pairs[idx.astype(int)].T)[0, 1], raw=True)
    flat = (np.isclose(left.rolling(d).std(), 0, atol=2e-05) | np.isclose(right.rolling(d).std(), 0, atol=2e-05))
    return r.mask(flat)


def reference(bars: pd.DataFrame) -> pd.DataFrame:
    """Alpha158 written out from Qlib's expressions with pandas, one column at a time (slow; full windows)."""
    o, h, l, c, v = (bars[k].astype(float) for k in ("open", "high", "low", "close", "volume"))
    vwap = (h + l + c) / 3.0
    span = h - l + 1e-12
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    f = {"KMID": (c - o) / o, "KLEN": (h - l) / o, "KMID2": (c - o) / span, "KUP": (h - top) / o,
         "KUP2": (h - top) / span, "KLOW": (bottom - l) / o, "KLOW2": (bottom - l) / span,
         "KSFT": (2 * c - h - l) / o, "KSFT2": (2 * c - h - l) / span,
         "OPEN0": o / c, "HIGH0": h / c, "LOW0": l / c, "VWAP0": vwap / c}
    c1, v1 = c.shift(1), v.shift(1)
    for d in WINDOWS:
        slope, rsquare, resi = _fit(d)
        f[f"ROC{d}"] = c.shift(d) / c
        f[f"MA{d}"] = c.rolling(d).mean() / c
        f[f"STD{d}"] = c.rolling(d).std() / c
        f[f"BETA{d}"] = c.rolling(d).apply(slope, raw=True) / c
        f[f"RSQR{d}"] = c.rolling(d).apply(rsquare, raw=True).mask(np.isclose(c.rolling(d).std(), 0, atol=2e-05))
        f[f"RESI{d}"] = c.rolling(d).apply(resi, raw=True) / c
        f[f"MAX{d}"] = h.rolling(d).max() / c
        f[f"MIN{d}"] = l.rolling(d).min() / c
        f[f"QTLU{d}"] = c.rolling(d).quantile(0.8) / c
        f[f"QTLD{d}"] = c.rolling(d).quantile(0.2) / c
        f[f"RANK{d}"] = c.rolling(d).rank(pct=True)
        f[f"RSV{d}"] = (c - l.rolling(d).min()) / (h.rolling(d).max() - l.rolling(d).min() + 1e-12)
        imax = h.rolling(d).apply(lambda x: x.argmax() + 1, raw=True)
        imin = l.rolling(d).apply(lambda x: x.argmin() + 1, raw=True)
        f[f"IMAX{d}"], f[f"IMIN{d}"], f[f"IMXD{d}"] = imax / d, imin / d, (imax - imin) / d
        f[f"CORR{d}"] = _corr(c, np.log(v + 1), d)
        f[f"CORD{d}"] = _corr(c / c1, np.log(v / v1 + 1), d)
        f[f"CNTP{d}"] = (c > c1).astype(float).rolling(d).mean()
        f[f"CNTN{d}"] = (c < c1).astype(float).rolling(d).mean()
        f[f"CNTD{d}"] = f[f"CNTP{d}"] - f[f"CNTN{d}"]
        for prefix, x in (("", c), ("V", v)):
            up, down = np.maximum(x - x.shift(1), 0), np.maximum(x.shift(1) - x, 0)
            total = (x - x.shift(1)).abs().rolling(d).sum() + 1e-12
            f[f"{prefix}SUMP{d}"] = up.rolling(d).sum() / total
            f[f"{prefix}SUMN{d}"] = down.rolling(d).sum() / total
            f[f"{prefix}SUMD{d}"] = (up.rolling(d).sum() - down.rolling(d).sum()) / total
        f[f"VMA{d}"] = v.rolling(d).mean() / (v + 1e-12)
        f[f"VSTD{d}"] = v.rolling(d).std() / (v + 1e-12)
        weighted = (c / c1 - 1).abs() * v
        f[f"WVMA{d}"] = weighted.rolling(d).std() / (weighted.rolling(d).mean() + 1e-12)
    out = pd.DataFrame(f, index=bars.index)[list(ALPHA158_NAMES)]
    return out.iloc[ALPHA158_WARMUP:].fillna(0.0)  # Qlib's Fillna processor


@pytest.fixture(scope="module")
def universe(data_dir):
    return load_universe(data_dir / "universe", tickers=UNIVERSE_TICKERS)


@pytest.fixture(scope="module")
def pairs(aapl, universe):
    """(ours, reference) on 220 real AAPL bars and on 160 bars of three bundled-universe tickers."""
    slices = [aapl.iloc[-220:]] + [universe[t].iloc[-160:] for t in ("AAL", "ABBV", "ADSK")]
    return [(compute_alpha158(bars).iloc[ALPHA158_WARMUP:], reference(bars)) for bars in slices]


def test_158_unique_names_in_qlibs_order():
    assert len(ALPHA158_NAMES) == len(set(ALPHA158_NAMES)) == 158
    assert ALPHA158_NAMES[:13] == KBAR + PRICE
    assert ALPHA158_NAMES[13:] == tuple(f"{family}{d}" for family in FAMILIES for d in WINDOWS)
    assert ALPHA158_NAMES[13:18] == ("ROC5", "ROC10", "ROC20", "ROC30", "ROC60") and ALPHA158_NAMES[-1] == "VSUMD60"
    assert FEATURE_SETS["alpha158"] == ALPHA158_NAMES and resolve_features("alpha158") == list(ALPHA158_NAMES)
    assert resolve_features(["MIN60", "rsi_14", "pv_close"]) == ["MIN60", "rsi_14", "pv_close"]
    with pytest.raises(ValueError, match="LOW60"):  # the family is named MIN
        resolve_features(["LOW60"])


@pytest.mark.parametrize("family", ("kbar", "price") + FAMILIES)
def test_each_family_equals_qlibs_expression_computed_with_pandas(pairs, family):
    names = {"kbar": list(KBAR), "price": list(PRICE)}.get(family, [f"{family}{d}" for d in WINDOWS])
    for ours, expected in pairs:
        assert np.isfinite(expected[names].to_numpy()).all()
        np.testing.assert_allclose(ours[names].to_numpy(), expected[names].to_numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=family)
    assert pairs[0][0][names].std().gt(0).all()  # a family that moves on real bars (not all 0 / constant)


def test_warm_up_rows_are_nan_and_every_later_value_finite(aapl):
    features = compute_alpha158(aapl)
    assert list(features.columns) == list(ALPHA158_NAMES) and features.index.equals(aapl.index)
    assert ALPHA158_WARMUP == 60
    assert features.iloc[:ALPHA158_WARMUP].isna().all().all()
    values = features.iloc[ALPHA158_WARMUP:].to_numpy()
    assert np.isfinite(values).all() and np.abs(values).max() < np.finfo(np.float32).max
    assert compute_alpha158(aapl.iloc[:ALPHA158_WARMUP]).isna().all().all()  # nothing but warm-up


def test_prefix_invariant_and_causal(aapl):
    bars = aapl.iloc[-400:]
    full = compute_alpha158(bars)
    for k in (61, 150, 333):
        pd.testing.assert_frame_equal(compute_alpha158(bars.iloc[:k]), full.iloc[:k])
    k = 250
    changed = bars.copy()
    changed.iloc[k:, :4] *= 1.3  # every price after row k moves, and the volume with it
    changed.iloc[k:, 4] *= 0.2
    after = compute_alpha158(changed)
    pd.testing.assert_frame_equal(after.iloc[:k], full.iloc[:k])
    assert (after.iloc[k:] != full.iloc[k:]).any(axis=1).all()


def test_a_flat_stretch_with_zero_volume_reads_finite_and_neutral(aapl):
    bars = aapl.iloc[-300:].copy()
    flat = slice(100, 200)  # 100 bars at one price with no trade
    price = bars["close"].iloc[99]
    bars.iloc[flat, :4] = price
    bars.iloc[flat, 4] = 0.0
    features = compute_alpha158(bars)
    values = features.iloc[ALPHA158_WARMUP:].to_numpy()
    assert np.isfinite(values).all() and np.abs(values).max() <= 1e6
    settled = features.iloc[199]  # 100 flat bars: every window, 60 included, is flat
    for zero in ("KMID", "KLEN", "KMID2", "KSFT2", "STD60", "BETA60", "RSQR60", "RESI60", "CORR60", "CORD60",
                 "CNTP60", "CNTN60", "SUMP60", "SUMD60", "VMA60", "VSTD60", "WVMA60", "VSUMP60", "RSV60", "IMXD60"):
        assert settled[zero] == 0.0, zero
    for one in ("OPEN0", "VWAP0", "ROC60", "MA60", "MAX60", "MIN60", "QTLU60", "QTLD60"):
        assert settled[one] == 1.0, one
    assert settled["RANK60"] == pytest.approx(61 / 120)  # 60 ties share the average rank 30.5 of 60
    assert settled["IMAX60"] == settled["IMIN60"] == pytest.approx(1 / 60)  # first occurrence: the oldest bar
    assert features["VMA5"].iloc[100] == 1e6  # a volume over a zero volume (+ 1e-12): clipped
    assert features["CORR5"].iloc[110] == 0.0  # Qlib's mask of a flat side, then its Fillna


def test_bad_bars_raise_data_error(aapl):
    with pytest.raises(DataError, match="volume"):
        compute_alpha158(aapl.drop(columns="volume"))
    with pytest.raises(DataError, match="sorted"):
        compute_alpha158(aapl.iloc[::-1])


def test_feature_frame_computes_only_what_is_asked_and_the_warm_up_follows(aapl):
    bars = aapl.iloc[-200:]
    frame = feature_frame(bars, ["RSV20", "pv_close", "KMID"])
    assert list(frame.columns) == ["RSV20", "pv_close", "KMID"]
    pd.testing.assert_series_equal(frame["RSV20"], compute_alpha158(bars)["RSV20"])
    assert warmup_bars(ALPHA158_NAMES) == ALPHA158_WARMUP == warmup_bars(["KMID", "pv_close"])
    assert warmup_bars(["KMID", "rsi_14"]) == 80 and warmup_bars(["pv_close"]) == 0


def test_prepare_dataset_on_one_ticker(aapl):
    bars = aapl.iloc[-600:]
    data = prepare_dataset(bars, sequence_length=5, features="alpha158")
    assert data.feature_names == list(ALPHA158_NAMES)
    features = compute_alpha158(bars)
    first = bars.index[ALPHA158_WARMUP + 5 - 1]  # the first window starts right after the 60-bar warm-up
    assert data.train.dates[0] == first
    np.testing.assert_array_equal(np.asarray(data.train.X[[0]])[0, -1], features.loc[first].to_numpy(np.float32))


def test_prepare_dataset_on_a_universe_with_cross_section_ranks(universe):
    frames = {t: bars.loc["2016-06":] for t, bars in universe.items()}
    data = prepare_dataset(frames, sequence_length=5, features="alpha158", label="cross_section",
                           cross_section="rank")
    assert data.feature_names == list(ALPHA158_NAMES) and set(data.tickers) == set(UNIVERSE_TICKERS)
    x = np.asarray(data.train.X[np.arange(min(len(data.train), 500))])
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0  # per-date ranks in [0, 1]
    assert len(data.val) and len(data.test)
