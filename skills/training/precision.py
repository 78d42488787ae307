"""The dtype policy a run trains under: ``"auto"`` resolved from measurements, set for a block and restored."""

from __future__ import annotations

import contextlib

import keras

from skills.training.config import PRECISIONS

__all__ = ["MEASURED_PRECISION", "gpu_available", "precision_reason", "resolve_precision", "precision_scope"]


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


#: What ``"auto"`` was measured to be fastest at, per (backend, device), and the measurement behind it
#: (benchmarks/gpu_train.py and train_throughput.py; docs/performance.md). Where mixed precision has not been
#: measured faster, ``"auto"`` keeps float32: it never picks a policy that could slow a run down.
MEASURED_PRECISION = {
    ("torch", "gpu"): ("float32", "mixed_float16 measured slower on an H200 for this network (Keras torch backend, "
                                  "1,525 vs 1,906 samples/s at batch 32, 12,594 vs 14,757 at batch 256; plain "
                                  "PyTorch AMP was slower too)"),
    ("jax", "gpu"): ("float32", "mixed_float16 fails in jaxlib's cuDNN RNN lowering on GPU (\"Unknown output type "
                                "float16\"), and was slower on the torch backend of the same GPU"),
    ("tensorflow", "gpu"): ("float32", "mixed precision not measured faster on the tensorflow backend; on an H200 "
                                       "it was slower under the torch backend and in plain PyTorch"),
}


def precision_reason(precision: str = "auto") -> str:
    """Why ``resolve_precision(precision)`` chose what it did, in one phrase (for logs and reports)."""
    if precision != "auto":
        return "asked for"
    device = "gpu" if gpu_available() else "cpu"
    if device == "cpu":
        return "no GPU visible: mixed precision does not speed up these networks on a CPU"
    return MEASURED_PRECISION.get((keras.backend.backend(), device), ("float32", "not measured here"))[1]


def resolve_precision(precision: str = "auto") -> str:
    """Turn ``"auto"`` into the policy measured fastest on this backend and device; check the others.

    ``"auto"`` is float32 on a CPU, and on a GPU the entry of `MEASURED_PRECISION` (float32 everywhere so
    far: mixed_float16 was measured slower for these networks, or fails); `precision_reason` says why.

    Raises:
        ValueError: ``precision`` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision == "auto":
        if not gpu_available():
            return "float32"
        return MEASURED_PRECISION.get((keras.backend.backend(), "gpu"), ("float32", ""))[0]
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
