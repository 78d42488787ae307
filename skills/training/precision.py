"""The dtype policy a run trains under: ``"auto"`` resolved from measurements, set for a block and restored.

Mixed precision (``mixed_float16``, ``mixed_bfloat16``) trains on every backend. Two layers keep float32 under
every policy: the softmax head (each network builds it with ``dtype="float32"``) and, under the jax backend, the
recurrent layers (`recurrent_dtype`): jaxlib's cuDNN RNN lowering rejects half-precision types ("Unknown output
type float16"), so LSTMs and GRUs compute in float32 there while the rest of the network runs mixed.
"""

from __future__ import annotations

import contextlib
from typing import Mapping, NamedTuple

import keras

from skills.training.config import PRECISIONS

__all__ = ["MEASURED_PRECISION", "Measurement", "choose_precision", "fastest_policy", "gpu_available",
           "precision_reason", "precision_scope", "recurrent_dtype", "resolve_precision"]

#: The network the measurements were taken on; it stands for the others until they are measured themselves.
DEFAULT_NETWORK = "AttentionLSTMModel"


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


def recurrent_dtype(policy: str | None = None) -> str | None:
    """The dtype policy for a recurrent layer (LSTM, GRU, their Bidirectional wrapper) built under ``policy``.

    ``"float32"`` under the jax backend when ``policy`` (default: the global policy) is mixed, since jaxlib's
    cuDNN RNN kernels take no half-precision types; None otherwise (the layer follows the global policy).
    """
    name = policy or keras.config.dtype_policy().name
    if keras.backend.backend() == "jax" and name.startswith("mixed_"):
        return "float32"
    return None


class Measurement(NamedTuple):
    """Training samples/s of one network per dtype policy on one backend and device, and where they come from.

    A policy that failed to train is recorded as None: it is never chosen.
    """

    samples_per_s: Mapping[str, float | None]
    source: str


def fastest_policy(samples_per_s: Mapping[str, float | None]) -> str:
    """The policy with the most samples/s; float32 unless a mixed policy was measured strictly faster.

    Policies measured as None (they failed) or not measured at all are never chosen.
    """
    measured = {policy: speed for policy, speed in samples_per_s.items() if speed is not None and speed > 0}
    best = "float32"
    for policy, speed in measured.items():
        if speed > measured.get(best, 0.0):
            best = policy
    return best


#: What ``"auto"`` chooses from: per (backend, device), per network class, the training samples/s of each
#: policy (batch 32, default network settings). A network without its own entry uses the Attention-LSTM's; a
#: backend and device without an entry (every CPU so far) keep float32.
MEASURED_PRECISION: dict[tuple[str, str], dict[str, Measurement]] = {
    ("torch", "gpu"): {DEFAULT_NETWORK: Measurement(
        {"float32": 1906, "mixed_float16": 1525},
        "benchmarks/gpu_train.py --windows 8192 --epochs 2 on one H200, batch 32 (12,594 vs 14,757 at batch 256; "
        "plain PyTorch AMP was slower than float32 too)")},
    ("jax", "gpu"): {DEFAULT_NETWORK: Measurement(
        {"float32": 3819, "mixed_float16": None},
        "benchmarks/gpu_train.py --windows 8192 --epochs 2 on one H200, batch 32; mixed_float16 failed there in "
        "jaxlib's cuDNN RNN lowering before recurrent layers kept float32, and has not been measured since")},
}


def _device() -> str:
    return "gpu" if gpu_available() else "cpu"


def choose_precision(precision: str = "auto", network: str | None = None,
                     table: Mapping[tuple[str, str], Mapping[str, Measurement]] | None = None) -> tuple[str, str]:
    """The dtype policy to train under and why, in one phrase.

    A policy other than ``"auto"`` is used as asked. ``"auto"`` looks up `MEASURED_PRECISION` (or ``table``) for
    the active backend and device, for ``network`` (a model class name; default, and fallback, the
    Attention-LSTM) and takes `fastest_policy` of that measurement: never a policy it found slower, never one it
    did not measure. Without a measurement it keeps float32.

    Raises:
        ValueError: ``precision`` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision != "auto":
        return precision, "asked for"
    backend, device = keras.backend.backend(), _device()
    entries = (MEASURED_PRECISION if table is None else table).get((backend, device), {})
    name = network if network in entries else DEFAULT_NETWORK
    measurement = entries.get(name)
    if measurement is None:
        return "float32", (f"float32: no mixed policy has been measured faster on the {backend} backend on {device} "
                           "(auto picks one only where a measurement found it faster)")
    chosen = fastest_policy(measurement.samples_per_s)
    figures = ", ".join(f"{policy} {'failed' if speed is None else f'{speed:,.0f}'}"
                        for policy, speed in measurement.samples_per_s.items())
    on = "" if name == network else f" (measured on {name})"
    return chosen, (f"{chosen} measured fastest for {name}{on} on {backend} {device}: train samples/s {figures} "
                    f"[{measurement.source}]")


def resolve_precision(precision: str = "auto", network: str | None = None) -> str:
    """The policy of `choose_precision` (``"auto"`` resolved; the others checked and kept).

    Raises:
        ValueError: ``precision`` is not one of `PRECISIONS`.
    """
    return choose_precision(precision, network)[0]


def precision_reason(precision: str = "auto", network: str | None = None) -> str:
    """Why `resolve_precision` chose what it did, in one phrase (for logs and reports)."""
    return choose_precision(precision, network)[1]


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
