"""`SequenceClassifier`: the scikit-learn estimator every network shares.

A subclass stores its hyperparameters in ``__init__``, checks them in ``_validate_params`` and writes
``_network(x)`` (normalised windows in, ``(batch, 3)`` float32 probabilities out). Fitting goes through
`skills.training.train`; the model-file format lives in `skills.models.saving`. Here: the estimator (params,
fit, batched prediction on windows, score, save and load); prediction on raw bars and universes comes from
`skills.models.inference`, the attention and per-step read-outs from `skills.models.attention_readout`.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from skills.data import CLASS_NAMES, DateBatchDataset, PreparedData, ScalerStats, Split, WindowDataset
from skills.metrics import classification_metrics
from skills.models import ensemble, saving
from skills.models.attention_readout import AttentionReadout
from skills.models.inference import BarPrediction
from skills.models.layers import check_int
from skills.models.saving import MODEL_CLASSES, ModelFileError, model_class, read_metadata
from skills.training import DEFAULT_LEARNING_RATE, TrainConfig, choose_precision

__all__ = ["SequenceClassifier", "check_sequence_length", "ModelFileError", "read_metadata", "model_class",
           "MODEL_CLASSES"]

PREDICT_BATCH_SIZE = 1024


def check_sequence_length(value):
    """``value`` if it is a valid ``sequence_length``: None (taken from the data at ``fit``) or an int >= 2.

    The one check of a model's window length, for the constructor's value and for the length ``fit`` takes
    from the data (attention over a single bar would be constant).

    Raises:
        ValueError: anything else, named in the message.
    """
    return None if value is None else check_int("sequence_length", value, minimum=2)


def _refuse_prepared(data) -> None:
    if isinstance(data, PreparedData):
        raise TypeError("expected windows or a Split, got a whole PreparedData: pass one of its splits, "
                        "e.g. data.test, or its windows data.test.X")


class SequenceClassifier(BarPrediction, AttentionReadout, ClassifierMixin, BaseEstimator):
    """Base class of the down / flat / up sequence classifiers (scikit-learn estimator, Keras inside).

    ``__init__`` of a subclass stores hyperparameters only, so `get_params`, `set_params` and
    ``sklearn.base.clone`` work; ``fit`` validates, seeds, builds and trains. ``X`` is always windows
    of raw (unscaled) features, ``(n, sequence_length, n_features)``, in the model's feature order:
    scaling happens inside the network. `score` is the accuracy. A model built with
    ``sequence_length=None`` takes the window length from the data it is fitted on (``sequence_length_``).

    Attributes (after ``fit`` or ``load``):
        network_: keras.Model, windows in, ``(n, 3)`` probabilities out; for a seed ensemble (``fit(...,
            n_seeds=N)``) one model averaging its N members' probabilities (`skills.models.ensemble`).
        sequence_length_: int, the window length the network reads (``sequence_length``, or the data's).
        feature_names_: list of str, the features the model reads, in order.
        n_features_: int.
        classes_: ndarray ``[0, 1, 2]``; ``CLASS_NAMES`` gives their names.
        scaler_: dict with ``kind``, ``offset``, ``scale`` (training statistics).
        metadata_: dict, the metadata record of the model file (`skills.models.saving`, format 2); its
            ``trading`` entry holds the "auto" confidence threshold chosen on the validation split, or None.
        history_: dict of per-epoch metrics (empty after ``load``); for an ensemble, each epoch's mean over the
            members still training then (`ensemble.mean_history`).
        member_histories_: list of each member's ``history_`` (one entry for one network; empty after ``load``).
        precision_: str, the dtype policy the network was built under.
        path_: str or None, the file the model was loaded from or last saved to.
    """

    #: The initial learning rate `fit` uses when neither its config nor its options name one.
    default_learning_rate = DEFAULT_LEARNING_RATE

    # Graph networks (GATs) attend across the rows of a batch: they must see one date's windows per
    # batch, in training and in prediction. Per-window networks leave this False.
    _batches_by_date = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODEL_CLASSES[cls.__name__] = cls

    # -- what a subclass writes ---------------------------------------------------------------
    def _network(self, x):
        """Map the normalised ``(batch, sequence_length, n_features)`` tensor to ``(batch, 3)`` probabilities."""
        raise NotImplementedError

    def _initialise(self, network: keras.Model) -> keras.Model:
        """Set weights of a freshly built network before training (default: keep Keras' initialisers).

        Called by ``fit`` inside the precision scope (never by ``load``, nor on ``warm_start``).
        """
        return network

    def _validate_params(self):
        """Check the hyperparameters (called by ``fit``, ``load`` and `skills.models.make_model`).

        Raises:
            ValueError: an invalid value, named in the message.
        """
        check_sequence_length(self.sequence_length)

    # -- building and fitting -----------------------------------------------------------------
    def _build_network(self, n_features: int, offset, scale, sequence_length=None, members=1) -> keras.Model:
        """The network for windows of ``sequence_length`` bars (default: the model's), scaling inside; with
        ``members`` > 1 the seed ensemble averaging that many networks (`skills.models.ensemble`)."""
        steps = self.sequence_length if sequence_length is None else sequence_length
        if steps is None:
            raise ValueError(f"{type(self).__name__}(sequence_length=None) takes its window length from the data "
                             "at fit; pass sequence_length= to build a network before")
        inputs = keras.Input((int(steps), int(n_features)), name="windows")
        mean, variance = np.asarray(offset, dtype=np.float64).tolist(), (np.asarray(scale, np.float64) ** 2).tolist()
        normalize = keras.layers.Normalization(axis=-1, mean=mean, variance=variance, dtype="float32",
                                               name="normalization")
        x = normalize(inputs)
        return keras.Model(inputs, ensemble.average_of_members(self._network, x, members), name=type(self).__name__)

    def fit(self, data_or_X, y=None, *, epochs=None, batch_size=None, validation_data=None,
            config: TrainConfig | None = None, callbacks=None, warm_start=False,
            trade_share=saving.DEFAULT_TRADE_SHARE, **train_options):
        """Train on a `PreparedData` (train split, early stopping on its val split) or on arrays.

        Args:
            data_or_X: `PreparedData`, or windows ``(n, sequence_length, n_features)`` of raw features. Their
                window length must be the model's ``sequence_length``; a model built with None takes theirs.
            y: int labels ``(n,)`` in 0..2 when ``data_or_X`` is an array; None for `PreparedData`.
            epochs, batch_size, **train_options: override fields of ``config`` (``learning_rate``,
                ``precision``, ``verbose``, ``n_seeds``, ...). ``n_seeds=N`` > 1 trains N networks that differ
                only in their seed (``seed``, ``seed + 1``, ...), each early-stopped on its own, and makes
                ``network_`` the one model averaging their probabilities; the file records each member's
                seed and best epoch (``metadata_["training"]["members"]``).
            validation_data: a `Split` or ``(X_val, y_val)``; default: the `PreparedData` val split
                (none for arrays: early stopping then watches the training loss).
            config: `skills.training.TrainConfig` or None (its defaults).
            callbacks: extra Keras callbacks for ``fit``.
            warm_start: bool, default False. Continue training the fitted (or loaded) network (each member
                of an ensemble, given the same ``n_seeds``); the features must match and the scaling learned
                first is kept.
            trade_share: float in (0, 1), default 0.2. After training, the P(up) that the top
                ``trade_share`` of the validation windows reach becomes the model's "auto" confidence
                threshold (`saving.trading_record`, stored in ``metadata_["trading"]``; one batched
                predict on the validation windows; the test split is never read). Without validation
                data (arrays and no ``validation_data``) the model has no "auto" threshold.

        Returns:
            self.

        Raises:
            ValueError: an invalid hyperparameter, inconsistent shapes, labels or sequence length, or a bad option.
        """
        self._validate_params()
        saving.trading_record(np.zeros((0, len(CLASS_NAMES))), share=trade_share)  # check the share before training
        config = (config or TrainConfig()).replace(epochs=epochs, batch_size=batch_size, **train_options)
        config = config.replace(learning_rate=config.learning_rate or self.default_learning_rate)
        label_rule = described = None
        warm = bool(warm_start) and hasattr(self, "network_")
        if isinstance(data_or_X, PreparedData):
            if y is not None:
                raise ValueError("y must be None when fitting on a PreparedData")
            data = data_or_X
            length = self._fit_length(int(data.sequence_length), "the data", warm)
            train_data, validation = data.train, data.val if validation_data is None else validation_data
            feature_names, scaler = [str(name) for name in data.feature_names], data.scaler.to_dict()
            label_rule, described = data.label_rule.to_dict(), saving.data_record(data)
        else:
            X, labels = self._check_windows(data_or_X, fitting=True), y
            length = self._fit_length(int(X.shape[1]), "X", warm)
            if labels is None:
                raise ValueError("y is required when fitting on arrays")
            labels = np.asarray(labels)
            if labels.shape != (len(X),):
                raise ValueError(f"y must have shape ({len(X)},), got {labels.shape}")
            scaler = ScalerStats.fit(np.asarray(X, dtype=np.float32).reshape(-1, X.shape[-1])).to_dict()
            feature_names = [f"feature_{i}" for i in range(X.shape[-1])]
            train_data, validation = (X, labels), validation_data
        train_labels = np.asarray(train_data.y if isinstance(train_data, Split) else train_data[1])
        if len(train_labels) and (train_labels.min() < 0 or train_labels.max() >= len(CLASS_NAMES)):
            raise ValueError(f"labels must be integers in 0..{len(CLASS_NAMES) - 1}")
        build = lambda: self._initialise(  # noqa: E731
            self._build_network(len(feature_names), scaler["offset"], scaler["scale"], length))
        assemble = lambda: self._build_network(  # noqa: E731
            len(feature_names), scaler["offset"], scaler["scale"], length, members=config.n_seeds)
        if warm and feature_names != self.feature_names_:
            raise self._error(f"warm_start needs the model's features {self.feature_names_}, got {feature_names}")
        scaler = self.scaler_ if warm else scaler
        precision, reason = choose_precision(config.precision, type(self).__name__)  # "auto": for this network
        fitted = ensemble.fit_members(build, assemble, train_data, validation, config.replace(precision=precision),
                                      callbacks=callbacks, warm_network=self.network_ if warm else None)
        params = {**self.get_params(), "sequence_length": length}  # the file records the length the network reads
        metadata = saving.make_metadata(
            type(self).__name__, params, feature_names, scaler, label_rule=label_rule, data=described,
            training=saving.training_record(config, fitted.precision, fitted.epochs_run, reason, fitted.members),
        )
        self._set_state(fitted.network, metadata, fitted.precision, path=None)
        self.history_, self.member_histories_ = fitted.history, fitted.member_histories
        self.metadata_["trading"] = self._trading_record(validation, trade_share)
        return self

    def _fit_length(self, steps: int, source: str, warm: bool) -> int:
        """The window length a fit on ``steps``-bar windows uses: the data's, which must be the model's if it has one.

        ``source`` names the data in the message; ``warm`` (a warm start) compares with the fitted network's.
        """
        expected = self.sequence_length_ if warm else self.sequence_length
        if expected is not None and steps != expected:
            raise ValueError(f"{source} has windows of sequence_length={steps} but the model "
                             f"{'was fitted with' if warm else 'has'} sequence_length={expected}")
        return check_sequence_length(steps)

    def _trading_record(self, validation, share):
        """`saving.trading_record` of the validation windows (a `Split` or ``(X, y)``), or None without them."""
        if validation is None:
            return None
        X, dates = (validation.X, validation.dates) if isinstance(validation, Split) else (validation[0], None)
        if len(X) == 0:
            return None
        return saving.trading_record(self.predict_proba(validation if dates is not None else X), dates, share)

    def _set_state(self, network, metadata, precision, path):
        self.network_ = network
        self.metadata_ = metadata
        self.sequence_length_ = int(metadata["params"]["sequence_length"])
        self.feature_names_ = list(metadata["feature_names"])
        self.n_features_ = len(self.feature_names_)
        self.classes_ = np.arange(len(CLASS_NAMES))
        self.scaler_ = dict(metadata["scaler"])
        self.precision_ = precision
        self.path_ = None if path is None else str(path)

    # -- prediction ---------------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    def _check_fitted(self):
        if not hasattr(self, "network_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(...) or load(path) first")

    def _error(self, message):
        return ModelFileError(f"{self.path_ or 'in-memory ' + type(self).__name__}: {message}")

    def _check_windows(self, X, fitting=False):
        _refuse_prepared(X)
        if isinstance(X, Split):
            X = X.X
        if not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
            X = np.asarray(X, dtype=np.float32)
        shape = tuple(X.shape)
        if len(shape) != 3:
            raise ValueError(f"X must be windows of shape (n, sequence_length, n_features), got shape {shape}")
        if fitting:
            return X
        if shape[1] != self.sequence_length_:
            raise ValueError(f"X has windows of {shape[1]} steps but sequence_length={self.sequence_length_}")
        if shape[2] != self.n_features_:
            raise self._error(f"X has {shape[2]} features per step but the model reads {self.n_features_}: "
                              f"{self.feature_names_}")
        return X

    def _labelled(self, X, y):
        """Windows and labels from a `Split` (its own labels unless ``y`` is given) or from ``X, y``."""
        _refuse_prepared(X)
        if isinstance(X, Split):  # kept whole: its dates batch a graph network by date
            y = X.y if y is None else y
        if y is None:
            raise ValueError("y is required with windows; or pass a Split, which carries its labels")
        return X, np.asarray(y, dtype=np.int64)

    def _run(self, network, X, dates=None, tickers=None) -> np.ndarray:
        """Batched forward pass of ``network`` over all windows (never one call per window).

        With ``dates`` (graph networks) one batch holds one date's windows (`DateBatchDataset`, in
        ticker order when ``tickers`` is given); the rows come back in the order of ``X``.
        """
        if dates is not None:
            batches = DateBatchDataset(X, dates=dates, tickers=tickers)
            out = np.asarray(network.predict(batches, verbose=0))  # rows in date-batch order
            return out[np.argsort(np.concatenate(batches.batches))]
        if isinstance(X, np.ndarray):
            batches = X.astype(np.float32, copy=False)
            return np.asarray(network.predict(batches, batch_size=PREDICT_BATCH_SIZE, verbose=0))
        return np.asarray(network.predict(WindowDataset(X, batch_size=PREDICT_BATCH_SIZE), verbose=0))

    def predict_proba(self, X, dates=None) -> np.ndarray:
        """Class probabilities.

        Args:
            X: raw windows ``(n, sequence_length, n_features)`` (ndarray or lazy window array), or a `Split`.
            dates: the date of each window's last bar, or None. Per-window networks ignore it; a graph
                network (GATs) runs one batch per date and needs it with arrays (a `Split` brings its own).

        Returns:
            float32 ``(n, 3)`` in ``CLASS_NAMES`` order; each row sums to 1.

        Raises:
            TypeError: a whole `PreparedData` (pass one of its splits).
            ValueError: a graph network given arrays without ``dates``, or ``dates`` of another length.
        """
        self._check_fitted()
        tickers = None
        if isinstance(X, Split) and self._batches_by_date:
            dates, tickers = X.dates if dates is None else dates, X.tickers
        X = self._check_windows(X)
        if len(X) == 0:
            return np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)
        if not self._batches_by_date:
            return self._run(self.network_, X).astype(np.float32)
        if dates is None:
            raise ValueError(f"{type(self).__name__} attends across the stocks of each date: pass a Split (it "
                             "carries the dates) or dates=, the date of each window's last bar")
        if len(dates) != len(X):
            raise ValueError(f"X has {len(X)} windows but dates has {len(dates)} entries")
        return self._run(self.network_, X, dates=dates, tickers=tickers).astype(np.float32)

    def predict(self, X, dates=None) -> np.ndarray:
        """Class ids ``(n,)`` (int64), the argmax of `predict_proba` (``dates`` as there)."""
        return np.argmax(self.predict_proba(X, dates=dates), axis=1).astype(np.int64)

    def score(self, X, y=None, sample_weight=None) -> float:
        """Accuracy on windows and labels, or on a `Split` (its own labels when ``y`` is None)."""
        X, y = self._labelled(X, y)
        return super().score(X, y, sample_weight=sample_weight)

    def evaluate(self, X, y=None) -> dict:
        """Loss and accuracy on labelled windows.

        Args:
            X: a `Split`, or windows with ``y``.

        Returns:
            dict with ``loss`` (mean cross-entropy), ``accuracy`` and ``n``.
        """
        X, y = self._labelled(X, y)
        proba = self.predict_proba(X)
        if len(y) != len(proba):
            raise ValueError(f"X has {len(proba)} windows but y has {len(y)} labels")
        if len(y) == 0:
            return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
        metrics = classification_metrics(y, proba)
        return {"loss": metrics["log_loss"], "accuracy": metrics["accuracy"], "n": metrics["n"]}

    # -- files --------------------------------------------------------------------------------
    def save(self, path):
        """Write the network and `metadata_` to ``path`` (``.h5`` or ``.keras``) atomically.

        Returns:
            pathlib.Path of the written file.

        Raises:
            ValueError: an unsupported suffix. RuntimeError: an unfitted model.
        """
        self._check_fitted()
        path = saving.write_model(self.network_, self.metadata_, path)
        self.path_ = str(path)
        return path

    def load(self, path):
        """Load a model file into this object, replacing its hyperparameters and state.

        The network (a seed ensemble's members and their average, as many as the file's
        ``training.n_seeds``) is rebuilt under float32 and the weights are read into it (`saving.read_network`);
        a format-1 file's metadata is upgraded to format 2 in `metadata_`.

        Returns:
            self.

        Raises:
            ModelFileError: see `read_metadata`; also another model class, invalid hyperparameters, or
                weights that do not fit the rebuilt network.
        """
        meta = read_metadata(path)
        if meta["model_class"] != type(self).__name__:
            raise ModelFileError(f"{path}: holds a {meta['model_class']}, not a {type(self).__name__}; "
                                 "use skills.models.load_model(path)")
        unknown = sorted(set(meta["params"]) - set(self.get_params()))
        if unknown:
            raise ModelFileError(f"{path}: parameters {unknown} are not those of a {type(self).__name__}")
        try:
            self.set_params(**meta["params"])._validate_params()
        except ValueError as error:
            raise ModelFileError(f"{path}: {error}") from error
        scaler = meta["scaler"]
        network = saving.read_network(path, lambda: self._build_network(
            len(meta["feature_names"]), scaler["offset"], scaler["scale"], members=saving.n_members(meta)))
        self._set_state(network, meta, "float32", path)
        self.history_, self.member_histories_ = {}, []
        return self
