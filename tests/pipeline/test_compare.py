"""`skills.pipeline.compare`: walk-forward folds, the summary, the files, errors, and the CLI printing it."""

import json

import pytest

from skills import pipeline
from skills.cli import main
from skills.evaluation.tables import format_summary_table
from skills.strategy import DEFAULT_REBALANCE, topk_defaults

from .conftest import TINY_FLAGS


def test_baselines_alone_fold_by_fold_with_json_and_plot(aapl_file, tmp_path):
    """One ticker: the default baselines stay the majority class and LightGBM on the last bar."""
    out, plot = tmp_path / "c.json", tmp_path / "c.png"
    result = pipeline.compare(aapl_file, models=[], n_splits=2, sequence_length=10, json_path=out, plot=plot)
    folds = result.report["folds"]
    assert [fold["fold"] for fold in folds] == [1, 2] and folds[0]["dates"]["test"][1] < folds[1]["dates"]["test"][0]
    assert result.baselines == ["majority", "lightgbm"]
    assert set(result.summary) == {"majority", "lightgbm"} and result.topk is None and result.tickers == ["AAPL"]
    assert result.table() == format_summary_table(result.summary) and result.table() in result.format()
    assert "2 expanding folds, test blocks " in result.format()
    assert "labels and IC on open-to-open returns" in result.format()
    written = json.loads(out.read_text())
    assert written["summary"] == json.loads(json.dumps(result.summary))
    assert written["flags"]["n_splits"] == 2 and written["flags"]["models"] == []
    assert written["flags"]["baselines"] == ["majority", "lightgbm"]
    assert result.files == [str(out), str(plot)] and plot.read_bytes()[:4] == b"\x89PNG"


def test_one_fold_of_n_splits_is_that_fold_of_the_full_run(aapl_file):
    """``fold=2`` screens the second fold alone: the same dates and figures as the second fold of the full run."""
    full = pipeline.compare(aapl_file, models=[], baselines="majority", n_splits=3, sequence_length=10)
    alone = pipeline.compare(aapl_file, models=[], baselines="majority", n_splits=3, sequence_length=10, fold=2)
    (record,) = alone.report["folds"]
    assert record["fold"] == 2 and record["dates"] == full.report["folds"][1]["dates"]
    assert record["results"] == full.report["folds"][1]["results"]
    assert "fold 2 of 3 expanding folds only" in alone.format()


def test_a_universe_is_traded_top_k_with_the_strategy_defaults(universe_folder):
    result = pipeline.compare(universe_folder, models="", baselines="majority", n_splits=2, sequence_length=10)
    k, n_drop = topk_defaults(10)
    assert result.topk == {"k": k, "n_drop": n_drop, "rebalance": DEFAULT_REBALANCE}
    assert f"top-k: k {k}, n_drop {n_drop}, rebalance every {DEFAULT_REBALANCE} bar(s)" in result.format()
    assert all(fold["results"]["majority"]["excess_annual_return"] is not None for fold in result.report["folds"])


def test_a_universe_table_leads_with_lightgbm_on_alpha158_and_shows_the_factors(universe_folder):
    from skills.data import load_universe

    bars = {ticker: frame.loc["2017-03-01":] for ticker, frame in load_universe(universe_folder).items()}
    result = pipeline.compare(bars, models="", n_splits=2, sequence_length=5, features="price_volume")
    assert result.baselines == ["lightgbm_alpha158", "lightgbm", "reversal", "momentum", "majority"]
    lines = result.table().splitlines()
    assert [line.split()[0] for line in lines[1:]] == result.baselines
    assert "rank IC t" in lines[0] and result.table() in result.format()
    assert "rank IC t: the mean daily rank IC over every test day of the folds" in result.format()
    for name in ("lightgbm_alpha158", "reversal", "momentum"):
        figures = result.summary[name]
        assert figures["rank_ic"]["mean"] is not None and figures["excess_annual_return"]["mean"] is not None
        assert figures["rank_ic_t"]["n_dates"] == sum(fold["results"][name]["n_dates"]
                                                      for fold in result.report["folds"])
    with pytest.raises(pipeline.OptionError, match="baselines must list distinct names from lightgbm_alpha158"):
        pipeline.compare(universe_folder, models="", baselines="reversal,value", n_splits=2)


@pytest.mark.parametrize("arguments, fragment", [
    (dict(models="lstm,nosuchnet"), "models must list distinct names"),
    (dict(models=["lstm", "lstm"]), "models must list distinct names"),
    (dict(models=[], baselines=[]), "models and baselines are both empty"),
    (dict(models=["transformer"], d_model=6, num_heads=4), "must be a multiple of `num_heads`"),
    (dict(models=["lstm"], strategy="topk"), "strategy topk needs several tickers"),
    (dict(models=["lstm"], json_path="{tmp}/out"), "json_path must end in a suffix"),
    (dict(models=["lstm"], fold=3), "fold must be a fold number from 1 to 2"),
])
def test_bad_arguments_are_option_errors_and_nothing_is_written(aapl_file, tmp_path, arguments, fragment):
    arguments = {key: value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value
                 for key, value in arguments.items()}
    with pytest.raises(pipeline.OptionError, match=fragment.replace("(", r"\(").replace("`", "`")):
        pipeline.compare(aapl_file, sequence_length=10, n_splits=2, epochs=1, **arguments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_the_cli_prints_what_the_library_returns(aapl_file, tmp_path, spy, capsys):
    calls = spy("compare")
    out = tmp_path / "c.json"
    assert main(["compare", "--data-path", str(aapl_file), "--models", "lstm", "--baselines", "majority",
                 "--n-splits", "2", *TINY_FLAGS, "--json", str(out)]) == 0
    [result] = calls.returned
    assert capsys.readouterr().out == f"{result.format()}\n\nwrote {out}\n"
    assert list(result.summary) == sorted(result.summary, key=lambda n: -result.summary[n]["macro_f1"]["mean"])
    assert result.report["folds"][0]["results"]["lstm"]["epochs_run"] == 1
