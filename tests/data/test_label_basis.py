"""The label basis: open t+1 -> open t+1+h (what an order placed after bar t's close earns) by default, close
t -> close t+h as an option; on real bars, without look-ahead, through to prepare_dataset's forward returns."""

import json

import numpy as np
import pandas as pd
import pytest

from skills.data import DataError, LabelRule, load_ohlcv, prepare_dataset, prepare_walk_forward
from skills.data.labels import LABEL_BASES, cross_section_labels, forward_return, make_labels

O2O, C2C = LABEL_BASES
TICKERS = ("AAPL", "GOOG", "NVDA", "ORCL", "YHOO")


def _direct_open_to_open(bars, horizon):
    """open[t+1+h] / open[t+1] - 1 by position, NaN where t+1+h is past the last bar."""
    o = bars["open"].to_numpy(dtype=float)
    out = np.full(len(o), np.nan)
    n = len(o) - horizon - 1
    out[:n] = o[1 + horizon:1 + horizon + n] / o[1:1 + n] - 1.0
    return out


def test_the_bases_and_the_default():
    assert LABEL_BASES == ("open_to_open", "close_to_close")
    assert LabelRule().basis == O2O and LabelRule(method="cross_section").basis == O2O
    with pytest.raises(ValueError, match="label basis must be one of"):
        LabelRule(basis="close_to_open")


@pytest.mark.parametrize("horizon", [1, 5])
def test_open_to_open_return_is_the_direct_computation_on_real_bars(aapl, horizon):
    r = forward_return(aapl, horizon)
    expected = _direct_open_to_open(aapl, horizon)
    assert r.index.equals(aapl.index)
    np.testing.assert_allclose(r.to_numpy(), expected, rtol=1e-12, equal_nan=True)
    assert r.iloc[-(horizon + 1):].isna().all() and r.iloc[:-(horizon + 1)].notna().all()
    # it is not the close-to-close return, which a DataFrame or a close Series give alike
    c = aapl["close"].to_numpy()
    c2c = forward_return(aapl, horizon, C2C)
    np.testing.assert_allclose(c2c.to_numpy()[:-horizon], c[horizon:] / c[:-horizon] - 1.0, rtol=1e-12)
    pd.testing.assert_series_equal(forward_return(aapl["close"], horizon, C2C), c2c, check_names=False)
    assert np.nanmax(np.abs(r.to_numpy() - c2c.to_numpy())) > 0.01
    # the labels follow it: the fixed band on the open-to-open return
    labels = make_labels(aapl, horizon=horizon, threshold=0.01)
    want = np.where(expected > 0.01, 2.0, np.where(expected < -0.01, 0.0, 1.0))
    want[np.isnan(expected)] = np.nan
    np.testing.assert_array_equal(labels.to_numpy(), want)


def test_no_look_ahead_and_the_open_of_t_plus_1_matters(aapl):
    horizon, t = 3, 1500
    rule = LabelRule(horizon=horizon, method="volatility")
    base_r, base_y = forward_return(aapl, horizon), rule.apply(aapl)
    # every bar after t+1+h rewritten: no return or label at or before t moves
    later = aapl.copy()
    after = np.arange(len(aapl)) > t + 1 + horizon
    later.loc[after, ["open", "high", "low", "close"]] *= np.linspace(0.5, 2.0, after.sum())[:, None]
    pd.testing.assert_series_equal(forward_return(later, horizon).iloc[:t + 1], base_r.iloc[:t + 1])
    pd.testing.assert_series_equal(rule.apply(later).iloc[:t + 1], base_y.iloc[:t + 1])
    assert not forward_return(later, horizon).iloc[t + 1:].equals(base_r.iloc[t + 1:])
    # the open of t+1 (the fill) moves label t: 20% lower makes the trade earn about 25% more
    t = int(np.flatnonzero((base_y == 0).to_numpy())[100])  # a real "down" label
    cheaper = aapl.copy()
    cheaper.iloc[t + 1, cheaper.columns.get_loc("open")] *= 0.8
    assert forward_return(cheaper, horizon).iloc[t] == pytest.approx((1 + base_r.iloc[t]) / 0.8 - 1)
    assert rule.apply(cheaper).iloc[t] == 2.0
    # the close of bar t (the overnight move after it) is no part of the tradable return, but of close_to_close
    moved = aapl.copy()
    moved.iloc[t, moved.columns.get_loc("close")] *= 0.9
    assert forward_return(moved, horizon).iloc[t] == base_r.iloc[t]
    assert forward_return(moved, horizon, C2C).iloc[t] != forward_return(aapl, horizon, C2C).iloc[t]


def test_reach_is_the_bars_a_label_reads():
    assert [LabelRule(horizon=h).reach for h in (1, 5)] == [2, 6]
    assert [LabelRule(horizon=h, basis=C2C).reach for h in (1, 5)] == [1, 5]
    assert LabelRule().columns == ("open", "close") and LabelRule(basis=C2C).columns == ("close",)


def test_records_round_trip_and_old_records_read_as_close_to_close():
    for rule in (LabelRule(horizon=2, method="volatility"), LabelRule(method="cross_section", basis=C2C)):
        record = json.loads(json.dumps(rule.to_dict()))
        assert record["basis"] == rule.basis and LabelRule.from_dict(record) == rule
    # what every model file written before the basis holds: no "basis" key, labels made close to close
    old = {"horizon": 1, "method": "fixed", "threshold": 0.005, "vol_window": 20, "edges": None}
    assert LabelRule.from_dict(old).basis == C2C and LabelRule.from_dict(old).reach == 1


def test_bad_input_is_a_clear_error(aapl):
    with pytest.raises(ValueError, match="open_to_open returns need the open prices"):
        forward_return(aapl["close"])
    with pytest.raises(ValueError, match="open_to_open returns need the open prices"):
        make_labels(aapl["close"])
    with pytest.raises(DataError, match="missing column 'open'"):
        forward_return(aapl.drop(columns="open"))
    with pytest.raises(DataError, match="missing column 'open'"):
        prepare_dataset(aapl.drop(columns="open"), features=["rsi_14"])
    with pytest.raises(ValueError, match="label basis must be one of"):
        forward_return(aapl, 1, "overnight")


@pytest.fixture(scope="module")
def universe(data_dir):
    frames = {t: load_ohlcv(data_dir / f"{t}.csv").loc["2006":"2009"] for t in TICKERS}
    assert all(f.index.equals(frames["AAPL"].index) for f in frames.values())  # the same dates
    return frames


def test_cross_section_labels_rank_the_open_to_open_returns(universe):
    horizon = 2
    labels = cross_section_labels(universe, horizon)
    pd.testing.assert_frame_equal(LabelRule(horizon=horizon, method="cross_section").apply_universe(universe),
                                  labels)
    returns = pd.DataFrame({t: _direct_open_to_open(b, horizon) for t, b in universe.items()},
                           index=universe["AAPL"].index)
    labelled = returns.dropna()
    assert len(labelled) > 900 and labels.loc[labelled.index].notna().all().all()
    # with 5 tickers: the lowest return is down, the highest up, the three between flat
    want = np.ones(labelled.shape)
    want[np.arange(len(want)), labelled.to_numpy().argmin(axis=1)] = 0.0
    want[np.arange(len(want)), labelled.to_numpy().argmax(axis=1)] = 2.0
    np.testing.assert_array_equal(labels.loc[labelled.index].to_numpy(), want)
    assert labels.iloc[-(horizon + 1):].isna().all().all()
    # the basis matters: ranked close to close, a good share of the dates come out otherwise
    c2c = cross_section_labels(universe, horizon, basis=C2C).loc[labelled.index]
    assert (c2c.to_numpy() != want).any(axis=1).mean() > 0.3


def test_prepare_dataset_forward_returns_are_on_the_basis_asked_for(aapl):
    bars = aapl.iloc[:900]
    for basis in LABEL_BASES:
        p = prepare_dataset(bars, sequence_length=10, horizon=2, label_basis=basis)
        assert p.label_rule.basis == basis and p.meta["label_rule"]["basis"] == basis
        assert f"label basis: {basis}" in p.summary()
        expected = (_direct_open_to_open(bars, 2) if basis == O2O
                    else forward_return(bars["close"], 2, C2C).to_numpy())
        for split in (p.train, p.val, p.test):
            rows = bars.index.get_indexer(split.dates)
            np.testing.assert_allclose(split.forward_returns, expected[rows], rtol=1e-12)
            np.testing.assert_array_equal(split.y, make_labels(bars, 2, basis=basis).to_numpy()[rows])
    folds = prepare_walk_forward(bars, n_splits=2, sequence_length=10, label="quantile")
    assert [f.label_rule.basis for f in folds] == [O2O, O2O] and [f.gap for f in folds] == [2, 2]
    # a label rule given whole, or as a record, must agree with label_basis
    with pytest.raises(ValueError, match="basis 'close_to_close' differs"):
        prepare_dataset(bars, label=LabelRule(basis=C2C))
    p = prepare_dataset(bars, sequence_length=10, label={"method": "volatility"})
    assert p.label_rule.basis == O2O and p.label_rule.method == "volatility"
