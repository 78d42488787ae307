"""prepare_dataset: window alignment, time splits with a gap, training-only statistics, pooling."""

import numpy as np
import pandas as pd
import pytest

from skills.data import (
    FEATURE_NAMES,
    DataError,
    ScalerStats,
    WindowArray,
    compute_features,
    feature_windows,
    load_ohlcv,
    make_labels,
    prepare_dataset,
    prepare_walk_forward,
)

L = 20


@pytest.fixture(scope="module")
def aapl_short(aapl):
    return aapl.iloc[:900]


@pytest.fixture(scope="module")
def prepared(aapl_short):
    return prepare_dataset(aapl_short, sequence_length=L, horizon=1)


def test_window_i_ends_on_its_row_and_carries_that_rows_label(aapl_short, prepared):
    feats = compute_features(aapl_short)
    labels = make_labels(aapl_short)
    for split in (prepared.train, prepared.val, prepared.test):
        for i in (0, 7, len(split) - 1):
            end = feats.index.get_loc(split.dates[i])
            np.testing.assert_allclose(split.X[i], feats.iloc[end - L + 1:end + 1].to_numpy(np.float32))
            assert split.y[i] == labels.iloc[end]
    # the very first training window starts on the first row after the warm-up
    first_valid = feats.dropna().index[0]
    assert prepared.train.dates[0] == feats.index[feats.index.get_loc(first_valid) + L - 1]


def test_windows_are_lazy_views_over_one_2d_array(prepared):
    X = prepared.train.X
    assert isinstance(X, WindowArray) and X.values.ndim == 2
    assert X.values is prepared.val.X.values is prepared.test.X.values
    assert X.shape == (len(prepared.train), L, len(FEATURE_NAMES))
    assert X[0].shape == (L, len(FEATURE_NAMES)) and X[0].dtype == np.float32
    assert X[2:5].shape == (3, L, len(FEATURE_NAMES))
    np.testing.assert_array_equal(X[np.array([4, 1])][1], X[1])
    np.testing.assert_array_equal(np.asarray(X)[3], X[3])


@pytest.mark.parametrize("basis, extra", [("open_to_open", 1), ("close_to_close", 0)])
def test_splits_are_chronological_with_the_gap(aapl, basis, extra):
    """The default gap is the label's reach: horizon + 1 bars for open-to-open labels (they read the open of
    bar t+1+horizon), horizon for close-to-close ones."""
    for horizon, gap in ((1, None), (5, None), (3, 10)):
        p = prepare_dataset(aapl.iloc[:1200], sequence_length=L, horizon=horizon, gap=gap, label_basis=basis)
        reach = horizon + extra
        assert p.label_rule.basis == basis and p.label_rule.reach == reach
        gap = reach if gap is None else gap
        assert p.gap == gap
        calendar = compute_features(aapl).index
        pos = {name: calendar.get_indexer(getattr(p, name).dates) for name in ("train", "val", "test")}
        assert pos["train"].max() + gap < pos["val"].min()
        assert pos["val"].max() + gap < pos["test"].min()
        # purge: no training label reads a price on or after the first validation bar
        assert pos["train"].max() + reach < pos["val"].min()
        assert (np.diff(pos["train"]) > 0).all()


def test_changing_test_period_prices_leaves_training_windows_and_scaler_unchanged(aapl_short, prepared):
    changed = aapl_short.copy()
    start = changed.index.get_loc(prepared.test.dates[0]) - L  # includes the test windows' history
    changed.iloc[start:, :4] *= 1.7
    changed.iloc[start:, 4] *= 0.3
    other = prepare_dataset(changed, sequence_length=L, horizon=1)
    np.testing.assert_array_equal(other.train.X[:], prepared.train.X[:])
    np.testing.assert_array_equal(other.train.y, prepared.train.y)
    np.testing.assert_array_equal(other.scaler.offset, prepared.scaler.offset)
    np.testing.assert_array_equal(other.scaler.scale, prepared.scaler.scale)
    assert not np.allclose(other.test.X[:], prepared.test.X[:])


@pytest.mark.parametrize("kind", ["standard", "minmax", "robust"])
def test_scaler_is_fit_on_training_rows_only(aapl_short, kind):
    p = prepare_dataset(aapl_short, sequence_length=L, scaler=kind)
    feats = compute_features(aapl_short).dropna()
    train_rows = feats.loc[:p.train.dates[-1]].to_numpy(np.float32)
    expected = ScalerStats.fit(train_rows, kind)
    np.testing.assert_allclose(p.scaler.offset, expected.offset, rtol=1e-5)
    np.testing.assert_allclose(p.scaler.scale, expected.scale, rtol=1e-5)
    all_rows = ScalerStats.fit(feats.to_numpy(np.float32), kind)
    assert not np.allclose(p.scaler.offset, all_rows.offset)
    if kind == "standard":
        scaled = p.scaler.transform(train_rows)
        np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-3)


def test_quantile_edges_come_from_training_labels_only(aapl_short):
    p = prepare_dataset(aapl_short, sequence_length=L, label="quantile")
    low, high = np.quantile(p.train.forward_returns, [1 / 3, 2 / 3])
    assert p.label_rule.edges == pytest.approx((low, high))
    counts = np.bincount(p.train.y, minlength=3)
    assert np.abs(counts - len(p.train) / 3).max() <= 2


def test_pooled_tickers_share_cut_dates_and_no_window_crosses_tickers(data_dir):
    frames = {t: df.iloc[-700:] for t, df in load_ohlcv(data_dir).items() if t in ("AAPL", "GOOG")}
    p = prepare_dataset(frames, sequence_length=L)
    assert p.tickers == ["AAPL", "GOOG"]
    assert set(p.train.tickers) == {"AAPL", "GOOG"}
    assert p.train.dates.max() < p.val.dates.min() and p.val.dates.max() < p.test.dates.min()
    for ticker in ("AAPL", "GOOG"):
        feats = compute_features(frames[ticker])
        mask = p.train.tickers == ticker
        for i in np.flatnonzero(mask)[[0, -1]]:
            end = feats.index.get_loc(p.train.dates[i])
            np.testing.assert_allclose(p.train.X[i], feats.iloc[end - L + 1:end + 1].to_numpy(np.float32))
    # the first GOOG window starts on GOOG's own first valid row, not on AAPL's rows
    goog_first = np.flatnonzero(p.train.tickers == "GOOG")[0]
    assert p.train.dates[goog_first] == compute_features(frames["GOOG"]).dropna().index[L - 1]


def test_pydataset_batches_and_shuffles_only_the_training_split(prepared):
    ds = prepared.train.dataset(batch_size=64, seed=1)
    x, y = ds[0]
    assert x.shape == (64, L, len(FEATURE_NAMES)) and y.shape == (64,)
    assert len(ds) == -(-len(prepared.train) // 64)
    seen = np.concatenate([ds[i][1] for i in range(len(ds))])
    assert sorted(seen) == sorted(prepared.train.y) and not np.array_equal(seen, prepared.train.y)
    val = prepared.val.dataset(batch_size=len(prepared.val))
    np.testing.assert_array_equal(val[0][1], prepared.val.y)
    with pytest.raises(ValueError, match="training split only"):
        prepared.test.dataset(shuffle=True)


def test_walk_forward_folds_move_forward_with_their_own_scalers(aapl):
    folds = prepare_walk_forward(aapl.iloc[:1500], n_splits=3, mode="expanding", sequence_length=L)
    assert len(folds) == 3
    for fold in folds:
        assert fold.train.dates.max() < fold.val.dates.min() < fold.test.dates.min()
    assert folds[0].test.dates.max() < folds[1].test.dates.min() < folds[2].test.dates.min()
    assert folds[0].train.dates.min() == folds[2].train.dates.min()
    assert not np.allclose(folds[0].scaler.offset, folds[2].scaler.offset)
    rolling = prepare_walk_forward(aapl.iloc[:1500], n_splits=3, mode="rolling", sequence_length=L)
    assert rolling[0].train.dates.min() < rolling[2].train.dates.min()


def test_feature_windows_cover_every_complete_window(aapl_short):
    X, dates = feature_windows(aapl_short, FEATURE_NAMES, L)
    feats = compute_features(aapl_short)
    assert dates[0] == feats.dropna().index[L - 1] and dates[-1] == aapl_short.index[-1]
    np.testing.assert_allclose(X[-1], feats.iloc[-L:].to_numpy(np.float32))
    with pytest.raises(DataError, match="lacks feature"):
        feature_windows(feats.drop(columns="rsi_14"), ["rsi_14"], L)


def test_too_little_data_is_a_clear_error(aapl):
    with pytest.raises(DataError, match="no ticker has enough bars"):
        prepare_dataset(aapl.iloc[:100], sequence_length=30)
    with pytest.raises(DataError, match="too few"):
        prepare_dataset(aapl.iloc[:113], sequence_length=30)
    with pytest.raises(ValueError, match="sequence_length"):
        prepare_dataset(aapl, sequence_length=0)
    with pytest.raises(ValueError, match="gap must be >= the 6 bar"):
        prepare_dataset(aapl, horizon=5, gap=5)  # an open-to-open label of horizon 5 reads 6 bars ahead
    with pytest.raises(ValueError, match="gap must be >= the 5 bar"):
        prepare_dataset(aapl, horizon=5, gap=4, label_basis="close_to_close")


def test_meta_is_json_ready(prepared):
    import json

    meta = json.loads(json.dumps(prepared.meta))
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["sequence_length"] == L and meta["class_names"] == ["down", "flat", "up"]
    assert pd.Timestamp(meta["train_date_range"][1]) == prepared.train.dates.max()
