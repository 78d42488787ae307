"""Throughput of the networks that train one date per batch (GATs), beside per-window networks on the same days (JSON).

    python benchmarks/daily_batches.py                       # 50 tickers of the bundled universe, from 2016
    python benchmarks/daily_batches.py --tickers 250 --start 2013-01-01

Every network trains on the same windows of the bundled S&P 500 universe (``data/universe``, bad rows dropped,
short tickers skipped), one batch per date (``batch_by="date"``: all of that date's tickers), so the figures
compare the networks at equal batches: GATs (which must train so: it attends across the day's stocks) against
the GRU and the LSTM it builds on. Windows/s is the median over the timed epochs (the first, which compiles, is
not timed); prediction is ``predict_proba`` on the validation split, one batch per date as well.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import emit, epoch_clock, log, machine, median

MODELS = {"gats": {}, "gru": {}, "lstm": {}}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, default=50, help="first N tickers of the universe (default 50)")
    parser.add_argument("--start", default="2016-01-01", help="first date of the bars (default 2016-01-01)")
    parser.add_argument("--sequence-length", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the first (default 2)")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from skills.data import load_universe, prepare_dataset
    from skills.models import make_model

    universe = load_universe(Path(__file__).resolve().parents[1] / "data" / "universe", on_bad_rows="drop",
                             on_bad_files="skip")
    frames = {t: universe[t].loc[args.start:] for t in list(universe)[:args.tickers]}
    data = prepare_dataset(frames, sequence_length=args.sequence_length, label="cross_section")
    n_train, n_val = len(data.train), len(data.val)
    days = len(set(data.train.dates))
    log(f"{len(frames)} tickers, {n_train} training windows on {days} dates, {n_val} validation windows")
    results = {}
    for name in args.models:
        clock = epoch_clock()
        model = make_model(name, sequence_length=args.sequence_length)
        model.fit(data, epochs=args.epochs + 1, batch_by="date", patience=args.epochs + 1, lr_schedule="constant",
                  verbose=0, callbacks=[clock])
        timed = clock.wall[1:]
        model.predict_proba(data.val)  # warm-up
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            model.predict_proba(data.val)
            seconds.append(time.perf_counter() - start)
        results[name] = {
            "params": int(model.network_.count_params()),
            "train_windows_per_s": round(n_train / median(timed)),
            "predict_windows_per_s": round(n_val / median(seconds)),
            "timed_epochs": len(timed),
        }
        log(f"{name}: {results[name]}")
    emit({"benchmark": "daily_batches", "command": "python " + " ".join(sys.argv), "machine": machine(),
          "setup": {"tickers": len(frames), "start": args.start, "sequence_length": args.sequence_length,
                    "train_windows": n_train, "train_dates": days, "val_windows": n_val,
                    "note": "every network trains one date per batch (all its tickers); the first epoch is not timed"},
          "results": results})


if __name__ == "__main__":
    main()
