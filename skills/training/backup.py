"""Back a training run up after every epoch and resume it, bit for bit, after a crash."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from pathlib import Path

import keras
import numpy as np

from skills._atomic import atomic_path

__all__ = ["TrainingBackup", "TrainingError", "run_fingerprint", "remove_backup"]

BACKUP_FORMAT = "skills-training-backup"
BACKUP_VERSION = 2
_STATE_FILE = "state.json"
_CALLBACK_STATE = {  # the counters each watched callback needs to carry on where it stopped
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
}


class TrainingError(ValueError):
    """Training cannot go on: the loss became NaN before any epoch finished, or a backup is another run's."""


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


def run_fingerprint(network, train_data, validation_data, config) -> str:
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


def seed_states(network) -> list:
    """The network's random-seed variables (dropout's SeedGenerator states): not among its weights."""
    weights = {id(w) for w in network.weights}
    return [v for v in network.variables if id(v) not in weights and "seed_generator" in v.path]


def all_finite(network) -> bool:
    """Whether every weight of ``network`` is finite (no NaN or inf)."""
    return all(np.isfinite(w.numpy()).all() for w in network.weights)


def _to_json_number(value):
    value = keras.ops.convert_to_numpy(value) if hasattr(value, "shape") else value
    return None if value is None else float(value)


class TrainingBackup(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that resumes this trainer's runs exactly and survives a kill.

    From `BackupAndRestore` it keeps the mechanism: weights and optimizer state are saved after each
    epoch and, when ``fit`` begins, loaded back, with ``fit`` going on at the epoch after the saved one.
    It adds what that class does not do:

    - every file is written atomically and the state file, written last, names the weight files it
      goes with: a process killed at any moment leaves the previous epoch's backup whole
      (`BackupAndRestore` overwrites its checkpoint in place);
    - the counters of `EarlyStopping` and `ReduceLROnPlateau` (and the best weights so far), the
      History so far, the dropout seed states and the shuffling position of the training batches
      are restored, so the resumed run goes on as the first one would have: bit for bit on
      TensorFlow (on PyTorch, dropout without a seed draws from torch's global RNG, which is not
      replayed, so later epochs differ slightly);
    - a `run_fingerprint` is stored and checked: a backup is only ever resumed by the same run
      (same options, network, scaler, data and split), never silently by another.

    The folder holds ``state.json``, ``epoch-NNNN.weights.h5`` and ``best-NNNN.npz``. It stays after
    ``fit`` (holding the final weights, with nothing left to train) so a crash before the model file
    is saved loses nothing; `remove_backup` deletes it once the model is safe.

    Args:
        backup_dir: str or Path, a folder used by this run only.
        fingerprint: str, from `run_fingerprint`.
        watched: the run's `EarlyStopping` / `ReduceLROnPlateau` callbacks (placed before this one).
        batches: the training PyDataset when it reshuffles in ``on_epoch_end``, or None.

    Raises:
        TrainingError: ``backup_dir`` holds an unreadable backup or another run's.
    """

    def __init__(self, backup_dir, fingerprint: str, watched=(), batches=None):
        super().__init__(str(backup_dir), delete_checkpoint=False)
        self.backup_dir = Path(backup_dir)
        self._training_metadata_path = str(self.backup_dir / _STATE_FILE)  # its "epoch" is where fit resumes
        self.fingerprint = fingerprint
        self.watched = [cb for cb in watched if type(cb).__name__ in _CALLBACK_STATE]
        self.batches = batches
        self._state = self.read_state()
        self.epochs_done = 0 if self._state is None else int(self._state["epochs_done"])
        #: the epoch ``fit`` resumes at (its ``epochs`` once the run is over: nothing left to train)
        self.resume_epoch = 0 if self._state is None else int(self._state["epoch"])
        self.history: dict[str, list] = {} if self._state is None else {
            k: list(v) for k, v in self._state["history"].items()}
        self._written = set() if self._state is None else {self._state["weights"], self._state["best_weights"]}

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
        if state.get("version") != BACKUP_VERSION:
            raise TrainingError(f"{self.backup_dir}: a training backup of version {state.get('version')}, this "
                                f"package resumes version {BACKUP_VERSION}; delete it to start afresh")
        if state.get("fingerprint") != self.fingerprint:
            raise TrainingError(
                f"{self.backup_dir}: holds a backup of a different run (the options, model or data differ "
                f"from those that wrote it, after {state.get('epochs_done')} epoch(s)); rerun that exact "
                f"command to finish it, or delete {self.backup_dir} to start afresh"
            )
        return state

    # -- restoring, as fit begins (after the watched callbacks reset their counters) ------------
    def _load_model(self):
        """Load weights and optimizer state (`BackupAndRestore`), then the rest of the run's state."""
        if self._state is None:  # nothing to restore: a fresh run
            return
        weights = self.backup_dir / self._state["weights"]
        self._weights_path = str(weights)
        try:
            if not weights.is_file():
                raise FileNotFoundError("no such file")
            super()._load_model()  # also sets the epoch fit starts at
        except Exception as error:  # noqa: BLE001 - a damaged file: say which and how to go on
            raise TrainingError(f"{weights}: cannot read the backed-up weights ({error}); delete "
                                f"{self.backup_dir} to start afresh") from None
        for variable, value in zip(seed_states(self.model), self._state["seed_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        saved = self._state["callbacks"]
        for callback in self.watched:
            for name, value in saved.get(type(callback).__name__, {}).items():
                setattr(callback, name, value)
            if getattr(callback, "restore_best_weights", False) and self._state["best_weights"]:
                with np.load(self.backup_dir / self._state["best_weights"], allow_pickle=False) as best:
                    callback.best_weights = [best[f"w{i}"] for i in range(len(best.files))]
        if getattr(self.batches, "shuffle", False):  # the reshuffles of the finished epochs
            for _ in range(self.epochs_done):
                self.batches.on_epoch_end()

    # -- backing up ------------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(_to_json_number(value))
        loss = logs.get("loss")
        if loss is not None and not np.isfinite(loss):  # never back up a diverged network
            return
        self.epochs_done = epoch + 1
        super().on_epoch_end(epoch, logs)  # saves through `_save_model`

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None  # set by `_load_model`; a later fit of this network starts afresh
        if all_finite(self.model):
            self._save_model(finished=True)

    def _save_model(self, finished: bool = False):
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
        over = finished or bool(getattr(self.model, "stop_training", False))
        state = {
            "format": BACKUP_FORMAT,
            "version": BACKUP_VERSION,
            "fingerprint": self.fingerprint,
            "epochs_done": self.epochs_done,
            "epoch": self.params["epochs"] if over else self.epochs_done,  # where fit resumes
            "weights": weights_name,
            "best_weights": best_name,
            "callbacks": states,
            "seed_states": [v.numpy().tolist() for v in seed_states(self.model)],
            "history": self.history,
        }
        with atomic_path(folder / _STATE_FILE) as tmp:
            tmp.write_text(json.dumps(state))
        keep = {weights_name, best_name, _STATE_FILE}
        for old in self._written - keep - {None}:  # the previous epoch's files, now superseded
            (folder / old).unlink(missing_ok=True)
        self._written = keep - {_STATE_FILE, None}


def remove_backup(backup_dir) -> bool:
    """Delete a `TrainingBackup` folder (only the files a backup writes; the folder if then empty), and the
    ``member-K`` backups of a seed ensemble's members inside it.

    Returns:
        bool, whether a backup was there.
    """
    folder = Path(backup_dir)
    members = sorted(folder.glob("member-*")) if folder.is_dir() else []  # a seed ensemble backs up each member
    removed = [remove_backup(member) for member in members if member.is_dir()]
    if not (folder / _STATE_FILE).is_file():
        if any(removed):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return any(removed)
    for path in folder.iterdir():
        if path.name == _STATE_FILE or path.name.startswith(("epoch-", "best-", ".epoch-", ".best-", ".state.")):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
    return True
