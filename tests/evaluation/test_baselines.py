"""Tests for skills.evaluation.baselines: the baseline factory as a scikit-learn estimator, and its wrappers."""

import json
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skills.data import FEATURE_NAMES, compute_features, prepare_dataset
from skills.data.labels import CLASS_NAMES
from skills.evaluation import (
    ALL_BASELINES,
    BAR_BASELINES,
    BASELINES,
    UNIVERSE_BASELINES,
    Alpha158Classifier,
    FactorBaseline,
    LastBarClassifier,
    classification_metrics,
    compare,
    lightgbm_baseline,
    majority_baseline,
    make_baseline,
    prior_baseline,
    standard_baselines,
)

# The LightGBM of the train report and of walk-forward, as the package has always configured it.
LGBM_SETTINGS = dict(n_estimators=200, learning_rate=0.05, num_leaves=15, random_state=0, deterministic=True,
                     force_row_wise=True, n_jobs=2, verbose=-1)


def _learnable(n, seed):
    """Label = sign of feature 0 with a flat band; four noise features beside it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = np.where(X[:, 0] > 0.3, 2, np.where(X[:, 0] < -0.3, 0, 1))
    return X, y


@pytest.fixture(scope="module")
def aapl_data(aapl):
    return prepare_dataset(aapl.iloc[-1000:], sequence_length=10)


# -- the factory ------------------------------------------------------------------------------------------------


def test_make_baseline_builds_each_baseline_unfitted():
    lgb = make_baseline("lightgbm", seed=7, feature_names=FEATURE_NAMES, sequence_length=10)
    assert isinstance(lgb, LastBarClassifier)
    assert type(lgb.estimator).__name__ == "LGBMClassifier"
    assert {k: v for k, v in lgb.estimator.get_params().items() if k in LGBM_SETTINGS} == {**LGBM_SETTINGS,
                                                                                         "random_state": 7}
    assert make_baseline("majority").estimator.strategy == "most_frequent"
    assert make_baseline("prior").estimator.strategy == "prior"
    assert not hasattr(lgb, "estimator_") and not hasattr(lgb, "classes_") and not hasattr(lgb, "feature_names_")
    with pytest.raises(NotFittedError):
        lgb.predict_proba(np.zeros((2, len(FEATURE_NAMES))))
    with pytest.raises(ValueError, match="unknown baseline 'oracle'.*lightgbm_alpha158, lightgbm, reversal, "
                                         "momentum, majority, prior"):
        make_baseline("oracle")


def test_the_bar_baselines_are_built_by_the_same_factory_and_lead_the_universe_order(aapl):
    assert set(ALL_BASELINES) == set(BASELINES) | set(BAR_BASELINES) and len(ALL_BASELINES) == 6
    assert UNIVERSE_BASELINES == ("lightgbm_alpha158", "lightgbm", "reversal", "momentum", "majority")
    bars = {"AAPL": aapl}
    alpha = make_baseline("lightgbm_alpha158", seed=7, bars=bars)
    assert isinstance(alpha, Alpha158Classifier) and alpha.bars is bars
    assert alpha.estimator.get_params() == make_baseline("lightgbm", seed=7).estimator.get_params()
    for name in ("reversal", "momentum"):
        factor = make_baseline(name, bars=bars)
        assert isinstance(factor, FactorBaseline) and factor.factor == name and factor.bars is bars
        assert clone(factor).get_params()["factor"] == name


def test_get_params_round_trips_and_clone_gives_an_unfitted_equal_estimator():
    X, y = _learnable(120, seed=0)
    baseline = make_baseline("lightgbm", seed=3, feature_names=[f"f{i}" for i in range(5)], sequence_length=4)
    params = baseline.get_params()
    assert params["sequence_length"] == 4 and params["estimator__random_state"] == 3
    fresh = LastBarClassifier(estimator=None).set_params(**baseline.get_params(deep=False))
    assert fresh.get_params() == params
    fitted = baseline.fit(X, y)
    copy = clone(fitted)
    assert not hasattr(copy, "estimator_") and copy.get_params()["estimator__num_leaves"] == 15
    np.testing.assert_array_equal(copy.fit(X, y).predict_proba(X), fitted.predict_proba(X))
    assert fitted.score(X, y) == pytest.approx(np.mean(fitted.predict(X) == y))  # ClassifierMixin.score


def test_fit_on_lazy_windows_equals_fit_on_last_bar_rows(aapl_data):
    train, test = aapl_data.train, aapl_data.test
    rows = np.asarray(train.X.values[train.X.ends], dtype=np.float64)
    lazy = make_baseline("lightgbm").fit(train.X, train.y)
    assert lazy.n_features_in_ == aapl_data.n_features
    np.testing.assert_array_equal(lazy.classes_, [0, 1, 2])
    on_rows = make_baseline("lightgbm").fit(rows, train.y)
    on_windows = make_baseline("lightgbm").fit(np.asarray(train.X), train.y)  # (n, T, F) materialised
    for other in (on_rows, on_windows):
        np.testing.assert_array_equal(other.predict_proba(test.X), lazy.predict_proba(test.X))
    np.testing.assert_array_equal(lazy.predict_proba(np.asarray(test.X)[:, -1, :]), lazy.predict_proba(test.X))


def test_lightgbm_baseline_gives_the_numbers_of_its_fixed_settings_on_real_windows(aapl_data):
    from lightgbm import LGBMClassifier

    train, test = aapl_data.train, aapl_data.test
    last = [np.asarray(split.X.values[split.X.ends], dtype=np.float64) for split in (train, test)]
    expected = LGBMClassifier(**LGBM_SETTINGS).fit(last[0], train.y).predict_proba(last[1])
    proba = make_baseline("lightgbm").fit(train.X, train.y).predict_proba(test.X)
    assert proba.dtype == np.float64 and proba.shape == (len(test), 3)
    np.testing.assert_array_equal(proba, expected)


def test_baselines_reproduce_the_readme_table_of_the_default_run(data_dir):
    """The default `train` run's baseline columns (README), from the bundled data with seed 42, on the
    close-to-close labels the README's table was measured on."""
    data = prepare_dataset(data_dir, label_basis="close_to_close")
    results = compare(data.test.y, prior_baseline(data.train.y, len(data.test)),
                      standard_baselines(data.train.X, data.train.y, data.test.X, seed=42))
    readme = {"majority": (0.3431, 0.3333, 0.1703, 23.6770), "prior": (0.3431, 0.3333, 0.1703, 1.1886),
              "lightgbm": (0.3846, 0.3755, 0.3684, 1.0878)}
    for name, figures in readme.items():
        got = [results[name][key] for key in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")]
        assert [round(v, 4) for v in got] == list(figures), name


def test_predict_proba_spreads_missing_classes_and_checks_features():
    X, y = _learnable(200, seed=3)
    keep = y != 1
    baseline = make_baseline("lightgbm").fit(X[keep], y[keep])
    proba = baseline.predict_proba(X[:10])
    assert proba.shape == (10, 3)
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(baseline.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="3 features.*fitted on 5"):
        baseline.predict_proba(X[:, :3])


@pytest.mark.parametrize("name", BASELINES)
def test_a_single_training_class_gives_one_hot_rows(name):
    X, _ = _learnable(20, seed=4)
    baseline = make_baseline(name).fit(X, np.full(20, 2))
    assert type(baseline.estimator_).__name__ == "DummyClassifier"
    np.testing.assert_array_equal(baseline.predict_proba(X[:4]), np.tile([0, 0, 1.0], (4, 1)))


def test_fit_rejects_bad_labels_and_shapes():
    X, y = _learnable(50, seed=5)
    with pytest.raises(ValueError, match="49 rows but y has 50"):
        make_baseline("prior").fit(X[:-1], y)
    with pytest.raises(ValueError, match=r"got \[5\]"):
        make_baseline("majority").fit(X[:2], [0, 5])
    with pytest.raises(ValueError, match="feature_names names 2"):
        make_baseline("majority", feature_names=["a", "b"]).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        make_baseline("majority").fit(np.zeros((2, 2, 2, 2)), [0, 1])


def test_predict_frame_matches_predict_proba_on_the_same_bars(aapl):
    bars = aapl.iloc[-400:]
    features = compute_features(bars)[list(FEATURE_NAMES)].dropna()
    labels = (features["log_return_1"] > 0).astype(int).to_numpy() * 2  # down / up from the bar's own return
    rows = features.to_numpy()
    baseline = make_baseline("lightgbm", feature_names=FEATURE_NAMES).fit(rows[:200], labels[:200])
    frame = baseline.predict_frame(bars)
    assert list(frame.columns) == list(CLASS_NAMES) and frame.index.equals(features.index)
    np.testing.assert_allclose(frame.to_numpy(), lightgbm_baseline(rows[:200], labels[:200], rows))
    # with a window length, the same dates as a sequence model's predict_frame: the first 9 bars have no window
    windowed = clone(baseline).set_params(sequence_length=10).fit(rows[:200], labels[:200]).predict_frame(bars)
    assert windowed.index.equals(features.index[9:])
    np.testing.assert_allclose(windowed.to_numpy(), frame.to_numpy()[9:])
    with pytest.raises(ValueError, match="feature_names"):
        make_baseline("majority").fit(rows[:10], labels[:10]).predict_frame(bars)


# -- the array wrappers -----------------------------------------------------------------------------------------


def test_majority_baseline_predicts_training_mode_not_eval_mode():
    y_train = np.array([0, 0, 0, 1, 2])
    y_eval = np.array([2, 2, 2, 1])  # eval mode is "up"
    proba = majority_baseline(y_train, len(y_eval))
    np.testing.assert_array_equal(proba, np.tile([1.0, 0.0, 0.0], (4, 1)))
    m = classification_metrics(y_eval, proba)
    assert m["accuracy"] == 0.0
    assert m["predicted_counts"] == {"down": 4, "flat": 0, "up": 0}


def test_prior_baseline_equals_training_frequencies():
    y_train = np.array([0, 0, 1, 2, 2, 2, 2, 2])
    proba = prior_baseline(y_train, 3)
    np.testing.assert_allclose(proba, np.tile([2 / 8, 1 / 8, 5 / 8], (3, 1)))
    # its log loss on rows drawn like the training split is the entropy of the prior
    m = classification_metrics(y_train, prior_baseline(y_train, len(y_train)))
    assert m["log_loss"] == pytest.approx(-(2 * math.log(2 / 8) + math.log(1 / 8) + 5 * math.log(5 / 8)) / 8)


def test_prior_baseline_spreads_a_missing_training_class_as_zero():
    np.testing.assert_allclose(prior_baseline([0, 0, 2], 2), [[2 / 3, 0, 1 / 3]] * 2)


def test_baselines_reject_bad_training_labels():
    with pytest.raises(ValueError, match="y_train"):
        majority_baseline([0, 5], 3)
    with pytest.raises(ValueError, match="n must be"):
        prior_baseline([0, 1], -1)


def test_lightgbm_baseline_learns_and_is_deterministic():
    X, y = _learnable(400, seed=0)
    X_train, y_train, X_eval, y_eval = X[:300], y[:300], X[300:], y[300:]
    proba = lightgbm_baseline(X_train, y_train, X_eval, seed=0)
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    lgb = classification_metrics(y_eval, proba)
    majority = classification_metrics(y_eval, majority_baseline(y_train, len(y_eval)))
    assert lgb["accuracy"] > 0.85
    assert lgb["accuracy"] > majority["accuracy"] + 0.3
    np.testing.assert_array_equal(lightgbm_baseline(X_train, y_train, X_eval, seed=0), proba)


def test_lightgbm_baseline_takes_the_last_bar_of_windows():
    X, y = _learnable(200, seed=1)
    rng = np.random.default_rng(2)
    windows = np.concatenate([rng.normal(size=(200, 4, 5)), X[:, None, :]], axis=1)  # (200, 5, 5), last = X
    from_windows = lightgbm_baseline(windows[:150], y[:150], windows[150:])
    np.testing.assert_array_equal(from_windows, lightgbm_baseline(X[:150], y[:150], X[150:]))


def test_lightgbm_baseline_rejects_mismatched_shapes():
    X, y = _learnable(50, seed=4)
    with pytest.raises(ValueError, match="rows"):
        lightgbm_baseline(X, y[:-1], X)
    with pytest.raises(ValueError, match="features"):
        lightgbm_baseline(X, y, X[:, :3])


def test_standard_baselines_and_compare():
    X, y = _learnable(300, seed=5)
    baselines = standard_baselines(X[:200], y[:200], X[200:])
    assert list(baselines) == ["majority", "prior", "lightgbm"]
    model_proba = np.eye(3)[y[200:]] * 0.9 + 0.1 / 3  # a near-perfect "model"
    results = compare(y[200:], model_proba, baselines)
    assert list(results) == ["model", "majority", "prior", "lightgbm"]
    assert results["model"]["accuracy"] == 1.0
    assert results["majority"]["accuracy"] == results["prior"]["accuracy"]  # same argmax
    assert results["prior"]["log_loss"] < results["majority"]["log_loss"]  # hedged beats one-hot
    json.dumps(results)


def test_lightgbm_reads_the_last_bar_as_the_network_sees_it_for_price_volume_windows(aapl):
    """Price-volume windows are made relative to their last bar when gathered: the baseline learns from those
    relative values (pv_close is 1 on the last bar), not from the raw prices the array stores."""
    from skills.data import PRICE_VOLUME_FEATURES, prepare_dataset

    data = prepare_dataset(aapl.iloc[-300:], sequence_length=5, features="price_volume")
    assert data.feature_names == list(PRICE_VOLUME_FEATURES)
    train, test = data.train, data.test
    relative = np.asarray(train.X[:])[:, -1, :]
    assert np.allclose(relative[:, PRICE_VOLUME_FEATURES.index("pv_close")], 1.0)
    proba = make_baseline("lightgbm").fit(train.X, train.y).predict_proba(test.X)
    on_relative = make_baseline("lightgbm").fit(relative, train.y).predict_proba(np.asarray(test.X[:])[:, -1, :])
    np.testing.assert_array_equal(proba, on_relative)
    raw = [np.asarray(split.X.values[split.X.ends], dtype=np.float64) for split in (train, test)]
    assert not np.allclose(make_baseline("lightgbm").fit(raw[0], train.y).predict_proba(raw[1]), proba)
