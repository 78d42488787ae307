"""Sequence classifiers (down / flat / up) with self-contained model files.

``make_model(name, **params)`` builds an unfitted model by architecture name (`MODEL_NAMES`);
``load_model(path)`` reads a file's metadata and returns an instance of the class that saved it.
``model.fit(data, n_seeds=N)`` trains a seed ensemble of N networks, one model averaging their probabilities and
saved as one file (`skills.models.ensemble`).
"""

from skills.models.alstm import ALSTMModel
from skills.models.attention_lstm import AttentionLSTMModel
from skills.models.base import SequenceClassifier
from skills.models.gats import GATsModel, GraphAttention
from skills.models.gru import GRUModel
from skills.models.krnn import KRNNModel
from skills.models.layers import PositionalEncoding, TemporalAttention, TransformerEncoderBlock
from skills.models.localformer import LocalformerModel
from skills.models.lstm import LSTMModel
from skills.models.saving import MODEL_CLASSES, ModelFileError, model_class, read_metadata
from skills.models.tcn import TCNModel
from skills.models.transformer import TransformerModel

__all__ = [
    "MODEL_NAMES",
    "make_model",
    "model_params",
    "load_model",
    "AttentionLSTMModel",
    "LSTMModel",
    "TransformerModel",
    "GRUModel",
    "ALSTMModel",
    "TCNModel",
    "LocalformerModel",
    "KRNNModel",
    "GATsModel",
    "SequenceClassifier",
    "ModelFileError",
    "read_metadata",
    "model_class",
    "MODEL_CLASSES",
    "TemporalAttention",
    "PositionalEncoding",
    "TransformerEncoderBlock",
    "GraphAttention",
]

# name -> (class, the parameters the name fixes)
_ARCHITECTURES = {
    "attention_lstm": (AttentionLSTMModel, {}),
    "causal_attention_lstm": (AttentionLSTMModel, {"bidirectional": False}),
    "lstm": (LSTMModel, {}),
    "transformer": (TransformerModel, {}),
    "gru": (GRUModel, {}),
    "alstm": (ALSTMModel, {}),
    "tcn": (TCNModel, {}),
    "localformer": (LocalformerModel, {}),
    "krnn": (KRNNModel, {}),
    "gats": (GATsModel, {}),
}
MODEL_NAMES = tuple(_ARCHITECTURES)


def _architecture(name: str):
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return _ARCHITECTURES[name]


def model_params(name: str) -> dict:
    """The constructor parameters of architecture ``name`` with their defaults.

    Example: ``model_params("causal_attention_lstm")["bidirectional"]`` is False.

    Raises:
        ValueError: ``name`` is not one of `MODEL_NAMES`.
    """
    cls, fixed = _architecture(name)
    return {**cls().get_params(), **fixed}


def make_model(name: str, **params) -> SequenceClassifier:
    """An unfitted model of architecture ``name`` (one of `MODEL_NAMES`), its hyperparameters checked.

    Args:
        name: ``"attention_lstm"``, ``"causal_attention_lstm"`` (`AttentionLSTMModel` with
            ``bidirectional=False``), ``"lstm"``, ``"transformer"``, or one of Qlib's zoo: ``"gru"``,
            ``"alstm"``, ``"tcn"``, ``"localformer"``, ``"krnn"``, ``"gats"`` (trains on a `PreparedData` in
            daily batches).
        **params: constructor parameters (see `model_params`); the others keep their defaults.

    Raises:
        ValueError: an unknown name, an invalid value (named in the message), or a value that
            contradicts the name (``bidirectional=True`` for the causal model).
        TypeError: a parameter the architecture does not take.
    """
    cls, fixed = _architecture(name)
    unknown = sorted(set(params) - set(model_params(name)))
    if unknown:
        raise TypeError(f"make_model({name!r}): unknown parameter(s) {unknown}; it takes {sorted(model_params(name))}")
    clash = {key: params[key] for key, value in fixed.items() if key in params and params[key] != value}
    if clash:
        raise ValueError(f"make_model({name!r}) fixes {fixed}; got {clash}")
    model = cls(**{**params, **fixed})
    model._validate_params()
    return model


def load_model(path) -> SequenceClassifier:
    """Load a model file saved by `SequenceClassifier.save` as the class that saved it.

    Raises:
        ModelFileError: missing, truncated or foreign file, unknown class.
    """
    return model_class(read_metadata(path)["model_class"])().load(path)
