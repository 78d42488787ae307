"""The purge gap of every split: prepare_dataset and prepare_walk_forward (expanding and rolling) on real bars.

Between a split and the next, `gap` bars are left out, and no label of a split reads a bar of the next: so
rewriting the bars from a split's first date on leaves every window, label and statistic of the earlier splits
as it was. A label reads `reach` bars after its own: horizon + 1 on the open-to-open basis (the open of bar
t+1+horizon), horizon on the close-to-close one; the default gap is the reach. AAPL and GOOG trade on every date
of the calendar; NVDA lacks the bars inside each gap, so only the purge (a window whose label reads a bar of the
next split is dropped) keeps its last labels out of the next split.
"""

import numpy as np
import pandas as pd
import pytest

from skills.data import load_ohlcv, prepare_dataset, prepare_walk_forward

SEQUENCE_LENGTH = 5
FULL, HOLED = ("AAPL", "GOOG"), "NVDA"
PAIRS = (("train", "val"), ("val", "test"))
# (horizon, gap, label, basis): the default gap is the reach
SETTINGS = [(1, None, "fixed", "open_to_open"), (3, 5, "quantile", "open_to_open"),
            (2, None, "fixed", "close_to_close")]
REACH = {"open_to_open": 1, "close_to_close": 0}  # bars a label reads beyond its horizon
KINDS = ["dataset", "expanding", "rolling"]


@pytest.fixture(scope="module")
def bars(data_dir):
    """The last 450 bars of 2014 and before of three real tickers (the same dates)."""
    frames = {t: load_ohlcv(data_dir / f"{t}.csv").loc[:"2014-12-31"].iloc[-450:] for t in FULL + (HOLED,)}
    assert all(frame.index.equals(frames["AAPL"].index) for frame in frames.values())
    return frames


def _prepare(kind, bars, horizon, gap, label, basis):
    options = dict(sequence_length=SEQUENCE_LENGTH, horizon=horizon, gap=gap, label=label, label_basis=basis)
    if kind == "dataset":
        return [prepare_dataset(bars, **options)]
    return prepare_walk_forward(bars, n_splits=2, mode=kind, **options)


def _without_gap_bars(bars, folds):
    """NVDA without its bars strictly between one split and the next, in every fold; the others unchanged."""
    index = bars[HOLED].index
    inside = np.zeros(len(index), dtype=bool)
    for fold in folds:
        for before, after in PAIRS:
            inside |= (index > getattr(fold.bounds, before)[1]) & (index < getattr(fold.bounds, after)[0])
    return {**bars, HOLED: bars[HOLED].loc[~inside]}


def _rewritten(bars, start, seed):
    """Every ticker's bars from `start` on scaled by a random factor per bar (OHLC stay consistent), volume x3."""
    rng = np.random.default_rng(seed)
    out = {}
    for ticker, frame in bars.items():
        frame = frame.copy()
        later = frame.index >= start
        frame.loc[later, ["open", "high", "low", "close"]] *= rng.uniform(0.5, 1.5, (later.sum(), 1))
        frame.loc[later, "volume"] *= 3
        out[ticker] = frame
    return out


def _assert_same_split(split, other):
    assert len(split) == len(other) > 0
    np.testing.assert_array_equal(np.asarray(split.X), np.asarray(other.X))
    np.testing.assert_array_equal(split.y, other.y)
    np.testing.assert_array_equal(split.forward_returns, other.forward_returns)
    assert split.dates.equals(other.dates) and (split.tickers == other.tickers).all()


@pytest.fixture(scope="module", params=[(kind, *setting) for kind in KINDS for setting in SETTINGS],
                ids=lambda p: f"{p[0]}-h{p[1]}-gap{p[2]}-{p[3]}-{p[4]}")
def case(request, bars):
    """(kind, horizon, gap, label, basis, bars with NVDA's gap bars left out, their folds)."""
    kind, horizon, gap, label, basis = request.param
    full = _prepare(kind, bars, horizon, gap, label, basis)
    holed = _without_gap_bars(bars, full)
    folds = _prepare(kind, holed, horizon, gap, label, basis)
    assert [f.bounds for f in folds] == [f.bounds for f in full]  # AAPL and GOOG still trade on every date
    return kind, horizon, gap, label, basis, holed, folds


def test_gap_between_splits_is_the_configured_number_of_bars_per_ticker(case):
    kind, horizon, gap, label, basis, bars, folds = case
    reach = horizon + REACH[basis]
    gap = reach if gap is None else gap
    for fold in folds:
        assert fold.gap == gap and fold.label_rule.basis == basis and fold.label_rule.reach == reach
        for before, after in PAIRS:
            first_date = getattr(fold.bounds, after)[0]
            for ticker in FULL + (HOLED,):
                index = bars[ticker].index
                early, late = getattr(fold, before), getattr(fold, after)
                last = index.get_loc(early.dates[early.tickers == ticker].max())  # last label's window end
                first = index.get_loc(late.dates[late.tickers == ticker].min())  # the next split's first window
                assert index[last + reach] < first_date  # the last label reads no bar of the next split
                if ticker == HOLED:  # no bars in the gap: the purge drops the windows whose label would reach over
                    assert first - last - 1 == reach, (kind, ticker, before)
                else:
                    assert first - last - 1 == gap, (kind, ticker, before)
                    assert late.dates[late.tickers == ticker].min() == first_date


@pytest.mark.parametrize("cut", ["val", "test"])
def test_rewriting_a_folds_later_bars_leaves_its_earlier_splits_labels_and_scaler_unchanged(case, cut):
    """Rewrite every bar from the first date of a fold's `cut` split on: its training split (and, for the test
    split, its validation split) keep every window, label and forward return, and the scaler and label edges
    learned on training rows stay the same; the rewritten split itself changes. On the open-to-open basis the
    rewrite reaches the opens that the last labels before the gap would read if the purge counted the horizon
    only."""
    kind, horizon, gap, label, basis, bars, folds = case
    for number, fold in enumerate(folds):
        start = getattr(fold.bounds, cut)[0]
        other = _prepare(kind, _rewritten(bars, start, seed=number), horizon, gap, label, basis)[number]
        assert other.bounds == fold.bounds
        for name in ("train", "val")[:1 if cut == "val" else 2]:
            _assert_same_split(getattr(fold, name), getattr(other, name))
        np.testing.assert_array_equal(fold.scaler.offset, other.scaler.offset)
        np.testing.assert_array_equal(fold.scaler.scale, other.scaler.scale)
        assert fold.label_rule.to_dict() == other.label_rule.to_dict()
        changed = getattr(fold, cut)
        assert not np.array_equal(changed.forward_returns, getattr(other, cut).forward_returns)
        assert pd.Timestamp(start) == changed.dates.min()
