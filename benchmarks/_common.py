"""What every benchmark script shares: the machine it ran on, the bundled-bars panel, medians, JSON out.

The scripts are run as ``python benchmarks/NAME.py`` from the repository root; each prints ONE JSON
object on stdout (progress and library noise go to stderr), so a figure in the README is the output
of a command anyone can rerun.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT / "data"
BARS_PER_YEAR = 252


def machine() -> dict:
    """CPU model, logical CPUs, Python and the load average now (the machine is shared: quote it)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def real_panel(n_tickers: int, years: int) -> dict:
    """``n_tickers`` series of ``years`` × 252 real bars cut from the bundled CSVs at different offsets.

    Ticker i is a slice of bundled file ``i % 5``, shifted by 37 bars more for each pass over the five
    files, so every series is a real price path (slices of one CSV overlap).
    """
    from skills.data import load_ohlcv

    series = load_ohlcv(DATA_DIR)
    length = years * BARS_PER_YEAR
    names = sorted(series)
    too_short = [name for name in names if len(series[name]) < length]
    if too_short:
        raise SystemExit(f"{', '.join(too_short)}: fewer than {length} bars; ask for fewer --years")
    panel = {}
    for i in range(n_tickers):
        bars = series[names[i % len(names)]]
        room = len(bars) - length
        start = (i // len(names)) * 37 % max(room, 1)
        panel[f"T{i:03d}"] = bars.iloc[start:start + length]
    return panel


def real_windows(data=DATA_DIR, n: int = 2048, sequence_length: int = 30):
    """The first ``n`` training windows of ``prepare_dataset(data)`` (lazy), their labels, the scaler."""
    from skills.data import prepare_dataset

    prepared = prepare_dataset(data, sequence_length=sequence_length)
    n = min(n, len(prepared.train))
    return prepared.train.X.subset(slice(0, n)), prepared.train.y[:n], prepared.scaler


def epoch_clock(after_epoch=None):
    """A Keras callback timing each epoch: ``.wall`` and ``.cpu`` (process CPU) seconds per epoch.

    ``after_epoch()``, if given, runs after each epoch outside the timing; its results go to ``.paired``.
    """
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.wall, self.cpu, self.paired = [], [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._wall, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.wall.append(time.perf_counter() - self._wall)
            self.cpu.append(time.process_time() - self._cpu)
            if after_epoch is not None:
                self.paired.append(after_epoch())

    return EpochClock()


def emit(result: dict) -> None:
    """Print the result as one JSON object (the only thing a benchmark writes to stdout)."""
    result = {**result, "machine_at_end": {"load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)
