"""Transformer-encoder classifier: projection, positional code, N encoder blocks, pooling, softmax."""

from __future__ import annotations

import keras

from skills.models.base import SequenceClassifier
from skills.models.layers import PositionalEncoding, TransformerEncoderBlock, check_heads, check_int, check_rate

__all__ = ["TransformerModel", "transformer_network"]


def transformer_network(x, *, d_model, num_heads, num_layers, ff_dim, dropout_rate):
    """Dense(d_model) -> PositionalEncoding -> num_layers x TransformerEncoderBlock -> average pool
    -> dropout -> Dense(3, softmax, float32). ``(batch, T, F)`` in, ``(batch, 3)`` out.
    """
    x = keras.layers.Dense(d_model, name="input_projection")(x)
    x = PositionalEncoding(name="positional_encoding")(x)
    for index in range(int(num_layers)):
        x = TransformerEncoderBlock(
            num_heads, int(d_model) // int(num_heads), ff_dim or 2 * int(d_model), dropout_rate,
            name=f"encoder_{index + 1}",
        )(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
    return keras.layers.Dense(3, activation="softmax", dtype="float32", name="probs")(x)


class TransformerModel(SequenceClassifier):
    """Transformer-encoder down / flat / up classifier.

    Args:
        sequence_length: int >= 2 or None, default None. Bars per window; None takes the length of the windows
            `fit` is given (see `sequence_length_`).
        d_model: int, default 64. Width of the encoder; divisible by ``num_heads``.
        num_heads: int, default 4.
        num_layers: int, default 2. Encoder blocks.
        ff_dim: int or None, default None (= 2 * d_model). Feed-forward width.
        dropout_rate: float, default 0.1.
    """

    def __init__(self, sequence_length=None, d_model=64, num_heads=4, num_layers=2, ff_dim=None, dropout_rate=0.1):
        self.sequence_length = sequence_length
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.ff_dim = ff_dim
        self.dropout_rate = dropout_rate

    def _validate_params(self):
        super()._validate_params()
        for name in ("d_model", "num_heads", "num_layers"):
            check_int(name, getattr(self, name))
        if self.ff_dim is not None:
            check_int("ff_dim", self.ff_dim)
        check_rate("dropout_rate", self.dropout_rate)
        check_heads(self.d_model, self.num_heads)

    def _network(self, x):
        return transformer_network(
            x,
            d_model=self.d_model,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
            ff_dim=self.ff_dim,
            dropout_rate=self.dropout_rate,
        )
