"""Walk-forward folds x models as Ray tasks (skills.evaluation.parallel): on the session's local Ray with 2 CPUs
the report and the printed table are the serial run's, digit for digit; arguments travel once; errors keep their
type."""

import os

import numpy as np
import pytest
import ray

from skills.data import DataError, load_ohlcv, prepare_walk_forward
from skills.evaluation import walk_forward
from skills.evaluation.parallel import RayOptions, ray_map, worker_env
from skills.models import make_model
from tests.ray_conftest import shared_ray, stop_shared_ray

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("ray")]  # one Ray at a time under -n

TICKERS = ("AAPL", "GOOG")
TINY = {"lstm": dict(lstm_units=4, num_layers=1), "transformer": dict(d_model=8, num_heads=2, num_layers=1)}


@pytest.fixture
def ray_session() -> RayOptions:
    """The session's local Ray (2 CPUs), started on first use; the `RayOptions` of a run on it."""
    return shared_ray()


@pytest.fixture(scope="module")
def bars(data_dir):
    return {t: load_ohlcv(data_dir / f"{t}.csv").iloc[-400:] for t in TICKERS}


def _square_rows(array, row):
    return float(array[row] @ array[row]), array.flags.writeable


def _fail(x):
    if x == 2:
        raise DataError(f"bad value {x}")
    return x


def test_ray_map_keeps_the_order_of_the_calls_and_puts_each_shared_argument_once(ray_session, monkeypatch):
    array = np.arange(12.0).reshape(4, 3)
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    seen = []
    results = ray_map(_square_rows, [(array, row) for row in range(4)], ray_session,
                      on_result=lambda index, result: seen.append(index))
    assert [r[0] for r in results] == [float(array[row] @ array[row]) for row in range(4)]
    assert not any(r[1] for r in results)  # the workers read the one stored copy in place (read-only)
    assert sum(value is array for value in puts) == 1
    assert sorted(seen) == [0, 1, 2, 3]


def test_a_failing_task_raises_its_own_error_type_and_message(ray_session):
    with pytest.raises(DataError, match="bad value 2"):
        ray_map(_fail, [(1,), (2,), (3,)], ray_session)


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k not in ("fit_seconds", "seconds")}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


@pytest.mark.slow
def test_walk_forward_on_ray_reports_what_the_serial_run_reports(ray_session, bars):
    folds = prepare_walk_forward(bars, n_splits=2, sequence_length=10)
    models = {name: (lambda name=name: make_model(name, sequence_length=10, **TINY[name])) for name in TINY}
    options = dict(baselines=("majority",), fit_options=dict(epochs=1, batch_size=64, verbose=0))
    serial = walk_forward(folds, models, **options)
    on_ray = walk_forward(folds, models, parallel=ray_session, **options)
    assert [list(record["results"]) for record in on_ray["folds"]] == [["lstm", "transformer", "majority"]] * 2
    assert _strip_timings(on_ray) == _strip_timings(serial)  # every figure, to the last bit
    assert all(record["results"]["lstm"]["epochs_run"] == 1 for record in on_ray["folds"])


@pytest.mark.slow
def test_compare_command_prints_the_same_table_with_workers(ray_session, bars, tmp_path, capsys):
    from skills.cli import main

    folder = tmp_path / "bars"
    folder.mkdir()
    for ticker, frame in bars.items():
        frame.to_csv(folder / f"{ticker}.csv")
    argv = ["compare", "--data-path", str(folder), "--models", "lstm", "--baselines", "majority",
            "--n-splits", "2", "--epochs", "1", "--batch-size", "64", "--sequence-length", "10", "--lstm-units", "4",
            "--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--quiet"]

    def table(extra):
        assert main(argv + extra) == 0
        lines = capsys.readouterr().out.splitlines()
        return lines[lines.index(next(line for line in lines if line.startswith("model"))):]

    serial = table([])
    on_ray = table(["--workers", "2"])
    assert len(serial) == 3 and on_ray == serial  # header and two rows, digit for digit


def _environment(names):
    return {name: os.environ.get(name) for name in names}


def test_a_ray_started_for_the_call_hands_its_workers_the_environment_of_compare_and_tune():
    stop_shared_ray()  # this test starts its own Ray, as compare --workers and tune do (`start_ray`)
    expected = worker_env()
    seen = ray_map(_environment, [(tuple(expected),)], RayOptions(workers=1))[0]
    assert seen == expected and not ray.is_initialized()  # started for the call and shut down after
