"""Building blocks shared by the Qlib-zoo networks (GRU, ALSTM, TCN, Localformer, KRNN).

The zoo needs no custom layer of its own: every block is made of Keras' own layers (``Conv1D`` with
``padding="causal"``, ``Add``, ``Average``) plus the package's registered `recurrent.GRU` and
`recurrent.LSTM` (Keras' ``GRU`` and ``LSTM`` that run PyTorch's fused kernel on a CPU under torch),
`TemporalAttention`, `PositionalEncoding` and `TransformerEncoderBlock`, so model files load with
``safe_mode=True`` on every backend. Recurrent layers keep their cuDNN-eligible settings (tanh / sigmoid,
``reset_after=True`` for the GRU, no ``recurrent_dropout``, no ``unroll``, no masks), which the fused CPU
kernel needs too.
"""

from __future__ import annotations

import keras

from skills.models import recurrent
from skills.models.layers import check_int
from skills.training import recurrent_dtype

__all__ = ["RNN_TYPES", "check_rnn_type", "recurrent_stack", "step_head"]

RNN_TYPES = ("gru", "lstm")


def check_rnn_type(value) -> str:
    """``value`` lower-cased if it names a recurrent layer in `RNN_TYPES`; else ValueError naming it."""
    if not isinstance(value, str) or value.lower() not in RNN_TYPES:
        raise ValueError(f"`rnn_type` must be one of {RNN_TYPES}. Received: rnn_type={value!r}")
    return value.lower()


def recurrent_stack(x, *, units, num_layers, dropout_rate, name, rnn_type="gru", last_sequences=True):
    """``num_layers`` recurrent layers of ``units``, dropout between them (as ``torch.nn.GRU(dropout=...)``).

    Layers are named ``{name}_1``, ``{name}_2``, ...; the last returns the whole sequence when
    ``last_sequences`` (``(batch, T, units)``), else its final output (``(batch, units)``). Under jax with a
    mixed policy the layers keep float32 (`skills.training.recurrent_dtype`).
    """
    layer_class = {"gru": recurrent.GRU, "lstm": recurrent.LSTM}[check_rnn_type(rnn_type)]
    count = check_int("num_layers", num_layers)
    for index in range(count):
        last = index == count - 1
        options = {"reset_after": True} if layer_class is recurrent.GRU else {}
        x = layer_class(units, return_sequences=last_sequences or not last, name=f"{name}_{index + 1}",
                        dtype=recurrent_dtype(), **options)(x)
        if not last and dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name=f"{name}_{index + 1}_dropout")(x)
    return x


def step_head(sequence):
    """Softmax head on every step of a causal sequence, and the last step as the window's prediction.

    ``(batch, T, width)`` in; the layer ``step_probs`` gives ``(batch, T, 3)`` (what
    `SequenceClassifier.predict_proba_steps` reads) and the returned ``probs`` is its last step,
    ``(batch, 3)`` float32. When every layer below is causal, the probabilities of step t depend on
    steps <= t only: row t is what the same weights give for the window's first t + 1 steps.
    """
    steps = keras.layers.Dense(3, activation="softmax", dtype="float32", name="step_probs")(sequence)
    last = keras.layers.Cropping1D((steps.shape[1] - 1, 0), dtype="float32", name="last_step")(steps)
    return keras.layers.Reshape((3,), dtype="float32", name="probs")(last)
