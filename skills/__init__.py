"""skills: leak-free deep-learning trading signals on daily OHLCV bars, with Keras 3.

Importing ``skills`` registers its custom Keras layers, so a plain ``keras.models.load_model``
(with ``safe_mode=True``) reads the package's model files.
"""

import os as _os

__version__ = "0.1.0"

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines drown Keras' progress bars

from .data import CLASS_NAMES, FEATURE_NAMES, DataError, compute_features, load_ohlcv, make_labels, prepare_dataset  # noqa: E402
from .models import layers as _layers  # noqa: E402,F401  (registers the custom layers)

__all__ = ["__version__", "CLASS_NAMES", "DataError", "FEATURE_NAMES", "compute_features", "load_ohlcv",
           "make_labels", "prepare_dataset"]
