"""The raw price-volume window (Alpha360 in the manner of Qlib): columns, per-window normalisation, scaler,
prefix invariance, and a model file that predicts on new bars with no other change."""

import numpy as np
import pandas as pd
import pytest

from skills.data import (
    CLASS_NAMES,
    PRICE_VOLUME_FEATURES,
    ScalerStats,
    compute_price_volume,
    load_ohlcv,
    prepare_dataset,
)
from skills.data.features import relative_spec, resolve_features
from skills.data.windows import feature_windows

TICKERS = ("AAPL", "GOOG", "NVDA", "ORCL", "YHOO")
L = 10


@pytest.fixture(scope="module")
def frames(data_dir):
    """Five real tickers, 2010-2011 (about 500 bars each)."""
    return {t: load_ohlcv(data_dir / f"{t}.csv").loc["2010":"2011"] for t in TICKERS}


@pytest.fixture(scope="module")
def prepared(frames):
    return prepare_dataset(frames, sequence_length=L, features="price_volume")


def expected_window(bars: pd.DataFrame, end: int) -> np.ndarray:
    """The window of bars ``end - L + 1 .. end``, made relative by hand from the bars themselves."""
    w = bars.iloc[end - L + 1:end + 1]
    last_close, last_volume = w["close"].iloc[-1], w["volume"].iloc[-1]
    typical = (w["high"] + w["low"] + w["close"]) / 3
    prices = np.column_stack([w["open"], w["high"], w["low"], w["close"], typical]) / last_close
    volume = np.log((1 + w["volume"].to_numpy()) / (1 + last_volume))
    return np.column_stack([prices, volume])


def key_of(split):
    return {(t, d): i for i, (t, d) in enumerate(zip(split.tickers, split.dates))}


def test_the_feature_set_and_its_alias():
    assert resolve_features("price_volume") == list(PRICE_VOLUME_FEATURES) == resolve_features("alpha360")
    assert PRICE_VOLUME_FEATURES == ("pv_open", "pv_high", "pv_low", "pv_close", "pv_vwap", "pv_volume")
    with pytest.raises(ValueError, match="alpha999"):
        resolve_features("alpha999")
    with pytest.raises(ValueError, match="pv_amount"):
        resolve_features(["pv_close", "pv_amount"])
    with pytest.raises(ValueError, match="pv_close"):  # prices need the close they are divided by
        relative_spec(["pv_open", "pv_high"])
    assert relative_spec(["rsi_14", "adx"]) is None


def test_columns_are_the_bar_with_typical_price_as_vwap(frames):
    bars = frames["AAPL"]
    pv = compute_price_volume(bars)
    assert list(pv.columns) == list(PRICE_VOLUME_FEATURES)
    np.testing.assert_allclose(pv["pv_vwap"], (bars["high"] + bars["low"] + bars["close"]) / 3)
    np.testing.assert_allclose(pv["pv_volume"], np.log1p(bars["volume"]))
    np.testing.assert_array_equal(pv["pv_open"], bars["open"])


def test_every_window_is_relative_to_its_own_last_bar(frames, prepared):
    assert prepared.feature_names == list(PRICE_VOLUME_FEATURES)
    for split in (prepared.train, prepared.test):
        X = split.X[:]
        assert X.shape[1:] == (L, 6) and np.isfinite(X).all()
        np.testing.assert_allclose(X[:, -1, 3], 1.0)  # last close / last close
        np.testing.assert_allclose(X[:, -1, 5], 0.0)  # last log-volume minus itself
    # a few windows of each ticker against the hand computation from the bars
    split = prepared.test
    for i in np.linspace(0, len(split) - 1, 12).astype(int):
        bars = frames[split.tickers[i]]
        end = bars.index.get_loc(split.dates[i])
        np.testing.assert_allclose(split.X[int(i)], expected_window(bars, end), rtol=2e-6, atol=2e-6)
    # no warm-up: a ticker's first window ends on its L-th bar
    assert prepared.train.dates.min() == frames["AAPL"].index[L - 1]


def test_zero_volume_bars_stay_finite(frames):
    bars = frames["ORCL"].iloc[:60].copy()
    bars.iloc[[5, 20, 21, 40], bars.columns.get_loc("volume")] = 0.0  # bar 20 ends a window of zero volume
    windows, dates = feature_windows(bars, PRICE_VOLUME_FEATURES, L)
    X = windows[:]
    assert np.isfinite(X).all() and len(X) == 60 - L + 1
    np.testing.assert_allclose(X[20 - L + 1], expected_window(bars, 20), rtol=2e-6, atol=2e-6)


def test_the_scaler_is_fit_on_the_relative_training_windows(prepared):
    rows = np.asarray(prepared.train.X).reshape(-1, 6)
    expected = ScalerStats.fit(rows, "standard")
    np.testing.assert_allclose(prepared.scaler.offset, expected.offset, rtol=1e-5)
    np.testing.assert_allclose(prepared.scaler.scale, expected.scale, rtol=1e-5)
    assert abs(prepared.scaler.offset[3] - 1.0) < 0.05  # closes near the last close, not raw prices of ~$30


def test_price_volume_refuses_cross_sectional_ranks(frames):
    for features in ("price_volume", ["rsi_14", "pv_close"]):
        with pytest.raises(ValueError, match="cross_section='none'"):
            prepare_dataset(frames, sequence_length=L, features=features, cross_section="rank")


def test_mixed_with_indicators_only_the_pv_columns_are_relative(frames):
    data = prepare_dataset(frames, sequence_length=L, features=["rsi_14", "pv_close", "pv_volume"])
    X = data.test.X[:]
    np.testing.assert_allclose(X[:, -1, 1:], np.tile([1.0, 0.0], (len(X), 1)), atol=1e-6)
    assert not np.allclose(X[:, -1, 0], X[0, -1, 0])  # rsi_14 as computed, not made relative
    assert data.train.dates.min() > frames["AAPL"].index[80]  # the indicators' warm-up applies


def test_changing_bars_after_a_date_leaves_earlier_windows_unchanged(frames, prepared):
    cut = prepared.test.dates[len(prepared.test) // 2]
    changed = {}
    for t, bars in frames.items():
        bars = bars.copy()
        later = bars.index >= cut
        bars.loc[later, ["open", "high", "low", "close"]] *= 1.7
        bars.loc[later, "volume"] = bars.loc[later, "volume"] * 3 + 11
        changed[t] = bars
    again = prepare_dataset(changed, sequence_length=L, features="price_volume")
    np.testing.assert_array_equal(again.scaler.offset, prepared.scaler.offset)
    n_before = n_moved = 0
    for old, new in zip((prepared.train, prepared.val, prepared.test), (again.train, again.val, again.test)):
        old_keys, new_keys = key_of(old), key_of(new)
        before = [k for k in old_keys if k[1] < cut]
        n_before += len(before)
        old_idx = np.array([old_keys[k] for k in before], dtype=int)
        new_idx = np.array([new_keys[k] for k in before], dtype=int)
        if len(before):
            np.testing.assert_array_equal(old.X[old_idx], new.X[new_idx])
        moved = [k for k in old_keys if k[1] >= cut]
        n_moved += len(moved)
        if moved:  # the changed bars do reach the windows that contain them
            assert not np.array_equal(old.X[np.array([old_keys[k] for k in moved])],
                                      new.X[np.array([new_keys[k] for k in moved])])
    assert n_before > 2000 and n_moved > 100


@pytest.mark.slow
def test_a_saved_model_predicts_on_new_bars_as_on_the_split(frames, prepared, tmp_path):
    from skills.models import LSTMModel, load_model

    model = LSTMModel(sequence_length=L, lstm_units=4).fit(prepared, epochs=1, batch_size=256, verbose=0)
    path = tmp_path / "pv.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.feature_names_ == list(PRICE_VOLUME_FEATURES)
    split = prepared.test
    mine = split.tickers == "NVDA"
    expected = loaded.predict_proba(split.X.subset(mine))
    np.testing.assert_allclose(expected, model.predict_proba(split.X.subset(mine)), atol=1e-6)
    # from the bars alone: the names make feature_windows apply the same per-window normalisation
    windows, dates = feature_windows(frames["NVDA"], loaded.feature_names_, L)
    got = pd.DataFrame(loaded.predict_proba(windows), index=dates).loc[split.dates[mine]]
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-5)
    # and through predict_frame, the method a user calls on new bars
    framed = loaded.predict_frame(frames["NVDA"]).loc[split.dates[mine]]
    np.testing.assert_allclose(framed[list(CLASS_NAMES)].to_numpy(), expected, atol=1e-5)
