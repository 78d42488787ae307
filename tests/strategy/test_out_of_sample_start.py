"""`out_of_sample_start`: the date a backtest trades from, read from the model's recorded splits."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skills.data import prepare_dataset
from skills.models import LSTMModel, load_model
from skills.strategy import out_of_sample_start

V1 = Path(__file__).resolve().parents[1] / "data" / "models" / "v1_attention_lstm.h5"


@pytest.fixture(scope="module")
def data(aapl):
    return prepare_dataset(aapl.iloc[-300:], sequence_length=10)


@pytest.fixture(scope="module")
def model(data):
    return LSTMModel(sequence_length=10, lstm_units=2, num_layers=1).fit(data, epochs=1, batch_size=256, verbose=0)


def test_default_is_the_first_date_of_the_test_split(model, data, caplog):
    with caplog.at_level(logging.INFO, logger="skills.strategy"):
        start = out_of_sample_start(model)
    first_test = data.test.dates.min()
    assert start == first_test and start > data.val.dates.max()
    assert f"trading from {first_test.date()}" in caplog.text and "out of sample" in caplog.text


def test_a_saved_and_loaded_model_gives_the_same_start(model, tmp_path):
    assert out_of_sample_start(load_model(model.save(tmp_path / "m.h5"))) == out_of_sample_start(model)


def test_a_file_of_format_1_gives_the_start_of_its_test_split():
    assert out_of_sample_start(load_model(V1)) == pd.Timestamp("2017-09-07")


@pytest.mark.parametrize("day, in_sample", [("train_first", True), ("train_last", True), ("val_first", False),
                                            ("test_last", False)])
def test_a_given_start_is_kept_and_warned_about_inside_the_training_range(model, data, caplog, day, in_sample):
    split, end = day.split("_")
    dates = getattr(data, split).dates
    given = dates.min() if end == "first" else dates.max()
    with caplog.at_level(logging.INFO, logger="skills.strategy"):
        assert out_of_sample_start(model, str(given.date())) == given
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warned) == in_sample
    if in_sample:
        assert "in sample" in warned[0].getMessage() and str(data.train.dates.max().date()) in warned[0].getMessage()


def test_a_model_fitted_on_arrays_has_no_start_and_says_so(caplog):
    rng = np.random.default_rng(0)
    model = LSTMModel(sequence_length=5, lstm_units=2, num_layers=1).fit(
        rng.normal(size=(40, 5, 3)).astype("float32"), rng.integers(0, 3, 40), epochs=1, verbose=0)
    with caplog.at_level(logging.INFO, logger="skills.strategy"):
        assert out_of_sample_start(model) is None
    assert "records no test split" in caplog.text
    assert out_of_sample_start(model, "2020-01-02") == pd.Timestamp("2020-01-02")
