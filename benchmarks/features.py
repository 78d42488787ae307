"""Time of ``compute_features`` on one long series and on a 500-ticker panel, serial and parallel (JSON).

    python benchmarks/features.py                           # 5,000 bars; 500 tickers × 5 years
    python benchmarks/features.py --tickers 100 --repeats 1 # quicker

- One series: the last ``--bars`` real ORCL bars. The reference, timed alternately with it, is
  ``ta.add_all_ta_features`` (the library's own every-indicator call) on the same bars.
- A panel: ``--tickers`` slices of ``--years`` × 252 real bars (see ``_common.real_panel``), computed
  one ticker after another (the reference: what ``prepare_dataset`` does) and in a pool of
  ``--workers`` processes (``ta`` is single-threaded pandas). The pool's start-up is inside its time;
  its frames are checked equal to the serial ones.

Medians of ``--repeats`` alternating runs; ratios are reference seconds over measured seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import DATA_DIR, emit, log, machine, median, real_panel


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=5000, help="bars of the single series (default 5000)")
    parser.add_argument("--tickers", type=int, default=500, help="tickers in the panel (default 500)")
    parser.add_argument("--years", type=int, default=5, help="years per ticker (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each variant (default 3)")
    return parser.parse_args(argv)


def _timed(function, *args):
    start = time.perf_counter()
    out = function(*args)
    return time.perf_counter() - start, out


def one_series(args) -> dict:
    import ta

    from skills.data import compute_features, load_ohlcv

    bars = load_ohlcv(DATA_DIR / "ORCL.csv")
    if len(bars) < args.bars:
        raise SystemExit(f"ORCL.csv has {len(bars)} bars, fewer than --bars {args.bars}")
    bars = bars.iloc[-args.bars:]
    ours, theirs = [], []
    for repeat in range(args.repeats + 1):  # the first pair warms caches and is dropped
        seconds, features = _timed(compute_features, bars)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ta warns on divisions by zero in a few indicators
            reference_s, reference = _timed(
                ta.add_all_ta_features, bars.copy(), "open", "high", "low", "close", "volume")
        if repeat:
            ours.append(seconds)
            theirs.append(reference_s)
    added = reference.shape[1] - bars.shape[1]
    return {
        "bars": len(bars),
        "compute_features_s": round(median(ours), 3),
        "columns": features.shape[1],
        "bars_per_s": round(len(bars) / median(ours)),
        "reference": f"ta.add_all_ta_features on the same bars ({added} columns)",
        "reference_s": round(median(theirs), 3),
        "ratio_reference_over_ours": round(median(np.asarray(theirs) / np.asarray(ours)), 2),
    }


def _serial(frames):
    from skills.data import compute_features

    return [compute_features(frame) for frame in frames]


def _parallel(frames, workers):
    from skills.data import compute_features

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(compute_features, frames, chunksize=max(1, len(frames) // (8 * workers))))


def panel(args) -> dict:
    frames = list(real_panel(args.tickers, args.years).values())
    serial, parallel = [], []
    for repeat in range(args.repeats):
        log(f"panel: repeat {repeat + 1}/{args.repeats}")
        seconds, expected = _timed(_serial, frames)
        serial.append(seconds)
        seconds, got = _timed(_parallel, frames, args.workers)
        parallel.append(seconds)
        for a, b in zip(expected, got):
            if not a.equals(b):
                raise SystemExit("the parallel features differ from the serial ones")
    return {
        "tickers": len(frames),
        "bars": sum(len(frame) for frame in frames),
        "serial_s": round(median(serial), 1),
        "serial_tickers_per_s": round(len(frames) / median(serial), 1),
        f"processes_{args.workers}_s": round(median(parallel), 1),
        "ratio_serial_over_parallel": round(median(np.asarray(serial) / np.asarray(parallel)), 2),
        "each_serial_s": [round(s, 1) for s in serial],
        "each_parallel_s": [round(s, 1) for s in parallel],
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    result = {"benchmark": "features", "command": "python " + " ".join(sys.argv), "machine": machine()}
    log("one series")
    result["one_series"] = one_series(args)
    result["panel"] = panel(args)
    emit(result)


if __name__ == "__main__":
    main()
