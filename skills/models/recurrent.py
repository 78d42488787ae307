"""LSTM, GRU and Bidirectional layers that run PyTorch's fused kernels on a CPU under the torch backend.

Keras 3.15's torch backend calls ``torch._VF.lstm`` / ``torch._VF.gru`` (cuDNN) only on CUDA; on a CPU
it steps through time in Python. `LSTM` and `GRU` here are ``keras.layers.LSTM`` / ``GRU`` with the same
arguments, weights, config and numbers, whose ``inner_loop`` makes that one fused call on a CPU too
(oneDNN), with the conditions Keras asks of cuDNN; `Bidirectional` runs an `LSTM` both ways in one call.
Anywhere else (jax, tensorflow, CUDA, a mask, dropout, other activations, ...) they are exactly the
Keras layers.

They keep the Keras class names on purpose (registered as ``skills>LSTM``, ...): a ``.keras`` file
stores a network's weights under the snake-cased class name of each layer (``layers/lstm/...``), so
files written with Keras' own layers load into these networks, and the other way round.
"""

from __future__ import annotations

import keras

__all__ = ["GRU", "LSTM", "Bidirectional"]

_TANH = (keras.activations.tanh, keras.ops.tanh)
_SIGMOID = (keras.activations.sigmoid, keras.ops.sigmoid)


def _fusable(layer, sequences, mask) -> bool:
    """True when ``layer`` (an `LSTM` or a `GRU` of this module) can run as one ``torch._VF`` call on ``sequences``."""
    if keras.backend.backend() != "torch" or mask is not None:
        return False
    import torch

    cell = layer.cell
    return (
        sequences.device.type == "cpu"  # on CUDA Keras itself calls cuDNN
        and not (cell.dropout or cell.recurrent_dropout or layer.unroll or layer.stateful)
        and cell.use_bias and getattr(cell, "reset_after", True) and layer.use_cudnn in ("auto", True)
        and cell.activation in _TANH and cell.recurrent_activation in _SIGMOID
        and not (torch.jit.is_tracing() or torch.compiler.is_compiling())
    )


def _fused_call(layer, kernel_fn, sequences, states, weights):
    """``kernel_fn`` (``torch._VF.lstm`` / ``gru``) over ``sequences``, returned as Keras's inner loop does.

    Inputs and states take the weights' dtype (the compute dtype under a mixed policy). With
    ``go_backwards`` the sequence is read reversed and outputs stay in processing order, as in Keras
    (``Bidirectional`` flips them back). Returns ``(last_output, outputs, states)``.
    """
    import torch

    dtype = weights[0].dtype
    x = sequences.to(dtype)
    if layer.go_backwards:
        x = torch.flip(x, dims=[1])
    hx = [state.to(dtype).unsqueeze(0) for state in states]  # (1, batch, units) each
    outputs, *final = kernel_fn(x, hx if len(hx) > 1 else hx[0], weights, True, 1, 0.0,
                                torch.is_grad_enabled(), False, True)  # biases, 1 layer, no dropout, batch first
    last = outputs[:, -1]
    return last, outputs if layer.return_sequences else last.unsqueeze(1), [state.squeeze(0) for state in final]


def _lstm_weights(cell):
    """torch's ``[weight_ih, weight_hh, bias_ih, bias_hh]`` from a Keras LSTM cell (same gate order i, f, c, o)."""
    import torch

    bias = cell.bias.value
    return [cell.kernel.value.T, cell.recurrent_kernel.value.T, bias, torch.zeros_like(bias)]


def _gru_weights(cell):
    """torch's ``[weight_ih, weight_hh, bias_ih, bias_hh]`` from a Keras GRU cell (``reset_after=True``).

    Keras orders the gates [z, r, h] and torch [r, z, n]; Keras's ``(2, 3 * units)`` bias holds the input row
    and the recurrent row.
    """
    import torch

    def torch_gates(weight):  # [z, r, h] -> [r, z, n] along the last axis
        z, r, h = torch.chunk(weight, 3, dim=-1)
        return torch.cat([r, z, h], dim=-1)

    bias = torch_gates(cell.bias.value)
    return [torch_gates(cell.kernel.value).T, torch_gates(cell.recurrent_kernel.value).T, bias[0], bias[1]]


@keras.saving.register_keras_serializable(package="skills")
class LSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` that runs ``torch._VF.lstm`` on a CPU under the torch backend.

    Args: those of ``keras.layers.LSTM`` (same defaults, same weights, same config).

    What differs: under ``KERAS_BACKEND=torch`` with inputs on a CPU, no mask, no ``dropout`` or
    ``recurrent_dropout``, tanh / sigmoid activations, ``use_bias``, not ``unroll``, not ``stateful`` and
    ``use_cudnn`` not False, the whole sequence runs as one fused kernel call (about twice as fast to
    train as Keras's per-step loop). Gate order [i, f, c, o] is the same in both; Keras's single bias is
    torch's input bias and the recurrent bias is zero. Everything else is ``keras.layers.LSTM``.

    Example:

    >>> layer = LSTM(4, return_sequences=True)
    >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
    (2, 5, 4)
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        mask = mask[0] if keras.tree.is_nested(mask) else mask
        if not _fusable(self, sequences, mask):
            return super().inner_loop(sequences, initial_state, mask=mask, training=training)
        import torch

        return _fused_call(self, torch._VF.lstm, sequences, initial_state, _lstm_weights(self.cell))


@keras.saving.register_keras_serializable(package="skills")
class GRU(keras.layers.GRU):
    """``keras.layers.GRU`` that runs ``torch._VF.gru`` on a CPU under the torch backend.

    Args: those of ``keras.layers.GRU`` (same defaults, same weights, same config).

    What differs: under ``KERAS_BACKEND=torch`` with inputs on a CPU, ``reset_after=True`` (the Keras
    default, the cuDNN / torch formulation) and the conditions of this module's `LSTM`, the whole sequence runs
    as one fused kernel call. Keras orders the gates [z, r, h] and torch [r, z, n]; the bias of shape
    ``(2, 3 * units)`` holds the input bias (row 0) and the recurrent bias (row 1), as torch's
    ``bias_ih`` / ``bias_hh``. Everything else is ``keras.layers.GRU``.

    Example:

    >>> layer = GRU(4)
    >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
    (2, 4)
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        mask = mask[0] if keras.tree.is_nested(mask) else mask
        if not _fusable(self, sequences, mask):
            return super().inner_loop(sequences, initial_state, mask=mask, training=training)
        import torch

        states = initial_state[:1] if keras.tree.is_nested(initial_state) else [initial_state]
        return _fused_call(self, torch._VF.gru, sequences, states, _gru_weights(self.cell))


@keras.saving.register_keras_serializable(package="skills")
class Bidirectional(keras.layers.Bidirectional):
    """``keras.layers.Bidirectional`` that runs an `LSTM` of this module both ways in one ``torch._VF.lstm`` call.

    Args: those of ``keras.layers.Bidirectional``.

    What differs: under ``KERAS_BACKEND=torch`` on a CPU, around an `LSTM` of this module that would run fused,
    with ``merge_mode="concat"``, no ``initial_state`` and no ``return_state``, both directions run as
    one bidirectional kernel call instead of two. Everything else is ``keras.layers.Bidirectional``.

    Example:

    >>> layer = Bidirectional(LSTM(4, return_sequences=True))
    >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
    (2, 5, 8)
    """

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward, backward = self.forward_layer, self.backward_layer
        if not (initial_state is None and self.merge_mode == "concat" and not self.return_state
                and isinstance(forward, LSTM) and isinstance(backward, LSTM)
                and backward.go_backwards and not forward.go_backwards and forward.units == backward.units
                and _fusable(forward, sequences, mask) and _fusable(backward, sequences, mask)):
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        import torch

        weights = _lstm_weights(forward.cell) + _lstm_weights(backward.cell)
        units = forward.cell.units
        zeros = torch.zeros(2, sequences.shape[0], units, dtype=weights[0].dtype, device=sequences.device)
        outputs, _, _ = torch._VF.lstm(sequences.to(weights[0].dtype), (zeros, zeros), weights, True, 1, 0.0,
                                       torch.is_grad_enabled(), True, True)  # (batch, T, 2 * units), time order
        if not self.return_sequences:
            outputs = torch.cat([outputs[:, -1, :units], outputs[:, 0, units:]], dim=-1)
        return keras.ops.cast(outputs, self.compute_dtype)
