"""``python -m skills backtest`` through main([...]) on a tiny model trained by the train command."""

import json

import pytest

from skills.cli import main

TINY = ["--epochs", "1", "--sequence-length", "10", "--lstm-units", "8", "--attention-units", "8",
        "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, aapl):
    """A model trained by ``skills train`` on the last 700 real AAPL bars, and that CSV."""
    folder = tmp_path_factory.mktemp("bt")
    csv = folder / "AAPL.csv"
    aapl.iloc[-700:].to_csv(csv)
    path = folder / "model.h5"
    assert main(["train", "--data-path", str(csv), "--model-path", str(path), *TINY]) == 0
    return path, csv, json.loads((folder / "model.report.json").read_text())


def test_backtest_prints_the_table_and_writes_plot_and_json(trained, tmp_path, capsys):
    path, csv, report = trained
    out_png, out_json = tmp_path / "eq.png", tmp_path / "bt.json"
    code = main(["backtest", "--model-path", str(path), "--data-path", str(csv), "--confidence-threshold", "0.34",
                 "--plot", str(out_png), "--json", str(out_json)])
    assert code == 0
    captured = capsys.readouterr()
    test_start = report["data"]["date_ranges"]["test"][0]
    assert f"trading from {test_start}" in captured.err  # out of sample by default
    for row in ("total return", "Sharpe (ann.)", "max drawdown", "trades", "buy & hold"):
        assert row in captured.out
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    written = json.loads(out_json.read_text())
    assert written["metrics"]["start"] == test_start
    assert set(written) >= {"metrics", "orders", "equity", "buy_and_hold", "flags"}
    assert written["orders"] and all(order["date"] > test_start for order in written["orders"])


def test_the_default_threshold_is_the_one_chosen_on_validation_and_stored_in_the_file(trained, capsys):
    path, csv, report = trained
    from skills.models import read_metadata

    stored = read_metadata(path)["trading"]
    assert main(["backtest", "--model-path", str(path), "--data-path", str(csv)]) == 0
    default = capsys.readouterr().out
    assert f"P(up) >= {stored['confidence_threshold']:.4g}" in default
    assert "chosen on the model's validation split" in default
    assert main(["backtest", "--model-path", str(path), "--data-path", str(csv), "--confidence-threshold", "auto"]) == 0
    assert capsys.readouterr().out == default
    assert main(["backtest", "--model-path", str(path), "--data-path", str(csv), "--confidence-threshold", "0.65"]) == 0
    assert "P(up) >= 0.65, P(down) >= 0.65 (given)" in capsys.readouterr().out


def test_start_inside_training_warns_that_it_is_in_sample(trained, capsys):
    path, csv, report = trained
    code = main(["backtest", "--model-path", str(path), "--data-path", str(csv), "--start", "2016-01-04"])
    assert code == 0
    assert "in sample" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["missing model", "not a model", "bad csv", "bad threshold", "bad json suffix",
                                  "start after end"])
def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys, case):
    path, csv, _ = trained
    model, data, extra = str(path), str(csv), []
    if case == "missing model":
        model = str(tmp_path / "nope.h5")
    elif case == "not a model":
        (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all")
        model = str(tmp_path / "junk.h5")
    elif case == "bad csv":
        (tmp_path / "bad.csv").write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,x,10\n")
        data = str(tmp_path / "bad.csv")
    elif case == "bad threshold":
        extra = ["--confidence-threshold", "1.5"]
    elif case == "bad json suffix":
        extra = ["--json", str(tmp_path / "out.txt")]
    else:
        extra = ["--start", "2018-01-01", "--end", "2017-01-01"]
    try:
        code = main(["backtest", "--model-path", model, "--data-path", data, "--plot", str(tmp_path / "eq.png"),
                     *extra])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "eq.png").exists() and not (tmp_path / "out.txt").exists()
