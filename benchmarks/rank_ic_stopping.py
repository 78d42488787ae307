"""Early stopping on the validation rank IC against early stopping on the validation loss: ALSTM on one fold (JSON).

    nice -n 10 python benchmarks/rank_ic_stopping.py                    # all tickers, fold 1 of 3 (rolling)
    nice -n 10 python benchmarks/rank_ic_stopping.py --tickers 50 --epochs 2 --monitors val_rank_ic   # the cost

The bundled S&P 500 universe (``data/universe``, bad rows dropped, short tickers skipped) is cut into
``prepare_walk_forward(n_splits=3, mode="rolling")`` folds of price-volume windows (Alpha360 in the manner of
Qlib) with cross-sectional labels; one fold is used. An ALSTM (its defaults) trains for at most ``--epochs``
epochs with patience ``--patience`` and batch ``--batch-size``, once per ``--monitors`` entry, from the same seed.
Each epoch's ``val_loss`` and ``val_rank_ic`` are printed (under ``val_loss`` the rank IC is logged too, by a
`RankICCallback` after the early stopping, which it does not affect), with the seconds each epoch spent training,
computing the validation loss and computing the rank IC (one forward pass over the validation windows and
``daily_ic``). The test split is scored once per run, after training: mean daily rank IC, its ICIR and the
t-statistic of the mean over the test days. Progress goes to stderr, one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import emit, log, machine

MONITORS = ("val_rank_ic", "val_loss")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, default=None, help="first N tickers of the universe (default all)")
    parser.add_argument("--fold", type=int, default=0, help="0-based fold of the walk-forward (default 0)")
    parser.add_argument("--n-splits", type=int, default=3)
    parser.add_argument("--sequence-length", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--monitors", nargs="+", choices=MONITORS, default=list(MONITORS))
    return parser.parse_args(argv)


def phase_clock():
    """A Keras callback timing each epoch's training, validation loss, and what runs after it (the rank IC)."""
    import keras

    class PhaseClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_epoch_begin(self, epoch, logs=None):
            self._begin = self._test_begin = self._test_end = time.perf_counter()

        def on_test_begin(self, logs=None):
            self._test_begin = time.perf_counter()

        def on_test_end(self, logs=None):
            self._test_end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            logs = logs or {}
            row = {"epoch": epoch + 1, "train_s": round(self._test_begin - self._begin, 2),
                   "val_loss_s": round(self._test_end - self._test_begin, 2),
                   "rank_ic_s": round(now - self._test_end, 2),
                   **{k: round(float(logs[k]), 5) for k in ("loss", "val_loss", "val_rank_ic") if k in logs}}
            self.rows.append(row)
            log("  " + "  ".join(f"{k} {v}" for k, v in row.items()))

    return PhaseClock()


def test_rank_ic(model, split) -> dict:
    """The test split's mean daily rank IC, ICIR and t-statistic of the mean over its days."""
    from skills.metrics import daily_ic

    scores = daily_ic(model.predict_proba(split), split.forward_returns, split.dates)
    t = scores["rank_icir"] * scores["n_dates"] ** 0.5 if scores["rank_icir"] is not None else None
    return {"rank_ic": scores["rank_ic"], "rank_icir": scores["rank_icir"], "t": t, "n_dates": scores["n_dates"]}


def main(argv=None) -> None:
    args = parse_args(argv)
    from skills.data import load_universe, prepare_walk_forward
    from skills.models import make_model
    from skills.training import RankICCallback

    start = time.perf_counter()
    universe = load_universe(Path(__file__).resolve().parents[1] / "data" / "universe", on_bad_rows="drop",
                             on_bad_files="skip")
    frames = {t: universe[t] for t in list(universe)[:args.tickers]}
    folds = prepare_walk_forward(frames, n_splits=args.n_splits, mode="rolling", label="cross_section",
                                 features="price_volume", sequence_length=args.sequence_length)
    data = folds[args.fold]
    del folds
    sizes = {name: len(getattr(data, name)) for name in ("train", "val", "test")}
    log(f"{len(frames)} tickers, fold {args.fold + 1} of {args.n_splits}: {sizes} windows "
        f"({time.perf_counter() - start:.0f} s to prepare)")
    runs = {}
    for monitor in args.monitors:
        log(f"ALSTM, monitor={monitor}")
        clock = phase_clock()
        extra = [RankICCallback(data.val)] if monitor != "val_rank_ic" else []  # logged only: after the stopping
        model = make_model("alstm", sequence_length=args.sequence_length)
        began = time.perf_counter()
        model.fit(data, epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, monitor=monitor,
                  verbose=0, callbacks=extra + [clock])
        seconds = time.perf_counter() - began
        watched = model.history_[monitor]
        best = 1 + watched.index(max(watched) if monitor == "val_rank_ic" else min(watched))  # the weights kept
        runs[monitor] = {"epochs": clock.rows, "best_epoch": best, "fit_seconds": round(seconds, 1),
                         "test": test_rank_ic(model, data.test)}
        log(f"  best epoch {best}, {seconds:.0f} s; test {runs[monitor]['test']}")
    emit({"benchmark": "rank_ic_stopping", "machine": machine(), "args": vars(args), "windows": sizes,
          "tickers": len(frames), "runs": runs})


if __name__ == "__main__":
    main()
