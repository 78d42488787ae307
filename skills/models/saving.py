"""The model-file format: a Keras network plus one JSON metadata record, in ``.h5`` or ``.keras``.

The record sits in the root attribute ``skills_metadata`` of an ``.h5`` file and in the member
``skills_metadata.json`` of a ``.keras`` zip. Format 2 states each fact once::

    {"format": "skills-sequence-classifier", "format_version": 2, "model_class": "AttentionLSTMModel",
     "params": {constructor params, incl. sequence_length},
     "feature_names": [...], "scaler": {"kind", "offset", "scale"}, "class_names": [...],
     "label_rule": {..., "horizon"} or null,
     "data": {"tickers", "gap", "date_ranges": {"train": [first, last], "val", "test"},
              "split_sizes": {"train": n, "val": n, "test": n},
              "cross_section": "none" | "rank" | "zscore"} or null (fitted on arrays),
     "training": {"epochs", "batch_size", "learning_rate", "optimizer", "lr_schedule", "clipnorm",
                  "patience", "class_weight", "seed", "batch_by", "monitor", "n_seeds", "precision",
                  "precision_reason", "epochs_run", ["members": [{"seed", "best_epoch", "epochs_run"}, ...]]},
     "versions": {"skills", "keras", "backend"},
     "trading": {"confidence_threshold", "down_threshold", "rule": "top_share", "share", "chosen_on": "val",
                 "n_val", "val_dates": [first, last] or null} or null}

``trading`` holds the thresholds ``confidence_threshold="auto"`` trades at (`trading_record`), chosen on the
validation windows the model was early-stopped on, never on its test split; a model fitted without validation
data, or a file written before the record existed, has ``null`` there (and so no "auto" threshold).

A seed ensemble (``training.n_seeds`` N > 1) stores one Keras model: the shared normalization, N nested member
models ``member_1`` ... ``member_N`` and the average of their probabilities; ``training.members`` holds each member's
seed, best epoch and epochs run, ``training.epochs_run`` their sum. `read_network` rebuilds those N members from the
class and this record alone (`n_members`). A file without ``n_seeds`` (older, or format 1) holds one network.

`read_metadata` checks a file without deserialising anything in it and returns this layout; a
format-1 record (skills 0.1.0) is upgraded to it, with ``None`` for the training hyperparameters that
format did not record.
"""

from __future__ import annotations

import importlib
import json
import logging
import zipfile
from pathlib import Path

import keras
import numpy as np

from skills._atomic import atomic_path
from skills._version import __version__
from skills.data import CLASS_NAMES
from skills.training import TrainConfig, precision_scope

__all__ = [
    "FORMAT", "FORMAT_VERSION", "MODEL_CLASSES", "ModelFileError", "model_class", "read_metadata",
    "read_network", "write_model", "make_metadata", "data_record", "training_record", "trading_record",
    "DEFAULT_TRADE_SHARE", "n_members",
]

FORMAT = "skills-sequence-classifier"
FORMAT_VERSION = 2
METADATA_ATTR = "skills_metadata"  # root attribute of an .h5 file
METADATA_MEMBER = "skills_metadata.json"  # member of a .keras zip
SUFFIXES = (".h5", ".keras")
TRAINING_KEYS = (*TrainConfig().hyperparameters(), "precision", "precision_reason", "epochs_run")

MODEL_CLASSES: dict[str, type] = {}  # filled by SequenceClassifier.__init_subclass__

#: The share of validation windows whose P(up) clears the "auto" threshold (`trading_record`).
DEFAULT_TRADE_SHARE = 0.2
TRADING_RULE = "top_share"
_SAVE_HINT = "train one with `python -m skills train` or save it with SequenceClassifier.save"
_UNSAFE_LAYERS = ("Lambda",)  # layers whose config carries Python code
_REQUIRED = {
    1: ("model_class", "params", "feature_names", "scaler", "sequence_length", "class_names"),
    2: ("model_class", "params", "feature_names", "scaler", "class_names"),
}


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, not ours, of an unknown class, or data it cannot use."""


def model_class(name: str) -> type:
    """The registered `SequenceClassifier` subclass called ``name``.

    Raises:
        KeyError: no such class.
    """
    importlib.import_module("skills.models")  # registers the built-in classes
    return MODEL_CLASSES[name]


def make_metadata(model_class: str, params: dict, feature_names, scaler: dict, *, label_rule=None, data=None,
                  training=None, trading=None) -> dict:
    """A format-2 metadata record for a model made now (see the module docstring for the layout)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": model_class,
        "params": dict(params),
        "feature_names": [str(name) for name in feature_names],
        "scaler": dict(scaler),
        "class_names": list(CLASS_NAMES),
        "label_rule": label_rule,
        "data": data,
        "training": training,
        "versions": {"skills": __version__, "keras": keras.__version__, "backend": keras.backend.backend()},
        "trading": trading,
    }


def data_record(data) -> dict:
    """The ``data`` block of the metadata for a `PreparedData`: tickers, gap, date ranges, split sizes, and
    whether the features were normalised across the tickers of each date (``cross_section``)."""
    return {
        "tickers": [str(ticker) for ticker in data.tickers],
        "gap": int(data.gap),
        "date_ranges": data.bounds.to_dict(),
        "split_sizes": {split.name: len(split) for split in (data.train, data.val, data.test)},
        "cross_section": str(getattr(data, "cross_section", "none")),
    }


def training_record(config, precision: str, epochs_run: int, precision_reason: str | None = None,
                    members=None) -> dict:
    """The ``training`` block: `TrainConfig.hyperparameters`, the resolved precision, why it was chosen
    (``precision_reason``: ``"asked for"``, or the measurement ``"auto"`` went by) and the epochs run; for a seed
    ensemble also ``members``, one ``{"seed", "best_epoch", "epochs_run"}`` per member (absent for one network)."""
    record = {**config.hyperparameters(), "precision": precision, "precision_reason": precision_reason,
              "epochs_run": int(epochs_run)}
    if members:
        record["members"] = [dict(member) for member in members]
    return record


def n_members(meta: dict) -> int:
    """How many networks the model of a metadata record averages: ``training.n_seeds``, 1 where not recorded."""
    value = (meta.get("training") or {}).get("n_seeds")
    return 1 if value is None else int(value)


def trading_record(proba, dates=None, share=DEFAULT_TRADE_SHARE) -> dict | None:
    """The ``trading`` block: the thresholds that trade a set share of the validation windows.

    ``confidence_threshold`` is the ``1 - share`` quantile of P(up) over the validation windows, so a
    strategy entering when P(up) >= it enters on about ``share`` of them (the top ``share`` by P(up));
    ``down_threshold`` is the same quantile of P(down), for exits and shorts. A quantile always trades,
    whatever the level of the model's probabilities, and it has one free number, so it cannot be fitted
    to the noise of a short validation block the way a search for the best validation Sharpe can.

    Args:
        proba: ``(n, 3)`` validation probabilities in ``CLASS_NAMES`` order.
        dates: the validation windows' dates (their first and last are recorded), or None.
        share: float in (0, 1), default `DEFAULT_TRADE_SHARE`.

    Returns:
        dict, or None when there are no validation windows.

    Raises:
        ValueError: ``share`` outside (0, 1), or ``proba`` not of shape ``(n, 3)``.
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ValueError(f"trade_share must be a fraction of the validation windows in (0, 1), got {share!r}")
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(CLASS_NAMES):
        raise ValueError(f"validation probabilities must have shape (n, {len(CLASS_NAMES)}), got {proba.shape}")
    if not len(proba):
        return None
    up, down = (float(np.quantile(proba[:, CLASS_NAMES.index(name)], 1.0 - share)) for name in ("up", "down"))
    span = None
    if dates is not None and len(dates):
        span = [str(min(dates).date()), str(max(dates).date())]
    return {"confidence_threshold": up, "down_threshold": down, "rule": TRADING_RULE, "share": float(share),
            "chosen_on": "val", "n_val": int(len(proba)), "val_dates": span}


# -- reading ---------------------------------------------------------------------------------------


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else (None if value is None else str(value))


def _read_records(path: Path):
    """The metadata JSON and the Keras architecture JSON of a file (None where absent); nothing is
    deserialised, so no code stored in the file can run."""
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the model file is empty (0 bytes); {_SAVE_HINT}")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                return tuple(archive.read(m).decode("utf-8") if m in names else None
                             for m in (METADATA_MEMBER, "config.json"))
        import h5py

        with h5py.File(path, "r") as handle:
            return _text(handle.attrs.get(METADATA_ATTR)), _text(handle.attrs.get("model_config"))
    except (OSError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"{path}: not a readable model file: neither a .keras (zip) archive nor an HDF5 .h5 file, or "
            f"truncated ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
        ) from None


def _layer_classes(config) -> set:
    found = set()
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            found.add(config["class_name"])
        for value in config.values():
            found |= _layer_classes(value)
    elif isinstance(config, list):
        for value in config:
            found |= _layer_classes(value)
    return found


def _check_architecture(path: Path, architecture) -> None:
    if architecture is None:
        return
    try:
        classes = _layer_classes(json.loads(architecture))
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: the stored Keras architecture is corrupt (not JSON)") from None
    unsafe = sorted(classes.intersection(_UNSAFE_LAYERS))
    if unsafe:
        raise ModelFileError(
            f"{path}: holds a {unsafe[0]} layer (Python code that would run on loading); refused: "
            "models of this package never contain one, and only safe-mode loading is allowed"
        )


def _upgrade_v1(meta: dict) -> dict:
    """A format-1 record in the format-2 layout (the hyperparameters it did not record are None)."""
    dataset = meta.get("dataset")
    data = None if dataset is None else {
        "tickers": dataset.get("tickers", meta.get("tickers", [])),
        "gap": dataset.get("gap"),
        "date_ranges": dataset.get("date_ranges"),
        "split_sizes": dataset.get("split_sizes"),
        "cross_section": "none",
    }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": meta["model_class"],
        "params": {**meta["params"], "sequence_length": meta["sequence_length"]},
        "feature_names": meta["feature_names"],
        "scaler": meta["scaler"],
        "class_names": meta["class_names"],
        "label_rule": meta.get("label_rule"),
        "data": data,
        "training": {**dict.fromkeys(TRAINING_KEYS), "precision": meta.get("precision")},
        "versions": {"skills": meta.get("skills_version"), "keras": meta.get("keras_version"),
                     "backend": meta.get("backend")},
        "trading": None,
    }


def read_metadata(path) -> dict:
    """Read and check the metadata record of a model file, without deserialising anything in it.

    Returns:
        dict in the format-2 layout (a format-1 record is upgraded to it).

    Raises:
        ModelFileError: missing, empty, truncated or corrupt file; a Keras model that is not one of
            this package's; a ``Lambda`` layer (Python code) in the stored architecture; a file
            from a newer version of the package; unknown model class; incomplete metadata; class
            names that differ from ``CLASS_NAMES``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    raw, architecture = _read_records(path)
    _check_architecture(path, architecture)
    if raw is None:
        what = "a Keras model, but not one saved by skills" if architecture else "not a Keras model file"
        raise ModelFileError(f"{path}: {what} (it has no skills metadata: features, scaler, label rule); "
                             f"{_SAVE_HINT}")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: the skills metadata in the file is corrupt (not JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{path}: not a skills model file (metadata format {found!r}); {_SAVE_HINT}")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: the skills metadata has no valid format_version ({version!r})")
    if version > FORMAT_VERSION:
        writer = (meta.get("versions") or {}).get("skills") or meta.get("skills_version", "?")
        raise ModelFileError(
            f"{path}: written by skills {writer} in model-file format {version}; this skills "
            f"{__version__} reads formats up to {FORMAT_VERSION}: upgrade the skills package to load it"
        )
    missing = [key for key in _REQUIRED[version] if key not in meta]
    scaler, params = meta.get("scaler"), meta.get("params")
    if not missing and not (isinstance(scaler, dict) and {"offset", "scale"} <= set(scaler)):
        missing = ["scaler.offset/scale"]
    if not missing and not isinstance(params, dict):
        missing = ["params"]
    if not missing and version == 2 and "sequence_length" not in params:
        missing = ["params.sequence_length"]
    if missing:
        raise ModelFileError(f"{path}: the skills metadata lacks {', '.join(missing)} (corrupt file)")
    seeds = meta["training"].get("n_seeds") if isinstance(meta.get("training"), dict) else None
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise ModelFileError(f"{path}: training.n_seeds must be the number of networks averaged, an integer >= 1, "
                             f"got {seeds!r} (corrupt file)")
    name = meta.get("model_class")
    try:
        model_class(name)
    except (KeyError, TypeError):
        raise ModelFileError(f"{path}: unknown model class {name!r}; known: {sorted(MODEL_CLASSES)}") from None
    if tuple(meta.get("class_names", ())) != tuple(CLASS_NAMES):
        raise ModelFileError(f"{path}: the file's classes {meta.get('class_names')} differ from {list(CLASS_NAMES)}")
    if version == 1:
        return _upgrade_v1(meta)
    return {**dict.fromkeys(("label_rule", "data", "training", "versions", "trading")), **meta}


def read_network(path, build) -> keras.Model:
    """Rebuild a network under float32 with ``build()`` and read the file's weights into it.

    A file trained under mixed precision thus predicts in float32 on any machine.

    Raises:
        ModelFileError: the network cannot be built from the file's parameters, or its weights do
            not fit.
    """
    try:
        with precision_scope("float32"):
            network = build()
            network.load_weights(str(path))
    except Exception as error:  # noqa: BLE001 - any failure here means a bad file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: cannot load the network weights ({first_line})") from error
    return network


# -- writing ---------------------------------------------------------------------------------------


def write_model(network: keras.Model, metadata: dict, path) -> Path:
    """Write ``network`` and its ``metadata`` to ``path`` (``.h5`` or ``.keras``) atomically.

    The file is written under a temporary name in the same folder and moved into place with
    ``os.replace``, so a crash never leaves half a model behind.

    Returns:
        pathlib.Path of the written file.

    Raises:
        ValueError: an unsupported suffix.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"model files end in .h5 or .keras, got {path.name!r}")
    record = json.dumps(metadata)
    with atomic_path(path) as temporary:
        if path.suffix == ".keras":
            network.save(temporary)
            with zipfile.ZipFile(temporary, "a") as archive:
                archive.writestr(METADATA_MEMBER, record)
        else:
            import h5py

            # No optimizer in the .h5 form: the legacy writer strips it from the live model's compile
            # config, and a loaded model is rebuilt for inference anyway. Keras' "legacy format" notice
            # is silenced: .h5 is a supported format of this package.
            absl = logging.getLogger("absl")
            level = absl.level
            absl.setLevel(logging.ERROR)
            try:
                network.save(temporary, include_optimizer=False)
            finally:
                absl.setLevel(level)
            with h5py.File(temporary, "a") as handle:
                handle.attrs[METADATA_ATTR] = record
    return path
