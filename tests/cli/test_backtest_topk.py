"""``python -m skills backtest --strategy topk`` through main([...]) on a tiny LSTM and a three-ticker folder."""

import json

import pytest

from skills.cli import main
from skills.data import load_ohlcv, prepare_dataset

TICKERS = ("AAPL", "GOOG", "NVDA")


@pytest.fixture(scope="module")
def universe(tmp_path_factory, data_dir):
    """A folder of three real tickers' 2013-2014 bars, and a one-layer 2-unit LSTM fitted for one epoch on them."""
    from skills.models import make_model

    folder = tmp_path_factory.mktemp("universe")
    frames = {t: load_ohlcv(data_dir / f"{t}.csv").loc["2013-01-01":"2014-12-31"] for t in TICKERS}
    for ticker, frame in frames.items():
        frame[["open", "high", "low", "close", "volume"]].to_csv(folder / f"{ticker}.csv")
    model = make_model("lstm", lstm_units=2, num_layers=1, sequence_length=10).fit(
        prepare_dataset(frames, sequence_length=10), epochs=1, batch_size=256, verbose=0)
    path = model.save(tmp_path_factory.mktemp("model") / "tiny.h5")
    return path, folder, model


def test_topk_prints_the_table_beside_the_equal_weight_universe_and_writes_json(universe, tmp_path, capsys):
    path, folder, model = universe
    out_json, out_png = tmp_path / "topk.json", tmp_path / "eq.png"
    code = main(["backtest", "--model-path", str(path), "--data-path", str(folder), "--strategy", "topk", "--k", "1",
                 "--n-drop", "1", "--rebalance", "5", "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    captured = capsys.readouterr()
    test_start = model.metadata_["data"]["date_ranges"]["test"][0]
    assert f"trading from {test_start}" in captured.err        # out of sample by default, as for ml
    assert "top 1, rebalance every 5 bar(s), n_drop 1" in captured.out
    for row in ("excess return", "info. ratio", "turnover", "max drawdown", "equal weight"):
        assert row in captured.out
    written = json.loads(out_json.read_text())
    assert set(written) >= {"metrics", "orders", "equity", "equal_weight", "flags"}
    m = written["metrics"]
    assert m["start"] == test_start and m["model_calls"] == len(TICKERS) and m["n_rebalances"] >= 1
    assert {"excess_annual_return", "information_ratio", "turnover", "benchmark_return"} <= set(m)
    assert written["orders"] and all(order["date"] > test_start for order in written["orders"])
    assert {order["ticker"] for order in written["orders"]} <= set(TICKERS)
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_long_short_opens_one_long_and_one_short(universe, tmp_path, capsys):
    path, folder, _ = universe
    out_json = tmp_path / "ls.json"
    code = main(["backtest", "--model-path", str(path), "--data-path", str(folder), "--strategy", "topk", "--k", "1",
                 "--long-short", "--start", "2014-06-02", "--json", str(out_json)])
    assert code == 0
    assert "top 1 long-short" in capsys.readouterr().out
    orders = json.loads(out_json.read_text())["orders"]
    assert orders
    first_day = [order for order in orders if order["date"] == orders[0]["date"]]
    assert sorted(order["side"] for order in first_day) == ["buy", "sell"]   # one long, one short, from flat


@pytest.mark.parametrize("extra, text", [
    (["--k", "2"], "only with --strategy topk"),
    (["--strategy", "ml", "--long-short"], "only with --strategy topk"),
    (["--n-drop", "1", "--rebalance", "5"], "--n-drop, --rebalance only with --strategy topk"),
    (["--strategy", "topk", "--confidence-threshold", "0.5"], "only with --strategy ml"),
    (["--strategy", "topk", "--allow-short"], "only with --strategy ml"),
    (["--strategy", "topk", "--k", "4"], "--k 4 is more than the 3 ticker(s)"),
    (["--strategy", "topk", "--k", "2", "--long-short"], "--k 2 is more than the 1 ticker(s)"),
    (["--strategy", "topk", "--k", "0"], "--k"),
    (["--strategy", "topk", "--n-drop", "-1"], "--n-drop"),
    (["--strategy", "topk", "--rebalance", "0"], "--rebalance"),
    (["--strategy", "best"], "--strategy"),
])
def test_bad_flag_combinations_are_one_line_and_exit_2(universe, tmp_path, capsys, extra, text):
    path, folder, _ = universe
    try:
        code = main(["backtest", "--model-path", str(path), "--data-path", str(folder), "--json",
                     str(tmp_path / "out.json"), *extra])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and text in err[0], err
    assert not (tmp_path / "out.json").exists()
