"""`SequenceClassifier`: the scikit-learn shaped base class every network shares.

A subclass stores its hyperparameters in ``__init__`` and writes ``_network(x)`` (normalised windows
in, ``(batch, 3)`` float32 probabilities out). Fitting goes through `skills.training.train`; saving,
loading, metadata, batching and attention read-outs live here, once.

Model files (``.h5`` or ``.keras``) carry the network, its `Normalization` layer set from the training
statistics, and a JSON metadata record: in the root attribute ``skills_metadata`` of an ``.h5`` file, in
the member ``skills_metadata.json`` of a ``.keras`` zip.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skills._atomic import atomic_path
from skills.data import CLASS_NAMES, FEATURE_NAMES, ScalerStats, WindowDataset, feature_windows
from skills.metrics import classification_metrics
from skills.models.layers import TemporalAttention
from skills.training import TrainConfig, precision_scope, train

__all__ = ["SequenceClassifier", "ModelFileError", "read_metadata", "model_class", "MODEL_CLASSES"]

FORMAT = "skills-sequence-classifier"
FORMAT_VERSION = 1
METADATA_ATTR = "skills_metadata"  # root attribute of an .h5 file
METADATA_MEMBER = "skills_metadata.json"  # member of a .keras zip
SUFFIXES = (".h5", ".keras")
PREDICT_BATCH_SIZE = 1024

MODEL_CLASSES: dict[str, type] = {}


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, not ours, of an unknown class, or data it cannot use."""


def _package_version() -> str:
    return getattr(importlib.import_module("skills"), "__version__", None) or "0.1.0"


def model_class(name: str) -> type:
    """The registered `SequenceClassifier` subclass called ``name``.

    Raises:
        KeyError: no such class.
    """
    importlib.import_module("skills.models")  # registers the built-in classes
    return MODEL_CLASSES[name]


_SAVE_HINT = "train one with `python -m skills train` or save it with SequenceClassifier.save"
_REQUIRED = ("model_class", "params", "feature_names", "scaler", "sequence_length", "class_names")
_UNSAFE_LAYERS = ("Lambda",)  # layers whose config carries Python code


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


def read_metadata(path) -> dict:
    """Read and check the metadata record of a model file, without deserialising anything in it.

    Returns:
        dict, the metadata written by `SequenceClassifier.save`.

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
    if architecture is not None:
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
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{path}: the skills metadata has no valid format_version ({version!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by skills {meta.get('skills_version', '?')} in model-file format {version}; this "
            f"skills {_package_version()} reads format {FORMAT_VERSION}: upgrade the skills package to load it"
        )
    missing = [key for key in _REQUIRED if key not in meta]
    scaler = meta.get("scaler")
    if not missing and not (isinstance(scaler, dict) and {"offset", "scale"} <= set(scaler)):
        missing = ["scaler.offset/scale"]
    if missing:
        raise ModelFileError(f"{path}: the skills metadata lacks {', '.join(missing)} (corrupt file)")
    name = meta.get("model_class")
    try:
        model_class(name)
    except (KeyError, TypeError):
        raise ModelFileError(
            f"{path}: unknown model class {name!r}; known: {sorted(MODEL_CLASSES)}"
        ) from None
    if tuple(meta.get("class_names", ())) != tuple(CLASS_NAMES):
        raise ModelFileError(
            f"{path}: the file's classes {meta.get('class_names')} differ from {list(CLASS_NAMES)}"
        )
    return meta


def _is_prepared(data) -> bool:
    return all(hasattr(data, name) for name in ("train", "val", "feature_names", "scaler"))


def _is_split(data) -> bool:
    return hasattr(data, "X") and hasattr(data, "y") and hasattr(data, "dataset")


class SequenceClassifier:
    """Base class of the down / flat / up sequence classifiers (scikit-learn shape, Keras inside).

    ``__init__`` of a subclass stores hyperparameters only; ``fit`` validates, seeds, builds and
    trains. ``X`` is always windows of raw (unscaled) features, ``(n, sequence_length, n_features)``,
    in the model's feature order: scaling happens inside the network.

    Attributes (after ``fit`` or ``load``):
        network_: keras.Model, windows in, ``(n, 3)`` probabilities out.
        feature_names_: list of str, the features the model reads, in order.
        n_features_: int.
        classes_: ndarray ``[0, 1, 2]``; ``CLASS_NAMES`` gives their names.
        scaler_: dict with ``kind``, ``offset``, ``scale`` (training statistics).
        metadata_: dict, everything written into a model file.
        history_: dict of per-epoch metrics (empty after ``load``).
        precision_: str, the dtype policy the network was built under.
        path_: str or None, the file the model was loaded from or last saved to.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODEL_CLASSES[cls.__name__] = cls

    # -- what a subclass writes ---------------------------------------------------------------
    def _network(self, x):
        """Map the normalised ``(batch, sequence_length, n_features)`` tensor to ``(batch, 3)`` probabilities."""
        raise NotImplementedError

    # -- scikit-learn protocol ----------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]

    def get_params(self, deep=True) -> dict:
        """Hyperparameters as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters; unknown names raise ValueError. Returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- building and fitting -----------------------------------------------------------------
    def _build_network(self, n_features: int, offset, scale) -> keras.Model:
        length = self.sequence_length
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 2:
            raise ValueError(f"`sequence_length` must be an integer >= 2. Received: sequence_length={length!r}")
        inputs = keras.Input((int(length), int(n_features)), name="windows")
        scale = np.asarray(scale, dtype=np.float64)
        x = keras.layers.Normalization(
            axis=-1,
            mean=np.asarray(offset, dtype=np.float64).tolist(),
            variance=(scale**2).tolist(),
            dtype="float32",
            name="normalization",
        )(inputs)
        return keras.Model(inputs, self._network(x), name=type(self).__name__)

    def fit(
        self,
        data_or_X,
        y=None,
        *,
        epochs=None,
        batch_size=None,
        validation_data=None,
        config: TrainConfig | None = None,
        callbacks=None,
        warm_start=False,
        **train_options,
    ):
        """Train on a `PreparedData` (train split, early stopping on its val split) or on arrays.

        Args:
            data_or_X: `PreparedData`, or windows ``(n, sequence_length, n_features)`` of raw features.
            y: int labels ``(n,)`` in 0..2 when ``data_or_X`` is an array; None for `PreparedData`.
            epochs, batch_size: override the training config.
            validation_data: a `Split` or ``(X_val, y_val)``; default: the `PreparedData` val split
                (none for arrays: early stopping then watches the training loss).
            config: `skills.training.TrainConfig` or None (defaults).
            callbacks: extra Keras callbacks for ``fit``.
            warm_start: bool, default False. Continue training the fitted (or loaded) network
                instead of building a new one; the features must match and the scaling learned
                first is kept.
            **train_options: any other `TrainConfig` field (``learning_rate``, ``precision``,
                ``verbose``, ...).

        Returns:
            self.

        Raises:
            ValueError: inconsistent shapes, labels or sequence length, or a bad option.
        """
        config = (config or TrainConfig()).replace(epochs=epochs, batch_size=batch_size, **train_options)
        if _is_prepared(data_or_X):
            if y is not None:
                raise ValueError("y must be None when fitting on a PreparedData")
            data = data_or_X
            if int(data.sequence_length) != self.sequence_length:
                raise ValueError(
                    f"the data has sequence_length={data.sequence_length} but the model has "
                    f"sequence_length={self.sequence_length}"
                )
            train_data = data.train
            validation = data.val if validation_data is None else validation_data
            feature_names = [str(name) for name in data.feature_names]
            scaler = data.scaler.to_dict()
            dates = data.train.dates
            context = {
                "horizon": int(data.horizon),
                "label_rule": data.label_rule.to_dict(),
                "train_start": str(dates.min().date()) if len(dates) else None,
                "train_end": str(dates.max().date()) if len(dates) else None,
                "tickers": sorted({str(t) for t in np.asarray(data.train.tickers)}),
                "dataset": data.meta,
            }
        else:
            X, labels = self._check_windows(data_or_X, fitting=True), y
            if labels is None:
                raise ValueError("y is required when fitting on arrays")
            labels = np.asarray(labels)
            if labels.shape != (len(X),):
                raise ValueError(f"y must have shape ({len(X)},), got {labels.shape}")
            scaler = ScalerStats.fit(np.asarray(X, dtype=np.float32).reshape(-1, X.shape[-1])).to_dict()
            feature_names = [f"feature_{i}" for i in range(X.shape[-1])]
            train_data, validation = (X, labels), validation_data
            context = {"horizon": None, "label_rule": None, "train_start": None, "train_end": None,
                       "tickers": [], "dataset": None}
        train_labels = np.asarray(train_data.y if _is_split(train_data) else train_data[1])
        if len(train_labels) and (train_labels.min() < 0 or train_labels.max() >= len(CLASS_NAMES)):
            raise ValueError(f"labels must be integers in 0..{len(CLASS_NAMES) - 1}")
        n_features = len(feature_names)
        build = lambda: self._build_network(n_features, scaler["offset"], scaler["scale"])  # noqa: E731
        if warm_start and hasattr(self, "network_"):
            if feature_names != self.feature_names_:
                raise self._error(
                    f"warm_start needs the model's features {self.feature_names_}, got {feature_names}"
                )
            scaler, network = self.scaler_, self.network_
            build = lambda: network  # noqa: E731
        result = train(
            build,
            train_data,
            validation,
            config,
            callbacks=callbacks,
        )
        self._set_state(
            network=result.network,
            feature_names=feature_names,
            scaler=scaler,
            precision=result.precision,
            context=context,
            path=None,
        )
        self.history_ = {k: [float(v) for v in values] for k, values in result.history.history.items()}
        return self

    def _set_state(self, network, feature_names, scaler, precision, context, path):
        self.network_ = network
        self.feature_names_ = list(feature_names)
        self.n_features_ = len(feature_names)
        self.classes_ = np.arange(len(CLASS_NAMES))
        self.scaler_ = dict(scaler)
        self.precision_ = precision
        self.path_ = None if path is None else str(path)
        self.metadata_ = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_class": type(self).__name__,
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "n_features": self.n_features_,
            "scaler": self.scaler_,
            "sequence_length": int(self.sequence_length),
            "class_names": list(CLASS_NAMES),
            "precision": precision,
            "skills_version": _package_version(),
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            **context,
        }
        self._submodels = {}

    # -- prediction ---------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "network_"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit(...) or load(path) first"
            )

    def _error(self, message):
        return ModelFileError(f"{self.path_ or 'in-memory ' + type(self).__name__}: {message}")

    def _check_windows(self, X, fitting=False):
        if _is_prepared(X):
            X = X.test
        if _is_split(X):
            X = X.X
        if not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
            X = np.asarray(X, dtype=np.float32)
        shape = tuple(X.shape)
        if len(shape) != 3:
            raise ValueError(f"X must be windows of shape (n, sequence_length, n_features), got shape {shape}")
        if shape[1] != self.sequence_length:
            raise ValueError(f"X has windows of {shape[1]} steps but sequence_length={self.sequence_length}")
        if not fitting and shape[2] != self.n_features_:
            raise self._error(
                f"X has {shape[2]} features per step but the model reads {self.n_features_}: "
                f"{self.feature_names_}"
            )
        return X

    def _run(self, network, X) -> np.ndarray:
        """Batched forward pass of ``network`` over all windows (never one call per window)."""
        if isinstance(X, np.ndarray):
            return np.asarray(network.predict(X.astype(np.float32, copy=False), batch_size=PREDICT_BATCH_SIZE, verbose=0))
        return np.asarray(network.predict(WindowDataset(X, batch_size=PREDICT_BATCH_SIZE), verbose=0))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities.

        Args:
            X: raw windows ``(n, sequence_length, n_features)`` (ndarray or lazy window array), a
                `Split`, or a `PreparedData` (its test split).

        Returns:
            float32 ``(n, 3)`` in ``CLASS_NAMES`` order; each row sums to 1.
        """
        self._check_fitted()
        X = self._check_windows(X)
        if len(X) == 0:
            return np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)
        return self._run(self.network_, X).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        """Class ids ``(n,)`` (int64), the argmax of `predict_proba`."""
        return np.argmax(self.predict_proba(X), axis=1).astype(np.int64)

    def predict_frame(self, ohlcv) -> pd.DataFrame:
        """Probabilities for every complete window of a bar frame.

        Args:
            ohlcv: DataFrame of daily bars (``open high low close volume``, DatetimeIndex).

        Returns:
            DataFrame indexed by the date of each window's last bar, columns ``CLASS_NAMES``.

        Raises:
            ModelFileError: the model reads features that neither the bars nor `compute_features`
                provide.
            DataError: the bars are too few for one complete window.
        """
        self._check_fitted()
        unknown = [f for f in self.feature_names_ if f not in FEATURE_NAMES and f not in ohlcv.columns]
        if unknown:
            raise self._error(
                f"the data cannot provide the model's features: {ohlcv.attrs.get('source', 'the bars')} lacks "
                f"{', '.join(unknown)} (not computed by this version of skills)"
            )
        windows, dates = feature_windows(ohlcv, self.feature_names_, self.sequence_length)
        proba = self.predict_proba(windows)
        return pd.DataFrame(proba, index=pd.DatetimeIndex(dates, name="date"), columns=list(CLASS_NAMES))

    def evaluate(self, data_or_X, y=None) -> dict:
        """Loss and accuracy on labelled windows.

        Args:
            data_or_X: a `PreparedData` (its test split), a `Split`, or windows with ``y``.

        Returns:
            dict with ``loss`` (mean cross-entropy), ``accuracy`` and ``n``.
        """
        if _is_prepared(data_or_X):
            data_or_X = data_or_X.test
        if _is_split(data_or_X):
            data_or_X, y = data_or_X.X, data_or_X.y
        if y is None:
            raise ValueError("y is required when evaluating arrays")
        y = np.asarray(y, dtype=np.int64)
        proba = self.predict_proba(data_or_X)
        if len(y) != len(proba):
            raise ValueError(f"X has {len(proba)} windows but y has {len(y)} labels")
        if len(y) == 0:
            return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
        metrics = classification_metrics(y, proba)
        return {"loss": metrics["log_loss"], "accuracy": metrics["accuracy"], "n": metrics["n"]}

    # -- attention and per-step read-outs -----------------------------------------------------
    def _submodel(self, key):
        """A second keras.Model over the trained layers (built once per network, nothing retrained)."""
        if key not in self._submodels:
            network = self.network_
            if key == "attention":
                layers = [layer for layer in network.layers if isinstance(layer, TemporalAttention)]
                if not layers:
                    raise AttributeError(f"{type(self).__name__} has no temporal attention layer")
                output = layers[-1].output[1]
            else:
                names = [layer.name for layer in network.layers]
                if "step_probs" not in names:
                    raise AttributeError(
                        f"{type(self).__name__} has no per-step outputs; only the causal "
                        "AttentionLSTMModel(bidirectional=False) has them"
                    )
                output = network.get_layer("step_probs").output
            self._submodels[key] = keras.Model(network.inputs, output)
        return self._submodels[key]

    def get_attention_weights(self, X, all_steps=False) -> np.ndarray:
        """Temporal attention weights of each window.

        Args:
            X: raw windows, as for `predict_proba`.
            all_steps: bool, default False. For a causal model, return the weights of every step
                ``(n, T, T)`` (row t covers steps <= t) instead of those of the final step.

        Returns:
            float32 ``(n, sequence_length)``, each row sums to 1 (``(n, T, T)`` with ``all_steps``).

        Raises:
            AttributeError: the network has no `TemporalAttention` layer.
        """
        self._check_fitted()
        model = self._submodel("attention")
        X = self._check_windows(X)
        weights = self._run(model, X).astype(np.float32)
        if weights.ndim == 3 and not all_steps:
            weights = weights[:, -1, :]
        return weights

    def predict_proba_steps(self, X) -> np.ndarray:
        """Per-step probabilities of a causal network: ``(n, sequence_length, 3)`` float32.

        The output at step t depends on steps <= t only; the last step equals `predict_proba`.

        Raises:
            AttributeError: the network is not causal.
        """
        self._check_fitted()
        model = self._submodel("steps")
        return self._run(model, self._check_windows(X)).astype(np.float32)

    # -- files --------------------------------------------------------------------------------
    def save(self, path):
        """Write the network and its metadata to ``path`` (``.h5`` or ``.keras``) atomically.

        The file is written under a temporary name in the same folder and moved into place with
        ``os.replace``, so a crash never leaves half a model behind.

        Returns:
            pathlib.Path of the written file.

        Raises:
            ValueError: an unsupported suffix. RuntimeError: an unfitted model.
        """
        self._check_fitted()
        path = Path(path)
        if path.suffix not in SUFFIXES:
            raise ValueError(f"model files end in .h5 or .keras, got {path.name!r}")
        metadata = json.dumps(self.metadata_)
        with atomic_path(path) as temporary:
            if path.suffix == ".keras":
                self.network_.save(temporary)
                with zipfile.ZipFile(temporary, "a") as archive:
                    archive.writestr(METADATA_MEMBER, metadata)
            else:
                import h5py

                # No optimizer in the .h5 form: the legacy writer strips it from the live model's
                # compile config, and a loaded model is rebuilt for inference anyway. The .h5 form is
                # the seed's format, chosen on purpose: Keras' "legacy format" notice is silenced.
                absl = logging.getLogger("absl")
                level = absl.level
                absl.setLevel(logging.ERROR)
                try:
                    self.network_.save(temporary, include_optimizer=False)
                finally:
                    absl.setLevel(level)
                with h5py.File(temporary, "a") as handle:
                    handle.attrs[METADATA_ATTR] = metadata
        self.path_ = str(path)
        return path

    def load(self, path):
        """Load a model file into this object, replacing its hyperparameters and state.

        The network is rebuilt from the metadata under float32 and the weights are read into it,
        so a file trained under mixed precision predicts in float32 on any machine.

        Returns:
            self.

        Raises:
            ModelFileError: see `read_metadata`; also a file holding another model class, or
                weights that do not fit the rebuilt network.
        """
        meta = read_metadata(path)
        if meta["model_class"] != type(self).__name__:
            raise ModelFileError(
                f"{path}: holds a {meta['model_class']}, not a {type(self).__name__}; "
                "use skills.models.load_model(path)"
            )
        try:
            self.set_params(**meta["params"])
        except ValueError as error:
            raise ModelFileError(f"{path}: {error}") from error
        scaler = meta["scaler"]
        try:
            with precision_scope("float32"):
                network = self._build_network(len(meta["feature_names"]), scaler["offset"], scaler["scale"])
                network.load_weights(str(path))
        except Exception as error:  # noqa: BLE001 - any failure here means a bad file
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelFileError(f"{path}: cannot load the network weights ({first_line})") from error
        context = {k: meta.get(k) for k in ("horizon", "label_rule", "train_start", "train_end", "tickers", "dataset")}
        self._set_state(network, meta["feature_names"], scaler, "float32", context, path)
        self.metadata_.update({k: meta[k] for k in ("skills_version", "keras_version", "backend", "precision") if k in meta})
        self.history_ = {}
        return self
