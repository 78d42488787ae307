"""One local Ray for the Ray tests of a test session: 2 CPUs, no dashboard, its files in a short folder under /tmp,
its workers given `skills.evaluation.parallel.worker_env` (what ``compare`` and ``tune`` hand their workers).

`shared_ray` starts it on first use (the ``ray_session`` fixtures call it); it is shut down and its folder removed
when the test process ends. A test that needs its own Ray (a cluster, a subprocess) calls `stop_shared_ray` first,
and the next test that asks for the shared one starts it again. Ray is a required dependency: a broken install
fails the tests that import this module, it does not skip them.
"""

import atexit
import shutil
import tempfile

import ray

from skills.evaluation.parallel import RayOptions, worker_env

#: Ray gives a node 30 s to start (fixed in Ray); a busy 2-core machine can miss that, so starts are tried again.
START_ATTEMPTS = 4


def start_with_retries(start, attempts: int = START_ATTEMPTS):
    """``start()``, again when Ray says a node timed out during startup; the last such error is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise
            ray.shutdown()


def short_tmp() -> str:
    """A new short folder under /tmp (Ray's socket paths inside a pytest tmp_path can be too long)."""
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # after Ray's own exit handler has shut it down
    return folder


def shared_ray() -> RayOptions:
    """The session's local Ray, started if it is not running; the `RayOptions` of a run on it."""
    if not ray.is_initialized():
        folder = short_tmp()
        start_with_retries(lambda: ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=folder,
                                            log_to_driver=False, runtime_env={"env_vars": worker_env()}))
    return RayOptions(workers=2)


def stop_shared_ray() -> None:
    """Shut the session's Ray down (a test that starts its own Ray calls it first)."""
    ray.shutdown()
