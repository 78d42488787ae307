"""Data-parallel training on several devices of one machine (``TrainConfig.devices``).

Each training batch is split over the devices and every device keeps the same weights: the gradients of the
parts are summed, so a step over ``n`` devices learns what one step over the whole batch on one device learns
(up to the order of the float additions). The batch a step reads is the *global* batch: ``batch_size`` windows
per device times the devices (`global_batch_size`), so ``devices=2, batch_size=16`` learns what
``devices=1, batch_size=32`` learns, twice as fast at best.

- jax: `keras.distribution.DataParallel` over the first ``n`` devices `keras.distribution.list_devices` names
  (the GPUs, else the CPUs; ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` shows two CPU devices). A
  batch whose size the devices do not divide (the last one of an epoch) runs whole on every device, and so do
  the validation pass and the predictions made during the fit (any size): only the training steps are split.
- tensorflow: `tf.distribute.MirroredStrategy` over the first ``n`` GPUs (or logical CPUs where there is no GPU).
  Its replicas learn what one device learns from whole batches without dropout; each replica draws its own dropout
  masks, and a batch it splits unevenly (an epoch's last) counts each replica's mean loss alike, so a run differs
  from the one-device run of the same global batch beyond rounding (measured on 2 logical CPUs, 3 epochs of a
  4-unit LSTM: 4e-4 in the weights from an uneven last batch, 1e-2 with dropout 0.2; jax: 1e-7 either way).
  Keras clips gradients (``clipnorm``) on each replica before summing them.
- torch: not supported yet; ``devices`` other than 1 is a `DeviceError`.

Batches by date (``batch_by="date"``: one date's windows per batch, which a graph network attends across) are
not split over devices yet: that is a `DeviceError` too. ``devices=1`` (the default) changes nothing.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import keras

from skills.training.backup import TrainingError

__all__ = ["ALL_DEVICES", "DeviceError", "DataParallelRun", "check_devices", "data_parallel", "device_count",
           "global_batch_size", "visible_devices"]

log = logging.getLogger(__name__)

#: ``devices="all"``: every device the backend sees.
ALL_DEVICES = "all"
_SPLITTING_BACKENDS = ("jax", "tensorflow")


class DeviceError(TrainingError):
    """The devices asked for cannot be used: more than the backend sees, a backend that cannot split a batch over
    several yet (torch), or batches by date."""


def check_devices(devices) -> None:
    """Raise ValueError, naming ``devices``, unless it is a positive integer or ``"all"``."""
    if devices == ALL_DEVICES and isinstance(devices, str):
        return
    if isinstance(devices, bool) or not hasattr(devices, "__index__") or int(devices) < 1:
        raise ValueError(f"`devices` must be a positive integer or 'all'. Received: devices={devices!r}")


def visible_devices(backend: str | None = None) -> list[str]:
    """The devices ``backend`` (default: Keras') would split a batch over: its GPUs, else its CPUs.

    jax names them as `keras.distribution.list_devices` does (``"gpu:0"``, ``"cpu:1"``); TensorFlow by their
    logical device names (``"/device:GPU:0"``). Under torch: ``[]`` (it splits nothing).
    """
    backend = backend or keras.backend.backend()
    if backend == "jax":
        return list(keras.distribution.list_devices())
    if backend == "tensorflow":
        import tensorflow as tf

        found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [device.name for device in found]
    return []


def device_count(devices, backend: str | None = None, batch_by: str = "window") -> int:
    """How many devices ``devices`` (a positive integer or ``"all"``) trains on under ``backend``.

    ``devices=1`` is 1 on every backend without asking it anything.

    Raises:
        ValueError: ``devices`` is neither a positive integer nor ``"all"``.
        DeviceError: naming ``devices``: more than the backend sees (the message says how many it sees), several
            under torch, or several with ``batch_by="date"``.
    """
    check_devices(devices)
    if devices == 1:
        return 1
    backend = backend or keras.backend.backend()
    if backend not in _SPLITTING_BACKENDS:
        raise DeviceError(f"devices={devices!r}: training on several devices is not supported under the {backend} "
                          f"backend yet; use devices=1, or the jax or tensorflow backend (KERAS_BACKEND)")
    by_date = DeviceError(f"devices={devices!r}: batches by date (batch_by={batch_by!r}) are not split over "
                          "several devices yet; use devices=1, or batch_by='window'")
    if devices != ALL_DEVICES and batch_by != "window":
        raise by_date
    visible = visible_devices(backend)
    n = len(visible) if devices == ALL_DEVICES else int(devices)
    if n > len(visible):
        raise DeviceError(f"devices={devices!r}: {backend} sees {len(visible)} device(s) ({', '.join(visible)}); "
                          f"ask for at most {len(visible)}, or devices='all'")
    if n > 1 and batch_by != "window":
        raise by_date
    return n


def global_batch_size(batch_size: int, devices, backend: str | None = None) -> int:
    """The windows one training step reads: ``batch_size`` per device times the devices ``devices`` names."""
    return int(batch_size) * device_count(devices, backend)


@dataclass
class DataParallelRun:
    """What `data_parallel` yields: the devices a fit uses and what the trainer needs to use them.

    Attributes:
        n_devices: how many devices the batches are split over (1: nothing is split).
        devices: their names (``[]`` for the backend's default device, when nothing is split).
        batch_size: windows per device.
        global_batch_size: windows per training step, ``batch_size * n_devices``.
    """

    n_devices: int
    devices: list[str]
    batch_size: int
    global_batch_size: int
    _distribution: object = field(default=None, repr=False)

    def callbacks(self, train_batches) -> list:
        """The Keras callbacks the fit of ``train_batches`` (batches of `global_batch_size` windows) needs, to go
        first in its list: under jax on several devices, one that runs the validation pass, the callbacks'
        predictions and a batch the devices do not divide (an epoch's last) whole on every device; else ``[]``."""
        if self._distribution is None:
            return []
        n_batches, size = len(train_batches), int(train_batches.batch_size)
        last = len(train_batches.X) - (n_batches - 1) * size
        sizes = [size] * (n_batches - 1) + [last]
        uneven = {index for index, windows in enumerate(sizes) if windows % self.n_devices}
        return [_SplitTrainingStepsOnly(self._distribution, uneven)]


class _SplitTrainingStepsOnly(keras.callbacks.Callback):
    """Sets the jax distribution for the training steps whose batch the devices divide, and unsets it for the
    others, the validation pass and what the callbacks after it predict at the end of an epoch: without a
    distribution, Keras runs a batch of any size whole on every device the weights live on. Keras 3 places a
    training batch on the devices after `on_train_batch_begin` (the 2-device test fails otherwise)."""

    def __init__(self, distribution, uneven_batches):
        super().__init__()
        self.distribution, self.uneven_batches = distribution, set(uneven_batches)

    def _split(self, on: bool) -> None:
        keras.distribution.set_distribution(self.distribution if on else None)

    def on_epoch_begin(self, epoch, logs=None):
        self._split(True)

    def on_train_batch_begin(self, batch, logs=None):
        self._split(batch not in self.uneven_batches)

    def on_train_batch_end(self, batch, logs=None):
        self._split(True)

    def on_test_begin(self, logs=None):
        self._split(False)

    def on_epoch_end(self, epoch, logs=None):
        self._split(False)

    def on_train_end(self, logs=None):
        self._split(True)


@contextmanager
def data_parallel(devices, batch_size: int, batch_by: str = "window"):
    """The scope to build, compile and fit a network in, on ``devices`` (a positive integer or ``"all"``).

    Yields a `DataParallelRun`: batch the training data by its ``global_batch_size`` and put its
    ``callbacks(train_batches)`` first among the fit's callbacks. With one device nothing is set. Under jax the
    global distribution (`keras.distribution.set_distribution`) is the one in place before, on leaving; under
    TensorFlow the `MirroredStrategy` scope is left.

    Raises:
        ValueError / DeviceError: as `device_count`, before anything is built.
    """
    backend = keras.backend.backend()
    n = device_count(devices, backend, batch_by)
    if n == 1:
        yield DataParallelRun(n_devices=1, devices=[], batch_size=int(batch_size), global_batch_size=int(batch_size))
        return
    used = visible_devices(backend)[:n]
    run = DataParallelRun(n_devices=n, devices=used, batch_size=int(batch_size), global_batch_size=int(batch_size) * n)
    how = "keras.distribution.DataParallel" if backend == "jax" else "tf.distribute.MirroredStrategy"
    log.info("data parallel over %d devices (%s) by %s: global batch %d = %d windows per device x %d",
             n, ", ".join(used), how, run.global_batch_size, run.batch_size, n)
    if backend == "jax":
        run._distribution = keras.distribution.DataParallel(devices=used)
        with run._distribution.scope():
            yield run
    else:
        import tensorflow as tf

        with tf.distribute.MirroredStrategy(devices=used).scope():
            yield run
