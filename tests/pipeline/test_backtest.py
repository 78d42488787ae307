"""`skills.pipeline.backtest`: the same figures as `run_backtest` with the defaults of `skills.strategy`, the files,
the strategy rule, its errors, and the CLI printing it."""

import json

import pytest

from skills import pipeline
from skills.cli import main
from skills.data import load_universe
from skills.evaluation.tables import format_metrics, format_topk_metrics
from skills.models import load_model
from skills.strategy import DEFAULT_REBALANCE, TOPK_MIN_TICKERS, run_backtest, topk_defaults
from skills.strategy.backtest import out_of_sample_start


@pytest.fixture(scope="module")
def universe_model(universe_run):
    """A tiny LSTM trained on the 10-ticker universe (label fixed)."""
    return universe_run[2]


def test_an_ml_backtest_is_run_backtest_from_the_out_of_sample_start(trained, aapl_file, tmp_path):
    result, folder = trained
    plot, out = tmp_path / "eq.png", tmp_path / "bt.json"
    run = pipeline.backtest(folder / "tiny.h5", aapl_file, plot=plot, json_path=out)
    assert run.strategy == "ml" and run.strategy_source == "ticker" and run.tickers == ["AAPL"]
    model = load_model(folder / "tiny.h5")
    direct = run_backtest(model, str(aapl_file), start=out_of_sample_start(model))
    assert run.metrics == direct.metrics
    assert run.metrics["start"] == result.report["data"]["date_ranges"]["test"][0]  # out of sample
    assert run.table() == format_metrics(run.metrics) and run.table() in run.format()
    assert run.files == [str(plot), str(out)] and plot.read_bytes()[:4] == b"\x89PNG"
    written = json.loads(out.read_text())
    assert written["metrics"] == json.loads(json.dumps(run.metrics)) and written["strategy"] == "ml"


def test_the_cli_prints_what_the_library_returns(trained, aapl_file, spy, capsys):
    _, folder = trained
    calls = spy("backtest")
    assert main(["backtest", "--model-path", str(folder / "tiny.h5"), "--data-path", str(aapl_file), "--quiet"]) == 0
    [run] = calls.returned
    assert capsys.readouterr().out == run.format() + "\n"
    assert f"{run.metrics['total_return']:+.2%}" in run.format()


def test_a_universe_trades_top_k_by_default_with_the_strategy_defaults(universe_model, universe_folder, spy,
                                                                        capsys):
    calls = spy("backtest")
    assert main(["backtest", "--model-path", str(universe_model), "--data-path", str(universe_folder),
                 "--quiet"]) == 0
    [run] = calls.returned
    out = capsys.readouterr().out
    assert run.strategy == "topk" and run.strategy_source == "universe" and len(run.tickers) >= TOPK_MIN_TICKERS
    k, n_drop = topk_defaults(len(run.tickers))
    assert (run.options["k"], run.options["n_drop"], run.options["rebalance"]) == (k, n_drop, DEFAULT_REBALANCE)
    assert f"top {k}, rebalance every {DEFAULT_REBALANCE} bar(s), n_drop {n_drop}" in out
    assert out.endswith(run.format() + "\n") and run.table() == format_topk_metrics(run.metrics)
    model = load_model(universe_model)
    direct = run_backtest(model, load_universe(universe_folder, on_bad_rows="drop", on_bad_files="skip"),
                          strategy="topk", k=k, n_drop=n_drop, rebalance=DEFAULT_REBALANCE,
                          start=out_of_sample_start(model))
    assert run.metrics == direct.metrics  # a Python user with the same defaults gets the same figures


@pytest.mark.parametrize("options, fragment, flags", [
    (dict(strategy="ml", k=2, rebalance=3), "k, rebalance only with strategy topk (got strategy ml)",
     "--k, --rebalance only with --strategy topk (got --strategy ml)"),
    (dict(strategy="topk", k=11), "k 11 is more than the 10 ticker(s) a side can hold", "--k 11 is more than"),
    (dict(strategy="topk", k=6, long_short=True), "k 6 is more than the 5 ticker(s)", "--k 6 is more than"),
    (dict(start="2017-06-01", end="2017-01-01"), "start 2017-06-01 is after end 2017-01-01",
     "--start 2017-06-01 is after --end"),
    (dict(plot="equity"), "plot must end in a suffix", "--plot must end in a suffix"),
])
def test_bad_options_are_option_errors_naming_them(universe_model, universe_folder, tmp_path, options, fragment,
                                                   flags):
    with pytest.raises(pipeline.OptionError) as info:
        pipeline.backtest(universe_model, universe_folder, json_path=tmp_path / "bt.json", **options)
    assert fragment in str(info.value)
    assert info.value.spelled(lambda name: "--" + name.replace("_", "-")).startswith(flags)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_option_is_a_type_error(trained, aapl_file):
    with pytest.raises(TypeError, match="unexpected keyword argument.*: threshold"):
        pipeline.backtest(trained[1] / "tiny.h5", aapl_file, threshold=0.6)
