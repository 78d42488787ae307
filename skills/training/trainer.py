"""The one trainer: precision policy, optimizer, schedule, callbacks and `fit` for every network.

Models differ only in their network-building function; everything that compiles a network and calls
`fit` lives here.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from skills._lock import exclusive_lock
from skills.data.windows import WindowDataset
from skills.metrics import ic_basis
from skills.training.backup import TrainingBackup, TrainingError, all_finite, run_fingerprint
from skills.training.callbacks import RANK_IC_LOG, RankICCallback, is_ranked_split
from skills.training.config import DEFAULT_LEARNING_RATE, TrainConfig
from skills.training.distribution import data_parallel
from skills.training.precision import precision_scope

__all__ = ["TrainResult", "balanced_class_weights", "make_optimizer", "resolve_monitor", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        network: the trained ``keras.Model``, holding the best epoch's weights.
        history: the Keras History (every epoch of a resumed run).
        precision: str, the dtype policy trained under (``"auto"`` resolved).
        best_epoch: int, the 1-based epoch whose weights ``network`` holds.
    """

    network: keras.Model
    history: keras.callbacks.History
    precision: str
    best_epoch: int

    @property
    def epochs_run(self) -> int:
        """The number of epochs trained (those of a resumed run's first part included)."""
        return len(self.history.history.get("loss", []))


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
    rate = DEFAULT_LEARNING_RATE if config.learning_rate is None else config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, config.epochs * steps_per_epoch))
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
    """A PyDataset from a Split-like object (``.X``, ``.y``, ``.dataset(...)``) or an ``(X, y)`` tuple,
    batched as ``config.batch_by`` says (batches by date need a Split: a tuple has no dates)."""
    sample_weight = None if weights is None else weights[np.asarray(_labels(data))]
    if hasattr(data, "dataset") and hasattr(data, "y"):
        return data.dataset(batch_size=config.batch_size, shuffle=training, seed=config.seed,
                            sample_weight=sample_weight, batch_by=config.batch_by)
    if config.batch_by != "window":
        raise ValueError(f"batch_by={config.batch_by!r} needs the {'training' if training else 'validation'} data "
                         "as a Split (windows with their dates, e.g. PreparedData.train), not (X, y) arrays")
    X, y = data[0], data[1]
    return WindowDataset(X, np.asarray(y), sample_weight, config.batch_size, shuffle=training, seed=config.seed)


def _labels(data):
    return data.y if hasattr(data, "y") else data[1]


def resolve_monitor(monitor: str, validation_data) -> str:
    """The figure early stopping, the plateau schedule and the best epoch watch, for ``TrainConfig.monitor``.

    ``"auto"`` is ``"val_rank_ic"`` when ``validation_data`` is a `Split` of a universe (`skills.metrics.ic_basis`
    of its dates is ``"daily"``: enough tickers on a typical date for a daily rank IC), else ``"val_loss"``.
    Without validation data the loss is watched: ``"loss"``.

    Raises:
        ValueError: naming ``monitor``: ``"val_rank_ic"`` without a validation `Split` of a universe.
    """
    ranked = (validation_data is not None and is_ranked_split(validation_data)
              and ic_basis(validation_data.dates) == "daily")
    if monitor == "auto":
        monitor = RANK_IC_LOG if ranked else "val_loss"
    if monitor == RANK_IC_LOG and not ranked:
        what = ("no validation windows" if validation_data is None else
                "validation data without dates (arrays)" if not is_ranked_split(validation_data) else
                "a validation Split with too few tickers per date for a daily rank IC")
        raise ValueError(f"monitor={RANK_IC_LOG!r} needs a validation Split of a universe (many tickers per date); "
                         f"got {what}: use monitor='val_loss' or 'auto'")
    return monitor if validation_data is not None else "loss"


class _StopOnNaN(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss went NaN (or inf) instead of printing it."""

    epoch = 0
    stopped_at = None  # (epoch, batch, loss), 0-based

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss) and self.stopped_at is None:
            self.stopped_at = (self.epoch, batch, float(loss))
            self.model.stop_training = True


def train(
    build_network: Callable[[], keras.Model],
    train_data,
    validation_data=None,
    config: TrainConfig | None = None,
    callbacks=None,
) -> TrainResult:
    """Build a network under the chosen precision and on the chosen devices, compile it and fit it.

    Args:
        build_network: callable with no arguments returning an uncompiled ``keras.Model`` whose
            output is ``(batch, 3)`` softmax probabilities (float32). It is called inside the
            precision scope and the devices' scope (`skills.training.distribution.data_parallel`), after seeding.
        train_data: a training ``Split`` (``.X``, ``.y``, ``.dataset()``) or an ``(X, y)`` tuple. With
            ``config.batch_by="date"`` it (and ``validation_data``) must be a ``Split``: one batch per date.
        validation_data: a validation ``Split``, an ``(X, y)`` tuple, or None. It is the
            time-ordered validation split that EarlyStopping and ReduceLROnPlateau watch (its loss, or its mean
            daily rank IC ``val_rank_ic`` as `resolve_monitor` chooses from ``config.monitor``); without it they
            watch the training loss.
        config: TrainConfig or None (defaults). With ``config.devices`` > 1 each step reads ``batch_size``
            windows per device (`TrainConfig.global_batch_size` in all) and splits them over the devices.
        callbacks: extra Keras callbacks, run after the trainer's own.

    Returns:
        TrainResult with ``network`` (best weights restored), ``history`` (the Keras History, all
        epochs of a resumed run, with ``val_rank_ic`` per epoch when the rank IC is watched), ``precision``
        (the dtype policy used) and ``best_epoch``. The
        global dtype policy is restored afterwards. A loss that becomes NaN or inf stops training:
        the best weights of the finished epochs are kept, with a warning that says where it happened.

    Raises:
        ValueError: empty training data or a bad option (``monitor="val_rank_ic"`` without a validation
            `Split` of a universe).
        skills.training.distribution.DeviceError: ``config.devices`` the backend cannot train on (more than it
            sees, several under torch or with batches by date); nothing was built.
        TrainingError: the loss became NaN before any epoch finished (no weights worth keeping),
            or ``config.backup_dir`` holds a backup of a different run.
        skills._lock.LockedError: another run is training into ``config.backup_dir`` (it is locked for the
            whole fit); nothing was written.
    """
    config = config or TrainConfig()
    if len(_labels(train_data)) == 0:
        raise ValueError("the training data holds no windows")
    if validation_data is not None and len(_labels(validation_data)) == 0:
        validation_data = None
    monitor = resolve_monitor(config.monitor, validation_data)
    # one run per backup folder at a time
    backup_lock = exclusive_lock(config.backup_dir, "training backup") if config.backup_dir else nullcontext()
    parallel = data_parallel(config.devices, config.batch_size, config.batch_by)
    with backup_lock, precision_scope(config.precision) as precision, parallel as devices:
        log.info("training under dtype policy %s (backend %s)", precision, keras.backend.backend())
        if config.seed is not None:
            keras.utils.set_random_seed(int(config.seed))
        network = build_network()
        weights = balanced_class_weights(_labels(train_data)) if config.class_weight == "balanced" else None
        batching = config.replace(batch_size=devices.global_batch_size)  # per device x devices
        train_batches = _as_batches(train_data, batching, training=True, weights=weights)
        val_batches = None if validation_data is None else _as_batches(validation_data, batching, training=False)
        network.compile(
            optimizer=make_optimizer(config, len(train_batches)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        mode = "max" if monitor == RANK_IC_LOG else "min"
        log.info("early stopping and the best epoch watch %s (%s)", monitor,
                 "the validation split's mean daily rank IC, higher is better" if mode == "max" else "lower is better")
        nan_guard = _StopOnNaN()
        own = [*devices.callbacks(train_batches), nan_guard]
        if monitor == RANK_IC_LOG:  # writes the figure into the logs before the callbacks that read it;
            # in the validation loss's batches, so one more pass like that one's
            own.append(RankICCallback(validation_data, batch_by=config.batch_by, batch_size=config.batch_size))
        stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.patience,
                                                restore_best_weights=True, verbose=min(config.verbose, 1))
        own.append(stopper)
        if config.lr_schedule == "plateau":
            own.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5,
                                                         patience=max(1, config.patience // 2), min_lr=1e-6))
        backup = None
        if config.backup_dir:  # after the callbacks whose counters it carries over
            backup = TrainingBackup(config.backup_dir, run_fingerprint(network, train_data, validation_data, config),
                                    watched=own, batches=train_batches)
            own.append(backup)
            _log_resume(backup, config)
        if config.tensorboard_dir:
            board = _tensorboard_callback(config.tensorboard_dir)
            if board is not None:
                own.append(board)
        history = network.fit(
            train_batches,
            validation_data=val_batches,
            epochs=config.epochs,
            shuffle=False,  # the batches shuffle their windows; a resumed run replays that, not NumPy's global RNG
            callbacks=own + list(callbacks or []),
            verbose=config.verbose,
        )
        if backup is not None:
            history.history = backup.history
            history.epoch = list(range(len(backup.history.get("loss", []))))
    _check_nan_stop(nan_guard, stopper, network)
    return TrainResult(network=network, history=history, precision=precision, best_epoch=stopper.best_epoch + 1)


def _log_resume(backup: TrainingBackup, config: TrainConfig) -> None:
    if backup.resume_epoch >= config.epochs:
        log.warning("resuming: %s holds this run's finished training (%d epochs); nothing left to train",
                    backup.backup_dir, backup.epochs_done)
    elif backup.epochs_done:
        log.warning("resuming from epoch %d of %d: %s holds %d finished epoch(s) of this run",
                    backup.epochs_done + 1, config.epochs, backup.backup_dir, backup.epochs_done)


def _check_nan_stop(nan_guard: _StopOnNaN, stopper, network) -> None:
    """After a NaN stop: warn and keep the best weights, or raise when no epoch finished cleanly."""
    if nan_guard.stopped_at is None:
        return
    epoch, batch, loss = nan_guard.stopped_at
    where = f"epoch {epoch + 1}, batch {batch + 1}"
    if not all_finite(network):
        raise TrainingError(
            f"the training loss became {loss} at {where}, before any epoch finished cleanly, so there are no "
            "weights to keep; lower the learning rate, or look for extreme values in the data"
        )
    log.warning("the training loss became %s at %s: training stopped and kept the best weights so far (epoch %d); "
                "a lower learning rate may avoid this", loss, where, stopper.best_epoch + 1)
