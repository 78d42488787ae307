"""Plain stacked-LSTM classifier: the recurrent baseline the attention model has to beat."""

from __future__ import annotations

import keras

from skills.models import recurrent
from skills.models.base import SequenceClassifier
from skills.models.layers import check_int, check_rate
from skills.training import recurrent_dtype

__all__ = ["LSTMModel", "lstm_network"]


def lstm_network(x, *, lstm_units, num_layers, dropout_rate):
    """``num_layers`` LSTMs (the last returns its final state) with dropout, then a softmax head.

    ``(batch, T, F)`` normalised windows in, ``(batch, 3)`` float32 probabilities out. The LSTMs are
    `skills.models.recurrent.LSTM` (one fused kernel call on a CPU under torch) and keep float32 under jax when
    the policy is mixed (`skills.training.recurrent_dtype`).
    """
    for index in range(int(num_layers)):
        last = index == int(num_layers) - 1
        x = recurrent.LSTM(lstm_units, return_sequences=not last, name=f"lstm_{index + 1}", dtype=recurrent_dtype())(x)
        x = keras.layers.Dropout(dropout_rate, name=f"lstm_{index + 1}_dropout")(x)
    return keras.layers.Dense(3, activation="softmax", dtype="float32", name="probs")(x)


class LSTMModel(SequenceClassifier):
    """Stacked-LSTM down / flat / up classifier.

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        lstm_units: int, default 64. Width of every LSTM layer.
        num_layers: int, default 2.
        dropout_rate: float, default 0.2.
    """

    def __init__(self, sequence_length=None, lstm_units=64, num_layers=2, dropout_rate=0.2):
        self.sequence_length = sequence_length
        self.lstm_units = lstm_units
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate

    def _validate_params(self):
        super()._validate_params()
        check_int("lstm_units", self.lstm_units)
        check_int("num_layers", self.num_layers)
        check_rate("dropout_rate", self.dropout_rate)

    def _network(self, x):
        return lstm_network(x, lstm_units=self.lstm_units, num_layers=self.num_layers, dropout_rate=self.dropout_rate)
