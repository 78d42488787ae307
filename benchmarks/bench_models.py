"""Parameter counts and train / predict throughput of the four default networks on this machine.

    python benchmarks/bench_models.py                       # real windows from data/, 2048 of them
    python benchmarks/bench_models.py --windows 512 --epochs 3 --models attention_bi lstm
    python benchmarks/bench_models.py --random              # random arrays of the same shape

Train samples/s is the median over the epochs after the first (the first pays for tracing); predict
samples/s is the second of two `predict_proba` passes over all windows. Figures depend on the CPU,
the backend (KERAS_BACKEND) and the thread count; rerun rather than quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = {
    "attention_bi": ("AttentionLSTMModel", {}),
    "attention_causal": ("AttentionLSTMModel", {"bidirectional": False}),
    "lstm": ("LSTMModel", {}),
    "transformer": ("TransformerModel", {}),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=2048, help="training windows (default 2048)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to time (default 3, the first is dropped)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size (default 64)")
    parser.add_argument("--sequence-length", type=int, default=30, help="bars per window (default 30)")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "data"),
                        help="CSV file or folder for real windows (default: the bundled data/)")
    parser.add_argument("--random", action="store_true", help="random arrays instead of real windows")
    return parser.parse_args(argv)


def load_windows(args):
    if not args.random:
        try:
            from skills.data import prepare_dataset

            data = prepare_dataset(args.data, sequence_length=args.sequence_length)
            n = min(args.windows, len(data.train))
            return np.asarray(data.train.X[:n]), data.train.y[:n], "real windows from " + args.data
        except ImportError:
            pass
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.windows, args.sequence_length, 50)).astype(np.float32)
    return X, rng.integers(0, 3, size=args.windows), "random arrays"


def main(argv=None):
    args = parse_args(argv)
    import keras

    import skills.models
    from skills.training import resolve_precision

    X, y, source = load_windows(args)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, precision {resolve_precision('auto')}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{len(X)} {source}, shape {X.shape[1:]}, batch {args.batch_size}, {args.epochs} epochs\n")

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    print(f"{'model':<18}{'params':>12}{'train samples/s':>18}{'predict samples/s':>20}")
    for key in args.models:
        name, params = MODELS[key]
        model = getattr(skills.models, name)(sequence_length=args.sequence_length, **params)
        timer = EpochTimer()
        timer.times = []
        # patience large enough that early stopping never cuts the timed epochs short
        model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0, patience=args.epochs,
                  lr_schedule="constant", callbacks=[timer])
        epoch_times = timer.times[1:] or timer.times
        train_rate = len(X) / float(np.median(epoch_times))
        model.predict_proba(X)
        start = time.perf_counter()
        model.predict_proba(X)
        predict_rate = len(X) / (time.perf_counter() - start)
        print(f"{key:<18}{model.network_.count_params():>12,}{train_rate:>18,.0f}{predict_rate:>20,.0f}", flush=True)


if __name__ == "__main__":
    main()
