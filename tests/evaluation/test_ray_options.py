"""`RayOptions` (the one Ray options object of ``compare`` and ``tune``) refuses settings that cannot work, and
`worker_env` hands every worker the Keras backend of this process and, run from a source checkout, this copy of
the package first on its path (nothing starts Ray here)."""

import os
from importlib import metadata
from pathlib import Path

import keras
import pytest

from skills.evaluation.parallel import RayOptions, worker_env

ROOT = Path(__file__).resolve().parents[2]


def test_ray_options_refuse_impossible_settings():
    with pytest.raises(ValueError, match="workers"):
        RayOptions(workers=0)
    with pytest.raises(ValueError, match="cpus_per_task"):
        RayOptions(cpus_per_task=0)
    with pytest.raises(ValueError, match="gpus_per_task"):
        RayOptions(gpus_per_task=-1)
    with pytest.raises(ValueError, match="address"):
        RayOptions(workers=2, address="auto")
    assert RayOptions(workers=2).resolved_address() is None


class _Installed:
    """A distribution whose files lie under ``root``."""

    def __init__(self, root):
        self.root = Path(root)

    def locate_file(self, path):
        return self.root / path


def test_workers_of_a_source_checkout_get_the_backend_and_this_copy_first_on_their_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = worker_env()
    assert env["KERAS_BACKEND"] == keras.backend.backend()
    assert env["PYTHONPATH"].split(os.pathsep) == [str(ROOT), "/elsewhere"]
    monkeypatch.setattr(metadata, "distribution", lambda name: _Installed(tmp_path))  # another installed copy
    assert worker_env()["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


def test_workers_of_an_installed_package_get_no_path(monkeypatch):
    monkeypatch.setattr(metadata, "distribution", lambda name: _Installed(ROOT))  # this copy is the installed one
    env = worker_env()
    assert "PYTHONPATH" not in env and env["KERAS_BACKEND"] == keras.backend.backend()
