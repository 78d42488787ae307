"""skills: leak-free deep-learning trading signals on daily OHLCV bars, with Keras 3.

Importing ``skills`` registers its custom Keras layers, so a plain ``keras.models.load_model``
(with ``safe_mode=True``) reads the package's model files.

Keras backend: importing ``skills`` before Keras selects ``DEFAULT_BACKEND`` (jax, measured fastest on
CPU and GPU for every network: docs/performance.md), unless the user chose one: ``KERAS_BACKEND`` is
set, ``keras.json`` names a backend other than Keras' own default, or Keras was already imported (its
backend is then kept). TensorFlow and torch stay supported: ``KERAS_BACKEND=tensorflow python ...``.
"""

import json as _json
import logging as _logging
import os as _os
import sys as _sys
from importlib.util import find_spec as _find_spec

from ._version import __version__

DEFAULT_BACKEND = "jax"


def _choose_backend() -> None:
    """Set ``KERAS_BACKEND=DEFAULT_BACKEND`` unless the user or an earlier import already chose one."""
    if "keras" in _sys.modules or _os.environ.get("KERAS_BACKEND") or _find_spec(DEFAULT_BACKEND) is None:
        return
    home = _os.environ.get("KERAS_HOME") or _os.path.join(_os.path.expanduser("~"), ".keras")
    try:
        with open(_os.path.join(home, "keras.json")) as config:
            configured = _json.load(config).get("backend")
    except (OSError, ValueError, AttributeError):
        configured = None
    if configured not in (None, "tensorflow"):  # Keras writes "tensorflow" there itself on first import
        return
    _os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND


_choose_backend()
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# OpenMP threads (LightGBM's) that spin while idle starve every other process on a small machine: two processes
# fitting the LightGBM baseline on 2 cores took over 10 min instead of 19 s. Sleeping idle threads change no figure.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # TensorFlow's C++ info lines drown Keras' progress bars
_tpu_probe = _logging.getLogger("jax._src.xla_bridge")  # "Unable to initialize backend 'tpu'" on every CPU
if _tpu_probe.level == _logging.NOTSET:
    _tpu_probe.setLevel(_logging.ERROR)

from .data import CLASS_NAMES, FEATURE_NAMES, DataError, compute_features, load_ohlcv, make_labels, prepare_dataset  # noqa: E402
from .models import layers as _layers  # noqa: E402,F401  (registers the custom layers)

__all__ = ["__version__", "DEFAULT_BACKEND", "CLASS_NAMES", "DataError", "FEATURE_NAMES", "compute_features",
           "load_ohlcv", "make_labels", "prepare_dataset"]
