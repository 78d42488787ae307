"""MLflow tracking: each `train`, `compare`, `tune` and `backtest` run kept where MLflow's UI, `MlflowClient` and
`mlflow.search_runs` find it again.

`Tracking` names where runs go (a tracking URI and an experiment); ``Tracking().check()`` connects before any
work starts, and ``with tracking.start_run("name") as run:`` opens a run that ends FINISHED, FAILED (an
exception) or KILLED (Ctrl-C), never left RUNNING. A `TrackedRun` logs params, metrics, tags and artifacts;
``run.callback()`` is a Keras callback that logs every epoch's figures, the same one the library's `train` passes
to ``fit``::

    from skills.tracking import Tracking
    tracking = Tracking(experiment="my-research").check()
    with tracking.start_run("lstm-aapl") as run:
        model.fit(data, callbacks=[run.callback()])
        run.log_metrics({"test_accuracy": 0.51})

MLflow is an optional dependency (``pip install .[tracking]``), imported only when tracking is on; tracking
never changes a figure.
"""

from __future__ import annotations

import contextlib
import getpass
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

__all__ = ["DEFAULT_EXPERIMENT", "TrackedRun", "Tracking", "TrackingError", "flatten", "git_commit", "optional_run",
           "scalars"]

#: The experiment runs go to unless told otherwise.
DEFAULT_EXPERIMENT = "skills"
_MAX_PARAM = 6000  # MLflow's limit on a param value's length
_BATCH = 100  # params per log_batch call (MLflow's limit)
_CHECK_TIMEOUT_S = "5"  # an HTTP tracking server that does not answer within this is unreachable
_KIND = "mlflow.experimentKind"  # MLflow's UI opens a "custom_model_development" experiment as model training


class TrackingError(ValueError):
    """Tracking cannot start: MLflow is not installed, the tracking URI is malformed, or its server does not
    answer."""


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise TrackingError("tracking needs MLflow: pip install mlflow (or pip install '.[tracking]' in the "
                            "package's folder)") from None
    return mlflow


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def flatten(values: dict, prefix: str = "") -> dict:
    """Nested dicts as one level of ``"outer.inner"`` keys; lists and other values as they are."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def scalars(values: dict, prefix: str = "") -> dict:
    """The finite numbers of ``values`` (nested dicts flattened; bools as 0 / 1), keyed as MLflow accepts."""
    found = {}
    for key, value in flatten(values).items():
        if isinstance(value, (bool, np.bool_)):
            value = int(value)
        if isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value)):
            found[_metric_key(f"{prefix}{key}")] = float(value)
    return found


def _metric_key(name: str) -> str:
    return re.sub(r"[^\w\-. /]", "_", name)


def git_commit(folder=None) -> str | None:
    """The commit checked out in ``folder``'s git work tree (default: the one holding this package), or None."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


class Tracking:
    """Where runs are kept: an MLflow tracking URI and an experiment (created when it does not exist).

    Args:
        uri: a tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``, a folder, ...); None: the
            ``MLFLOW_TRACKING_URI`` environment variable, else MLflow's own default (a local store in the
            working folder, the one ``mlflow ui`` started there shows).
        experiment: the experiment's name; None: ``MLFLOW_EXPERIMENT_NAME``, else `DEFAULT_EXPERIMENT`.

    A new experiment in a local database keeps its artifacts in ``mlruns/`` beside the database file.
    """

    def __init__(self, uri: str | None = None, experiment: str | None = None):
        self.uri = uri
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        self._client = None
        self.experiment_id = None

    def __repr__(self) -> str:
        return f"Tracking(uri={self.uri!r}, experiment={self.experiment!r})"

    def resolved_uri(self) -> str:
        """The URI runs go to: ``uri``, else ``MLFLOW_TRACKING_URI``, else MLflow's default; a relative local
        database path made absolute (so runs started elsewhere, e.g. in Ray workers, land in the same place)."""
        uri = self.uri or os.environ.get("MLFLOW_TRACKING_URI") or _mlflow().get_tracking_uri()
        match = re.fullmatch(r"sqlite:///(?!/)(.+)", uri)
        if match:
            uri = f"sqlite:///{Path(match.group(1)).resolve()}"
        return uri

    @property
    def client(self):
        """The `mlflow.MlflowClient` of `resolved_uri` (after `check`)."""
        if self._client is None:
            self.check()
        return self._client

    def check(self) -> Tracking:
        """Connect to the store and get or create the experiment, before any work starts (once: a connected
        `Tracking` returns at once).

        Returns:
            self.

        Raises:
            TrackingError: MLflow is missing, the URI is malformed or names no usable store, or a tracking server
                does not answer within 5 s (one line naming the URI).
        """
        if self._client is not None:
            return self
        mlflow = _mlflow()
        uri = self.resolved_uri()
        saved = {name: os.environ.get(name) for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                                                            "MLFLOW_HTTP_REQUEST_TIMEOUT")}
        os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=_CHECK_TIMEOUT_S)
        try:
            client = mlflow.MlflowClient(tracking_uri=uri)
            experiment = client.get_experiment_by_name(self.experiment)
            if experiment is None:
                self.experiment_id = client.create_experiment(self.experiment, artifact_location=_artifacts(uri),
                                                              tags={_KIND: "custom_model_development"})
            elif experiment.lifecycle_stage != "active":
                raise TrackingError(f"tracking URI {uri}: experiment {self.experiment!r} is deleted (restore it in "
                                    f"MLflow or name another with --experiment)")
            else:
                self.experiment_id = experiment.experiment_id
        except TrackingError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to reach the store is the user's URI or server
            raise TrackingError(f"tracking URI {uri}: {_first_line(exc)}") from None
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self.uri, self._client = uri, client
        return self

    @contextlib.contextmanager
    def start_run(self, name: str, *, params: dict | None = None, tags: dict | None = None,
                  parent: TrackedRun | None = None):
        """A run of the experiment, ended FINISHED when the block completes, FAILED when it raises, KILLED on
        Ctrl-C; a child of ``parent`` (nested under it in the UI) when given.

        Yields:
            TrackedRun.
        """
        client = self.client
        system = {"mlflow.user": _user(), "mlflow.source.type": "LOCAL",
                  "mlflow.source.name": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:_MAX_PARAM]}
        commit = git_commit()
        if commit:
            system["mlflow.source.git.commit"] = commit
        if parent is not None:
            system["mlflow.parentRunId"] = parent.run_id
        created = client.create_run(self.experiment_id, run_name=name,
                                    tags={**system, **{k: str(v) for k, v in (tags or {}).items()}})
        run = TrackedRun(client, created.info.run_id, self)
        try:
            if params:
                run.log_params(params)
            yield run
        except KeyboardInterrupt:
            client.set_terminated(run.run_id, "KILLED")
            raise
        except BaseException:
            client.set_terminated(run.run_id, "FAILED")
            raise
        client.set_terminated(run.run_id, "FINISHED")


def optional_run(tracking: Tracking | None, name: str, **kwargs):
    """``tracking.start_run(name, ...)``, or a block yielding None when ``tracking`` is None."""
    return contextlib.nullcontext() if tracking is None else tracking.start_run(name, **kwargs)


def _artifacts(uri: str) -> str | None:
    """``mlruns/`` beside a local database file (MLflow's own default when the database is in the working folder)."""
    match = re.fullmatch(r"sqlite:///(.+)", uri)
    return (Path(match.group(1)).parent / "mlruns").as_uri() if match else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


class TrackedRun:
    """One MLflow run: what `Tracking.start_run` yields."""

    def __init__(self, client, run_id: str, tracking: Tracking):
        self.client, self.run_id, self.tracking = client, run_id, tracking

    def log_params(self, params: dict) -> None:
        """Nested dicts flattened (``"outer.inner"``), each value as text (MLflow keeps params as text)."""
        from mlflow.entities import Param

        items = [Param(key, str(value)[:_MAX_PARAM]) for key, value in flatten(params).items()]
        for start in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[start:start + _BATCH])

    def log_metrics(self, metrics: dict, step: int | None = None, prefix: str = "") -> None:
        """The finite numbers of ``metrics`` (`scalars`; others skipped) at ``step`` (default 0)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(key, value, now, step or 0) for key, value in scalars(metrics, prefix).items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start:start + 1000])

    def set_tags(self, tags: dict) -> None:
        """Tags as text; None values skipped."""
        for key, value in tags.items():
            if value is not None:
                self.client.set_tag(self.run_id, key, str(value)[:_MAX_PARAM])

    def log_artifact(self, path, artifact_path: str | None = None) -> None:
        """A file (or a folder's files) of this machine into the run's artifacts."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_text(self, text: str, name: str) -> None:
        """``text`` as the artifact file ``name``."""
        self.client.log_text(self.run_id, text, name)

    def log_dict(self, values: dict, name: str) -> None:
        """``values`` as the JSON (or YAML) artifact file ``name``."""
        self.client.log_dict(self.run_id, values, name)

    def start_child(self, name: str, **kwargs):
        """A child run (`Tracking.start_run` with ``parent=self``)."""
        return self.tracking.start_run(name, parent=self, **kwargs)

    def callback(self) -> keras.callbacks.Callback:
        """A Keras callback that logs every epoch's figures (``loss``, ``val_loss``, ``val_rank_ic``, ...) with the
        epoch as the step; epochs count on across the members of a seed ensemble."""
        return EpochLogger(self)


class EpochLogger(keras.callbacks.Callback):
    """Logs each epoch's ``logs`` into a `TrackedRun`, one step per epoch trained by any ``fit`` it is passed to."""

    def __init__(self, run: TrackedRun):
        super().__init__()
        self.run = run
        self.step = 0

    def on_epoch_end(self, epoch, logs=None):
        self.run.log_metrics({key: _number(value) for key, value in (logs or {}).items()}, step=self.step)
        self.step += 1


def _number(value):
    try:
        return float(keras.ops.convert_to_numpy(value))
    except (TypeError, ValueError):
        return None
