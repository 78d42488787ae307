"""A model trained on cross-sectionally ranked features backtests a universe; later bars change nothing earlier."""

import numpy as np
import pandas as pd
import pytest

from skills.data import load_universe, prepare_dataset
from skills.models import LSTMModel, ModelFileError
from skills.strategy import run_backtest

TICKERS = ["A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK", "AEE", "AES", "AIG", "AIZ"]
L = 8


@pytest.fixture(scope="module")
def trained(data_dir):
    universe = load_universe(data_dir / "universe", tickers=TICKERS)
    frames = {t: bars.loc["2016-06":] for t, bars in universe.items()}
    data = prepare_dataset(frames, sequence_length=L, label="cross_section", cross_section="rank")
    model = LSTMModel(sequence_length=L, lstm_units=4, num_layers=1).fit(data, epochs=1, batch_size=256, verbose=0)
    return frames, data, model


@pytest.mark.slow
def test_predict_universe_gives_the_test_splits_probabilities(trained):
    frames, data, model = trained
    assert model.needs_universe
    with pytest.raises(ModelFileError, match="predict_universe"):
        model.predict_frame(frames["AAL"])
    got = model.predict_universe(frames)
    expected = model.predict_proba(data.test)
    for ticker in ("AAL", "AIZ"):
        mine = data.test.tickers == ticker
        np.testing.assert_allclose(got[ticker].loc[data.test.dates[mine]].to_numpy(), expected[mine], atol=1e-6)


@pytest.mark.slow
def test_changing_bars_after_a_date_leaves_earlier_scores_and_orders_unchanged(trained):
    frames, data, model = trained
    start = data.bounds.test[0]
    cut = start + pd.Timedelta(days=40)  # inside the traded block
    before = run_backtest(model, frames, strategy="topk", k=3, n_drop=1, rebalance=2, start=start)
    changed = {t: bars.copy() for t, bars in frames.items()}
    for i, bars in enumerate(changed.values()):
        later = bars.index >= cut
        bars.loc[later, ["open", "high", "low", "close"]] *= 1.0 + 0.2 * (i % 5)
    after = run_backtest(model, changed, strategy="topk", k=3, n_drop=1, rebalance=2, start=start)
    old, new = model.predict_universe(frames), model.predict_universe(changed)
    for ticker in frames:
        early = old[ticker].index < cut
        pd.testing.assert_frame_equal(old[ticker][early], new[ticker][new[ticker].index < cut])
    # orders filled before the cut (an order decided on the last bar before it fills at the changed open)
    decided_before = before.orders[before.orders["date"] < cut].reset_index(drop=True)
    assert len(decided_before) > 0
    pd.testing.assert_frame_equal(decided_before, after.orders[after.orders["date"] < cut].reset_index(drop=True))
    assert not before.orders.equals(after.orders)  # the later bars do move the later orders
    pd.testing.assert_series_equal(before.equity[before.equity.index < cut], after.equity[after.equity.index < cut])
