"""Peak memory and time of prepare_dataset on many tickers.

The panel is made of real bars: ``--tickers`` slices of ``--years`` × 252 bars cut from the
bundled CSVs at different offsets (each slice is a real price path; slices of one CSV overlap).

    python benchmarks/bench_prepare_memory.py                 # 500 tickers × 5 years ≈ 630k rows
    python benchmarks/bench_prepare_memory.py --tickers 50    # quicker

Prints rows, windows, the size of the one shared feature array, the bytes a materialised
N × T × F copy would have needed, wall time, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skills.data import load_ohlcv, prepare_dataset  # noqa: E402


def make_panel(n_tickers: int, years: int) -> dict:
    series = load_ohlcv(ROOT / "data")
    length = years * 252
    names = sorted(series)
    panel = {}
    for i in range(n_tickers):
        bars = series[names[i % len(names)]]
        room = len(bars) - length
        start = (i // len(names)) * 37 % max(room, 1)
        panel[f"T{i:03d}"] = bars.iloc[start:start + length]
    return panel


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--sequence-length", type=int, default=30)
    args = parser.parse_args(argv)

    panel = make_panel(args.tickers, args.years)
    rows = sum(len(df) for df in panel.values())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    data = prepare_dataset(panel, sequence_length=args.sequence_length)
    elapsed = time.perf_counter() - start
    for split in (data.train, data.val, data.test):  # touch every window once, batch by batch
        ds = split.dataset(batch_size=1024, shuffle=False)
        for i in range(len(ds)):
            ds[i]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_windows = len(data.train) + len(data.val) + len(data.test)
    values = data.train.X.values
    materialised = n_windows * args.sequence_length * values.shape[1] * 4
    print(f"tickers:              {args.tickers} x {args.years} years")
    print(f"input rows:           {rows:,}")
    print(f"windows:              {n_windows:,} (train {len(data.train):,}, val {len(data.val):,}, "
          f"test {len(data.test):,})")
    print(f"feature array:        {values.shape} float32 = {values.nbytes / 2**20:.0f} MiB (shared by all splits)")
    print(f"a materialised N×T×F: {materialised / 2**30:.2f} GiB (never built)")
    print(f"prepare_dataset:      {elapsed:.1f} s")
    print(f"peak RSS:             {peak:.0f} MiB (after imports and loading: {rss_before:.0f} MiB)")


if __name__ == "__main__":
    main()
