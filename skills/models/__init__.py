"""Sequence classifiers (down / flat / up) with self-contained model files.

``load_model(path)`` reads a file's metadata and returns an instance of the class that saved it.
"""

from skills.models.attention_lstm import AttentionLSTMModel
from skills.models.base import MODEL_CLASSES, ModelFileError, SequenceClassifier, read_metadata
from skills.models.layers import PositionalEncoding, TemporalAttention, TransformerEncoderBlock
from skills.models.lstm import LSTMModel
from skills.models.transformer import TransformerModel

__all__ = [
    "AttentionLSTMModel",
    "LSTMModel",
    "TransformerModel",
    "SequenceClassifier",
    "ModelFileError",
    "load_model",
    "read_metadata",
    "MODEL_CLASSES",
    "TemporalAttention",
    "PositionalEncoding",
    "TransformerEncoderBlock",
]


def load_model(path) -> SequenceClassifier:
    """Load a model file saved by `SequenceClassifier.save` as the class that saved it.

    Raises:
        ModelFileError: missing, truncated or foreign file, unknown class.
    """
    meta = read_metadata(path)
    return MODEL_CLASSES[meta["model_class"]]().load(path)
