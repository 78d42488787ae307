"""The dtype policy a run trains under: ``"auto"`` resolved from the device, set for a block and restored."""

from __future__ import annotations

import contextlib

import keras

from skills.training.config import PRECISIONS

__all__ = ["gpu_available", "resolve_precision", "precision_scope"]


def gpu_available() -> bool:
    """Whether the active Keras backend sees a GPU."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # a broken driver means no usable GPU
        return False
    return False


def resolve_precision(precision: str = "auto") -> str:
    """Turn ``"auto"`` into ``"mixed_float16"`` (GPU visible) or ``"float32"``; check the others.

    Raises:
        ValueError: ``precision`` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision == "auto":
        return "mixed_float16" if gpu_available() else "float32"
    return precision


@contextlib.contextmanager
def precision_scope(precision: str = "auto"):
    """Set the global Keras dtype policy for the block and restore the previous one afterwards.

    Yields:
        str, the policy name chosen (``"auto"`` resolved).
    """
    chosen = resolve_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(chosen)
    try:
        yield chosen
    finally:
        keras.config.set_dtype_policy(previous)
