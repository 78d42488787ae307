"""Early stopping and the best epoch on the validation split's mean daily rank IC (``val_rank_ic``).

The universe is purpose-built: 20 tickers over 120 business days whose daily returns revert (each day's return is
minus half the previous day's plus noise), so a network reading the last bar of a price-volume window can rank
tomorrow's returns and its validation rank IC moves well away from zero as it learns.
"""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from skills.data import prepare_dataset
from skills.training import RankICCallback, TrainConfig, resolve_monitor, train


def _reverting_universe(n_tickers=20, n_dates=120, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=n_dates), name="date")
    frames = {}
    for k in range(n_tickers):
        r = np.zeros(n_dates)
        for t in range(1, n_dates):
            r[t] = -0.5 * r[t - 1] + rng.normal(0, 0.02)
        close = 50 * np.exp(np.cumsum(r))
        open_ = np.r_[close[0], close[:-1]]
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n_dates))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n_dates))
        frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                              "volume": rng.uniform(1e5, 2e5, n_dates)}, index=dates)
        frame.attrs["ticker"] = f"T{k:02d}"
        frames[f"T{k:02d}"] = frame
    return frames


@pytest.fixture(scope="module")
def universe():
    return prepare_dataset(_reverting_universe(), sequence_length=5, label="cross_section", features="price_volume")


@pytest.fixture(scope="module")
def one_ticker(aapl):
    return prepare_dataset(aapl.iloc[-300:], sequence_length=5, features="price_volume")


def _build(data):
    """A linear softmax over the scaled window: tiny, and able to learn the reversal."""
    offset, scale = np.asarray(data.scaler.offset), np.asarray(data.scaler.scale)

    def build():
        inputs = keras.Input((data.sequence_length, len(data.feature_names)))
        x = keras.layers.Normalization(mean=offset, variance=scale**2)(inputs)
        outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
        return keras.Model(inputs, outputs, name="linear")  # one name: a resumed run must be the same network

    return build


def _direct_rank_ic(network, split):
    """The mean over dates of the Spearman correlation of P(up) - P(down) with the forward return, by hand."""
    proba = np.asarray(network.predict(np.asarray(split.X, dtype=np.float32), batch_size=len(split), verbose=0))
    frame = pd.DataFrame({"score": proba[:, 2] - proba[:, 0], "r": split.forward_returns, "date": split.dates})
    return float(np.mean([spearmanr(day["score"], day["r"])[0] for _, day in frame.groupby("date")]))


class _WeightsPerEpoch(keras.callbacks.Callback):
    """Each epoch's weights as that epoch ended (before early stopping restores anything)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _rate_from(at, rate):
    """Sets the learning rate to ``rate`` from epoch ``at`` (0-based) on."""
    return keras.callbacks.LearningRateScheduler(lambda epoch, current: rate if epoch >= at else current)


def test_the_logged_rank_ic_is_the_validation_splits_mean_daily_rank_ic(universe):
    seen = _WeightsPerEpoch()
    config = TrainConfig(epochs=2, batch_size=64, learning_rate=0.02, lr_schedule="constant", verbose=0)
    result = train(_build(universe), universe.train, universe.val, config, callbacks=[seen])  # monitor "auto"
    logged = result.history.history["val_rank_ic"]
    assert len(logged) == 2
    for weights, value in zip(seen.weights, logged, strict=True):
        result.network.set_weights(weights)
        np.testing.assert_allclose(value, _direct_rank_ic(result.network, universe.val), atol=1e-6)
    assert logged[-1] > 0.2  # the reversal is learnt: the figure is not a constant that any network would get
    # one forward pass per date gives the same figure: its rows are put back in the split's order
    # (the split runs ticker by ticker, the date batches date by date)
    by_date = RankICCallback(universe.val, batch_by="date")
    by_date.set_model(result.network)
    np.testing.assert_allclose(by_date.rank_ic(), logged[-1], atol=1e-6)


def test_auto_watches_the_rank_ic_on_a_universe_and_the_loss_on_one_ticker(universe, one_ticker):
    assert resolve_monitor("auto", universe.val) == "val_rank_ic"
    assert resolve_monitor("auto", one_ticker.val) == "val_loss"
    assert resolve_monitor("auto", (np.asarray(universe.val.X), universe.val.y)) == "val_loss"  # arrays: no dates
    assert resolve_monitor("auto", None) == resolve_monitor("val_loss", None) == "loss"
    assert resolve_monitor("val_loss", universe.val) == "val_loss"
    config = TrainConfig(epochs=1, batch_size=64, verbose=0)
    history = train(_build(one_ticker), one_ticker.train, one_ticker.val, config).history.history
    assert "val_loss" in history and "val_rank_ic" not in history


@pytest.mark.slow
def test_a_models_history_holds_the_rank_ic_of_each_epoch(universe):
    from skills.models import LSTMModel

    model = LSTMModel(sequence_length=5, lstm_units=2).fit(universe, epochs=2, batch_size=128, verbose=0)
    assert len(model.history_["val_rank_ic"]) == len(model.history_["val_loss"]) == 2
    assert all(-1 <= value <= 1 for value in model.history_["val_rank_ic"])
    assert model.metadata_["training"]["monitor"] == "auto"


@pytest.mark.parametrize("validation", ["one_ticker", "arrays", "none"])
def test_the_rank_ic_asked_for_without_a_universe_split_is_refused(universe, one_ticker, validation):
    val = {"one_ticker": one_ticker.val, "arrays": (np.asarray(universe.val.X), universe.val.y), "none": None}
    data = one_ticker if validation == "one_ticker" else universe
    with pytest.raises(ValueError, match="monitor='val_rank_ic' needs a validation Split of a universe"):
        train(_build(data), data.train, val[validation], TrainConfig(monitor="val_rank_ic", verbose=0))


@pytest.mark.slow
def test_early_stopping_keeps_the_epoch_with_the_highest_rank_ic(universe):
    """Two epochs that learn the reversal, then gradient ascent (a negative rate) that unlearns it: the rank IC
    peaks early and falls, so keeping the lowest figure, or the last, would fail every check below."""
    seen = _WeightsPerEpoch()
    config = TrainConfig(epochs=8, patience=2, batch_size=64, learning_rate=0.02, lr_schedule="constant",
                         monitor="val_rank_ic", verbose=0)
    result = train(_build(universe), universe.train, universe.val, config, callbacks=[_rate_from(2, -0.05), seen])
    ic = result.history.history["val_rank_ic"]
    best = int(np.argmax(ic))
    assert best <= 2 and len(ic) == best + 3 < config.epochs  # stopped `patience` epochs after the highest
    assert result.best_epoch == best + 1
    assert ic[-1] < ic[best] - 0.1  # restoring matters: the last epoch ranks far worse
    for restored, saved in zip(result.network.get_weights(), seen.weights[best], strict=True):
        np.testing.assert_array_equal(restored, saved)
    np.testing.assert_allclose(_direct_rank_ic(result.network, universe.val), ic[best], atol=1e-6)


@pytest.mark.slow
def test_a_nan_loss_under_the_rank_ic_keeps_the_best_weights(universe, caplog):
    config = TrainConfig(epochs=4, batch_size=64, learning_rate=0.02, lr_schedule="constant", verbose=0)
    with caplog.at_level("WARNING", logger="skills.training"):
        result = train(_build(universe), universe.train, universe.val, config,
                       callbacks=[_rate_from(1, float("inf"))])
    assert "the training loss became nan at epoch 2" in caplog.text
    ic = result.history.history["val_rank_ic"]
    assert len(ic) == 2 and np.isfinite(ic[0]) and np.isnan(ic[1]) and result.best_epoch == 1
    np.testing.assert_allclose(_direct_rank_ic(result.network, universe.val), ic[0], atol=1e-6)


def _crash_before(at):
    def crash(epoch, logs=None):
        if epoch == at:
            raise KeyboardInterrupt(f"crash before epoch {epoch + 1}")

    return keras.callbacks.LambdaCallback(on_epoch_begin=crash)


@pytest.mark.slow
@pytest.mark.integration
def test_a_run_watching_the_rank_ic_resumes_bit_for_bit(universe, tmp_path):
    config = TrainConfig(epochs=5, patience=2, batch_size=64, learning_rate=0.05, monitor="val_rank_ic", verbose=0)
    reference = train(_build(universe), universe.train, universe.val, config)
    backup = config.replace(backup_dir=str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        train(_build(universe), universe.train, universe.val, backup, callbacks=[_crash_before(2)])
    state = json.loads((tmp_path / "backup" / "state.json").read_text())
    assert state["history"]["val_rank_ic"] == reference.history.history["val_rank_ic"][:2]
    resumed = train(_build(universe), universe.train, universe.val, backup)
    assert resumed.history.history == reference.history.history and resumed.best_epoch == reference.best_epoch
    for a, b in zip(resumed.network.get_weights(), reference.network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
