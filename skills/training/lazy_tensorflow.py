"""TensorFlow stays unimported under the jax and torch backends until something asks for it.

Keras 3 imports TensorFlow whenever it is installed, whatever the backend, the first time it asks whether TensorFlow is
available: `keras.utils.set_random_seed` (to seed ``tf.random`` too) and the serialization of every layer's config
(``isinstance`` checks against TensorFlow's shape, dtype and type-spec classes), so every fit and every model save.
Under jax or torch that costs seconds and prints TensorFlow's CUDA and oneDNN start-up lines. `keep_tensorflow_out`
makes Keras' answer "available once imported": nothing Keras skips then concerns a run that has not imported TensorFlow
(an object cannot be a TensorFlow shape before TensorFlow is loaded, and nothing draws from ``tf.random``). A feature
that needs TensorFlow (TensorBoard logs, a TensorFlow-only preprocessing layer) imports it, and from then on Keras
sees it as before.
"""

from __future__ import annotations

import sys

__all__ = ["keep_tensorflow_out"]


def _imported_only(lazy_class: type) -> type:
    class ImportedOnly(lazy_class):
        """Keras' lazy ``tensorflow`` handle, available only once TensorFlow has been imported."""

        @property
        def available(self):
            return "tensorflow" in sys.modules and super().available

    return ImportedOnly


def keep_tensorflow_out() -> bool:
    """Under a backend other than TensorFlow, stop Keras from importing TensorFlow by itself; returns whether it did.

    Idempotent. Under the TensorFlow backend, or with a Keras that has no lazy ``tensorflow`` handle, nothing
    changes (False).
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return False
    try:
        from keras.src.utils import module_utils
    except ImportError:
        return False
    handle = getattr(module_utils, "tensorflow", None)
    lazy_class = getattr(module_utils, "LazyModule", None)
    if lazy_class is None or type(handle) is not lazy_class:
        return type(handle).__name__ == "ImportedOnly"
    handle.__class__ = _imported_only(lazy_class)
    return True
