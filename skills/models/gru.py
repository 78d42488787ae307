"""Stacked-GRU classifier, Qlib's ``pytorch_gru.GRUModel`` as a Keras network.

Defaults come from Qlib's ``examples/benchmarks/GRU/workflow_config_gru_Alpha360.yaml`` (hidden_size 64,
num_layers 2, dropout 0.0; the Alpha158 config has the same network settings).
"""

from __future__ import annotations

from skills.models.base import SequenceClassifier
from skills.models.layers import check_int, check_rate
from skills.models.zoo_layers import recurrent_stack, step_head

__all__ = ["GRUModel", "gru_network"]


def gru_network(x, *, hidden_size, num_layers, dropout_rate):
    """``num_layers`` GRUs (``reset_after=True``, cuDNN-eligible), dropout between them, then a softmax
    head on every step (`step_head`); the window's prediction is the last step's, as Qlib's
    ``fc_out(out[:, -1, :])``. Causal: the output at step t uses steps <= t only.
    ``(batch, T, F)`` normalised windows in, ``(batch, 3)`` float32 probabilities out.
    """
    sequence = recurrent_stack(x, units=hidden_size, num_layers=num_layers, dropout_rate=dropout_rate, name="gru")
    return step_head(sequence)


class GRUModel(SequenceClassifier):
    """Stacked-GRU down / flat / up classifier (causal; `predict_proba_steps` gives every step).

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        hidden_size: int, default 64 (Qlib Alpha360). Width of every GRU layer.
        num_layers: int, default 2 (Qlib Alpha360).
        dropout_rate: float, default 0.0 (Qlib Alpha360). Dropout between GRU layers.
    """

    def __init__(self, sequence_length=None, hidden_size=64, num_layers=2, dropout_rate=0.0):
        self.sequence_length = sequence_length
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate

    def _validate_params(self):
        super()._validate_params()
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_rate("dropout_rate", self.dropout_rate)

    def _network(self, x):
        return gru_network(x, hidden_size=self.hidden_size, num_layers=self.num_layers, dropout_rate=self.dropout_rate)
