"""Atomic writes under SIGKILL: a killed writer leaves the old file or the new one, never a torn one."""

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from skills.data import prepare_dataset
from skills.models import LSTMModel, load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small(aapl):
    return prepare_dataset(aapl.iloc[-400:], sequence_length=10)


# -- atomic writes: kill a writer at random moments -------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import itertools, json, sys
    from pathlib import Path
    from skills._atomic import atomic_path
    from skills.models import load_model
    from skills.plots import plot_training_curves, save_figure

    folder = Path(sys.argv[1])
    models = [load_model(folder / "a.h5"), load_model(folder / "b.h5")]
    payloads = [{"version": v, "numbers": list(range(k, k + 300_000))} for v, k in (("a", 0), ("b", 1))]
    curves = [{"loss": [1.0, 0.5]}, {"loss": [0.5, 1.0]}]
    for i in itertools.count():
        which = i % 2
        models[which].save(folder / "model.h5")
        save_figure(plot_training_curves(curves[which]), folder / "curves.png")
        with atomic_path(folder / "report.json") as tmp:
            tmp.write_text(json.dumps(payloads[which]))
        if i < 2:
            save_figure(plot_training_curves(curves[which]), folder / f"ref_{which}.png")
        if i == 1:
            print("writing", flush=True)
    """
)


@pytest.mark.integration
def test_a_writer_killed_while_writing_leaves_the_old_file_or_the_new_one(small, tmp_path):
    windows = np.asarray(small.test.X)
    model = LSTMModel(sequence_length=10, lstm_units=4).fit(small, epochs=1, verbose=0)
    model.save(tmp_path / "a.h5")
    expected = [model.predict_proba(windows)]
    model.network_.set_weights([w * 1.5 for w in model.network_.get_weights()])  # another model, same shape
    model.save(tmp_path / "b.h5")
    expected.append(model.predict_proba(windows))
    assert not np.allclose(*expected)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    mid_write = 0
    for target in ("model", "curves", "report"):  # kill the writer while it writes this file
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready, _, _ = select.select([writer.stdout], [], [], 240)
            assert ready and writer.stdout.readline().strip() == "writing", "the writer did not start"
            deadline = time.monotonic() + 120
            while not any(name.startswith(f".{target}.") for name in os.listdir(tmp_path)):
                assert time.monotonic() < deadline and writer.poll() is None
            writer.send_signal(signal.SIGKILL)  # the temporary file is there: the write is under way
        finally:
            writer.kill()
            writer.wait(timeout=60)
        mid_write += any(p.name.startswith(f".{target}.") for p in tmp_path.iterdir())  # killed mid-write
        proba = load_model(tmp_path / "model.h5").predict_proba(windows)
        assert any(np.array_equal(proba, e) for e in expected)
        assert json.loads((tmp_path / "report.json").read_text())["version"] in ("a", "b")
        png = (tmp_path / "curves.png").read_bytes()
        assert png in ((tmp_path / "ref_0.png").read_bytes(), (tmp_path / "ref_1.png").read_bytes())
    assert mid_write >= 2  # the kills landed inside writes (temporary files were left), as the test intends
    load_model(tmp_path / "a.h5").save(tmp_path / "model.h5")  # the next write sweeps a killed writer's temp files
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".model.")]
