"""Peak memory and windows/s of lazy windows at universe scale, against a materialised array (JSON).

    python benchmarks/universe_memory.py                  # 500 tickers × 5 years of real bars
    python benchmarks/universe_memory.py --tickers 50     # quicker

The panel is ``--tickers`` slices of ``--years`` × 252 real bars cut from the bundled CSVs (see
``_common.real_panel``). Each variant runs in its own process, so each peak RSS is its own:

- ``lazy``: ``prepare_dataset(panel)`` (features, labels, splits, scaler), then one training epoch of
  windows exactly as ``fit`` asks for them: ``data.train.dataset(batch_size=32)`` (a shuffled
  ``WindowDataset``), every batch gathered from the one shared 2-D feature array.
- ``materialised`` (the reference): the same, after ``np.asarray(data.train.X)`` has built the N × T × F
  array that the lazy windows avoid; the same ``WindowDataset`` then slices that array.

With ``--source universe`` the panel is the bundled S&P 500 universe (``data/universe``, bad rows
dropped and short tickers skipped as ``load_universe`` reports them), copied under new names until it
has ``--tickers`` tickers, prepared as the universe workflow prepares it: cross-sectional labels
(``label="cross_section"``) and per-date ranked features (``cross_section="rank"``):

    python benchmarks/universe_memory.py --source universe --tickers 500

Windows/s is the median over ``--epochs`` passes; the target is a lazy peak RSS of at most 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import emit, log, machine, median, peak_rss_mib, real_panel

TARGET_PEAK_MIB = 2048


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, default=500, help="tickers in the panel (default 500)")
    parser.add_argument("--years", type=int, default=5, help="years of daily bars per ticker (default 5)")
    parser.add_argument("--source", choices=("panel", "universe"), default="panel",
                        help="panel: slices of the five bundled CSVs (default); universe: the bundled S&P 500 "
                             "universe, copied under new names up to --tickers, with cross-sectional labels and "
                             "ranked features")
    parser.add_argument("--sequence-length", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32, help="windows per batch (default 32, as in training)")
    parser.add_argument("--epochs", type=int, default=3, help="timed passes over the training windows (default 3)")
    parser.add_argument("--variant", choices=("lazy", "materialised"), help=argparse.SUPPRESS)  # internal
    return parser.parse_args(argv)


def universe_panel(n_tickers: int) -> dict:
    """The bundled universe, its tickers repeated under new names (``AAPL``, ``AAPL_2``, ...) up to ``n_tickers``."""
    from skills.data import load_universe

    universe = load_universe(Path(__file__).resolve().parents[1] / "data" / "universe", on_bad_rows="drop",
                             on_bad_files="skip")
    names = list(universe)
    return {(name if i < len(names) else f"{name}_{i // len(names) + 1}"): universe[name]
            for i, name in ((i, names[i % len(names)]) for i in range(n_tickers))}


def run_variant(args) -> dict:
    """One variant in this process: prepare, (materialise), iterate; returns its figures."""
    from skills.data import WindowDataset, prepare_dataset

    options = {}
    if args.source == "universe":
        panel = universe_panel(args.tickers)
        options = {"label": "cross_section", "cross_section": "rank"}
    else:
        panel = real_panel(args.tickers, args.years)
    rows = sum(len(frame) for frame in panel.values())
    before = peak_rss_mib()
    start = time.perf_counter()
    data = prepare_dataset(panel, sequence_length=args.sequence_length, **options)
    prepare_s = time.perf_counter() - start
    del panel
    windows = data.train.X
    if args.variant == "materialised":
        start = time.perf_counter()
        windows = np.asarray(windows)
        log(f"materialised {windows.shape} float32 in {time.perf_counter() - start:.1f} s")
    # what data.train.dataset(batch_size=32) gives fit, over the lazy or the materialised windows
    batches = WindowDataset(windows, data.train.y, batch_size=args.batch_size, shuffle=True, seed=0)
    seconds = []
    checksum = 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        for i in range(len(batches)):
            x, _ = batches[i]
            checksum += float(x[0, -1, 0])  # touch every batch
        seconds.append(time.perf_counter() - start)
        batches.on_epoch_end()
    values = data.train.X.values
    n_all = len(data.train) + len(data.val) + len(data.test)
    return {
        "input_rows": rows,
        "windows_train_val_test": [len(data.train), len(data.val), len(data.test)],
        "feature_array": {"shape": list(values.shape), "mib": round(values.nbytes / 2**20)},
        "materialised_train_array_mib": round(len(data.train) * args.sequence_length * values.shape[1] * 4 / 2**20),
        "materialised_all_splits_gib": round(n_all * args.sequence_length * values.shape[1] * 4 / 2**30, 2),
        "prepare_dataset_s": round(prepare_s, 1),
        "epoch_s": [round(s, 2) for s in seconds],
        "windows_per_s": round(len(data.train) / median(seconds)),
        "rss_after_imports_and_panel_mib": round(before),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args)), flush=True)
        return
    result = {"benchmark": "universe_memory", "command": "python " + " ".join(sys.argv),
              "machine": machine(),
              "setup": {"source": args.source, "tickers": args.tickers, "years": args.years,
                        "sequence_length": args.sequence_length, "batch_size": args.batch_size, "epochs": args.epochs}}
    forwarded = ["--source", args.source, "--tickers", str(args.tickers), "--years", str(args.years),
                 "--sequence-length", str(args.sequence_length), "--batch-size", str(args.batch_size),
                 "--epochs", str(args.epochs)]
    for variant in ("lazy", "materialised"):
        log(f"{variant}: preparing {args.tickers} tickers x {args.years} years in a fresh process")
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--variant", variant, *forwarded],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{variant} run failed:\n{done.stderr[-2000:]}")
        result[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    lazy, dense = result["lazy"], result["materialised"]
    result["ratios"] = {
        "windows_per_s_lazy_over_materialised": round(lazy["windows_per_s"] / dense["windows_per_s"], 2),
        "peak_rss_lazy_over_materialised": round(lazy["peak_rss_mib"] / dense["peak_rss_mib"], 2),
    }
    result["target"] = {"peak_rss_mib_max": TARGET_PEAK_MIB, "met": lazy["peak_rss_mib"] <= TARGET_PEAK_MIB}
    emit(result)


if __name__ == "__main__":
    main()
