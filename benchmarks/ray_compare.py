"""`compare` serial against the same `compare` on a local Ray with 2 workers: wall times, ratio, same table (JSON).

    python benchmarks/ray_compare.py                        # 4 networks x 3 folds, 2 tickers, 1 epoch
    python benchmarks/ray_compare.py --epochs 3 --tickers AAPL GOOG NVDA --bars 1500

Both runs are the full command as a user types it (``python -m skills compare ...``, a fresh process each, so
the Ray run pays for starting Ray and its workers), on the same slice of the bundled bars with the same seed:
the default four networks at their default sizes, the majority and LightGBM baselines, per-ticker backtests.
The Ray run adds ``--workers 2``: each fold x model is one task, two at a time. Printed: each wall time, their
ratio (serial / Ray: above 1 is a speed-up), whether the printed tables are identical line for line, and the
load average before and after (the machine may be shared: quote it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA_DIR, ROOT, emit, log, machine


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", nargs="+", default=["AAPL", "GOOG"], help="bundled CSVs to use")
    parser.add_argument("--bars", type=int, default=750, help="last N bars of each ticker (default 750)")
    parser.add_argument("--models", default="attention_lstm,causal_attention_lstm,lstm,transformer")
    parser.add_argument("--n-splits", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args(argv)


def _table(stdout: str) -> list[str]:
    """The summary table the command printed: from its header line (``model ...``) to the end of the block."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    table = []
    for line in lines[start:]:
        if not line.strip():
            break
        table.append(line)
    return table


def _run(argv: list[str]) -> tuple[float, list[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "skills", "compare", *argv, "--quiet"], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"compare failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return seconds, _table(done.stdout)


def main(argv=None) -> None:
    args = parse_args(argv)
    from skills.data import load_ohlcv

    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as folder:
        for ticker in args.tickers:
            load_ohlcv(DATA_DIR / f"{ticker}.csv").iloc[-args.bars:].to_csv(Path(folder) / f"{ticker}.csv")
        common = ["--data-path", folder, "--models", args.models, "--n-splits", str(args.n_splits),
                  "--epochs", str(args.epochs)]
        log(f"serial compare: {args.models} x {args.n_splits} folds on {', '.join(args.tickers)}")
        serial_s, serial_table = _run(common)
        log(f"serial: {serial_s:.1f} s; now on a local Ray with --workers {args.workers}")
        ray_s, ray_table = _run(common + ["--workers", str(args.workers)])
        log(f"ray: {ray_s:.1f} s")
    emit({
        "benchmark": "ray_compare",
        "machine": machine(),
        "load_average_before": load_before,
        "setup": {"tickers": args.tickers, "bars_per_ticker": args.bars, "models": args.models.split(","),
                  "folds": args.n_splits, "epochs": args.epochs, "baselines": ["majority", "lightgbm"],
                  "workers": args.workers},
        "serial_wall_s": round(serial_s, 1),
        "ray_wall_s": round(ray_s, 1),
        "speedup_serial_over_ray": round(serial_s / ray_s, 2),
        "tables_identical": serial_table == ray_table,
        "table": serial_table,
        **({} if serial_table == ray_table else {"ray_table": ray_table}),
    })


if __name__ == "__main__":
    main()
