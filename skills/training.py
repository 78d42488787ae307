"""The one trainer: precision policy, optimizer, schedule, callbacks and `fit` for every network.

Models differ only in their network-building function; everything that compiles a network and calls
`fit` lives here. `TrainConfig` holds the options so the CLI can map its flags onto it one to one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from skills._atomic import atomic_path
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
    "TrainingError",
    "TrainingBackup",
    "run_fingerprint",
    "remove_backup",
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
        backup_dir: str or None. Back the run up into this folder after every epoch
            (`TrainingBackup`) and, when it already holds a backup of the same run, resume from
            it. The folder stays after training; delete it with `remove_backup` once the model
            is saved.
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
    backup_dir: str | None = None

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
    """What `train` returns: the trained network, the Keras History and the precision used.

    ``resumed_from`` is the number of epochs a backup already held (0 for a fresh run);
    ``nan_at`` is ``(epoch, batch)`` (1-based) where a NaN loss stopped training, else None.
    """

    network: keras.Model
    history: keras.callbacks.History
    precision: str
    resumed_from: int = 0
    nan_at: tuple[int, int] | None = None


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


class TrainingError(ValueError):
    """Training cannot go on: the loss became NaN before any epoch finished, or a backup is another run's."""


# -- NaN guard -------------------------------------------------------------------------------------


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


def _seed_states(network) -> list:
    """The network's random-seed variables (dropout's SeedGenerator states): not among its weights."""
    weights = {id(w) for w in network.weights}
    return [v for v in network.variables if id(v) not in weights and "seed_generator" in v.path]


def _all_finite(network) -> bool:
    return all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in network.weights)


# -- backup and resume -----------------------------------------------------------------------------

BACKUP_FORMAT = "skills-training-backup"
_STATE_FILE = "state.json"
_CALLBACK_STATE = {  # the counters each watched callback needs to carry on where it stopped
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
}


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _without_names(config):
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def run_fingerprint(network, train_data, validation_data, config: TrainConfig) -> str:
    """A digest of everything a resumed run must share with the run that wrote the backup.

    It covers the options (all `TrainConfig` fields except ``verbose``, ``tensorboard_dir`` and
    ``backup_dir``), the architecture with every layer's configuration (which holds the
    `Normalization` statistics, i.e. the scaler), and the training and validation windows and labels
    (so the data and the split). Initial weights are left out: a resumed run replaces them.
    """
    options = {k: v for k, v in dataclasses.asdict(config).items()
               if k not in ("verbose", "tensorboard_dir", "backup_dir")}
    layers = [(type(layer).__name__, _without_names(layer.get_config())) for layer in network.layers]
    arrays = []
    for data in (train_data, validation_data):
        if data is None:
            continue
        if hasattr(data, "dataset") and hasattr(data, "y"):
            arrays += [np.asarray(data.X.values), np.asarray(data.X.ends), np.asarray(data.y)]
        else:
            arrays += [np.asarray(data[0]), np.asarray(data[1])]
    return _digest(options, network.name, layers, *arrays)


def _to_json_number(value):
    value = keras.ops.convert_to_numpy(value) if hasattr(value, "shape") else value
    return None if value is None else float(value)


class TrainingBackup(keras.callbacks.Callback):
    """Back a training run up after every epoch and resume it after a crash.

    What `keras.callbacks.BackupAndRestore` does (weights and optimizer state after each epoch,
    restored by the next ``fit``), plus what resuming this trainer's runs needs:

    - every file is written atomically and the state file, written last, names the weight files it
      goes with: a process killed at any moment leaves the previous epoch's backup whole
      (`BackupAndRestore` overwrites its only checkpoint in place);
    - the counters of `EarlyStopping` and `ReduceLROnPlateau` (and the best weights so far), the
      History so far, the dropout seed states and the shuffling position of the training batches
      are restored, so the resumed run goes on as the first one would have: bit for bit on
      TensorFlow (on PyTorch, dropout without a seed draws from torch's global RNG, which is not
      replayed, so later epochs differ slightly);
    - a `run_fingerprint` is stored and checked: a backup is only ever resumed by the same run
      (same options, network, scaler, data and split), never silently by another.

    The folder holds ``state.json``, ``epoch-NNNN.weights.h5`` and ``best-NNNN.npz``. It stays after
    ``fit`` (marked finished, holding the final weights) so a crash before the model file is saved
    loses nothing; `remove_backup` deletes it once the model is safe.

    Args:
        backup_dir: str or Path, a folder used by this run only.
        fingerprint: str, from `run_fingerprint`.
        watched: the run's `EarlyStopping` / `ReduceLROnPlateau` callbacks (placed before this one).
    """

    def __init__(self, backup_dir, fingerprint: str, watched=()):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.fingerprint = fingerprint
        self.watched = [cb for cb in watched if type(cb).__name__ in _CALLBACK_STATE]
        self.epochs_done = 0
        self.finished = False
        self.stopped = False
        self.history: dict[str, list] = {}
        self._state = None
        self._written: set[str] = set()

    # -- reading -------------------------------------------------------------------------------
    def read_state(self):
        """The stored state dict, or None when there is no backup.

        Raises:
            TrainingError: the backup is unreadable or belongs to another run.
        """
        path = self.backup_dir / _STATE_FILE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TrainingError(f"{path}: unreadable training backup ({error}); delete {self.backup_dir} "
                                "to start afresh") from None
        if not isinstance(state, dict) or state.get("format") != BACKUP_FORMAT:
            raise TrainingError(f"{self.backup_dir}: not a training backup of this package; delete it or "
                                "choose another model path")
        if state.get("fingerprint") != self.fingerprint:
            raise TrainingError(
                f"{self.backup_dir}: holds a backup of a different run (the options, model or data differ "
                f"from those that wrote it, after {state.get('epochs_done')} epoch(s)); rerun that exact "
                f"command to finish it, or delete {self.backup_dir} to start afresh"
            )
        return state

    def restore(self, network, train_batches=None) -> int:
        """Load the backed-up weights and optimizer state into ``network`` (compiled, not yet fit).

        Also replays the shuffling of ``train_batches`` (a PyDataset reshuffled in ``on_epoch_end``)
        up to the resumed epoch. The callback counters are restored in ``on_train_begin``.

        Returns:
            int, the number of finished epochs (0 without a backup): pass it as ``initial_epoch``.
        """
        state = self.read_state()
        if state is None:
            return 0
        if network.optimizer is not None and not network.optimizer.built:
            network.optimizer.build(network.trainable_variables)
        weights = self.backup_dir / state["weights"]
        try:
            network.load_weights(str(weights))
        except Exception as error:  # noqa: BLE001 - a damaged file: say which and how to go on
            raise TrainingError(f"{weights}: cannot read the backed-up weights ({error}); delete "
                                f"{self.backup_dir} to start afresh") from None
        for variable, value in zip(_seed_states(network), state.get("seed_states", [])):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        self._state = state
        self._written = {state["weights"], state.get("best_weights")} - {None}
        self.epochs_done = int(state["epochs_done"])
        self.finished = bool(state.get("finished"))
        self.stopped = bool(state.get("stopped"))
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        if train_batches is not None and getattr(train_batches, "shuffle", False):
            for _ in range(self.epochs_done):
                train_batches.on_epoch_end()
        return self.epochs_done

    # -- callback hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if self._state is None:  # nothing to restore: a fresh run
            return
        saved = self._state.get("callbacks", {})
        for callback in self.watched:
            for name, value in saved.get(type(callback).__name__, {}).items():
                setattr(callback, name, value)
            if getattr(callback, "restore_best_weights", False) and self._state.get("best_weights"):
                with np.load(self.backup_dir / self._state["best_weights"], allow_pickle=False) as best:
                    callback.best_weights = [best[f"w{i}"] for i in range(len(best.files))]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(_to_json_number(value))
        loss = logs.get("loss")
        if loss is not None and not np.isfinite(loss):  # never back up a diverged network
            return
        self.epochs_done = epoch + 1
        self._save(finished=False)

    def on_train_end(self, logs=None):
        if _all_finite(self.model):
            self.finished = True
            self._save(finished=True)

    # -- writing -------------------------------------------------------------------------------
    def _save(self, finished: bool):
        folder = self.backup_dir
        folder.mkdir(parents=True, exist_ok=True)
        tag = f"{self.epochs_done:04d}" + ("-final" if finished else "")
        weights_name = f"epoch-{tag}.weights.h5"
        with atomic_path(folder / weights_name) as tmp:
            self.model.save_weights(str(tmp))
        best_name, states = None, {}
        for callback in self.watched:
            states[type(callback).__name__] = {
                name: _to_json_number(getattr(callback, name, None))
                if name == "best" else getattr(callback, name, None)
                for name in _CALLBACK_STATE[type(callback).__name__]
            }
            best = getattr(callback, "best_weights", None)
            if best is not None and not finished:
                best_name = f"best-{tag}.npz"
                with atomic_path(folder / best_name) as tmp:
                    with open(tmp, "wb") as handle:
                        np.savez(handle, **{f"w{i}": np.asarray(w) for i, w in enumerate(best)})
        state = {
            "format": BACKUP_FORMAT,
            "version": 1,
            "fingerprint": self.fingerprint,
            "epochs_done": self.epochs_done,
            "finished": finished,
            "stopped": bool(getattr(self.model, "stop_training", False)),
            "weights": weights_name,
            "best_weights": best_name,
            "callbacks": states,
            "seed_states": [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(self.model)],
            "history": self.history,
        }
        with atomic_path(folder / _STATE_FILE) as tmp:
            tmp.write_text(json.dumps(state))
        keep = {weights_name, best_name, _STATE_FILE}
        for old in self._written - keep:  # the previous epoch's files, now superseded
            (folder / old).unlink(missing_ok=True)
        self._written = keep - {_STATE_FILE, None}


def remove_backup(backup_dir) -> bool:
    """Delete a `TrainingBackup` folder (only the files a backup writes; the folder if then empty).

    Returns:
        bool, whether a backup was there.
    """
    folder = Path(backup_dir)
    if not (folder / _STATE_FILE).is_file():
        return False
    for path in folder.iterdir():
        if path.name == _STATE_FILE or path.name.startswith(("epoch-", "best-", ".epoch-", ".best-", ".state.")):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
    return True


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
        TrainResult with ``network`` (best weights restored), ``history`` (the Keras History, all
        epochs of a resumed run) and ``precision`` (the dtype policy used). The global dtype
        policy is restored afterwards. A loss that becomes NaN or inf stops training: the best
        weights of the finished epochs are kept, with a warning that says where it happened.

    Raises:
        ValueError: empty training data or a bad option.
        TrainingError: the loss became NaN before any epoch finished (no weights worth keeping),
            or ``config.backup_dir`` holds a backup of a different run.
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
        nan_guard = _StopOnNaN()
        callbacks = [
            nan_guard,
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
        backup, initial_epoch = None, 0
        if config.backup_dir:  # after the callbacks whose counters it carries over
            backup = TrainingBackup(config.backup_dir, run_fingerprint(network, train_data, validation_data, config),
                                    watched=callbacks[1:])
            initial_epoch = backup.restore(network, train_batches)
            callbacks.append(backup)
            _log_resume(backup, config)
        if config.tensorboard_dir:
            board = _tensorboard_callback(config.tensorboard_dir)
            if board is not None:
                callbacks.append(board)
        if backup is not None and backup.finished:  # killed after training, before the model was saved
            history = keras.callbacks.History()
        else:
            history = network.fit(
                train_batches,
                validation_data=val_batches,
                epochs=config.epochs,
                initial_epoch=config.epochs if backup is not None and backup.stopped else initial_epoch,
                shuffle=False,  # the batches shuffle their windows; a resumed run replays that, not NumPy's global RNG
                callbacks=callbacks + extra_callbacks,
                verbose=config.verbose,
            )
        if backup is not None:
            history.history = backup.history
            history.epoch = list(range(len(backup.history.get("loss", []))))
    nan_at = _check_nan_stop(nan_guard, callbacks[1], network)
    return TrainResult(network=network, history=history, precision=precision, resumed_from=initial_epoch,
                       nan_at=nan_at)


def _log_resume(backup: TrainingBackup, config: TrainConfig) -> None:
    if backup.finished or backup.stopped or backup.epochs_done >= config.epochs:
        log.warning("resuming: %s holds this run's finished training (%d epochs); nothing left to train",
                    backup.backup_dir, backup.epochs_done)
    elif backup.epochs_done:
        log.warning("resuming from epoch %d of %d: %s holds %d finished epoch(s) of this run",
                    backup.epochs_done + 1, config.epochs, backup.backup_dir, backup.epochs_done)


def _check_nan_stop(nan_guard: _StopOnNaN, stopper, network):
    """After a NaN stop: warn and keep the best weights, or raise when no epoch finished cleanly."""
    if nan_guard.stopped_at is None:
        return None
    epoch, batch, loss = nan_guard.stopped_at
    where = f"epoch {epoch + 1}, batch {batch + 1}"
    if not _all_finite(network):
        raise TrainingError(
            f"the training loss became {loss} at {where}, before any epoch finished cleanly, so there are no "
            "weights to keep; lower the learning rate, or look for extreme values in the data"
        )
    log.warning("the training loss became %s at %s: training stopped and kept the best weights so far (epoch %d); "
                "a lower learning rate may avoid this", loss, where, stopper.best_epoch + 1)
    return (epoch + 1, batch + 1)
