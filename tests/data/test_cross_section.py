"""Cross-sectional labels and per-date cross-sectional normalisation of the features."""

import json

import numpy as np
import pandas as pd
import pytest

from skills.data.dataset import prepare_dataset, prepare_walk_forward
from skills.data.features import CROSS_SECTION_MODES, compute_features, cross_section_normalise
from skills.data.io import load_ohlcv
from skills.data.labels import LABEL_METHODS, LabelRule, cross_section_labels, make_labels

TICKERS = ("ORCL", "NVDA", "YHOO", "AAPL", "GOOG")
L = 10
nan = np.nan


@pytest.fixture(scope="module")
def universe(data_dir):
    """Five real tickers over a common date range (2005-2010)."""
    return {t: load_ohlcv(data_dir / f"{t}.csv").loc["2005":"2010"] for t in TICKERS}


# -- labels on hand-made closes (the close-to-close basis) -----------------------------------------

C2C = "close_to_close"

D = pd.date_range("2020-01-01", periods=6, freq="D")
HAND = {  # C starts one day late, D three days late: on D[0] only A and B have a forward return
    "A": pd.Series([100, 101, 103, 102, 104, 104], index=D, dtype=float),
    "B": pd.Series([50, 49, 50, 51, 50, 52], index=D, dtype=float),
    "C": pd.Series([10.5, 10.4, 10.6, 10.5, 10.9], index=D[1:]),
    "D": pd.Series([20, 21, 19], index=D[3:], dtype=float),
}


def test_cross_section_is_a_label_method():
    assert "cross_section" in LABEL_METHODS


def test_hand_made_labels_horizon_1():
    # forward returns, by hand:      A       B       C       D
    #   D0 (2 tickers: no label)   +1.0%   -2.0%     .       .
    #   D1                         +1.98%  +2.04%  -0.95%    .     -> C down, A flat, B up
    #   D2                         -0.97%  +2.0%   +1.92%    .     -> A down, C flat, B up
    #   D3 (n=4: one down, one up) +1.96%  -1.96%  -0.94%  +5.0%   -> B down, A C flat, D up
    #   D4                          0.0%   +4.0%   +3.81%  -9.52%  -> D down, A C flat, B up
    #   D5: no forward return for anyone
    expected = pd.DataFrame({"A": [nan, 1, 0, 1, 1, nan], "B": [nan, 2, 2, 0, 2, nan],
                             "C": [nan, 0, 1, 1, 1, nan], "D": [nan, nan, nan, 2, 0, nan]}, index=D)
    got = cross_section_labels(HAND, horizon=1, basis=C2C)
    pd.testing.assert_frame_equal(got, expected, check_names=False)
    # a wide frame of closes (NaN where a ticker has no bar) gives the same labels
    pd.testing.assert_frame_equal(cross_section_labels(pd.DataFrame(HAND), 1, basis=C2C), expected,
                                  check_names=False)
    # min_tickers 4: only the dates with all four tickers are labelled
    strict = cross_section_labels(HAND, horizon=1, min_tickers=4, basis=C2C)
    assert strict.notna().any(axis=1).tolist() == [False, False, False, True, True, False]


def test_hand_made_labels_horizon_2():
    #   D1: A +0.99%, B +4.08%, C +0.95%            -> C down, A flat, B up
    #   D2: A +0.97%, B 0.0%,   C +0.96%            -> B down, C flat, A up
    #   D3: A +1.96%, B +1.96%, C +2.83%, D -5.0%   -> D down, A B flat, C up
    #   D0 has two tickers; D4, D5 are the last two bars of every ticker: no label
    expected = pd.DataFrame({"A": [nan, 1, 2, 1, nan, nan], "B": [nan, 2, 0, 1, nan, nan],
                             "C": [nan, 0, 1, 2, nan, nan], "D": [nan, nan, nan, 0, nan, nan]}, index=D)
    pd.testing.assert_frame_equal(cross_section_labels(HAND, horizon=2, basis=C2C), expected, check_names=False)
    rule = LabelRule(horizon=2, method="cross_section", basis=C2C)
    pd.testing.assert_frame_equal(rule.apply_universe(HAND), expected, check_names=False)


def test_ties_break_by_ticker_name_whatever_the_input_order():
    flat = pd.Series([1.0, 1.0, 1.0], index=D[:3])
    for order in (("A", "B", "C"), ("C", "A", "B"), ("B", "C", "A")):
        got = cross_section_labels({t: flat for t in order}, basis=C2C)
        assert list(got.columns) == list(order)
        assert got.loc[D[0], ["A", "B", "C"]].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("basis, extra", [("open_to_open", 1), ("close_to_close", 0)])
def test_labels_are_market_neutral_on_real_tickers(universe, basis, extra):
    for n in range(3, len(TICKERS) + 1):
        for horizon in (1, 5):
            labels = cross_section_labels({t: universe[t] for t in TICKERS[:n]}, horizon, basis=basis)
            labelled = labels.dropna(how="all")
            assert len(labelled) > 1000
            down, up = (labelled == 0).sum(axis=1), (labelled == 2).sum(axis=1)
            assert (down == up).all() and (down == n // 3).all()
            reach = horizon + extra  # the last bars whose label would read past the data have none
            assert labels.iloc[-reach:].isna().all().all() and labels.iloc[-reach - 1].notna().all()


def test_bad_arguments_and_single_ticker_use_raise(universe):
    with pytest.raises(ValueError, match="min_tickers"):
        cross_section_labels(HAND, min_tickers=2)
    with pytest.raises(ValueError, match="horizon"):
        cross_section_labels(HAND, horizon=0)
    with pytest.raises(ValueError, match="cross_section_labels"):
        make_labels(universe["AAPL"], method="cross_section")
    with pytest.raises(ValueError, match="bars must be a non-empty dict"):
        cross_section_labels([1, 2, 3])
    with pytest.raises(ValueError, match="open_to_open labels need each ticker's bars"):
        cross_section_labels(pd.DataFrame(HAND))  # a wide frame holds closes only
    with pytest.raises(ValueError, match="open_to_open returns need the open prices"):
        cross_section_labels(HAND)
    with pytest.raises(ValueError, match="cross_section must be one of"):
        prepare_dataset(universe, cross_section="percentile")
    with pytest.raises(ValueError, match="cross_section must be one of"):
        cross_section_normalise(np.zeros((2, 2)), [0, 0], "percentile")


def test_label_rule_records_the_method_and_round_trips():
    rule = LabelRule(horizon=3, method="cross_section", min_tickers=5)
    record = json.loads(json.dumps(rule.to_dict()))
    assert record["method"] == "cross_section" and record["min_tickers"] == 5
    assert LabelRule.from_dict(record) == rule
    assert "min_tickers" not in LabelRule().to_dict()  # the other methods' records are as before
    assert record["basis"] == "open_to_open"


# -- the future-bar test on a universe -------------------------------------------------------------


def _change_after(frames, cut, seed=0):
    rng = np.random.default_rng(seed)
    changed = {}
    for t, bars in frames.items():
        bars = bars.copy()
        after = bars.index > cut
        factor = rng.uniform(0.5, 1.5, size=after.sum())
        for col in ("open", "high", "low", "close"):
            bars.loc[after, col] = bars.loc[after, col] * factor
        bars.loc[after, "volume"] = bars.loc[after, "volume"] * rng.uniform(0.2, 3.0, size=after.sum())
        changed[t] = bars
    return changed


@pytest.mark.parametrize("mode", ["rank", "zscore"])
def test_changing_bars_after_d_moves_no_earlier_feature_or_label(universe, mode):
    cut = pd.Timestamp("2009-06-30")
    changed = _change_after(universe, cut)
    horizon = 3
    before = prepare_dataset(universe, L, horizon, label="cross_section", cross_section=mode)
    after = prepare_dataset(changed, L, horizon, label="cross_section", cross_section=mode)
    assert before.bounds == after.bounds and before.label_rule.basis == "open_to_open"
    calendar = np.unique(np.concatenate([b.index for b in universe.values()]))
    # an open-to-open label of bar t reads the open of bar t + horizon + 1: the last such bar on or before D
    last_label_date = calendar[np.searchsorted(calendar, cut, side="right") - 1 - (horizon + 1)]
    for a, b in zip((before.train, before.val, before.test), (after.train, after.val, after.test)):
        early = a.dates <= cut
        assert early.sum() > 0 or a.name == "test"
        keep = b.dates <= cut
        np.testing.assert_array_equal(a.dates[early], b.dates[keep])
        np.testing.assert_array_equal(a.X[np.flatnonzero(early)], b.X[np.flatnonzero(keep)])
        labelled = np.flatnonzero(a.dates <= last_label_date)
        np.testing.assert_array_equal(a.y[labelled], b.y[labelled])
    # and changes after D do reach the later values
    assert not np.array_equal(before.test.X[:], after.test.X[:])
    # the label function itself: nothing on or before D minus the reach moves, and the next date does
    lab_a, lab_b = (cross_section_labels(f, horizon) for f in (universe, changed))
    pd.testing.assert_frame_equal(lab_a.loc[:last_label_date], lab_b.loc[:last_label_date])
    assert not lab_a.loc[cut:].equals(lab_b.loc[cut:])


@pytest.mark.parametrize("mode", ["rank", "zscore"])
def test_normalised_values_on_date_t_use_date_t_only(universe, mode):
    feats = {t: compute_features(bars).dropna() for t, bars in universe.items()}
    values = np.concatenate([f.to_numpy(np.float32) for f in feats.values()])
    dates = np.concatenate([f.index.to_numpy() for f in feats.values()])
    base = cross_section_normalise(values, dates, mode)
    on_t = dates == dates[len(dates) // 2]
    assert on_t.sum() == len(TICKERS)
    # scramble every other date's values (rows swapped among the other dates): date t is unchanged
    rng = np.random.default_rng(1)
    scrambled = values.copy()
    others = np.flatnonzero(~on_t)
    scrambled[others] = values[rng.permutation(others)] * rng.uniform(-3, 3, size=(len(others), 1))
    np.testing.assert_array_equal(cross_section_normalise(scrambled, dates, mode)[on_t], base[on_t])
    # row order does not matter: permuting rows with their dates permutes the result
    perm = rng.permutation(len(values))
    np.testing.assert_allclose(cross_section_normalise(values[perm], dates[perm], mode), base[perm], atol=1e-6)
    # what each mode promises on every date
    frame = pd.DataFrame(base).groupby(dates)
    if mode == "rank":
        assert base.min() == 0.0 and base.max() == 1.0
        np.testing.assert_allclose(frame.mean().to_numpy(), 0.5, atol=1e-6)
    else:
        np.testing.assert_allclose(frame.mean().to_numpy(), 0.0, atol=1e-5)


# -- prepare_dataset wiring ------------------------------------------------------------------------


def test_prepare_dataset_windows_carry_the_functions_labels(universe):
    prepared = prepare_dataset(universe, L, horizon=2, label="cross_section")
    expected = cross_section_labels(universe, horizon=2)
    assert prepared.label_rule.method == "cross_section" and prepared.meta["label_rule"]["method"] == "cross_section"
    assert "labels: cross_section (min_tickers 3)" in prepared.summary()
    for split in (prepared.train, prepared.val, prepared.test):
        want = [expected.at[d, t] for d, t in zip(split.dates, split.tickers)]
        np.testing.assert_array_equal(split.y, np.asarray(want, dtype=np.int64))
        counts = split.class_counts
        assert counts["down"] == counts["up"] == len(split) // 5  # 5 tickers: one down, one up a day
    assert prepared.notes == [] and json.loads(json.dumps(prepared.meta))["notes"] == []


def test_dates_with_too_few_tickers_are_listed_and_their_windows_dropped(universe):
    frames = dict(universe)
    frames["YHOO"] = universe["YHOO"].loc[:"2010-06-30"]  # after it, four tickers
    prepared = prepare_dataset(frames, L, label={"method": "cross_section", "min_tickers": 5})
    assert prepared.label_rule.min_tickers == 5
    assert all(d <= pd.Timestamp("2010-06-28") for s in (prepared.train, prepared.val, prepared.test)
               for d in s.dates)
    (note,) = prepared.notes
    # YHOO's last two bars (2010-06-29, 06-30) have no open-to-open return (it reads the open after the next
    # bar): from them to the others' last-but-two bar
    thin = universe["AAPL"].loc["2010-06-29":].index[:-2]
    assert thin[-1] == pd.Timestamp("2010-12-29")
    assert note == (f"cross_section labels: {len(thin)} date(s) with fewer than 5 tickers (2010-06-29 .. "
                    f"2010-12-29) get no label; windows dropped: train 0, val 0, test {4 * len(thin)}")
    assert f"note: {note}" in prepared.summary() and prepared.meta["notes"] == [note]


def test_rank_normalisation_reaches_the_windows_and_the_scaler_sees_training_rows(universe):
    prepared = prepare_dataset(universe, L, label="cross_section", cross_section="rank")
    assert prepared.cross_section == "rank" and prepared.meta["cross_section"] == "rank"
    values = prepared.train.X.values
    assert values.min() == 0.0 and values.max() == 1.0
    feats = {t: compute_features(bars) for t, bars in universe.items()}
    for split in (prepared.train, prepared.test):
        i = len(split) // 2
        day = split.dates[i]
        row = np.array([feats[t].loc[day].to_numpy() for t in TICKERS])
        ranks = pd.DataFrame(row).rank().to_numpy()[list(TICKERS).index(split.tickers[i])]
        np.testing.assert_allclose(split.X[i][-1], (ranks - 1) / (len(TICKERS) - 1), atol=1e-6)
    folds = prepare_walk_forward(universe, n_splits=2, sequence_length=L, label="cross_section",
                                 cross_section="zscore")
    assert [f.cross_section for f in folds] == ["zscore", "zscore"]
    assert all(f.label_rule.method == "cross_section" for f in folds)


def test_default_is_unchanged_bit_for_bit(universe):
    assert CROSS_SECTION_MODES[0] == "none"
    plain = prepare_dataset(universe, L)
    explicit = prepare_dataset(universe, L, cross_section="none")
    feats = np.concatenate([compute_features(b).dropna().to_numpy(np.float32) for b in universe.values()])
    assert np.array_equal(plain.train.X.values, feats)  # the raw indicators, not normalised
    for a, b in zip((plain.train, plain.val, plain.test), (explicit.train, explicit.val, explicit.test)):
        assert np.array_equal(a.X.values, b.X.values) and np.array_equal(a.X.ends, b.X.ends)
        assert np.array_equal(a.y, b.y) and np.array_equal(a.forward_returns, b.forward_returns)
    assert np.array_equal(plain.scaler.offset, explicit.scaler.offset)
    assert plain.label_rule.to_dict() == LabelRule().to_dict() and plain.notes == []
    assert plain.meta["cross_section"] == "none"
