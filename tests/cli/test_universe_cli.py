"""The commands on a universe: a 16-ticker slice of the bundled long-format file, with two of its real
anomalies (AOS's high below low on 2014-05-19, APTV's 44-row history), loaded under the policy flags."""

import json
from pathlib import Path

import pandas as pd
import pytest

from skills.cli import main
from skills.data import FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--sequence-length", "10", "--lstm-units", "4", "--epochs", "1", "--batch-size", "256", "--quiet"]


def _slice(tmp_path_factory, first_date):
    raw = pd.read_csv(ROOT / "data" / "universe" / "sp500_5yr.csv.gz", dtype=str)
    keep = sorted(raw["ticker"].unique())[:14] + ["AOS", "APTV"]
    folder = tmp_path_factory.mktemp("universe")
    raw[raw["ticker"].isin(keep) & (raw["date"] >= first_date)].to_csv(folder / "slice.csv.gz", index=False)
    return folder


@pytest.fixture(scope="module")
def universe_slice(tmp_path_factory):
    """A folder holding a long-format .csv.gz: 14 real tickers, AOS and APTV, from 2014-05-01 (the rows as in the
    bundled file, bad ones included)."""
    return _slice(tmp_path_factory, "2014-05-01")


@pytest.fixture(scope="module")
def recent_slice(tmp_path_factory):
    """The same 16 tickers from 2016-06-01 (20 months; APTV's 44 rows are still too few), to train on quickly."""
    return _slice(tmp_path_factory, "2016-06-01")


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def test_a_universe_loads_with_the_default_policies_and_prints_its_report(universe_slice, capsys):
    code, out, _ = _run(["data", "--data-path", str(universe_slice), "--label", "cross_section",
                         "--sequence-length", "10"], capsys)
    assert code == 0
    assert "loaded 15 of 16 tickers; skipped 1 file(s), dropped 1 row(s)" in out
    assert "skipped APTV: 44 usable row(s)" in out
    assert "dropped AOS" in out and "(2014-05-19): high is below low" in out
    assert "--on-bad-rows drop --on-bad-files skip" in out
    assert "labels: cross_section" in out and "AOS" in out.split("tickers:")[1].splitlines()[0]


@pytest.mark.parametrize("flags, fragments", [
    (["--on-bad-rows", "raise"], ["AOS", "2014-05-19", "high is below low", "on_bad_rows='drop'"]),
    (["--on-bad-files", "raise"], ["APTV", "fewer than min_rows", "on_bad_files='skip'"]),
    (["--features", "rsi_14_typo"], ["rsi_14_typo"]),
])
def test_a_policy_that_stops_or_a_bad_flag_is_one_line_and_exit_2(universe_slice, capsys, flags, fragments):
    code, _, err = _run(["data", "--data-path", str(universe_slice), "--label", "cross_section",
                         "--sequence-length", "10", *flags], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("skills data: error:"), err
    assert all(fragment in err[0] for fragment in fragments), err[0]


def test_features_as_a_comma_list_and_cross_section_rank(universe_slice, capsys):
    chosen = ",".join(FEATURE_NAMES[:4])
    code, out, _ = _run(["data", "--data-path", str(universe_slice), "--label", "cross_section", "--cross-section",
                         "rank", "--features", chosen, "--sequence-length", "10"], capsys)
    assert code == 0
    assert "features: 4," in out and "cross_section: rank" in out


def test_features_price_volume(universe_slice, capsys):
    code, out, _ = _run(["data", "--data-path", str(universe_slice), "--label", "cross_section", "--features",
                         "price_volume", "--sequence-length", "10"], capsys)
    assert code == 0 and "features: 6," in out


def test_load_ohlcv_on_a_universe_path_says_to_use_load_universe(universe_slice):
    from skills.data import DataError, load_ohlcv

    for path in (universe_slice, universe_slice / "slice.csv.gz"):
        with pytest.raises(DataError, match="load_universe"):
            load_ohlcv(path)


@pytest.mark.slow
@pytest.mark.integration
def test_compare_on_a_universe_prints_rank_ic_and_top_k_columns(recent_slice, tmp_path, capsys):
    out_json = tmp_path / "compare.json"
    code, out, err = _run(["compare", "--data-path", str(recent_slice), "--label", "cross_section",
                           "--cross-section", "rank", "--models", "lstm", "--baselines", "majority,lightgbm",
                           "--n-splits", "2", "--k", "3", "--n-drop", "1", "--json", str(out_json), *TINY], capsys)
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("model "))
    for column in ("accuracy", "macro-F1", "rank IC", "rank ICIR", "top-k excess %", "IR", "max DD %", "turnover"):
        assert column in header
    rows = {line.split()[0]: line for line in out.splitlines()[out.splitlines().index(header) + 1:] if line.strip()}
    assert {"lstm", "lightgbm", "majority"} <= set(rows)
    assert "k 3, n_drop 1, rebalance every 5" in out and "daily cross-sectional" in out
    report = json.loads(out_json.read_text())
    assert len(report["folds"]) == 2
    for fold in report["folds"]:
        for name in ("lstm", "lightgbm", "majority"):
            result = fold["results"][name]
            assert result["ic_basis"] == "daily" and result["excess_annual_return"] is not None
            assert result["backtest"]["bars"] > 50  # the top-k run traded the fold's test block
        assert fold["results"]["majority"]["rank_ic"] is None  # a score that never moves has no IC
        assert fold["results"]["lightgbm"]["n_dates"] > 50
    assert report["summary"]["lstm"]["rank_ic"]["std"] is not None  # mean ± std over the two folds
    assert any(row["ticker"] == "APTV" for row in report["flags"]["load_report"])


@pytest.mark.slow
@pytest.mark.integration
def test_train_then_backtest_on_a_universe(recent_slice, tmp_path, capsys):
    model_path = tmp_path / "cs.h5"
    code, out, err = _run(["train", "--model", "lstm", "--data-path", str(recent_slice), "--label",
                           "cross_section", "--model-path", str(model_path), *TINY], capsys)
    assert code == 0, err
    for row in ("rank IC (daily)", "rank ICIR", "top-k excess %", "top-k IR", "top-k turnover"):
        assert row in out
    report = json.loads(model_path.with_suffix(".report.json").read_text())
    assert report["test_metrics"]["lstm"]["ic_basis"] == "daily"
    assert [row["ticker"] for row in report["data"]["load_report"]] == ["APTV"]
    code, out, err = _run(["backtest", "--model-path", str(model_path), "--data-path", str(recent_slice),
                           "--k", "3", "--quiet"], capsys)
    assert code == 0, err
    assert "--strategy topk: the model was trained with --label cross_section" in out
    assert "top 3" in out
