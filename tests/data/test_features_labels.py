"""Features are causal and stationary; labels follow the forward return exactly."""

import numpy as np
import pandas as pd
import pytest

from skills.data import CLASS_NAMES, FEATURE_NAMES, WARMUP_BARS, DataError, LabelRule, compute_features, make_labels


def test_at_least_31_named_features_without_raw_levels(aapl):
    feats = compute_features(aapl)
    assert list(feats.columns) == list(FEATURE_NAMES)
    assert len(FEATURE_NAMES) >= 31 and len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for banned in ("obv", "adi", "cumulative", "nvi", "vpt"):
        assert not any(banned in name for name in FEATURE_NAMES)


def test_warmup_rows_are_nan_and_the_rest_finite_and_float32_safe(aapl):
    feats = compute_features(aapl)
    assert feats.iloc[:WARMUP_BARS].isna().all().all()
    body = feats.iloc[WARMUP_BARS:].to_numpy()
    assert np.isfinite(body).all()
    assert np.isfinite(body.astype(np.float32)).all()


def test_features_are_scale_free(aapl):
    """Stationary columns: prices x8 and volume x4 (powers of two keep float ties) change nothing."""
    scaled = aapl.copy()
    scaled[["open", "high", "low", "close"]] *= 8.0
    scaled["volume"] *= 4.0
    a, b = compute_features(aapl).iloc[WARMUP_BARS:], compute_features(scaled).iloc[WARMUP_BARS:]
    # log1p(volume) is scale-free only up to 1/volume
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("k", [WARMUP_BARS + 1, WARMUP_BARS + 40, 250, 1200])
def test_prefix_invariance_every_column(aapl, k):
    """Features on the first k rows equal the features on all rows, for every row < k, all columns."""
    full = compute_features(aapl).iloc[:k]
    prefix = compute_features(aapl.iloc[:k])
    pd.testing.assert_frame_equal(full, prefix, check_exact=False, rtol=1e-10, atol=1e-12)


def test_changing_future_bars_moves_nothing_earlier(aapl):
    cut = 1500
    future = aapl.copy()
    future.iloc[cut:, :4] *= np.linspace(0.5, 3.0, len(future) - cut)[:, None]
    future.iloc[cut:, 4] *= 7
    a, b = compute_features(aapl), compute_features(future)
    pd.testing.assert_frame_equal(a.iloc[:cut], b.iloc[:cut])
    assert not np.allclose(a.iloc[cut + 5:].to_numpy(), b.iloc[cut + 5:].to_numpy())


def test_missing_column_is_a_data_error(aapl):
    with pytest.raises(DataError, match="missing column.*volume"):
        compute_features(aapl.drop(columns="volume"))


def test_short_frames_are_all_warmup(aapl):
    assert compute_features(aapl.iloc[:50]).isna().all().all()


CLOSE = pd.Series([100.0, 101.0, 100.9, 100.0, 100.0, 102.0, 101.9])
C2C = "close_to_close"  # the hand-made closes below are labelled on the close-to-close basis


def test_class_names_in_one_place():
    assert CLASS_NAMES == ("down", "flat", "up")


def test_fixed_labels_on_a_hand_made_series():
    # forward returns: +1%, -0.099%, -0.892%, 0, +2%, -0.098%, (none)
    labels = make_labels(pd.DataFrame({"close": CLOSE}), horizon=1, method="fixed", threshold=0.005, basis=C2C)
    assert labels.iloc[:-1].tolist() == [2, 1, 0, 1, 2, 1]
    assert np.isnan(labels.iloc[-1])


def test_horizon_labels_and_the_last_horizon_rows_have_none():
    labels = make_labels(CLOSE, horizon=2, threshold=0.005, basis=C2C)
    # 2-bar returns: 100->100.9 +0.9%, 101->100 -0.99%, 100.9->100 -0.89%, 100->102 +2%, 100->101.9 +1.9%
    assert labels.iloc[:-2].tolist() == [2, 0, 0, 2, 2]
    assert labels.iloc[-2:].isna().all()


def test_volatility_labels_use_past_sigma_only():
    rng = np.random.default_rng(0)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300))))
    labels = make_labels(close, method="volatility", threshold=0.5, vol_window=20, basis=C2C)
    sigma = np.log(close).diff().rolling(20).std()
    r = close.shift(-1) / close - 1
    t = 100
    expected = 2 if r[t] > 0.5 * sigma[t] else 0 if r[t] < -0.5 * sigma[t] else 1
    assert labels[t] == expected
    assert labels.iloc[:20].isna().all() and labels.iloc[20:-1].notna().all()
    # changing bars after t+1 leaves label t unchanged
    changed = close.copy()
    changed.iloc[t + 2:] *= 2
    assert make_labels(changed, method="volatility", threshold=0.5, basis=C2C).iloc[:t + 1].equals(labels.iloc[:t + 1])


def test_quantile_labels_need_edges_learned_on_training_rows():
    with pytest.raises(ValueError, match="training split"):
        make_labels(CLOSE, method="quantile", basis=C2C)
    train_returns = (CLOSE.shift(-1) / CLOSE - 1).iloc[:4]
    rule = LabelRule(method="quantile").fit(train_returns)
    low, high = np.quantile(train_returns, [1 / 3, 2 / 3])
    assert rule.edges == pytest.approx((low, high))
    labels = make_labels(CLOSE, method="quantile", edges=rule.edges, basis=C2C)
    # four training returns: the lowest is down, the highest up, the two at the edges flat
    order = np.argsort(train_returns.to_numpy())
    assert labels.iloc[:4].to_numpy()[order].tolist() == [0, 1, 1, 2]
    assert LabelRule.from_dict(rule.to_dict()) == rule


@pytest.mark.parametrize("kwargs, problem", [(dict(method="nope"), "label method"), (dict(horizon=0), "horizon"),
                                             (dict(threshold=-1), "threshold"), (dict(basis="nope"), "label basis")])
def test_bad_label_arguments_raise(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        make_labels(CLOSE, **{"basis": C2C, **kwargs})
