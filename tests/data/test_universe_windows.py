"""Prediction windows of a whole universe: the same cross-sectionally normalised values as training saw, causal."""

import numpy as np
import pandas as pd
import pytest

from skills.data import DataError, load_universe, prepare_dataset, universe_windows
from skills.data.dataset import as_frames

TICKERS = ["A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK", "AEE", "AES", "AIG", "AIZ"]
L = 8


@pytest.fixture(scope="module")
def frames(data_dir):
    universe = load_universe(data_dir / "universe", tickers=TICKERS)
    return {t: bars.loc["2016-06":] for t, bars in universe.items()}


@pytest.mark.parametrize("mode", ["rank", "zscore"])
def test_universe_windows_equal_the_training_windows_of_the_same_ticker_and_date(frames, mode):
    data = prepare_dataset(frames, sequence_length=L, label="cross_section", cross_section=mode)
    got = universe_windows(frames, data.feature_names, L, cross_section=mode)
    assert set(got) == set(TICKERS)
    for split in (data.train, data.test):
        for ticker in ("AAL", "AIZ"):
            mine = np.flatnonzero(split.tickers == ticker)
            windows, dates = got[ticker]
            at = pd.Index(dates).get_indexer(split.dates[mine])
            assert (at >= 0).all()
            np.testing.assert_array_equal(windows[at], split.X[mine])


def test_changing_bars_after_a_date_leaves_every_earlier_window_unchanged(frames):
    data = prepare_dataset(frames, sequence_length=L, label="cross_section", cross_section="rank")
    before = universe_windows(frames, data.feature_names, L, cross_section="rank")
    cut = pd.Timestamp("2017-06-01")
    changed = {t: bars.copy() for t, bars in frames.items()}
    for i, bars in enumerate(changed.values()):  # different moves per ticker, so the ranks after the cut change
        later = bars.index >= cut
        bars.loc[later, ["open", "high", "low", "close"]] *= 1.0 + 0.3 * (i % 4)
        bars.loc[later, "volume"] *= 1 + i
    after = universe_windows(changed, data.feature_names, L, cross_section="rank")
    moved = 0
    for ticker, (windows, dates) in before.items():
        new_windows, new_dates = after[ticker]
        assert new_dates.equals(dates)
        early = np.flatnonzero(dates < cut)
        np.testing.assert_array_equal(windows[early], new_windows[early])
        late = np.flatnonzero(dates >= cut)
        moved += int(not np.array_equal(windows[late], new_windows[late]))
    assert moved > 0  # the change does reach the later windows


def test_a_path_to_a_universe_loads_under_the_strict_policies(data_dir):
    with pytest.raises(DataError, match="on_bad_rows='drop'"):
        as_frames(data_dir / "universe")  # the bundled file has bad rows: strict by default, the policy named
    with pytest.raises(DataError, match="unknown feature"):
        universe_windows({"AAL": load_universe(data_dir / "universe", tickers=["AAL"])["AAL"]}, ["no_such"], L)


@pytest.mark.filterwarnings("ignore:.*give no labelled window")  # DXC's cut history: listed as skipped
@pytest.mark.parametrize("mode", ["rank", "zscore"])
def test_a_newly_listed_ticker_counts_in_the_ranks_before_it_has_a_window(data_dir, mode):
    """DXC is listed in 2017-04: cut its history a few bars after its indicators are defined, and it has values
    but no full window yet. Whether it gets a window later must not change the other tickers' ranks up to the cut,
    in the training windows (`prepare_dataset`) and in the prediction windows (`universe_windows`) alike."""
    universe = load_universe(data_dir / "universe", tickers=TICKERS[:6] + ["DXC"])
    frames = {t: bars.loc["2016-06":] for t, bars in universe.items()}
    names = prepare_dataset(frames, sequence_length=L, label="cross_section", cross_section=mode).feature_names
    whole = universe_windows(frames, names, L, cross_section=mode)
    first = whole["DXC"][1][0]  # DXC's first full window ends L - 1 bars after its first defined values
    cut = frames["DXC"].index[frames["DXC"].index.get_loc(first) - 3]  # DXC has values, no window, at the cut
    prefix = {t: bars.loc[:cut] for t, bars in frames.items()}
    early = universe_windows(prefix, names, L, cross_section=mode)
    assert "DXC" not in early and len(whole["DXC"][1]) > 0
    for ticker in TICKERS[:6]:
        windows, dates = early[ticker]
        at = pd.Index(whole[ticker][1]).get_indexer(dates)
        np.testing.assert_array_equal(whole[ticker][0][at], windows[np.arange(len(dates))], err_msg=ticker)
    # training: each window of another ticker ending by the cut holds the same values whatever DXC's later bars
    def windows_by_key(data):
        return {(t, d): x for split in (data.train, data.val, data.test)
                for x, t, d in zip(np.asarray(split.X), split.tickers, split.dates)}

    later = windows_by_key(prepare_dataset(frames, sequence_length=L, label="cross_section", cross_section=mode))
    sooner = windows_by_key(prepare_dataset(prefix, sequence_length=L, label="cross_section", cross_section=mode))
    common = [key for key in sooner if key in later]
    assert len(common) > 100 and max(d for _, d in common) > first - pd.Timedelta(days=30)
    for key in common:
        np.testing.assert_array_equal(later[key], sooner[key], err_msg=str(key))
