"""Run independent calls as Ray tasks: on a local Ray started for the call, or on a cluster by address.

`RayOptions` says where and with what resources (the Ray flags of ``compare`` and ``tune``); `start_ray` starts
or attaches to Ray with the environment every worker needs (`worker_env`); `ray_map(function, calls, options)` runs
``function(*call)`` for each call as one Ray task and returns the results in the order of ``calls``, as a
list comprehension would. An argument object passed to several calls (the walk-forward folds, the bars) is
put in Ray's object store once and shared by every task that reads it; NumPy arrays in it are read in place
(zero-copy) by the workers of a node.

``ray`` is imported only here and only when `start_ray` or `ray_map` runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from skills._version import is_installed_copy

__all__ = ["RayOptions", "ray_map", "size_threads", "start_ray", "worker_env"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """Where Ray tasks run and what each one asks for: the tasks of `ray_map` (``compare``: one per fold x
    model) and the trials of `skills.tuning.tune`.

    Args:
        workers (int, optional): start a local Ray for the call with ``workers * cpus_per_task`` CPUs, so that
            this many tasks run at once (default: as many as the machine's CPUs allow); it is shut down after.
        address (str, optional): attach to a running Ray cluster instead (``"auto"``, ``"ray://host:10001"``,
            ``"host:6379"``); default the ``RAY_ADDRESS`` environment variable, and a local Ray without it.
            Every node needs this package installed (or reachable on its ``PYTHONPATH``).
        cpus_per_task (float, default 1): CPUs Ray reserves for each task; a task's TensorFlow thread pools
            are sized to it (the package's networks compute the same bits on 1, 2 or the default number of
            threads, measured).
        gpus_per_task (float, default 0): GPUs Ray reserves for each task (fractions share a GPU).

    Raises:
        ValueError: a non-positive ``workers`` or ``cpus_per_task``, a negative ``gpus_per_task``, or both
            ``workers`` and ``address``.
    """

    workers: int | None = None
    address: str | None = None
    cpus_per_task: float = 1
    gpus_per_task: float = 0

    def __post_init__(self):
        if self.workers is not None and int(self.workers) < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not self.cpus_per_task > 0:
            raise ValueError(f"cpus_per_task must be > 0, got {self.cpus_per_task}")
        if self.gpus_per_task < 0:
            raise ValueError(f"gpus_per_task must be >= 0, got {self.gpus_per_task}")
        if self.workers is not None and self.address is not None:
            raise ValueError("workers starts a local Ray; on a cluster (address) its resources decide how many "
                             "tasks run at once")

    def resolved_address(self) -> str | None:
        """``address``, else ``RAY_ADDRESS`` unless ``workers`` asks for a local Ray; None means local."""
        if self.workers is not None:
            return None
        return self.address or os.environ.get("RAY_ADDRESS") or None


def _source_checkout() -> Path | None:
    """The folder holding this copy of the package when it is not the installed distribution (a source
    checkout run with ``PYTHONPATH`` or from its folder), else None: a worker imports it as this process does."""
    return None if is_installed_copy() else Path(__file__).resolve().parents[2]


def worker_env() -> dict:
    """What every Ray worker process needs to compute exactly as this process does: the same Keras backend, quiet
    TensorFlow, and, run from a source checkout, this copy of the package first on its ``PYTHONPATH``."""
    import keras

    env = {"KERAS_BACKEND": keras.backend.backend(),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    checkout = _source_checkout()
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), os.environ.get("PYTHONPATH")) if p)
    return env


def start_ray(options: RayOptions) -> bool:
    """Initialise Ray as ``options`` say, its workers with `worker_env`; returns whether this call started it
    (and so must shut it down). A Ray already initialised in this process is used as it is.

    Raises:
        ConnectionError: no Ray cluster at the address (one line naming it).
    """
    import ray

    if ray.is_initialized():
        return False
    address = options.resolved_address()
    common = dict(runtime_env={"env_vars": worker_env()}, include_dashboard=False, log_to_driver=False,
                  logging_level=logging.WARNING)
    if address is not None:
        log.info("attaching to the Ray cluster at %s", address)
        try:
            ray.init(address=address, **common)
        except ConnectionError as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConnectionError(f"cannot attach to a Ray cluster at {address}: {detail}") from None
    else:
        cpus = None if options.workers is None else max(1, round(options.workers * options.cpus_per_task))
        ray.init(address="local", num_cpus=cpus, **common)
    return True


def _in_task(function, cpus: float):
    """``function`` wrapped to size this worker's thread pools to its CPU share before it runs."""

    def run(*args):
        from skills.evaluation.parallel import size_threads

        size_threads(cpus)
        return function(*args)

    return run


def size_threads(cpus: float) -> None:
    """Size TensorFlow's thread pools to ``cpus`` (at least 1) in this process, under the TensorFlow backend and if
    TensorFlow is not running yet (its pools are fixed once it has run an op; then nothing changes). Under another
    backend nothing happens, and TensorFlow is not imported."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    threads = max(1, int(cpus))
    try:
        import tensorflow as tf
    except ImportError:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already initialised in this worker: a reused worker keeps its pools
        pass


def ray_map(function: Callable, calls: Sequence[tuple], options: RayOptions | None = None,
            on_result: Callable | None = None) -> list:
    """``[function(*call) for call in calls]``, each call a Ray task.

    Every distinct argument object is put in the object store once (by identity), so a large object passed
    to many calls travels once. Ray is started locally for the call unless it is already initialised in this
    process or ``options`` name a cluster; one this call started is shut down when it returns.

    Args:
        function: a picklable function (module-level, or a closure cloudpickle can carry).
        calls: the argument tuples.
        options (RayOptions, optional): placement and resources (default `RayOptions()`).
        on_result (callable, optional): ``on_result(index, result)`` in this process as each task finishes
            (in finishing order), e.g. to log progress.

    Returns:
        list: the results in the order of ``calls``.

    Raises:
        The exception a task raised (its original type and message), after the other tasks are cancelled.
    """
    import ray

    options = options or RayOptions()
    calls = [tuple(call) for call in calls]
    started = start_ray(options)
    try:
        remote = ray.remote(_in_task(function, options.cpus_per_task)).options(
            num_cpus=options.cpus_per_task, num_gpus=options.gpus_per_task, max_retries=0)
        stored = {}

        def ref(value):
            if id(value) not in stored:
                stored[id(value)] = (value, ray.put(value))  # the value is kept so its id stays unique
            return stored[id(value)][1]

        pending = {remote.remote(*(ref(arg) for arg in call)): index for index, call in enumerate(calls)}
        results = [None] * len(calls)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            try:
                results[index] = ray.get(done[0])
            except ray.exceptions.RayTaskError as error:
                for other in pending:
                    ray.cancel(other, force=True)
                cause = getattr(error, "cause", None)
                raise (cause if isinstance(cause, BaseException) else error) from None
            if on_result is not None:
                on_result(index, results[index])
        return results
    finally:
        if started:
            ray.shutdown()
