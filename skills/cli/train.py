"""``skills data`` and ``skills train``: prepare the dataset; train a model and report it beside the baselines."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from skills._atomic import write_together
from skills._lock import exclusive_lock
from skills.cli.loading import load_bars, resolve_features
from skills.cli.parser import NETWORK_FLAGS, TOPK_MIN_TICKERS, UsageError, check_data_path, write_json
from skills.data import DataError, prepare_dataset
from skills.data.dataset import as_frames
from skills.evaluation import format_confusion, format_table, score_on_test, training_report
from skills.models import load_model, make_model, model_params
from skills.plots import plot_confusion_matrix, plot_training_curves, save_figure
from skills.training import gpu_available, precision_reason, remove_backup, resolve_precision

log = logging.getLogger("skills")


def new_model(name: str, args):
    """An unfitted ``name`` model from the network flags that architecture takes and the user set.

    Raises:
        UsageError: a hyperparameter value the architecture refuses.
    """
    takes = model_params(name)
    params = {param: getattr(args, param) for param in NETWORK_FLAGS
              if param in takes and getattr(args, param) is not None}
    try:
        return make_model(name, sequence_length=args.sequence_length, **params)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--model {name}: {exc}") from None


def _resumed_model(args, path: Path):
    """The model at ``path`` to continue training, if it is the architecture and window length asked for."""
    if not path.exists():
        raise UsageError(f"--resume: no model at {path} to continue from")
    model = load_model(path)
    expected = new_model(args.model, args)
    if type(model) is not type(expected) or getattr(model, "bidirectional", None) != getattr(
            expected, "bidirectional", None):
        raise UsageError(f"--resume: {path} holds a {type(model).__name__}, not a --model {args.model}")
    if model.sequence_length != args.sequence_length:
        raise UsageError(f"--resume: {path} uses --sequence-length {model.sequence_length}, not {args.sequence_length}")
    return model


def prepare_options(args) -> dict:
    """The `prepare_dataset` / `prepare_walk_forward` keyword arguments the data flags set (not the fractions)."""
    return dict(sequence_length=args.sequence_length, horizon=args.horizon, label=args.label,
                threshold=args.threshold, scaler=args.scaler, features=resolve_features(args.features),
                cross_section=args.cross_section)


def topk_defaults(n_tickers: int, k=None, n_drop=None) -> tuple[int, int]:
    """``k`` (default a tenth of the tickers, at least 1) and ``n_drop`` (default k / 5, at least 1), as Qlib's
    TopkDropout holds 50 of CSI300's 300 and swaps 5 a day."""
    k = max(1, n_tickers // 10) if k is None else k
    if k > n_tickers:
        raise UsageError(f"--k {k} is more than the {n_tickers} tickers of the universe")
    return k, (max(1, k // 5) if n_drop is None else n_drop)


def _prepare(args, bars=None):
    """The PreparedData of the flags, from ``bars`` or from loading ``--data-path``; a bad flag value is a
    UsageError."""
    if args.val_fraction + args.test_fraction >= 0.9:
        raise UsageError(f"--val-fraction + --test-fraction must leave room for training, got "
                         f"{args.val_fraction} + {args.test_fraction}")
    options = prepare_options(args)
    bars = load_bars(args) if bars is None else bars
    try:
        return prepare_dataset(bars, val_fraction=args.val_fraction, test_fraction=args.test_fraction, **options)
    except DataError:
        raise
    except ValueError as exc:  # --features naming an unknown feature, --cross-section on one ticker, ...
        raise UsageError(str(exc)) from None


def data(args) -> int:
    """Print the summary of the dataset the flags describe."""
    print(_prepare(args).summary())
    return 0


def fit_options(args) -> dict:
    """The `fit` keyword arguments the training flags set (train and compare)."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                optimizer=args.optimizer, lr_schedule=args.lr_schedule, clipnorm=args.clipnorm,
                patience=args.patience, class_weight=None if args.class_weight == "none" else args.class_weight,
                precision=args.precision, seed=args.seed,
                **({} if args.batch_by is None else {"batch_by": args.batch_by}))


def _log_precision(requested: str, network: str) -> str:
    precision = resolve_precision(requested, network)
    if requested == "auto":
        log.info("precision auto -> %s (%s)", precision, precision_reason(requested, network))
    elif precision != "float32" and not gpu_available():
        log.warning("note: %s on a CPU is usually no faster than float32; the file loads under float32", precision)
    return precision


def train(args) -> int:
    """Train, then write the model, its report and two plots together, and print the test table. The model path
    is locked for the whole run: a second run writing the same file (or its backup) stops at once."""
    if Path(args.model_path).suffix not in (".h5", ".keras"):
        raise UsageError(f"--model-path must end in .h5 or .keras, got {args.model_path}")
    with exclusive_lock(args.model_path, "model file"):
        return _train(args)


def _train(args) -> int:
    model_path = Path(args.model_path)
    check_data_path(args.data_path)
    stem = model_path.with_suffix("")
    report_path = Path(f"{stem}.report.json")
    curves_path, confusion_path = Path(f"{stem}.curves.png"), Path(f"{stem}.confusion.png")
    backup_dir = Path(f"{stem}.backup")  # per-epoch backup: a killed run resumes from it when rerun

    started = time.perf_counter()
    killed_fresh_run = args.resume and not model_path.exists() and backup_dir.is_dir()
    model = _resumed_model(args, model_path) if args.resume and not killed_fresh_run else new_model(args.model, args)
    bars = load_bars(args)
    data = _prepare(args, bars)
    prepared = time.perf_counter()
    for line in data.summary().splitlines():
        log.info(line)
    precision = _log_precision(args.precision, type(model).__name__)
    model.fit(data, **fit_options(args), tensorboard_dir=args.tensorboard_dir, backup_dir=str(backup_dir),
              verbose=0 if args.quiet else 1, **({"warm_start": True} if args.resume else {}))
    trained = time.perf_counter()

    frames = as_frames(bars)
    universe = len(frames) > 1 and (args.label == "cross_section" or len(frames) >= TOPK_MIN_TICKERS)
    topk = dict(zip(("k", "n_drop"), topk_defaults(len(frames))), rebalance=5) if universe else None
    results = score_on_test(model, data, name=args.model, seed=args.seed, bars=frames, topk_options=topk)
    scored = time.perf_counter()
    epochs_run = len(model.history_.get("loss", []))
    timings = {"prepare_s": round(prepared - started, 2), "train_s": round(trained - prepared, 2),
               "score_test_s": round(scored - trained, 2), "total_s": round(scored - started, 2),
               "epochs_run": epochs_run,
               "train_windows_per_s": round(len(data.train) * epochs_run / max(trained - prepared, 1e-9), 1)}
    files = {"model": model_path, "curves": curves_path, "confusion": confusion_path}
    settings = {key: value for key, value in vars(args).items() if key != "load_report"}
    report = training_report(model, data, results, name=args.model, settings=settings, timings=timings,
                             files=files)
    if args.load_report is not None:  # every row dropped and file skipped while loading the universe
        report["data"]["load_report"] = args.load_report
    if topk is not None:
        report["data"]["topk"] = topk
    confusion = results[args.model]["confusion_matrix"]
    write_together({
        model_path: model.save,
        curves_path: lambda tmp: save_figure(plot_training_curves(model.history_), tmp),
        confusion_path: lambda tmp: save_figure(plot_confusion_matrix(confusion), tmp),
        report_path: lambda tmp: write_json(tmp, report),
    })
    remove_backup(backup_dir)  # the finished run is saved: its backup has done its job

    test = data.test
    print(f"\nTest split: {len(test)} windows, {test.dates.min().date()} .. {test.dates.max().date()} "
          f"({_tickers(data.tickers)}); {epochs_run} epochs in {trained - prepared:.0f} s, "
          f"precision {precision}")
    if topk is not None:
        print(f"on the test split's {len(frames)} tickers: IC of P(up) - P(down) per date across the tickers "
              f"(mean over dates); top-k: k {topk['k']}, n_drop {topk['n_drop']}, rebalance every "
              f"{topk['rebalance']} bars, excess over the equal-weight universe")
    print(format_table(results))
    print(f"\nconfusion matrix of {args.model} (rows true, columns predicted):")
    print(format_confusion(confusion))
    print(f"\nwrote {model_path}, {report_path}, {curves_path}, {confusion_path}")
    return 0


def _tickers(names, most: int = 12) -> str:
    """The tickers, or their count and the first few when there are many."""
    names = list(names)
    return ", ".join(names) if len(names) <= most else f"{len(names)} tickers: {', '.join(names[:5])}, ..."
