"""`skills.pipeline.predict`: the probabilities, actions and top-k book of a date are those the backtest trades on
that date (ML and top-k, per-ticker and cross-sectional models), the table, the files, and the bad inputs."""

import json

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from skills import pipeline
from skills.cli import main
from skills.data import DataError, load_universe, prepare_dataset
from skills.models import LSTMModel, ModelFileError, load_model
from skills.pipeline import OptionError
from skills.strategy import PROBABILITY_LINES, run_backtest, topk_defaults
from skills.strategy.backtest import out_of_sample_start
from skills.strategy.predict import ml_actions

P = list(PROBABILITY_LINES)


def _universe(folder):
    return load_universe(folder, on_bad_rows="drop", on_bad_files="skip")


def _feed_dates(data) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([bt.num2date(t) for t in data.datetime.array])


@pytest.fixture(scope="module")
def ml_backtest(trained, aapl_file):
    """The tiny AAPL model's ML backtest from its out-of-sample start: (model file, result, feed dates, the
    probabilities MLStrategy traded on, bar by bar)."""
    path = trained[1] / "tiny.h5"
    model = load_model(path)
    result = run_backtest(model, str(aapl_file), start=out_of_sample_start(model))
    strategy = result.strategy
    [data] = strategy.datas
    return path, result, _feed_dates(data), strategy.proba[data]


def test_the_probabilities_of_a_date_are_those_the_backtest_traded_on(ml_backtest, aapl_file):
    path, _, dates, proba = ml_backtest
    for i in (0, len(dates) // 2, len(dates) - 1):  # the first, a middle and the last bar traded
        got = pipeline.predict(path, aapl_file, date=dates[i])
        assert got.date == dates[i] and list(got.frame.index) == ["AAPL"]
        # the same windows through the same network; only the batch the window is predicted in differs
        np.testing.assert_allclose(got.frame.loc["AAPL", P].to_numpy(dtype=float), proba[i], rtol=0, atol=1e-6)
    assert pipeline.predict(path, aapl_file).date == dates[-1]  # default: the last bar


def _orders_follow_ml_actions(result, dates, proba) -> set:
    """Bar by bar, the `ml_actions` of the bar's probabilities in the position held gives the order that filled at
    the next open (a buy, a sell or none); returns the actions seen."""
    entry = (result.metrics["confidence_threshold"], result.metrics["down_threshold"])
    signed = result.orders.assign(signed=np.where(result.orders["side"] == "buy", 1, -1) * result.orders["size"])
    position = signed.groupby("date")["signed"].sum().reindex(dates, fill_value=0).cumsum()
    filled = result.orders.set_index("date")["side"]
    seen = set()
    for i in range(len(dates) - 1):
        state = "long" if position.iloc[i] > 0 else "flat"
        action = ml_actions(proba[i], entry, entry)[state]
        seen.add(action)
        assert filled.get(dates[i + 1]) == {"enter long": "buy", "exit": "sell"}.get(action), (dates[i], action)
    return seen


def test_the_actions_are_what_mlstrategy_did_at_the_next_open_bar_by_bar(ml_backtest, aapl_file):
    """`ml_actions` is MLStrategy's rule: under the stored thresholds, and under one that trades about every
    other bar; `predict` states it for a date."""
    path, result, dates, proba = ml_backtest
    _orders_follow_ml_actions(result, dates, proba)
    often = float(np.median(proba[:, [0, 2]]))
    busy = run_backtest(load_model(path), str(aapl_file), confidence_threshold=often, start=dates[0])
    assert len(busy.orders) >= 6 and (busy.strategy.proba[busy.strategy.datas[0]] == proba).all()
    assert {"enter long", "exit", "hold", "nothing"} <= _orders_follow_ml_actions(busy, dates, proba)
    entry = (result.metrics["confidence_threshold"], result.metrics["down_threshold"])
    i = len(dates) // 2
    got = pipeline.predict(path, aapl_file, date=dates[i])
    assert got.rule["threshold_source"] == "val"
    assert (got.rule["confidence_threshold"], got.rule["down_threshold"]) == entry
    row = got.frame.loc["AAPL"]
    assert {"flat": row["if_flat"], "long": row["if_long"]} == ml_actions(row[P].to_numpy(float), entry, entry)
    assert row["class"] == ("down", "flat", "up")[int(np.argmax(row[P].to_numpy(float)))]


def test_shorts_are_stated_when_allowed(ml_backtest, aapl_file):
    path, _, dates, _ = ml_backtest
    lowest = float(pipeline.predict(path, aapl_file, date=dates[3]).frame.loc["AAPL", P].min())
    # every class clears a threshold at the lowest probability: each position turns
    got = pipeline.predict(path, aapl_file, date=dates[3], allow_short=True, confidence_threshold=lowest)
    row = got.frame.loc["AAPL"]
    assert (row["if_flat"], row["if_long"], row["if_short"]) == ("enter long", "reverse to short", "reverse to long")
    assert "enters short or exits (given)" in got.format() and "if short" in got.format()


def test_one_ticker_table_and_files(trained, aapl_file, tmp_path):
    path = trained[1] / "tiny.h5"
    out_json, out_csv = tmp_path / "p.json", tmp_path / "p.csv"
    got = pipeline.predict(path, aapl_file, json_path=out_json, csv_path=out_csv)
    text = got.format()
    assert f"at the close of {got.date.date()}" in text and "chosen on the model's validation split" in text
    row = got.frame.loc["AAPL"]
    assert f"AAPL  {row['p_down']:.4f}  {row['p_flat']:.4f} {row['p_up']:.4f}" in " ".join(text.split("\n"))
    assert got.files == [str(out_json), str(out_csv)]
    written = json.loads(out_json.read_text())
    assert written["date"] == str(got.date.date()) and written["strategy"] == "ml"
    assert written["predictions"][0]["p_up"] == pytest.approx(row["p_up"], abs=1e-12)
    assert written["rule"] == got.rule
    table = pd.read_csv(out_csv, index_col="ticker")
    assert list(table.columns[:4]) == ["date", *P] and table.loc["AAPL", "date"] == str(got.date.date())
    np.testing.assert_allclose(table.loc["AAPL", P].to_numpy(float), row[P].to_numpy(float), rtol=1e-12)
    assert table.loc["AAPL", "if_flat"] == row["if_flat"]


# -- a universe: top-k ------------------------------------------------------------------------------------------


def _topk_equals_the_backtest(path, folder, start_index=3):
    """`predict` on a rebalance date of the top-k backtest: the same scores per ticker, and the book the first
    rebalance (from an empty book) bought."""
    model = load_model(path)
    frames = _universe(folder)
    k, n_drop = topk_defaults(len(frames))
    start = sorted({d for bars in frames.values() for d in bars.index})[-60 + start_index]
    result = run_backtest(model, frames, strategy="topk", k=k, n_drop=n_drop, start=start)
    strategy = result.strategy
    first = strategy.rebalances[0]
    got = pipeline.predict(path, folder, date=first["date"])
    assert got.strategy == "topk" and (got.rule["k"], got.rule["n_drop"]) == (k, n_drop)
    for data in strategy.datas:
        at = _feed_dates(data).get_loc(pd.Timestamp(first["date"]))
        np.testing.assert_allclose(got.frame.loc[data._name, "score"], strategy.scores[data][at], rtol=0, atol=1e-6)
    assert sorted(got.frame.index[got.frame["hold"] == "long"]) == first["long"]
    assert list(got.frame["rank"]) == list(range(1, len(got.frame) + 1))
    assert got.frame["score"].is_monotonic_decreasing
    return got


def test_a_universe_model_ranks_as_the_topk_backtest_and_holds_its_first_book(universe_run, universe_folder):
    got = _topk_equals_the_backtest(universe_run[2], universe_folder)
    assert got.strategy_source == "universe" and len(got.frame) == len(got.tickers) == 10
    text = got.format()
    assert "top 1 by P(up) - P(down), n_drop 1" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "ticker"])
    assert [line.split()[1] for line in lines[header + 1:header + 11]] == list(got.frame.index)


@pytest.fixture(scope="module")
def ranked_model(universe_folder, tmp_path_factory):
    """A tiny LSTM on the universe's features ranked across each date's tickers, labelled cross_section."""
    data = prepare_dataset(_universe(universe_folder), sequence_length=10, cross_section="rank",
                           label="cross_section")
    model = LSTMModel(sequence_length=10, lstm_units=4, num_layers=1)
    model.fit(data, epochs=1, batch_size=256, verbose=0)
    return model.save(tmp_path_factory.mktemp("ranked") / "ranked.h5")


def test_a_cross_sectional_model_predicts_the_universe_at_once_as_the_backtest(ranked_model, universe_folder):
    assert load_model(ranked_model).needs_universe
    got = _topk_equals_the_backtest(ranked_model, universe_folder)
    assert got.strategy_source == "label"


def test_a_cross_sectional_model_refuses_a_universe_that_lacks_its_tickers(ranked_model, universe_folder, capsys):
    frames = _universe(universe_folder)
    dropped = sorted(frames)[0]
    partial = {ticker: bars for ticker, bars in frames.items() if ticker != dropped}
    with pytest.raises(DataError, match=f"the data lack 1 of them \\({dropped}\\)"):
        pipeline.predict(ranked_model, partial)


def test_a_ticker_without_a_bar_on_the_date_is_listed(universe_run, universe_folder):
    frames = dict(_universe(universe_folder))
    last = max(bars.index[-1] for bars in frames.values())
    ended = sorted(frames)[1]
    frames[ended] = frames[ended].iloc[:-3]
    got = pipeline.predict(universe_run[2], frames)
    assert got.date == last and ended not in got.frame.index and len(got.frame) == 9
    assert got.skipped == {ended: f"no bar on {last.date()} (the last before it is "
                                  f"{frames[ended].index[-1].date()})"}
    assert f"no prediction on {last.date()} for 1 ticker(s):" in got.format()


# -- bad input ----------------------------------------------------------------------------------------------------


def test_bad_input_raises_one_line_naming_it(trained, aapl_file, aapl, tmp_path):
    path = trained[1] / "tiny.h5"
    bars = pd.read_csv(aapl_file, index_col=0, parse_dates=True)
    cases = [
        (dict(date="2030-01-02"), OptionError, f"date 2030-01-02 is after the last bar of {aapl_file} "
                                               f"({bars.index[-1].date()})"),
        (dict(date="2000-01-03"), OptionError, "is before the first bar"),
        (dict(date="2017-12-25"), DataError, "AAPL: no bar on 2017-12-25 (the last before it is 2017-12-22)"),
        (dict(date=bars.index[20]), DataError, "21 bars give no complete window of 10 bars"),
        (dict(json_path=tmp_path / "p.txt"), OptionError, "json_path must end in .json"),
        (dict(k=3), OptionError, "k only with strategy topk (got strategy ml)"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error) as info:
            pipeline.predict(path, aapl_file, **kwargs)
        assert message in str(info.value) and "\n" not in str(info.value), kwargs
    with pytest.raises(ModelFileError, match="no such model file"):
        pipeline.predict(tmp_path / "nope.h5", aapl_file)
    assert not list(tmp_path.iterdir())


def test_the_cli_prints_what_the_library_returns(universe_run, universe_folder, spy, capsys):
    calls = spy("predict")
    assert main(["predict", "--model-path", str(universe_run[2]), "--data-path", str(universe_folder),
                 "--quiet"]) == 0
    [got] = calls.returned
    assert capsys.readouterr().out == got.format() + "\n"
    assert main(["predict", "--model-path", str(universe_run[2]), "--data-path", str(universe_folder),
                 "--date", "2030-01-02"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skills predict: error: --date 2030-01-02 is after the last bar") and "\n" not in err
