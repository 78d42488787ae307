"""KRNN, Qlib's ``pytorch_krnn.KRNNModel`` as a Keras network: a convolutional encoder, then K parallel
recurrent branches whose outputs are averaged.

Defaults come from Qlib's ``examples/benchmarks/KRNN/workflow_config_krnn_Alpha360.yaml`` (cnn_dim 8,
cnn_kernel_size 3, rnn_dim 8, rnn_dups 2, rnn_layers 2, dropout 0). One difference: Qlib pads the
convolution on both sides (step t sees t + 1); here it is causal, so the whole network is causal.
"""

from __future__ import annotations

import keras

from skills.models.base import SequenceClassifier
from skills.models.layers import check_int, check_rate
from skills.models.zoo_layers import recurrent_stack, step_head

__all__ = ["KRNNModel", "krnn_network"]


def krnn_network(x, *, cnn_filters, kernel_size, hidden_size, num_branches, num_layers, dropout_rate):
    """Conv1D(cnn_filters, kernel_size, causal, linear) -> ``num_branches`` independent stacks of
    ``num_layers`` GRUs(hidden_size) -> their mean -> a softmax head on every step (`step_head`); the
    window's prediction is the last step's, as Qlib's ``out_fc(encode[:, -1, :])``. Causal: the
    output at step t uses steps <= t only.
    ``(batch, T, F)`` normalised windows in, ``(batch, 3)`` float32 probabilities out.
    """
    encoded = keras.layers.Conv1D(cnn_filters, kernel_size, padding="causal", name="cnn")(x)
    branches = [recurrent_stack(encoded, units=hidden_size, num_layers=num_layers, dropout_rate=dropout_rate,
                                name=f"branch_{k + 1}_gru") for k in range(int(num_branches))]
    sequence = branches[0] if len(branches) == 1 else keras.layers.Average(name="branch_mean")(branches)
    return step_head(sequence)


class KRNNModel(SequenceClassifier):
    """K-parallel-RNN down / flat / up classifier (causal; `predict_proba_steps` gives every step).

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        cnn_filters: int, default 8 (Qlib Alpha360 ``cnn_dim``).
        kernel_size: int, default 3 (Qlib Alpha360 ``cnn_kernel_size``).
        hidden_size: int, default 8 (Qlib Alpha360 ``rnn_dim``). Width of every GRU.
        num_branches: int, default 2 (Qlib Alpha360 ``rnn_dups``). Parallel recurrent branches (K).
        num_layers: int, default 2 (Qlib Alpha360 ``rnn_layers``). GRUs per branch.
        dropout_rate: float, default 0.0 (Qlib). Dropout between the GRUs of a branch.
    """

    def __init__(self, sequence_length=None, cnn_filters=8, kernel_size=3, hidden_size=8, num_branches=2,
                 num_layers=2, dropout_rate=0.0):
        self.sequence_length = sequence_length
        self.cnn_filters = cnn_filters
        self.kernel_size = kernel_size
        self.hidden_size = hidden_size
        self.num_branches = num_branches
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate

    def _validate_params(self):
        super()._validate_params()
        for name in ("cnn_filters", "kernel_size", "hidden_size", "num_branches", "num_layers"):
            check_int(name, getattr(self, name))
        check_rate("dropout_rate", self.dropout_rate)

    def _network(self, x):
        return krnn_network(x, cnn_filters=self.cnn_filters, kernel_size=self.kernel_size,
                            hidden_size=self.hidden_size, num_branches=self.num_branches,
                            num_layers=self.num_layers, dropout_rate=self.dropout_rate)
