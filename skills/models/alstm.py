"""ALSTM, Qlib's ``pytorch_alstm.ALSTMModel`` as a Keras network: an attention-pooled recurrent encoder.

Qlib's benchmark configs run it with ``rnn_type: GRU``, so at its defaults this network is an attention
*GRU*; ``rnn_type="lstm"`` gives the LSTM the name promises. Defaults come from Qlib's
``examples/benchmarks/ALSTM/workflow_config_alstm_Alpha360.yaml`` (hidden_size 64, num_layers 2,
dropout 0.0, rnn_type GRU; the Alpha158 config has the same network settings).
"""

from __future__ import annotations

import keras

from skills.models.base import SequenceClassifier
from skills.models.layers import TemporalAttention, check_int, check_rate
from skills.models.zoo_layers import check_rnn_type, recurrent_stack

__all__ = ["ALSTMModel", "alstm_network"]


def alstm_network(x, *, hidden_size, num_layers, dropout_rate, rnn_type):
    """Dense(hidden_size, tanh) -> ``num_layers`` recurrent layers -> attention net -> head.

    The attention net is Qlib's ``att_net`` (Dense(hidden_size // 2) -> tanh -> Dense(1, no bias) ->
    softmax over time), which is exactly `TemporalAttention(hidden_size // 2)` (Qlib's dropout inside
    it is left out; its configs set it to 0), so `get_attention_weights` reads its weights. The head
    sees the last hidden state concatenated with the attention-pooled state: Dense(3, softmax, float32).
    ``(batch, T, F)`` normalised windows in, ``(batch, 3)`` float32 probabilities out.
    """
    x = keras.layers.Dense(hidden_size, activation="tanh", name="fc_in")(x)
    sequence = recurrent_stack(x, units=hidden_size, num_layers=num_layers, dropout_rate=dropout_rate,
                               name="rnn", rnn_type=rnn_type)  # (b, T, hidden)
    last = keras.layers.Cropping1D((sequence.shape[1] - 1, 0), name="last_hidden")(sequence)
    last = keras.layers.Reshape((int(hidden_size),), name="last_hidden_flat")(last)
    pooled, _ = TemporalAttention(max(int(hidden_size) // 2, 1), name="attention")(
        sequence, return_attention_scores=True)  # (b, hidden), (b, T)
    joined = keras.layers.Concatenate(name="last_and_attention")([last, pooled])
    return keras.layers.Dense(3, activation="softmax", dtype="float32", name="probs")(joined)


class ALSTMModel(SequenceClassifier):
    """Attention-RNN (Qlib ALSTM) down / flat / up classifier; `get_attention_weights` works.

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        hidden_size: int, default 64 (Qlib Alpha360). Width of the input projection and recurrent layers.
        num_layers: int, default 2 (Qlib Alpha360).
        dropout_rate: float, default 0.0 (Qlib Alpha360). Dropout between recurrent layers.
        rnn_type: ``"gru"`` (default, as Qlib's configs) or ``"lstm"``; case-insensitive.
    """

    def __init__(self, sequence_length=None, hidden_size=64, num_layers=2, dropout_rate=0.0, rnn_type="gru"):
        self.sequence_length = sequence_length
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate
        self.rnn_type = rnn_type

    def _validate_params(self):
        super()._validate_params()
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_rate("dropout_rate", self.dropout_rate)
        check_rnn_type(self.rnn_type)

    def _network(self, x):
        return alstm_network(x, hidden_size=self.hidden_size, num_layers=self.num_layers,
                             dropout_rate=self.dropout_rate, rnn_type=self.rnn_type)
