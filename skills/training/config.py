"""The trainer's options: `TrainConfig`, the package's one set of training defaults, and its choices."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from skills.data.dataset import BATCH_BY
from skills.training.distribution import check_devices, device_count

__all__ = ["TrainConfig", "PRECISIONS", "OPTIMIZERS", "LR_SCHEDULES", "MONITORS", "BATCH_BY", "DEFAULT_LEARNING_RATE"]

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LR_SCHEDULES = ("plateau", "cosine", "constant")
#: What early stopping, the plateau schedule and the choice of the best epoch watch: ``auto`` is the validation
#: split's mean daily rank IC on a universe (many tickers per date), else the validation loss.
MONITORS = ("auto", "val_loss", "val_rank_ic")
#: The initial learning rate of a network that names none of its own (`SequenceClassifier.default_learning_rate`).
DEFAULT_LEARNING_RATE = 1e-3

# the options a model file records: those that change what a run learns (not where it logs or backs up)
_HYPERPARAMETERS = ("epochs", "batch_size", "learning_rate", "optimizer", "lr_schedule", "clipnorm", "patience",
                    "class_weight", "seed", "batch_by", "monitor", "n_seeds")


@dataclass
class TrainConfig:
    """Options of the trainer (one field per CLI flag).

    These defaults are the package's only training defaults: the command line (``train`` and ``compare``)
    and ``model.fit`` take theirs from here. They are those of the main job (``python
    train_attention_lstm.py``): ``epochs`` is only an upper bound, since early stopping on the validation
    loss (on a universe, the validation rank IC: ``monitor``) ends a run sooner, so 100 leaves room without
    costing time; a batch of 32 windows is the seed's.

    Attributes:
        epochs: int, default 100. Upper bound; early stopping usually ends sooner.
        batch_size: int, default 32. Windows per batch, on each device (``devices``).
        learning_rate: float or None, default None. Initial learning rate; None: the architecture's own
            (`skills.models.SequenceClassifier.default_learning_rate`: `DEFAULT_LEARNING_RATE` = 1e-3, the
            Attention-LSTM's 1.5e-4, chosen on validation splits: docs/tuning.md), or 1e-3 for a bare
            `skills.training.train`.
        optimizer: ``"adam"`` (default), ``"adamw"``, ``"rmsprop"`` or ``"sgd"`` (momentum 0.9).
        lr_schedule: ``"plateau"`` (default, ReduceLROnPlateau halving after patience // 2 epochs),
            ``"cosine"`` (CosineDecay over all steps) or ``"constant"``.
        clipnorm: float or None, default 1.0. Gradient norm clipping.
        patience: int, default 5. EarlyStopping patience in epochs on ``monitor`` (best weights restored).
        class_weight: ``None`` (default) or ``"balanced"`` (sklearn ``compute_class_weight``, applied
            as per-sample weights).
        precision: one of `PRECISIONS`, default ``"auto"`` (mixed_float16 if a GPU is visible to
            the backend, else float32).
        seed: int or None, default 42. Passed to ``keras.utils.set_random_seed`` and the shuffler.
        tensorboard_dir: str or None. TensorBoard logs (TensorFlow backend only; ignored with a
            warning elsewhere).
        verbose: int, default 1. Keras progress bars (0 silent, 1 bar, 2 one line per epoch).
        backup_dir: str or None. Back the run up into this folder after every epoch
            (`TrainingBackup`) and, when it already holds a backup of the same run, resume from
            it. The folder stays after training; delete it with `remove_backup` once the model
            is saved.
        batch_by: ``"window"`` (default, ``batch_size`` windows per batch) or ``"date"`` (one batch per
            date holding all its tickers' windows, dates shuffled each epoch; ``batch_size`` is then
            unused). ``"date"`` needs `Split` data (windows with dates), not ``(X, y)`` arrays.
        monitor: one of `MONITORS`, default ``"auto"``. What early stopping, the plateau schedule and the best
            epoch watch: ``"val_rank_ic"`` (the validation split's mean daily rank IC, higher is better; needs a
            validation `Split` of a universe), ``"val_loss"``, or ``"auto"``: the rank IC when the validation
            data is a `Split` with many tickers per date (`skills.metrics.ic_basis` is ``"daily"``), else the loss.
        n_seeds: int, default 1. Train this many networks that differ only in their seed (``seed``,
            ``seed + 1``, ...) and average their probabilities: a seed ensemble, saved as one network.
        devices: int or ``"all"``, default 1. Split each training batch over this many devices of the machine
            (``"all"``: every one the backend sees; `skills.training.distribution`): ``batch_size`` is then the
            windows per device, and a step reads ``batch_size * devices`` (`global_batch_size`). jax and
            TensorFlow only, with ``batch_by="window"``.
    """

    epochs: int = 100
    batch_size: int = 32
    learning_rate: float | None = None
    optimizer: str = "adam"
    lr_schedule: str = "plateau"
    clipnorm: float | None = 1.0
    patience: int = 5
    class_weight: str | None = None
    precision: str = "auto"
    seed: int | None = 42
    tensorboard_dir: str | None = None
    verbose: int = 1
    backup_dir: str | None = None
    batch_by: str = "window"
    monitor: str = "auto"
    n_seeds: int = 1
    devices: int | str = 1

    def __post_init__(self):
        for name in ("epochs", "batch_size", "n_seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
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
        if self.monitor not in MONITORS:
            raise ValueError(f"`monitor` must be one of {MONITORS}. Received: monitor={self.monitor!r}")
        if self.batch_by not in BATCH_BY:
            raise ValueError(f"`batch_by` must be one of {BATCH_BY}. Received: batch_by={self.batch_by!r}")
        check_devices(self.devices)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed; ``None`` values are ignored, unknown names raise TypeError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown training option(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def global_batch_size(self) -> int | None:
        """The windows one training step reads: ``batch_size`` per device times the devices ``devices`` names
        (``"all"``: those the backend sees now); None when batching by date (a batch is one date's windows).

        Raises:
            skills.training.distribution.DeviceError: ``devices`` the backend cannot train on.
        """
        if self.batch_by != "window":
            return None
        return int(self.batch_size) * device_count(self.devices)

    def hyperparameters(self) -> dict:
        """The options that shape what a run learns, as plain JSON values, for a model file to record.

        Returns:
            dict with ``epochs``, ``batch_size`` (per device), ``learning_rate``, ``optimizer``, ``lr_schedule``,
            ``clipnorm``, ``patience``, ``class_weight``, ``seed``, ``batch_by``, ``monitor``, ``n_seeds`` and
            ``global_batch_size`` (`global_batch_size`: how the devices change what is learned; the devices
            themselves, the precision, logging and backup options are left out: the precision a run used is
            resolved by the trainer).
        """
        return {**{name: _plain(getattr(self, name)) for name in _HYPERPARAMETERS},
                "global_batch_size": self.global_batch_size()}


def _plain(value):
    """A NumPy scalar as the Python number it holds (JSON writes those); anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value
