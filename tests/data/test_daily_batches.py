"""Daily batches: one batch per date holding all that date's windows, for cross-sectional losses and graph models."""

import keras
import numpy as np
import pytest

from skills.data import DateBatchDataset, load_universe, prepare_dataset
from skills.training import TrainConfig, train

L = 10
TICKERS = ("A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK", "AEE", "AES", "AIG", "AIZ", "ALGN", "ALL", "ALXN",
           "AMAT", "AME", "AMGN", "AMP", "ANDV")  # the first 20 of the bundled universe


@pytest.fixture(scope="module")
def universe(data_dir):
    """20 real tickers of the bundled universe, their last ~140 bars (2017-2018)."""
    frames = load_universe(data_dir / "universe", tickers=TICKERS, on_bad_rows="drop", on_bad_files="skip")
    assert sorted(frames) == list(TICKERS)
    return {t: bars.loc["2017-07":] for t, bars in frames.items()}


@pytest.fixture(scope="module")
def data(universe):
    return prepare_dataset(universe, sequence_length=L, features="price_volume", label="cross_section")


def test_each_batch_is_every_window_of_one_date_in_ticker_order(data):
    split = data.train
    ds = split.dataset(batch_by="date", seed=3)
    assert isinstance(ds, DateBatchDataset) and len(ds) == len(np.unique(split.dates)) > 50
    seen = []
    for b in range(len(ds)):
        idx = ds.batches[ds._order[b]]
        x, y = ds[b]
        date = ds.batch_date(b)
        assert (split.dates[idx] == date).all()
        assert len(idx) == (split.dates == date).sum()  # all windows of that date
        assert list(split.tickers[idx]) == sorted(split.tickers[idx])
        np.testing.assert_array_equal(x, split.X[idx])
        np.testing.assert_array_equal(y, split.y[idx])
        seen.extend(idx)
    assert sorted(seen) == list(range(len(split)))  # every window once per epoch
    assert max(len(b) for b in ds.batches) == 20


def test_training_dates_are_shuffled_each_epoch_and_the_others_kept_in_order(data):
    ds = data.train.dataset(batch_by="date", seed=1)
    first = [ds.batch_date(b) for b in range(len(ds))]
    ds.on_epoch_end()
    second = [ds.batch_date(b) for b in range(len(ds))]
    assert first != second and sorted(first) == sorted(second) and first != sorted(first)
    again = data.train.dataset(batch_by="date", seed=1)
    assert [again.batch_date(b) for b in range(len(again))] == first  # the seed decides
    val = data.val.dataset(batch_by="date")
    dates = [val.batch_date(b) for b in range(len(val))]
    val.on_epoch_end()
    assert dates == sorted(dates) == [val.batch_date(b) for b in range(len(val))]


def test_bad_batch_options_are_refused(data):
    with pytest.raises(ValueError, match="batch_by"):
        data.train.dataset(batch_by="ticker")
    with pytest.raises(ValueError, match="one date per window"):
        DateBatchDataset(data.train.X, data.train.y, dates=data.train.dates[:-1])
    config = TrainConfig(epochs=1, batch_by="date", verbose=0)
    with pytest.raises(ValueError, match="Split"):
        train(lambda: None, (np.asarray(data.train.X), data.train.y), config=config)


class _Dates(keras.callbacks.Callback):
    """Counts the training batches of each epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.mark.slow
def test_a_model_fits_one_epoch_on_daily_batches(data):
    from skills.models import LSTMModel

    counter = _Dates()
    model = LSTMModel(sequence_length=L, lstm_units=4)
    model.fit(data, epochs=1, batch_by="date", class_weight="balanced", verbose=0, callbacks=[counter])
    assert counter.batches == len(np.unique(data.train.dates))
    assert model.metadata_["training"]["batch_by"] == "date"
    assert np.isfinite(model.history_["loss"]).all() and len(model.history_["val_loss"]) == 1
