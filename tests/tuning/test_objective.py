"""The per-epoch objective a trial reports: the validation rank IC that the trainer's early stopping logged is the
figure the trial's own forward pass over the validation windows gives."""

from pathlib import Path

import keras
import pandas as pd
import pytest

from skills.data import prepare_walk_forward
from skills.models import make_model
from skills.tuning.objective import Setup, _EpochReport, _val_figure

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration  # a short fit of a network on a universe slice
def test_the_reported_rank_ic_is_the_validation_rank_ic_of_the_weights_of_that_epoch():
    raw = pd.read_csv(ROOT / "data" / "universe" / "sp500_5yr.csv.gz", parse_dates=["date"])
    keep = sorted(raw["ticker"].unique())[:12]
    raw = raw[raw["ticker"].isin(keep) & (raw["date"] >= "2017-01-01")]
    bars = {t: frame.set_index("date")[["open", "high", "low", "close", "volume"]].astype(float)
            for t, frame in raw.groupby("ticker")}
    (fold, _) = prepare_walk_forward(bars, n_splits=2, sequence_length=5, label="cross_section",
                                     features="price_volume")
    setup = Setup(model="lstm", folds=2, epochs=3, metric="rank_ic")
    model = make_model("lstm", lstm_units=4, num_layers=1)
    reported, direct = [], []

    class Direct(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            direct.append(_val_figure(model, self.model, fold.val, "rank_ic"))

    report = _EpochReport(model, fold.val, setup, 0, [], lambda **kw: reported.append(kw["current"]))
    model.fit(fold, epochs=3, patience=3, batch_size=64, verbose=0, callbacks=[report, Direct()])
    assert len(reported) == len(direct) == 3 and model.history_["val_rank_ic"] == reported
    assert max(abs(a - b) for a, b in zip(reported, direct)) < 1e-6
    assert len(set(reported)) > 1  # the network moved: three different figures, not one constant
