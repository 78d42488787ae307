"""The trainer's guards: early stopping restores the best epoch's weights, a NaN loss stops training."""

import keras
import numpy as np
import pytest

from skills.data import prepare_dataset
from skills.models import LSTMModel
from skills.training import TrainConfig, train


@pytest.fixture(scope="module")
def small(aapl):
    return prepare_dataset(aapl.iloc[-400:], sequence_length=10)


def _build(data):
    """A tiny LSTM classifier over the split's scaled windows."""
    offset, scale = np.asarray(data.scaler.offset), np.asarray(data.scaler.scale)

    def build():
        inputs = keras.Input((data.sequence_length, len(data.feature_names)))
        x = keras.layers.Normalization(mean=offset, variance=scale**2)(inputs)
        x = keras.layers.LSTM(4)(x)
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))

    return build


def _rate_from(at, rate):
    """Sets the learning rate to ``rate`` from epoch ``at`` (0-based) on."""
    return keras.callbacks.LearningRateScheduler(lambda epoch, current: rate if epoch >= at else current)


class _WeightsPerEpoch(keras.callbacks.Callback):
    """Each epoch's weights as that epoch ended (before early stopping restores anything)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


@pytest.mark.slow
def test_early_stopping_restores_the_best_epochs_weights(small):
    """Two epochs at a sane rate, then a huge one that makes the validation loss worse every epoch."""
    seen = _WeightsPerEpoch()
    config = TrainConfig(epochs=10, patience=2, learning_rate=1e-2, lr_schedule="constant", verbose=0)
    result = train(_build(small), small.train, small.val, config, callbacks=[_rate_from(2, 5.0), seen])
    val_loss = result.history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert best <= 1 and len(val_loss) == best + 3 < config.epochs  # stopped `patience` epochs after the best
    assert result.best_epoch == best + 1 and result.epochs_run == len(val_loss)
    loss = result.network.evaluate(small.val.dataset(batch_size=config.batch_size), verbose=0)[0]
    np.testing.assert_allclose(loss, val_loss[best], rtol=1e-6)
    for restored, saved in zip(result.network.get_weights(), seen.weights[best], strict=True):
        np.testing.assert_array_equal(restored, saved)
    # with restore_best_weights=False the network keeps the last epoch's weights, whose loss is far worse, and
    # the loss check above fails (by about 1.8 on this run)
    assert val_loss[-1] > val_loss[best] + 0.1
    assert not all(np.array_equal(a, b) for a, b in zip(seen.weights[-1], seen.weights[best], strict=True))


def _diverge_from(at):
    """Drives training to a NaN loss from epoch ``at`` (0-based) on: an infinite learning rate."""
    return _rate_from(at, float("inf"))


def _model():
    return LSTMModel(sequence_length=10, lstm_units=4)


@pytest.mark.slow
def test_a_nan_loss_stops_training_and_keeps_the_best_weights(small, caplog):
    options = dict(epochs=5, batch_size=32, verbose=0, lr_schedule="constant")
    with caplog.at_level("WARNING", logger="skills.training"):
        diverged = _model().fit(small, callbacks=[_diverge_from(2)], **options)
    assert "the training loss became nan at epoch 3, batch" in caplog.text
    assert "kept the best weights so far" in caplog.text
    assert len(diverged.history_["loss"]) == 3 and np.isnan(diverged.history_["loss"][-1])  # stopped at once
    two_epochs = _model().fit(small, **{**options, "epochs": 2})
    np.testing.assert_array_equal(diverged.predict_proba(small.test), two_epochs.predict_proba(small.test))


def test_a_nan_loss_in_the_first_epoch_leaves_nothing_to_keep(small):
    from skills.training import TrainingError

    config = TrainConfig(epochs=2, verbose=0, lr_schedule="constant")
    with pytest.raises(TrainingError, match="before any epoch finished cleanly.*lower the learning rate"):
        train(_build(small), small.train, small.val, config, callbacks=[_diverge_from(0)])
