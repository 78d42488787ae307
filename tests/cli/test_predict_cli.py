"""``python -m skills predict`` through main([...]): the table on one ticker and on a slice of the bundled universe,
the JSON and CSV files, and bad input as one line and exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from skills.cli import main
from skills.data import prepare_dataset
from skills.models import LSTMModel
from skills.strategy import topk_defaults

ROOT = Path(__file__).resolve().parents[2]
P = ["p_down", "p_flat", "p_up"]


@pytest.fixture(scope="module")
def model(tmp_path_factory, aapl_csv):
    """A tiny LSTM fitted on the last 600 real AAPL bars (its validation-chosen thresholds stored in the file)."""
    data = prepare_dataset(pd.read_csv(aapl_csv, index_col=0, parse_dates=True), sequence_length=10)
    network = LSTMModel(sequence_length=10, lstm_units=4, num_layers=1)
    network.fit(data, epochs=1, batch_size=64, verbose=0)
    return network.save(tmp_path_factory.mktemp("predict_model") / "m.keras")


@pytest.fixture(scope="module")
def universe_slice(tmp_path_factory):
    """12 tickers of the bundled universe from 2017-03-01, as a long-format file in a folder, and the 11 that load
    (APTV's 44 bars are too short a history: it is skipped, and listed)."""
    raw = pd.read_csv(ROOT / "data" / "universe" / "sp500_5yr.csv.gz", dtype=str)
    keep = sorted(raw["ticker"].unique())[20:32]
    folder = tmp_path_factory.mktemp("predict_universe")
    raw[raw["ticker"].isin(keep) & (raw["date"] >= "2017-03-01")].to_csv(folder / "slice.csv.gz", index=False)
    return folder, [ticker for ticker in keep if ticker != "APTV"]


def _table(out: str) -> list[list[str]]:
    """The rows of the printed table: the header line (its first word ``ticker`` or ``rank``) to the first
    line that is not a row."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] in (["ticker"], ["rank"]))
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() or line.split()[0].endswith(":") or line.startswith(("no prediction", "(", "wrote")):
            break
        rows.append(line.split())
    return rows


def test_one_ticker_prints_its_probabilities_and_actions_and_writes_json_and_csv(model, aapl_csv, tmp_path, capsys):
    out_json, out_csv = tmp_path / "p.json", tmp_path / "p.csv"
    assert main(["predict", "--model-path", str(model), "--data-path", str(aapl_csv), "--json", str(out_json),
                 "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    last = pd.read_csv(aapl_csv, index_col=0).index[-1]
    assert f"at the close of {last} (orders fill at the next open) on AAPL:" in out
    assert "(chosen on the model's validation split)" in out and f"wrote {out_json}, {out_csv}" in out
    [row] = _table(out)
    written = json.loads(out_json.read_text())
    [record] = written["predictions"]
    assert row == ["AAPL", *(f"{record[p]:.4f}" for p in P), record["class"], *record["if_flat"].split(),
                   *record["if_long"].split()]
    assert written["date"] == last and written["rule"]["threshold_source"] == "val"
    table = pd.read_csv(out_csv)
    assert table.loc[0, "ticker"] == "AAPL" and table.loc[0, "date"] == last
    assert table.loc[0, P].tolist() == pytest.approx([record[p] for p in P], abs=1e-12)


def test_a_universe_slice_prints_the_ranking_and_the_topk_book(model, universe_slice, tmp_path, capsys):
    folder, tickers = universe_slice
    out_json = tmp_path / "u.json"
    assert main(["predict", "--model-path", str(model), "--data-path", str(folder), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    k, n_drop = topk_defaults(len(tickers))
    assert f"top {k} by P(up) - P(down), n_drop {n_drop}" in out
    assert "loaded 11 of 12 tickers; skipped 1 file(s)" in out and "skipped APTV: 44 usable row(s)" in out
    rows = _table(out)
    assert [int(r[0]) for r in rows] == list(range(1, 12)) and sorted(r[1] for r in rows) == tickers
    scores = [float(r[5]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert [r[-1] for r in rows[:k]] == ["long"] * k and all(r[-1] != "long" for r in rows[k:])
    written = json.loads(out_json.read_text())
    assert written["strategy"] == "topk" and written["strategy_source"] == "universe"
    assert [p["ticker"] for p in written["predictions"]] == [r[1] for r in rows]
    for p in written["predictions"]:
        assert p["score"] == pytest.approx(p["p_up"] - p["p_down"], abs=1e-12)


def test_a_past_date_predicts_from_the_bars_up_to_it(model, aapl_csv, capsys):
    assert main(["predict", "--model-path", str(model), "--data-path", str(aapl_csv), "--date", "2017-06-01"]) == 0
    out = capsys.readouterr().out
    assert "at the close of 2017-06-01" in out and "from the bars up to it" in out and len(_table(out)) == 1


@pytest.mark.parametrize("case, message", [
    ("missing model", "--model-path {tmp}/nope.keras: no such file"),
    ("missing data", "--data-path {tmp}/nope.csv: no such file or folder"),
    ("date beyond the data", "--date 2030-01-02 is after the last bar of"),
    ("date not a bar", "AAPL: no bar on 2017-12-25 (the last before it is 2017-12-22)"),
    ("too few bars", "25 bars give no complete window of 10 bars"),
    ("bad csv suffix", "--csv must end in .csv, got {tmp}/p.txt"),
])
def test_bad_input_is_one_line_and_exit_2(model, aapl_csv, tmp_path, capsys, case, message):
    argv = {"missing model": ["--model-path", f"{tmp_path}/nope.keras"],
            "missing data": ["--data-path", f"{tmp_path}/nope.csv"],
            "date beyond the data": ["--date", "2030-01-02"],
            "date not a bar": ["--date", "2017-12-25"],
            "too few bars": ["--data-path", str(tmp_path / "short" / "AAPL.csv")],
            "bad csv suffix": ["--csv", f"{tmp_path}/p.txt"]}[case]
    if case == "too few bars":
        (tmp_path / "short").mkdir()
        pd.read_csv(aapl_csv, index_col=0).iloc[:25].to_csv(tmp_path / "short" / "AAPL.csv")
    before = sorted(tmp_path.rglob("*"))
    code = main(["predict", "--model-path", str(model), "--data-path", str(aapl_csv), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("skills predict: error: ") and message.format(tmp=tmp_path) in err, err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.integration
def test_the_command_runs_in_a_fresh_process(model, aapl_csv, tmp_path):
    out_csv = tmp_path / "p.csv"
    done = subprocess.run([sys.executable, "-m", "skills", "predict", "--model-path", str(model), "--data-path",
                           str(aapl_csv), "--csv", str(out_csv)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    [row] = _table(done.stdout)
    assert row[0] == "AAPL" and pd.read_csv(out_csv)["ticker"].tolist() == ["AAPL"]
