"""TCN, Qlib's ``pytorch_tcn.TCNModel`` + ``tcn.TemporalConvNet`` as a Keras network.

Defaults come from Qlib's ``examples/benchmarks/TCN/workflow_config_tcn_Alpha360.yaml`` (n_chans 128,
kernel_size 3, num_layers 5, dropout 0.5; the Alpha158 config uses 32 channels and kernel 7).
Qlib's ``Conv1d`` + ``Chomp1d`` (pad both sides, cut the right) is Keras' ``padding="causal"``. Two
differences: no weight normalisation (Keras has none built in) and Keras' default initialisers in place
of N(0, 0.01).
"""

from __future__ import annotations

import keras

from skills.models.base import SequenceClassifier
from skills.models.layers import check_int, check_rate
from skills.models.zoo_layers import step_head

__all__ = ["TCNModel", "tcn_network"]


def tcn_network(x, *, channels, kernel_size, num_layers, dropout_rate):
    """``num_layers`` residual blocks, block i with dilation 2**i:
    ``relu(dropout(relu(conv2(dropout(relu(conv1(x)))))) + residual)``, each conv causal with
    ``channels`` filters; the residual is ``x``, or a 1x1 conv when the width changes. Then a softmax
    head on every step (`step_head`); the window's prediction is the last step's, as Qlib's
    ``linear(output[:, :, -1])``. Causal: the output at step t uses steps <= t only.
    ``(batch, T, F)`` normalised windows in, ``(batch, 3)`` float32 probabilities out.
    """
    for index in range(int(num_layers)):
        name, dilation = f"block_{index + 1}", 2**index
        hidden = x
        for conv in (1, 2):
            hidden = keras.layers.Conv1D(channels, kernel_size, padding="causal", dilation_rate=dilation,
                                         activation="relu", name=f"{name}_conv_{conv}")(hidden)
            hidden = keras.layers.Dropout(dropout_rate, name=f"{name}_dropout_{conv}")(hidden)
        residual = x if x.shape[-1] == channels else keras.layers.Conv1D(channels, 1, name=f"{name}_downsample")(x)
        x = keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([hidden, residual]))
    return step_head(x)


class TCNModel(SequenceClassifier):
    """Temporal-convolution down / flat / up classifier (causal; `predict_proba_steps` gives every step).

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        channels: int, default 128 (Qlib Alpha360 ``n_chans``). Filters of every convolution.
        kernel_size: int, default 3 (Qlib Alpha360).
        num_layers: int, default 5 (Qlib Alpha360). Residual blocks (levels); block i has dilation 2**i,
            so the receptive field is ``1 + 2 (kernel_size - 1) (2**num_layers - 1)`` steps.
        dropout_rate: float, default 0.5 (Qlib Alpha360).
    """

    def __init__(self, sequence_length=None, channels=128, kernel_size=3, num_layers=5, dropout_rate=0.5):
        self.sequence_length = sequence_length
        self.channels = channels
        self.kernel_size = kernel_size
        self.num_layers = num_layers
        self.dropout_rate = dropout_rate

    def _validate_params(self):
        super()._validate_params()
        for name in ("channels", "kernel_size", "num_layers"):
            check_int(name, getattr(self, name))
        check_rate("dropout_rate", self.dropout_rate)

    def _network(self, x):
        return tcn_network(x, channels=self.channels, kernel_size=self.kernel_size, num_layers=self.num_layers,
                           dropout_rate=self.dropout_rate)
