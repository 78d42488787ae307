"""Command line: ``python -m skills {data,train,backtest,attention,compare}``.

``train_attention_lstm.py`` is ``python -m skills train``.

Glue only: every step is a library call. A user error (bad file, bad CSV, impossible flag value)
prints one line and exits 2, with no traceback and nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from skills._atomic import atomic_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data"
DEFAULT_MODEL_PATH = Path("models") / "attention_lstm.h5"
MODEL_CHOICES = ("attention_lstm", "causal_attention_lstm", "lstm", "transformer")

log = logging.getLogger("skills")


class UsageError(ValueError):
    """A flag value that cannot work (printed as one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would also print the usage)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _add_data_flags(p: argparse.ArgumentParser, test_fraction: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data-path", default=str(DEFAULT_DATA),
                   help="CSV file or folder of CSVs (default: the bundled real data, %(default)s)")
    g.add_argument("--sequence-length", type=_positive_int, default=30, help="bars per window (%(default)s)")
    g.add_argument("--horizon", type=_positive_int, default=1, help="label horizon in bars (%(default)s)")
    g.add_argument("--label-method", choices=("fixed", "volatility", "quantile"), default="fixed",
                   help="fixed band, volatility-scaled band, or train-split terciles (%(default)s)")
    g.add_argument("--threshold", type=_positive_float, default=None,
                   help="label band: return for 'fixed' (0.005), multiple of sigma for 'volatility' (0.5)")
    g.add_argument("--scaler", choices=("standard", "minmax", "robust"), default="standard",
                   help="feature scaling, fit on training rows only (%(default)s)")
    g.add_argument("--val-fraction", type=_positive_float, default=0.15, help="(%(default)s)")
    if test_fraction:
        g.add_argument("--test-fraction", type=_positive_float, default=0.15, help="(%(default)s)")


def _add_network_flags(g) -> None:
    """Hyperparameters of the four networks (train and compare)."""
    g.add_argument("--lstm-units", type=_positive_int, default=128)
    g.add_argument("--attention-units", type=_positive_int, default=64)
    g.add_argument("--dropout", type=_fraction, default=0.3)
    g.add_argument("--d-model", type=_positive_int, default=64, help="transformer width")
    g.add_argument("--num-heads", type=_positive_int, default=4, help="transformer heads")
    g.add_argument("--num-layers", type=_positive_int, default=2, help="transformer blocks / LSTM layers")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="skills", description="Leak-free deep-learning trading signals on daily bars.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = sub.add_parser("data", help="prepare the dataset and print its summary (nothing is trained)")
    _add_data_flags(data)

    train = sub.add_parser("train", help="train a model and report it beside baselines on the test split",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_data_flags(train)
    g = train.add_argument_group("model")
    g.add_argument("--model", choices=MODEL_CHOICES, default="attention_lstm")
    g.add_argument("--model-path", default=str(DEFAULT_MODEL_PATH), help=".h5 or .keras file to write")
    _add_network_flags(g)
    g = train.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=100, help="upper bound; early stopping ends sooner")
    g.add_argument("--batch-size", type=_positive_int, default=32)
    g.add_argument("--learning-rate", type=_positive_float, default=1e-3)
    g.add_argument("--optimizer", choices=("adam", "adamw", "rmsprop", "sgd"), default="adam")
    g.add_argument("--lr-schedule", choices=("plateau", "cosine", "constant"), default="plateau")
    g.add_argument("--clipnorm", type=_positive_float, default=1.0)
    g.add_argument("--patience", type=_positive_int, default=5,
                   help="early-stopping patience in epochs on the validation loss")
    g.add_argument("--class-weight", choices=("none", "balanced"), default="none")
    g.add_argument("--precision", choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"), default="auto",
                   help="auto: mixed_float16 where a GPU is visible, float32 on CPU")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--tensorboard", metavar="DIR", default=None, help="write TensorBoard logs to DIR")
    g.add_argument("--resume", action="store_true",
                   help="continue training the model already at --model-path (same model and features)")
    g.add_argument("--quiet", action="store_true", help="no progress bars, only the final table")

    backtest = sub.add_parser("backtest", help="trade a model's signals with MLStrategy beside buy-and-hold",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    backtest.add_argument("--model", required=True, help="model file (.h5 or .keras) written by train")
    backtest.add_argument("--data-path", default=str(DEFAULT_DATA),
                          help="CSV file or folder of CSVs; a folder's tickers trade together, one position each")
    backtest.add_argument("--confidence-threshold", type=_probability, default=0.65,
                          help="enter when P(up) (or P(down) with --allow-short) >= this")
    backtest.add_argument("--exit-threshold", type=_probability, default=None,
                          help="leave when the opposite class's P >= this (default: the confidence threshold)")
    backtest.add_argument("--allow-short", action="store_true", help="P(down) opens a short instead of only exiting")
    backtest.add_argument("--stake", type=_probability, default=None,
                          help="fraction of equity per position (default: 0.95 / number of tickers)")
    backtest.add_argument("--hold-bars", type=_positive_int, default=None, help="close positions after N bars")
    backtest.add_argument("--cash", type=_positive_float, default=100_000.0)
    backtest.add_argument("--commission", type=_fraction, default=0.001, help="fraction of each fill's value")
    backtest.add_argument("--slippage", type=_fraction, default=0.0, help="fraction of price, against the order")
    backtest.add_argument("--start", type=_date, default=None,
                          help="first date to trade (default: the start of the model's test split, so the "
                               "backtest is out of sample)")
    backtest.add_argument("--end", type=_date, default=None, help="last date to use")
    backtest.add_argument("--plot", metavar="PNG", default=None, help="save the equity curve beside buy-and-hold")
    backtest.add_argument("--json", metavar="PATH", default=None, help="write metrics and orders as JSON")
    backtest.add_argument("--quiet", action="store_true", help="only the table")

    attention = sub.add_parser("attention", help="draw a model's attention weights over a ticker's bars",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    attention.add_argument("--model", required=True, help="model file (.h5 or .keras) with an attention layer")
    attention.add_argument("--data-path", required=True, help="one ticker's CSV")
    attention.add_argument("--start", type=_date, default=None,
                           help="first window end to draw (default: the last --last windows up to --end)")
    attention.add_argument("--end", type=_date, default=None, help="last window end to draw (default: the last bar)")
    attention.add_argument("--last", type=_positive_int, default=250, help="windows drawn when --start is not given")
    attention.add_argument("--out", default="attention.png", help="image to write (.png, .pdf, .svg)")

    compare = sub.add_parser("compare", help="walk-forward comparison of models beside the majority and LightGBM "
                             "baselines: classification, IC and backtest figures",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_data_flags(compare, test_fraction=False)
    g = compare.add_argument_group("models")
    g.add_argument("--models", default=",".join(MODEL_CHOICES),
                   help=f"comma-separated, from {', '.join(MODEL_CHOICES)}")
    _add_network_flags(g)
    g = compare.add_argument_group("walk-forward")
    g.add_argument("--folds", type=_positive_int, default=3, help="expanding (or rolling) folds over time")
    g.add_argument("--mode", choices=("expanding", "rolling"), default="expanding")
    g.add_argument("--epochs", type=_positive_int, default=20, help="upper bound; early stopping ends sooner")
    g.add_argument("--patience", type=_positive_int, default=3,
                   help="early-stopping patience in epochs on each fold's validation loss")
    g.add_argument("--batch-size", type=_positive_int, default=64)
    g.add_argument("--learning-rate", type=_positive_float, default=1e-3)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--confidence-threshold", type=_probability, default=0.65, help="backtest: enter when P(up) >= this")
    g.add_argument("--commission", type=_fraction, default=0.001, help="backtest: fraction of each fill's value")
    g.add_argument("--json", metavar="PATH", default=None, help="write every fold's figures and the summary as JSON")
    g.add_argument("--plot", metavar="PNG", default=None, help="save macro-F1, IC and Sharpe per model")
    g.add_argument("--quiet", action="store_true", help="only the table")
    return parser


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _date(text: str):
    import pandas as pd

    try:
        return pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _prepare(args):
    from skills.data import prepare_dataset

    if args.val_fraction + args.test_fraction >= 0.9:
        raise UsageError(f"--val-fraction + --test-fraction must leave room for training, got "
                         f"{args.val_fraction} + {args.test_fraction}")
    return prepare_dataset(args.data_path, sequence_length=args.sequence_length, horizon=args.horizon,
                           label=args.label_method, threshold=args.threshold, val_fraction=args.val_fraction,
                           test_fraction=args.test_fraction, scaler=args.scaler)


def _new_model(args):
    from skills.models import AttentionLSTMModel, LSTMModel, TransformerModel

    common = dict(sequence_length=args.sequence_length, dropout_rate=args.dropout)
    if args.model in ("attention_lstm", "causal_attention_lstm"):
        return AttentionLSTMModel(lstm_units=args.lstm_units, attention_units=args.attention_units,
                                  bidirectional=args.model == "attention_lstm", **common)
    if args.model == "lstm":
        return LSTMModel(lstm_units=args.lstm_units, num_layers=args.num_layers, **common)
    if args.num_heads > args.d_model or args.d_model % args.num_heads:
        raise UsageError(f"--d-model ({args.d_model}) must be a multiple of --num-heads ({args.num_heads})")
    return TransformerModel(d_model=args.d_model, num_heads=args.num_heads, num_layers=args.num_layers, **common)


def _resumed_model(args, path: Path):
    from skills.models import load_model

    if not path.exists():
        raise UsageError(f"--resume: no model at {path} to continue from")
    model = load_model(path)
    expected = type(_new_model(args)).__name__
    if type(model).__name__ != expected or getattr(model, "bidirectional", True) != (args.model != "causal_attention_lstm"):
        raise UsageError(f"--resume: {path} holds a {type(model).__name__}, not a --model {args.model}")
    if model.sequence_length != args.sequence_length:
        raise UsageError(f"--resume: {path} uses --sequence-length {model.sequence_length}, not {args.sequence_length}")
    return model


def _write_together(writers: dict) -> list[str]:
    """Write several output files so that they appear together or not at all.

    ``writers`` maps each path to a function that writes to the temporary path it is given. Every file is
    staged beside its target first; only when all writers have succeeded are they renamed into place.
    Returns the written paths as strings.
    """
    with contextlib.ExitStack() as outputs:
        staged = {path: outputs.enter_context(atomic_path(path)) for path in writers}
        for path, write in writers.items():
            write(staged[path])
    return [str(path) for path in writers]


def _write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str))


def _train(args) -> int:
    import keras

    from skills import __version__
    from skills.evaluation import compare, format_confusion, format_table, standard_baselines
    from skills.plots import plot_confusion_matrix, plot_training_curves, save_figure
    from skills.training import gpu_available, remove_backup, resolve_precision

    model_path = Path(args.model_path)
    if model_path.suffix not in (".h5", ".keras"):
        raise UsageError(f"--model-path must end in .h5 or .keras, got {model_path}")
    _check_data_path(args.data_path)
    stem = model_path.with_suffix("")
    report_path = Path(f"{stem}.report.json")
    curves_path, confusion_path = Path(f"{stem}.curves.png"), Path(f"{stem}.confusion.png")
    backup_dir = Path(f"{stem}.backup")  # per-epoch backup: a killed run resumes from it when rerun

    started = time.perf_counter()
    killed_fresh_run = args.resume and not model_path.exists() and backup_dir.is_dir()
    model = _resumed_model(args, model_path) if args.resume and not killed_fresh_run else _new_model(args)
    data = _prepare(args)
    prepared = time.perf_counter()
    for line in data.summary().splitlines():
        log.info(line)

    precision = resolve_precision(args.precision)
    if args.precision == "auto":
        log.info("precision auto -> %s (%s)", precision,
                 "a GPU is visible" if precision != "float32" else "no GPU visible")
    elif precision != "float32" and not gpu_available():
        log.warning("note: %s on a CPU is usually no faster than float32; the file loads under float32", precision)

    model.fit(data, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
              optimizer=args.optimizer, lr_schedule=args.lr_schedule, clipnorm=args.clipnorm,
              patience=args.patience, class_weight=None if args.class_weight == "none" else "balanced",
              precision=args.precision, seed=args.seed, tensorboard_dir=args.tensorboard, backup_dir=str(backup_dir),
              verbose=0 if args.quiet else 1, **({"warm_start": True} if args.resume else {}))
    trained = time.perf_counter()

    test = data.test
    proba = model.predict_proba(test.X)
    predicted = time.perf_counter()
    baselines = standard_baselines(data.train.X, data.train.y, test.X, seed=args.seed)
    results = compare(test.y, proba, baselines, model_name=args.model)
    evaluated = time.perf_counter()

    history = getattr(model, "history_", {})
    epochs_run = len(history.get("loss", []))
    report = {
        "model": args.model,
        "model_class": type(model).__name__,
        "model_path": str(model_path),
        "params": int(model.network_.count_params()),
        "flags": vars(args),
        "precision": precision,
        "backend": keras.backend.backend(),
        "versions": {"skills": __version__, "keras": keras.__version__},
        "data": {
            "path": str(args.data_path),
            "tickers": data.tickers,
            "features": len(data.feature_names),
            "date_ranges": data.bounds.to_dict(),
            "windows": {s.name: len(s) for s in (data.train, data.val, data.test)},
            "class_counts": {s.name: s.class_counts for s in (data.train, data.val, data.test)},
            "label_rule": data.label_rule.to_dict(),
        },
        "test_metrics": results,
        "history": history,
        "timings": {
            "prepare_s": round(prepared - started, 2),
            "train_s": round(trained - prepared, 2),
            "predict_test_s": round(predicted - trained, 2),
            "baselines_s": round(evaluated - predicted, 2),
            "total_s": round(time.perf_counter() - started, 2),
            "epochs_run": epochs_run,
            "train_windows_per_s": round(len(data.train) * epochs_run / max(trained - prepared, 1e-9), 1),
            "predict_windows_per_s": round(len(test) / max(predicted - trained, 1e-9), 1),
        },
        "files": {"model": str(model_path), "curves": str(curves_path), "confusion": str(confusion_path)},
    }
    _write_together({  # the four files appear together, or none does
        model_path: model.save,
        curves_path: lambda tmp: save_figure(plot_training_curves(history), tmp),
        confusion_path: lambda tmp: save_figure(plot_confusion_matrix(results[args.model]["confusion_matrix"]), tmp),
        report_path: lambda tmp: _write_json(tmp, report),
    })
    remove_backup(backup_dir)  # the finished run is saved: its backup has done its job

    print(f"\nTest split: {len(test)} windows, {test.dates.min().date()} .. {test.dates.max().date()} "
          f"({', '.join(data.tickers)}); {epochs_run} epochs in {trained - prepared:.0f} s, precision {precision}")
    print(format_table(results))
    print(f"\nconfusion matrix of {args.model} (rows true, columns predicted):")
    print(format_confusion(results[args.model]["confusion_matrix"]))
    print(f"\nwrote {model_path}, {report_path}, {curves_path}, {confusion_path}")
    return 0


def _default_start(model, args):
    """The first date the model has not been trained or early-stopped on (its test split), if it recorded one."""
    ranges = ((model.metadata_.get("dataset") or {}).get("date_ranges") or {})
    if args.start is not None:
        train_end = model.metadata_.get("train_end")
        if train_end and args.start.strftime("%Y-%m-%d") <= train_end:
            log.warning("warning: --start %s is inside the model's training period (to %s): the backtest is "
                        "in sample", args.start.date(), train_end)
        return args.start
    if "test" in ranges:
        log.info("trading from %s, the start of the model's test split (out of sample); --start changes it",
                 ranges["test"][0])
        return ranges["test"][0]
    log.warning("warning: the model records no test split; trading from the first bar (may be in sample)")
    return None


def _backtest(args) -> int:
    from skills.data import load_ohlcv
    from skills.data.dataset import as_frames
    from skills.models import load_model
    from skills.plots import plot_equity_curve, save_figure
    from skills.strategy import run_backtest
    from skills.strategy.backtest import format_metrics

    _check_output("--plot", args.plot)
    _check_output("--json", args.json, (".json",))
    _check_model_and_range(args)
    _check_data_path(args.data_path)
    model = load_model(args.model)
    data = load_ohlcv(args.data_path)
    start = _default_start(model, args)
    result = run_backtest(model, data, confidence_threshold=args.confidence_threshold, cash=args.cash,
                          commission=args.commission, slippage=args.slippage, start=start, end=args.end,
                          exit_threshold=args.exit_threshold, allow_short=args.allow_short, stake=args.stake,
                          hold_bars=args.hold_bars)
    m = result.metrics
    print(f"\nBacktest of {args.model} on {', '.join(as_frames(data))}: {m['start']} .. {m['end']} ({m['bars']} bars), "
          f"confidence threshold {args.confidence_threshold}, commission {args.commission}, "
          f"cash {args.cash:,.0f}")
    print(format_metrics(m))
    writers = {}
    if args.plot:
        writers[Path(args.plot)] = lambda tmp: save_figure(plot_equity_curve(result.equity, result.buy_and_hold), tmp)
    if args.json:
        payload = {"flags": vars(args), "model": str(args.model), **result.to_dict()}
        writers[Path(args.json)] = lambda tmp: _write_json(tmp, payload)
    written = _write_together(writers)
    if written:
        print(f"\nwrote {', '.join(written)}")
    return 0


def _check_data_path(path) -> None:
    if not Path(path).exists():
        raise UsageError(f"--data-path {path}: no such file or folder")


def _check_model_and_range(args) -> None:
    """--model names a file and --start is not after --end (backtest, attention)."""
    if not Path(args.model).is_file():
        raise UsageError(f"--model {args.model}: no such file (train one with: python -m skills train)")
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError(f"--start {args.start.date()} is after --end {args.end.date()}")


def _check_output(flag: str, path, suffixes=None) -> None:
    if path is None:
        return
    suffix = Path(path).suffix
    if not suffix or (suffixes and suffix not in suffixes):
        wanted = " or ".join(suffixes) if suffixes else "a suffix such as .png"
        raise UsageError(f"{flag} must end in {wanted}, got {path}")


def _attention(args) -> int:
    import numpy as np

    from skills.data import feature_windows, load_ohlcv
    from skills.models import load_model
    from skills.plots import plot_attention_report, save_figure

    _check_output("--out", args.out)
    _check_model_and_range(args)
    if not Path(args.data_path).is_file():
        raise UsageError(f"--data-path {args.data_path}: give one ticker's CSV file")
    model = load_model(args.model)
    bars = load_ohlcv(args.data_path)
    windows, dates = feature_windows(bars, model.feature_names_, model.sequence_length)
    first, last = args.start or dates[0], args.end or dates[-1]
    keep = np.flatnonzero((dates >= first) & (dates <= last))
    if args.start is None:
        keep = keep[-args.last:]
    if keep.size == 0:
        raise UsageError(f"no window ends between {first:%Y-%m-%d} and {last:%Y-%m-%d}; {args.data_path} has "
                         f"windows ending {dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}")
    X, when = windows.subset(keep), dates[keep]
    try:
        weights = model.get_attention_weights(X)
    except AttributeError as exc:
        raise UsageError(f"--model {args.model}: {exc}; use an attention_lstm or causal_attention_lstm model") from None
    proba = model.predict_proba(X)
    ticker = bars.attrs.get("ticker", Path(args.data_path).stem)
    figure = plot_attention_report(weights, when, bars["close"].loc[when], proba,
                                   title=f"{ticker}: close and {type(model).__name__}'s predicted class")
    save_figure(figure, args.out)
    mean = weights.mean(axis=0)
    counts = np.bincount(proba.argmax(axis=1), minlength=3)
    print(f"{len(keep)} windows of {ticker}, {when[0]:%Y-%m-%d} .. {when[-1]:%Y-%m-%d}; predicted down {counts[0]}, "
          f"flat {counts[1]}, up {counts[2]}; most attention at lag {int(np.argmax(mean)) - (len(mean) - 1)} "
          f"(mean weight {mean.max():.3f}, uniform {1 / len(mean):.3f})")
    print(f"wrote {args.out}")
    return 0


def _compare(args) -> int:
    from skills.data import load_ohlcv, prepare_walk_forward
    from skills.data.dataset import as_frames
    from skills.evaluation import format_summary_table, walk_forward
    from skills.plots import plot_walk_forward, save_figure

    names = [name.strip() for name in args.models.split(",") if name.strip()]
    if not names or len(set(names)) != len(names) or not set(names) <= set(MODEL_CHOICES):
        raise UsageError(f"--models must list distinct names from {', '.join(MODEL_CHOICES)}, got {args.models!r}")
    _check_output("--json", args.json, (".json",))
    _check_output("--plot", args.plot)
    _check_data_path(args.data_path)
    per_model = {name: argparse.Namespace(**{**vars(args), "model": name}) for name in names}
    for namespace in per_model.values():
        _new_model(namespace)  # a bad hyperparameter fails now, not after the first fold
    started = time.perf_counter()
    bars = load_ohlcv(args.data_path)
    folds = prepare_walk_forward(bars, n_splits=args.folds, mode=args.mode, sequence_length=args.sequence_length,
                                 horizon=args.horizon, label=args.label_method, threshold=args.threshold,
                                 val_fraction=args.val_fraction, scaler=args.scaler)
    report = walk_forward(
        folds, {name: (lambda ns=namespace: _new_model(ns)) for name, namespace in per_model.items()}, bars=bars,
        fit_options=dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                         patience=args.patience, seed=args.seed, verbose=0),
        backtest_options=dict(confidence_threshold=args.confidence_threshold, commission=args.commission),
        seed=args.seed)
    seconds = time.perf_counter() - started
    tickers = sorted(as_frames(bars))
    blocks = ", ".join(f"{fold['dates']['test'][0]} .. {fold['dates']['test'][1]}" for fold in report["folds"])
    print(f"\nWalk-forward over {', '.join(tickers)}: {args.folds} {args.mode} folds, test blocks {blocks}; "
          f"{seconds / 60:.0f} min")
    print("mean ± std over folds; backtest figures: each fold's mean over its tickers, trading its test block")
    print(format_summary_table(report["summary"]))
    writers = {}
    if args.json:
        payload = {"flags": vars(args), "seconds": round(seconds, 1), **report}
        writers[Path(args.json)] = lambda tmp: _write_json(tmp, payload)
    if args.plot:
        writers[Path(args.plot)] = lambda tmp: save_figure(plot_walk_forward(report["summary"]), tmp)
    written = _write_together(writers)
    if written:
        print(f"\nwrote {', '.join(written)}")
    return 0


def _data(args) -> int:
    print(_prepare(args).summary())
    return 0


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 unexpected error, 2 user error, 130 interrupted).

    ``--debug`` (before or after the command) prints the traceback of an unexpected error.
    """
    parser = _build_parser()
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    args, unknown = parser.parse_known_args(argv)
    debug = args.debug or "--debug" in unknown
    unknown = [arg for arg in unknown if arg != "--debug"]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(message)s", stream=sys.stderr, force=True)
    from skills.data import DataError
    from skills.models import ModelFileError
    from skills.training import TrainingError

    try:
        with warnings.catch_warnings():  # a warning is one line too, and the handler is restored after
            warnings.showwarning = lambda message, *rest, **kw: print(f"warning: {message}", file=sys.stderr)
            return {"data": _data, "train": _train, "backtest": _backtest, "attention": _attention,
                    "compare": _compare}[args.command](args)
    except (DataError, ModelFileError, UsageError, TrainingError) as exc:
        print(f"skills {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skills {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment failure: one line, the traceback only under --debug
        if debug:
            import traceback

            traceback.print_exc()
        else:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(f"skills {args.command}: unexpected error: {type(exc).__name__}: {detail} "
                  f"(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
