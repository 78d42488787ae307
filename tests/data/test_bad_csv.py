"""Bad and messy CSVs through the library: the bad-CSV corpus, valid files in odd dialects, flat stretches.

The corpus lives in tests/data/bad/ (its README lists each file and the message it must give); the same files
go through every command in tests/cli/test_bad_inputs.py.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skills.data import DataError, compute_features, load_ohlcv, prepare_dataset
from skills.data.features import WARMUP_BARS

BAD = Path(__file__).resolve().parent / "bad"
CORPUS = [  # (file name, fragment of the error) from the README table
    (m.group(1), m.group(2))
    for m in re.finditer(r"^\| `([^`]+)` \| [^|]+ \| (.+?) \|$", (BAD / "README.md").read_text(), re.M)
]


def test_the_corpus_is_what_the_readme_lists():
    files = sorted(p.name for p in BAD.iterdir() if p.suffix not in (".md", ".py"))
    assert sorted(name for name, _ in CORPUS) == files and len(files) >= 20
    assert sum(p.stat().st_size for p in BAD.iterdir()) < 400_000  # KB, not MB


@pytest.mark.parametrize("name, fragment", CORPUS)
def test_corpus_file_raises_a_data_error_naming_file_and_problem(name, fragment):
    with pytest.raises(DataError) as info:
        prepare_dataset(BAD / name, sequence_length=10)
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert name in message or name.split(".")[0].upper() in message  # the file, or its ticker


# -- messy but valid CSVs, and numerical faults in real data ---------------------------------------------


@pytest.fixture(scope="module")
def clean(aapl):
    return aapl.iloc[-150:][["open", "high", "low", "close", "volume"]]


@pytest.mark.parametrize("variant", ["bom", "semicolon", "tab", "lower_case_crlf"])
def test_messy_but_valid_csvs_load_like_the_clean_file(variant, clean, tmp_path):
    text = clean.rename(columns=str.title).rename_axis("Date").to_csv()
    if variant == "bom":
        raw = ("\ufeff" + text).encode("utf-8")  # what spreadsheets write
    elif variant == "semicolon":
        raw = text.replace(",", ";").encode()
    elif variant == "tab":
        raw = text.replace(",", "\t").encode()
    else:
        raw = text.lower().replace("\n", "\r\n").encode()
    path = tmp_path / "AAPL.csv"
    path.write_bytes(raw)
    pd.testing.assert_frame_equal(load_ohlcv(path)[list(clean.columns)], clean, check_freq=False)


def test_constant_and_zero_volume_stretches_give_finite_neutral_features(aapl):
    """A 30-day trading halt (constant price, no volume) and 20 later days without volume, in real bars."""
    bars = aapl.iloc[-400:].copy()
    halt, quiet = slice(200, 230), slice(300, 320)
    for column in ("open", "high", "low", "close"):
        bars.iloc[halt, bars.columns.get_loc(column)] = bars["close"].iloc[199]
    bars.iloc[halt, bars.columns.get_loc("volume")] = 0.0
    bars.iloc[quiet, bars.columns.get_loc("volume")] = 0.0
    features = compute_features(bars).iloc[WARMUP_BARS:]
    assert np.isfinite(features.to_numpy()).all() and features.abs().max().max() < 1e3
    flat = features.iloc[229 - WARMUP_BARS]  # 30 bars into the halt: every range has zero width
    for name in ("stoch_k", "dc_pband", "bb_pband", "stoch_rsi"):
        assert flat[name] == 0.5, name  # the middle of the range, not an extreme
    assert flat["williams_r"] == -0.5 and flat["return_5"] == 0.0 and flat["high_low_range"] == 0.0
    pd.testing.assert_frame_equal(features.iloc[: 200 - WARMUP_BARS],  # bars before the halt: unchanged
                                  compute_features(aapl.iloc[-400:]).iloc[WARMUP_BARS:200], rtol=1e-10, atol=1e-12)
    data = prepare_dataset(bars, sequence_length=10)  # and the scaler and windows stay finite too
    assert np.isfinite(data.scaler.offset).all() and np.isfinite(data.scaler.scale).all()
    assert np.isfinite(np.asarray(data.train.X)).all()
