"""Walk-forward folds x models as Ray tasks (skills.evaluation.parallel): on a local Ray with 2 CPUs the report
and the printed table are the serial run's, digit for digit; arguments travel once; errors keep their type."""

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.xdist_group("ray")  # one Ray at a time under -n

from skills.data import DataError, load_ohlcv, prepare_walk_forward  # noqa: E402
from skills.evaluation import walk_forward  # noqa: E402
from skills.evaluation.parallel import RayOptions, ray_map  # noqa: E402
from skills.models import make_model  # noqa: E402

TICKERS = ("AAPL", "GOOG")
TINY = {"lstm": dict(lstm_units=4, num_layers=1), "transformer": dict(d_model=8, num_heads=2, num_layers=1)}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module (its workers are reused across tests), shut down after."""
    from skills.evaluation.parallel import _worker_env

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": _worker_env()})
    yield RayOptions(workers=2)
    ray.shutdown()


@pytest.fixture(scope="module")
def bars(data_dir):
    return {t: load_ohlcv(data_dir / f"{t}.csv").iloc[-400:] for t in TICKERS}


def _square_rows(array, row):
    return float(array[row] @ array[row]), array.flags.writeable


def _fail(x):
    if x == 2:
        raise DataError(f"bad value {x}")
    return x


def test_ray_map_keeps_the_order_of_the_calls_and_puts_each_shared_argument_once(local_ray, monkeypatch):
    array = np.arange(12.0).reshape(4, 3)
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    seen = []
    results = ray_map(_square_rows, [(array, row) for row in range(4)], local_ray,
                      on_result=lambda index, result: seen.append(index))
    assert [r[0] for r in results] == [float(array[row] @ array[row]) for row in range(4)]
    assert not any(r[1] for r in results)  # the workers read the one stored copy in place (read-only)
    assert sum(value is array for value in puts) == 1
    assert sorted(seen) == [0, 1, 2, 3]


def test_a_failing_task_raises_its_own_error_type_and_message(local_ray):
    with pytest.raises(DataError, match="bad value 2"):
        ray_map(_fail, [(1,), (2,), (3,)], local_ray)


def test_ray_options_refuse_impossible_settings():
    with pytest.raises(ValueError, match="workers"):
        RayOptions(workers=0)
    with pytest.raises(ValueError, match="cpus_per_task"):
        RayOptions(cpus_per_task=0)
    with pytest.raises(ValueError, match="address"):
        RayOptions(workers=2, address="auto")
    assert RayOptions(workers=2).resolved_address() is None


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k not in ("fit_seconds", "seconds")}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


@pytest.mark.slow
def test_walk_forward_on_ray_reports_what_the_serial_run_reports(local_ray, bars):
    folds = prepare_walk_forward(bars, n_splits=2, sequence_length=10)
    models = {name: (lambda name=name: make_model(name, sequence_length=10, **TINY[name])) for name in TINY}
    options = dict(baselines=("majority",), fit_options=dict(epochs=1, batch_size=64, verbose=0))
    serial = walk_forward(folds, models, **options)
    on_ray = walk_forward(folds, models, parallel=local_ray, **options)
    assert [list(record["results"]) for record in on_ray["folds"]] == [["lstm", "transformer", "majority"]] * 2
    assert _strip_timings(on_ray) == _strip_timings(serial)  # every figure, to the last bit
    assert all(record["results"]["lstm"]["epochs_run"] == 1 for record in on_ray["folds"])


@pytest.mark.slow
def test_compare_command_prints_the_same_table_with_workers(local_ray, bars, tmp_path, capsys):
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


@pytest.mark.parametrize("extra, message", [
    (["--cpus-per-task", "2"], "--cpus-per-task only with --workers N or --address ADDR"),
    (["--workers", "2", "--address", "auto"], "give one of them"),
])
def test_compare_refuses_ray_flags_that_cannot_work(extra, message, data_dir, capsys, monkeypatch):
    from skills.cli import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["compare", "--data-path", str(data_dir / "AAPL.csv"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
