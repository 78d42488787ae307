"""The one trainer: options, precision policy, `train`, and backup/resume of a run.

`train` compiles a network and fits it; every model of the package trains through it. `TrainConfig`
holds its options and the package's only training defaults. `RankICCallback` logs the validation split's mean
daily rank IC after every epoch (``val_rank_ic``), which early stopping watches on a universe.
`progress_verbosity` picks Keras' progress output for a stream (a bar on a terminal, a line per epoch elsewhere).
`data_parallel` splits each training batch over several devices (``TrainConfig.devices``; jax and TensorFlow).
Importing this package calls `keep_tensorflow_out`: under jax or torch, Keras no longer imports TensorFlow by itself.
"""

from skills.training.backup import TrainingBackup, TrainingError, remove_backup, run_fingerprint
from skills.training.callbacks import RANK_IC_LOG, RankICCallback
from skills.training.config import (
    BATCH_BY,
    DEFAULT_LEARNING_RATE,
    LR_SCHEDULES,
    MONITORS,
    OPTIMIZERS,
    PRECISIONS,
    TrainConfig,
)
from skills.training.distribution import (
    ALL_DEVICES,
    DataParallelRun,
    DeviceError,
    data_parallel,
    device_count,
    global_batch_size,
    visible_devices,
)
from skills.training.lazy_tensorflow import keep_tensorflow_out
from skills.training.precision import (
    MEASURED_PRECISION,
    Measurement,
    choose_precision,
    fastest_policy,
    gpu_available,
    precision_reason,
    precision_scope,
    recurrent_dtype,
    resolve_precision,
)
from skills.training.progress import progress_verbosity
from skills.training.trainer import TrainResult, balanced_class_weights, make_optimizer, resolve_monitor, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "PRECISIONS",
    "OPTIMIZERS",
    "LR_SCHEDULES",
    "DEFAULT_LEARNING_RATE",
    "MONITORS",
    "BATCH_BY",
    "resolve_precision",
    "precision_reason",
    "choose_precision",
    "fastest_policy",
    "recurrent_dtype",
    "Measurement",
    "MEASURED_PRECISION",
    "precision_scope",
    "gpu_available",
    "balanced_class_weights",
    "make_optimizer",
    "train",
    "resolve_monitor",
    "RankICCallback",
    "RANK_IC_LOG",
    "TrainingError",
    "TrainingBackup",
    "run_fingerprint",
    "remove_backup",
    "progress_verbosity",
    "keep_tensorflow_out",
    "ALL_DEVICES",
    "DataParallelRun",
    "DeviceError",
    "data_parallel",
    "device_count",
    "global_batch_size",
    "visible_devices",
]

keep_tensorflow_out()
