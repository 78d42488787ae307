"""Seconds to compute Qlib's Alpha158 features and the 50 ``ta`` indicators over the bundled universe (JSON).

    python benchmarks/feature_speed.py               # the bundled 249 tickers, 3 repeats
    python benchmarks/feature_speed.py --repeats 5

Each repeat computes ``compute_alpha158`` and then ``compute_features`` for every ticker, one ticker after
another (what ``prepare_dataset`` does), the two timed alternately. Figures are medians over ``--repeats``;
``ratio_alpha158_over_ta`` is Alpha158's seconds over the indicators' (below 1: Alpha158 is faster). The
machine's load average is printed before and after: on a shared machine it moves every figure.
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import DATA_DIR, emit, log, machine, median


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA_DIR / "universe" / "sp500_5yr.csv.gz"),
                        help="a universe file or folder (default: the bundled 250 S&P 500 stocks)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each (default 3)")
    return parser.parse_args(argv)


def _timed(function, frames) -> float:
    start = time.perf_counter()
    for bars in frames:
        function(bars)
    return time.perf_counter() - start


def main(argv=None) -> None:
    args = parse_args(argv)
    from skills.data import compute_alpha158, compute_features, load_universe

    result = {"benchmark": "feature_speed", "command": "python " + " ".join(sys.argv), "machine": machine()}
    universe = load_universe(args.data, on_bad_rows="drop", on_bad_files="skip")
    frames = list(universe.values())
    alpha158, ta = [], []
    for repeat in range(args.repeats):
        log(f"repeat {repeat + 1}/{args.repeats}")
        alpha158.append(_timed(compute_alpha158, frames))
        ta.append(_timed(compute_features, frames))
    result.update({
        "tickers": len(frames),
        "bars": sum(len(bars) for bars in frames),
        "alpha158_s": round(median(alpha158), 2),
        "ta_indicators_s": round(median(ta), 2),
        "ratio_alpha158_over_ta": round(median(alpha158) / median(ta), 3),
        "each_alpha158_s": [round(s, 2) for s in alpha158],
        "each_ta_indicators_s": [round(s, 2) for s in ta],
    })
    emit(result)


if __name__ == "__main__":
    main()
