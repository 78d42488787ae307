"""Registered Keras layers used by the networks in `skills.models`.

Every layer does its maths with `keras.ops`, so the same code runs on the TensorFlow, JAX and PyTorch
backends; every layer is registered under the ``skills`` package, so importing `skills` is all that
`keras.models.load_model` needs to rebuild a saved network (no `Lambda` layers, ``safe_mode=True`` works).
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["TemporalAttention", "PositionalEncoding", "TransformerEncoderBlock", "check_heads", "check_int",
           "check_rate"]


def check_int(name: str, value, minimum: int = 1) -> int:
    """``value`` if it is an int >= ``minimum``; else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return value


def check_rate(name: str, value) -> float:
    """``value`` as a float if it is a number in [0, 1); else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_heads(d_model: int, num_heads: int) -> None:
    """ValueError unless the attention width ``d_model`` splits evenly into ``num_heads`` heads."""
    if d_model % num_heads:
        raise ValueError(f"`d_model` must be a multiple of `num_heads`. Received: d_model={d_model!r}, "
                         f"num_heads={num_heads!r}")


@keras.saving.register_keras_serializable(package="skills")
class TemporalAttention(keras.layers.Layer):
    """Additive attention over the time axis of a sequence.

    Each step ``h_s`` gets a score ``v . tanh(W h_s + b)``; a softmax over time turns the scores into
    weights and the context is the weighted sum of the steps (the qlib ALSTM head).

    With ``causal=True`` the layer returns one context per step: the context of step ``t`` attends to
    steps ``s <= t`` only, so nothing at step ``t`` depends on a later step. The weights of the final
    step are the attention weights of the whole window.

    Args:
        units: int, width of the hidden scoring layer.
        causal: bool, default False. Mask each step to itself and earlier steps.
        **kwargs: base `Layer` arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(batch, time, features)`` tensor.
        mask: unused; present for the Keras layer protocol (the networks here use no masks).
        return_attention_scores: bool, default False. Also return the softmax weights.

    Returns:
        ``context``: ``(batch, features)``, or ``(batch, time, features)`` when causal. With
        ``return_attention_scores=True`` a tuple ``(context, weights)`` whose weights are
        ``(batch, time)``, or ``(batch, time, time)`` when causal (row ``t`` = weights of step ``t``).
        Weights are float32 and each row sums to 1.

    Example:

    >>> layer = TemporalAttention(8)
    >>> context, weights = layer(keras.ops.ones((2, 5, 3)), return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3), (2, 5))
    """

    def __init__(self, units, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units)
        self.causal = bool(causal)

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(features, self.units), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.score_kernel = self.add_weight(
            name="score_kernel", shape=(self.units, 1), initializer="glorot_uniform"
        )

    def call(self, inputs, mask=None, return_attention_scores=False):
        hidden = ops.tanh(ops.matmul(inputs, self.kernel) + self.bias)  # (b, T, units)
        scores = ops.cast(ops.squeeze(ops.matmul(hidden, self.score_kernel), -1), "float32")  # (b, T)
        if self.causal:
            steps = ops.shape(inputs)[1]
            positions = ops.arange(steps)
            allowed = ops.expand_dims(positions, 1) >= ops.expand_dims(positions, 0)  # (T query, T key)
            scores = ops.expand_dims(scores, 1) + ops.zeros((1, steps, 1), dtype="float32")
            scores = ops.where(allowed, scores, ops.full_like(scores, -1e9))
            weights = ops.softmax(scores, axis=-1)  # (b, T, T)
            context = ops.matmul(ops.cast(weights, inputs.dtype), inputs)  # (b, T, F)
        else:
            weights = ops.softmax(scores, axis=-1)  # (b, T)
            context = ops.sum(ops.expand_dims(ops.cast(weights, inputs.dtype), -1) * inputs, axis=1)
        if return_attention_scores:
            return context, weights
        return context

    def compute_output_shape(self, input_shape, return_attention_scores=False):
        batch, steps, features = input_shape
        context = (batch, steps, features) if self.causal else (batch, features)
        if return_attention_scores:
            return context, ((batch, steps, steps) if self.causal else (batch, steps))
        return context

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        shapes = self.compute_output_shape(inputs.shape, return_attention_scores)
        if not return_attention_scores:
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        return (
            keras.KerasTensor(shapes[0], dtype=self.compute_dtype),
            keras.KerasTensor(shapes[1], dtype="float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "causal": self.causal})
        return config


@keras.saving.register_keras_serializable(package="skills")
class PositionalEncoding(keras.layers.Layer):
    """Adds the fixed sinusoidal position code of "Attention is all you need" to a sequence.

    The code has no weights and is computed from the input shape, so any sequence length works.

    Args:
        max_wavelength: float, default 10000. Longest wavelength of the sinusoids.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: ``(batch, time, d_model)`` tensor.

    Returns:
        ``inputs + code``, same shape and dtype as ``inputs``.

    Example:

    >>> tuple(PositionalEncoding()(keras.ops.zeros((2, 4, 6))).shape)
    (2, 4, 6)
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if float(max_wavelength) <= 1.0:
            raise ValueError(
                f"`max_wavelength` must be greater than 1. Received: max_wavelength={max_wavelength!r}"
            )
        self.max_wavelength = float(max_wavelength)

    def call(self, inputs):
        steps, width = ops.shape(inputs)[1], inputs.shape[-1]
        half = (width + 1) // 2
        positions = ops.cast(ops.arange(steps), "float32")[:, None]  # (T, 1)
        rates = ops.exp(ops.cast(ops.arange(half), "float32") * (-math.log(self.max_wavelength) / half))
        angles = positions * rates[None, :]  # (T, half)
        code = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (steps, 2 * half))
        return inputs + ops.cast(code[:, :width], inputs.dtype)[None, :, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config


@keras.saving.register_keras_serializable(package="skills")
class TransformerEncoderBlock(keras.layers.Layer):
    """One post-norm Transformer encoder block (the keras-io time-series encoder).

    ``x = LayerNorm(x + Dropout(MultiHeadAttention(x, x)))`` then
    ``x = LayerNorm(x + Dropout(Dense(d_model)(Dense(ff_dim, relu)(x))))``.

    Args:
        num_heads: int, attention heads.
        key_dim: int, width of each head.
        ff_dim: int, width of the feed-forward hidden layer.
        dropout_rate: float in [0, 1), default 0.1.
        causal: bool, default False. Let step ``t`` attend to steps ``<= t`` only.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: ``(batch, time, d_model)`` tensor.
        training: bool, dropout on or off.

    Returns:
        ``(batch, time, d_model)`` tensor.

    Example:

    >>> block = TransformerEncoderBlock(num_heads=2, key_dim=4, ff_dim=8)
    >>> tuple(block(keras.ops.ones((2, 5, 8))).shape)
    (2, 5, 8)
    """

    def __init__(self, num_heads, key_dim, ff_dim, dropout_rate=0.1, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_int("num_heads", num_heads)
        self.key_dim = check_int("key_dim", key_dim)
        self.ff_dim = check_int("ff_dim", ff_dim)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.causal = bool(causal)
        policy = self.dtype_policy
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, key_dim, dropout=self.dropout_rate, dtype=policy, name="attention"
        )
        self.attention_dropout = keras.layers.Dropout(self.dropout_rate, dtype=policy)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy, name="attention_norm")
        self.ff_hidden = keras.layers.Dense(ff_dim, activation="relu", dtype=policy, name="ff_hidden")
        self.ff_dropout = keras.layers.Dropout(self.dropout_rate, dtype=policy)
        self.ff_norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy, name="ff_norm")
        self.ff_output = None  # sized from input_shape in build

    def build(self, input_shape):
        d_model = input_shape[-1]
        self.ff_output = keras.layers.Dense(d_model, dtype=self.dtype_policy, name="ff_output")
        self.attention.build(input_shape, input_shape)
        self.attention_norm.build(input_shape)
        self.ff_hidden.build(input_shape)
        self.ff_output.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.ff_norm.build(input_shape)

    def call(self, inputs, training=None):
        attended = self.attention(inputs, inputs, use_causal_mask=self.causal, training=training)
        x = self.attention_norm(inputs + self.attention_dropout(attended, training=training))
        hidden = self.ff_output(self.ff_hidden(x))
        return self.ff_norm(x + self.ff_dropout(hidden, training=training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "ff_dim": self.ff_dim,
                "dropout_rate": self.dropout_rate,
                "causal": self.causal,
            }
        )
        return config
