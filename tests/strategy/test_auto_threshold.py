"""``confidence_threshold="auto"``: chosen on the validation split at fit time, stored in the model file, traded.

A tiny LSTM fitted for one epoch on real AAPL bars: its P(up) never reaches 0.65, so the seed's threshold places no
trade, while the threshold chosen on its validation windows (the P(up) their top 20 % reach) does.
"""

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from skills.data import prepare_dataset
from skills.models import LSTMModel, ModelFileError, load_model, read_metadata
from skills.strategy import MLStrategy, run_backtest
from skills.strategy.ml_strategy import DOWN, UP

from .test_strategy import _planted, _run

SEQ = 10
FIT = dict(epochs=1, batch_size=64, verbose=0, seed=3)


def _fit(bars, **options):
    data = prepare_dataset(bars, sequence_length=SEQ)
    return data, LSTMModel(sequence_length=SEQ, lstm_units=4, num_layers=1).fit(data, **{**FIT, **options})


@pytest.fixture(scope="module")
def source(aapl):
    """500 real bars the model is fitted on (train / val / test)."""
    return aapl.iloc[-900:-400].copy()


@pytest.fixture(scope="module")
def fitted(source):
    return _fit(source)


@pytest.fixture(scope="module")
def later(aapl):
    """400 real bars after the model's data."""
    return aapl.iloc[-400:].copy()


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_the_threshold_is_the_stated_quantile_of_validation_p_up(source, fitted, share):
    data, model = fitted if share == 0.2 else _fit(source, trade_share=share)
    record = model.metadata_["trading"]
    proba = model.predict_proba(data.val)
    assert record["confidence_threshold"] == pytest.approx(np.quantile(proba[:, UP], 1 - share), abs=1e-7)
    assert record["down_threshold"] == pytest.approx(np.quantile(proba[:, DOWN], 1 - share), abs=1e-7)
    assert record["share"] == share and record["rule"] == "top_share" and record["chosen_on"] == "val"
    assert record["n_val"] == len(data.val)
    assert record["val_dates"] == [str(data.val.dates.min().date()), str(data.val.dates.max().date())]
    traded = np.mean(proba[:, UP] >= record["confidence_threshold"])  # the share of validation days it enters on
    assert abs(traded - share) <= 1.5 / len(proba)


def test_a_share_outside_0_1_is_refused_before_training(fitted):
    data, _ = fitted
    with pytest.raises(ValueError, match="trade_share .*got 1.5"):
        LSTMModel(sequence_length=SEQ, lstm_units=4, num_layers=1).fit(data, trade_share=1.5, **FIT)


def test_arrays_with_validation_data_get_a_threshold_from_it(fitted):
    """(Arrays without validation data get none: tests/models/test_metadata.py.)"""
    data, _ = fitted
    val = (np.asarray(data.val.X), data.val.y)
    model = LSTMModel(sequence_length=SEQ, lstm_units=4, num_layers=1).fit(
        np.asarray(data.train.X), data.train.y, validation_data=val, **FIT)
    record = model.metadata_["trading"]
    assert record["val_dates"] is None and record["n_val"] == len(data.val)
    assert record["confidence_threshold"] == pytest.approx(np.quantile(model.predict_proba(val[0])[:, UP], 0.8))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_the_threshold_round_trips_through_the_model_file(fitted, later, tmp_path, suffix):
    _, model = fitted
    path = model.save(tmp_path / f"m{suffix}")
    assert read_metadata(path)["trading"] == model.metadata_["trading"]
    result = run_backtest(str(path), later, confidence_threshold="auto")
    assert result.metrics["confidence_threshold"] == model.metadata_["trading"]["confidence_threshold"]
    assert result.metrics["threshold_source"] == "val"


def _moved(bars, first, last=None):
    """``bars`` with prices scaled (differently per bar) on ``first`` .. ``last``; earlier bars untouched."""
    bars = bars.copy()
    rows = (bars.index >= first) & (bars.index <= (last if last is not None else bars.index[-1]))
    scale = np.random.default_rng(5).uniform(0.9, 1.1, (rows.sum(), 1)).cumprod(axis=0)
    bars.loc[rows, ["open", "high", "low", "close"]] *= scale
    return bars


def test_it_moves_with_the_validation_bars_and_never_with_the_test_bars(source, fitted):
    data, model = fitted
    test_changed, test_model = _fit(_moved(source, data.test.dates.min()))
    assert not np.allclose(np.asarray(test_changed.test.X), np.asarray(data.test.X))
    assert test_model.metadata_["trading"] == model.metadata_["trading"]  # so the fit is deterministic, too
    val_changed, val_model = _fit(_moved(source, data.val.dates.min(), data.val.dates.max()))
    np.testing.assert_array_equal(np.asarray(val_changed.train.X), np.asarray(data.train.X))
    assert val_model.metadata_["trading"]["confidence_threshold"] != model.metadata_["trading"]["confidence_threshold"]


def test_auto_trades_where_the_seed_threshold_does_not(fitted, later):
    _, model = fitted
    stored = model.metadata_["trading"]
    # the seed's 0.65, or just above the model's highest P(up) on these bars if that reaches 0.65
    fixed = max(0.65, float(model.predict_frame(later)["up"].max()) + 1e-3)
    seed = run_backtest(model, later, confidence_threshold=fixed)
    assert seed.metrics["n_trades"] == 0 and seed.metrics["confidence_threshold"] == fixed
    assert seed.metrics["threshold_source"] == "given"
    auto = run_backtest(model, later, confidence_threshold="auto")
    assert auto.metrics["n_trades"] > 0
    assert (auto.metrics["confidence_threshold"], auto.metrics["down_threshold"]) == (
        stored["confidence_threshold"], stored["down_threshold"])
    default = run_backtest(model, later)  # no number given: the stored threshold
    assert default.metrics["threshold_source"] == "val"
    pd.testing.assert_frame_equal(default.orders, auto.orders)


def test_auto_enters_on_p_up_and_exits_on_p_down_at_their_own_thresholds(fitted, later):
    _, model = fitted
    stored = model.metadata_["trading"]
    up, down = stored["confidence_threshold"], stored["down_threshold"]
    for below, exits in ((1e-4, True), (-1e-4, False)):
        frame = _planted(later, 10, up=up, down=down / 2)  # from bar 10: P(up) at its threshold, P(down) under
        quiet = [down / 2, 1 - down / 2 - up / 2, up / 2]  # before bar 10: both well under their thresholds
        frame.iloc[:10, frame.columns.get_indexer(["p_down", "p_flat", "p_up"])] = quiet
        frame.iloc[60:, frame.columns.get_indexer(["p_down", "p_flat", "p_up"])] = [down + below, 0.0, up / 2]
        frame["p_flat"] = 1 - frame["p_down"] - frame["p_up"]
        strat, fills = _run({"AAPL": frame}, model=model, confidence_threshold="auto")
        assert strat.entry == {UP: up, DOWN: down} and strat.threshold_source == "val"
        assert fills.date.iloc[0] == later.index[11]  # P(up) reaches the stored threshold on bar 10
        assert list(fills.side) == (["buy", "sell"] if exits else ["buy"])
        if exits:
            assert fills.date.iloc[1] == later.index[61]


def _without_trading_record(path, target):
    target.write_bytes(path.read_bytes())
    with h5py.File(target, "a") as handle:
        meta = json.loads(handle.attrs["skills_metadata"])
        del meta["trading"]
        handle.attrs["skills_metadata"] = json.dumps(meta)
    return target


def test_a_file_without_the_record_loads_and_auto_says_what_to_do(fitted, later, tmp_path, data_dir):
    _, model = fitted
    old = _without_trading_record(model.save(tmp_path / "new.h5"), tmp_path / "old.h5")
    loaded = load_model(old)
    assert loaded.metadata_["trading"] is None
    np.testing.assert_allclose(loaded.predict_frame(later), model.predict_frame(later), atol=1e-6)
    message = r"old\.h5: .*\"auto\".*no validation-chosen threshold.*pass a number.*retrain"
    with pytest.raises(ModelFileError, match=message):
        run_backtest(loaded, later, confidence_threshold="auto")
    with pytest.raises(ModelFileError, match=message):
        _run({"AAPL": later}, model=str(old), confidence_threshold="auto")
    default = run_backtest(loaded, later)  # no number and none stored: the seed's 0.65
    assert default.metrics["confidence_threshold"] == 0.65 and default.metrics["threshold_source"] == "default"
    v1 = data_dir.parent / "tests" / "data" / "models" / "v1_attention_lstm.h5"  # format 1 (skills 0.1.0)
    with pytest.raises(ModelFileError, match="v1_attention_lstm.h5: .*no validation-chosen threshold"):
        run_backtest(str(v1), later, confidence_threshold="auto")


def test_the_seed_line_outside_a_cerebro_says_how_to_add_the_strategy(fitted):
    _, model = fitted
    with pytest.raises(TypeError, match=r"^MLStrategy runs inside a backtrader Cerebro.*cerebro\.addstrategy"):
        MLStrategy(model=model, confidence_threshold=0.65)
