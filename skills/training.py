"""The one trainer: precision policy, optimizer, schedule, callbacks and `fit` for every network.

Models differ only in their network-building function; everything that compiles a network and calls
`fit` lives here. `TrainConfig` holds the options so the CLI can map its flags onto it one to one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from skills.data.windows import WindowDataset

__all__ = [
    "TrainConfig",
    "TrainResult",
    "PRECISIONS",
    "OPTIMIZERS",
    "LR_SCHEDULES",
    "resolve_precision",
    "precision_scope",
    "gpu_available",
    "balanced_class_weights",
    "make_optimizer",
    "train",
]

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LR_SCHEDULES = ("plateau", "cosine", "constant")


@dataclass
class TrainConfig:
    """Options of the trainer (one field per CLI flag).

    Attributes:
        epochs: int, default 50. Upper bound; early stopping usually ends sooner.
        batch_size: int, default 64.
        learning_rate: float, default 1e-3. Initial learning rate.
        optimizer: ``"adam"`` (default), ``"adamw"``, ``"rmsprop"`` or ``"sgd"`` (momentum 0.9).
        lr_schedule: ``"plateau"`` (default, ReduceLROnPlateau halving after patience // 2 epochs),
            ``"cosine"`` (CosineDecay over all steps) or ``"constant"``.
        clipnorm: float or None, default 1.0. Gradient norm clipping.
        patience: int, default 10. EarlyStopping patience in epochs (best weights restored).
        class_weight: ``None`` (default) or ``"balanced"`` (sklearn ``compute_class_weight``, applied
            as per-sample weights).
        precision: one of `PRECISIONS`, default ``"auto"`` (mixed_float16 if a GPU is visible to
            the backend, else float32).
        seed: int or None, default 42. Passed to ``keras.utils.set_random_seed`` and the shuffler.
        tensorboard_dir: str or None. TensorBoard logs (TensorFlow backend only; ignored with a
            warning elsewhere).
        verbose: int, default 1. Keras progress bars (0 silent, 1 bar, 2 one line per epoch).
    """

    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    lr_schedule: str = "plateau"
    clipnorm: float | None = 1.0
    patience: int = 10
    class_weight: str | None = None
    precision: str = "auto"
    seed: int | None = 42
    tensorboard_dir: str | None = None
    verbose: int = 1

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"`lr_schedule` must be one of {LR_SCHEDULES}. Received: lr_schedule={self.lr_schedule!r}"
            )
        if self.clipnorm is not None and not self.clipnorm > 0:
            raise ValueError(f"`clipnorm` must be > 0 or None. Received: clipnorm={self.clipnorm!r}")
        if self.patience < 0:
            raise ValueError(f"`patience` must be >= 0. Received: patience={self.patience!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(
                f"`class_weight` must be None or 'balanced'. Received: class_weight={self.class_weight!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: precision={self.precision!r}")

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed; ``None`` values are ignored, unknown names raise TypeError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass
class TrainResult:
    """What `train` returns: the trained network, the Keras History and the precision used."""

    network: keras.Model
    history: keras.callbacks.History
    precision: str


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
    """Turn ``"auto"`` into ``"mixed_float16"`` (GPU visible) or ``"float32"``; check the others."""
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


def balanced_class_weights(y, n_classes: int = 3) -> np.ndarray:
    """Per-class weights ``n / (k * count)`` (sklearn "balanced"); absent classes get weight 0."""
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(y)
    present = np.unique(y)
    weights = np.zeros(n_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer named in ``config`` with its clipping and learning-rate schedule."""
    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=max(1, config.epochs * steps_per_epoch)
        )
    kwargs = {"learning_rate": rate, "clipnorm": config.clipnorm}
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**kwargs)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(**kwargs)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(**kwargs)
    return keras.optimizers.SGD(momentum=0.9, **kwargs)


def _tensorboard_callback(log_dir):
    """TensorBoard writes through TensorFlow; on other backends warn and skip it."""
    if keras.backend.backend() != "tensorflow":
        log.warning("TensorBoard logging needs the TensorFlow backend; skipped on %s", keras.backend.backend())
        return None
    return keras.callbacks.TensorBoard(log_dir=str(log_dir))


def _as_batches(data, config: TrainConfig, training: bool, weights=None):
    """A PyDataset from a Split-like object (``.X``, ``.y``, ``.dataset(...)``) or an ``(X, y)`` tuple."""
    sample_weight = None if weights is None else weights[np.asarray(_labels(data))]
    if hasattr(data, "dataset") and hasattr(data, "y"):
        return data.dataset(
            batch_size=config.batch_size, shuffle=training, seed=config.seed, sample_weight=sample_weight
        )
    X, y = data[0], data[1]
    return WindowDataset(X, np.asarray(y), sample_weight, config.batch_size, shuffle=training, seed=config.seed)


def _labels(data):
    return data.y if hasattr(data, "y") else data[1]


def train(
    build_network: Callable[[], keras.Model],
    train_data,
    validation_data=None,
    config: TrainConfig | None = None,
    callbacks=None,
) -> TrainResult:
    """Build a network under the chosen precision, compile it and fit it.

    Args:
        build_network: callable with no arguments returning an uncompiled ``keras.Model`` whose
            output is ``(batch, 3)`` softmax probabilities (float32). It is called inside the
            precision scope, after seeding.
        train_data: a training ``Split`` (``.X``, ``.y``, ``.dataset()``) or an ``(X, y)`` tuple.
        validation_data: a validation ``Split``, an ``(X, y)`` tuple, or None. It is the
            time-ordered validation split that EarlyStopping and ReduceLROnPlateau watch; without
            it they watch the training loss.
        config: TrainConfig or None (defaults).
        callbacks: extra Keras callbacks, run after the trainer's own.

    Returns:
        TrainResult with ``network`` (best weights restored), ``history`` (the Keras History) and
        ``precision`` (the dtype policy used). The global dtype policy is restored afterwards.

    Raises:
        ValueError: empty training data or a bad option.
    """
    config = config or TrainConfig()
    if len(_labels(train_data)) == 0:
        raise ValueError("the training data holds no windows")
    if validation_data is not None and len(_labels(validation_data)) == 0:
        validation_data = None
    with precision_scope(config.precision) as precision:
        log.info("training under dtype policy %s (backend %s)", precision, keras.backend.backend())
        if config.seed is not None:
            keras.utils.set_random_seed(int(config.seed))
        network = build_network()
        weights = balanced_class_weights(_labels(train_data)) if config.class_weight == "balanced" else None
        train_batches = _as_batches(train_data, config, training=True, weights=weights)
        val_batches = None if validation_data is None else _as_batches(validation_data, config, training=False)
        network.compile(
            optimizer=make_optimizer(config, len(train_batches)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        monitor = "val_loss" if val_batches is not None else "loss"
        extra_callbacks = list(callbacks or [])
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=config.patience, restore_best_weights=True, verbose=min(config.verbose, 1)
            ),
        ]
        if config.lr_schedule == "plateau":
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor=monitor, factor=0.5, patience=max(1, config.patience // 2), min_lr=1e-6
                )
            )
        if config.tensorboard_dir:
            board = _tensorboard_callback(config.tensorboard_dir)
            if board is not None:
                callbacks.append(board)
        history = network.fit(
            train_batches,
            validation_data=val_batches,
            epochs=config.epochs,
            callbacks=callbacks + extra_callbacks,
            verbose=config.verbose,
        )
    return TrainResult(network=network, history=history, precision=precision)
