"""The flags of ``python -m skills``: each named after the parameter it sets, with choices and defaults from the
library (`MODEL_NAMES`, `TrainConfig`, `PRECISIONS`, `LABEL_METHODS`, ...), and the checks of their values."""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

import pandas as pd

from skills._atomic import atomic_path
from skills.data import BATCH_BY, CROSS_SECTION_MODES, LABEL_METHODS, SCALERS, WALK_FORWARD_MODES
from skills.data.universe import BAD_FILE_POLICIES, BAD_ROW_POLICIES
from skills.evaluation import BASELINES, walk_forward
from skills.models import MODEL_NAMES, model_params
from skills.strategy import STRATEGIES
from skills.training import LR_SCHEDULES, OPTIMIZERS, PRECISIONS, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT / "data"
DEFAULT_MODEL_PATH = Path("models") / "attention_lstm.h5"
#: The flags of the network hyperparameters; each is passed only to the architectures that take it.
NETWORK_FLAGS = ("lstm_units", "attention_units", "dropout_rate", "d_model", "num_heads", "num_layers", "ff_dim",
                 "hidden_size", "rnn_type", "channels", "kernel_size", "cnn_filters", "num_branches", "base_model")
#: `compare --models` without the flag: the four networks of the seed documents (the Qlib zoo by name).
DEFAULT_COMPARE_MODELS = ("attention_lstm", "causal_attention_lstm", "lstm", "transformer")
#: `compare` trades a top-k portfolio by default from this many tickers on (or with --label cross_section).
TOPK_MIN_TICKERS = 10
#: Old spellings still accepted (hidden from --help): old flag -> the flag it now is.
ALIASES = {"--dropout": "--dropout-rate", "--label-method": "--label", "--folds": "--n-splits",
           "--tensorboard": "--tensorboard-dir", "--model": "--model-path"}


class UsageError(ValueError):
    """A flag value that cannot work (printed as one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would also print the usage)
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` where a flag has a default worth showing (not None, not an off switch)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _threshold(text: str):
    """``auto`` (the threshold stored in the model file) or a probability in (0, 1]."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _probability(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a probability in (0, 1], got {text}") from None


def _date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _add(group, flag: str, **kwargs) -> None:
    """Add ``flag``, and the old spelling that `ALIASES` maps to it as a hidden alias."""
    group.add_argument(flag, **kwargs)
    for old, new in ALIASES.items():
        if new == flag:
            group.add_argument(old, dest=flag[2:].replace("-", "_"), type=kwargs.get("type"),
                               choices=kwargs.get("choices"), default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _add_loading_flags(g) -> None:
    """How a universe (a folder, or a long-format ``date,ticker,...`` file) is loaded (`load_universe`)."""
    g.add_argument("--on-bad-rows", choices=BAD_ROW_POLICIES, default=None,
                   help="a bad row (NaN or non-positive price, high below low, ...): drop it and list it, or stop "
                        "(default: drop for a universe, raise for one ticker's CSV)")
    g.add_argument("--on-bad-files", choices=BAD_FILE_POLICIES, default=None,
                   help="a bad or too short ticker of a universe: skip it and list it, or stop (default: skip)")


def _add_data_flags(p, test_fraction: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data-path", default=str(DEFAULT_DATA), help="one ticker's CSV, a folder of CSVs, or a "
                   "long-format date,ticker,open,... file (.csv or .csv.gz; e.g. data/universe) or a folder "
                   "holding one (default: the bundled real data, %(default)s)")
    _add_loading_flags(g)
    g.add_argument("--features", default="all",
                   help="all (the indicators), price_volume (Alpha360-style raw price-volume windows), or a "
                        "comma-separated list of feature names")
    g.add_argument("--cross-section", choices=CROSS_SECTION_MODES, default=CROSS_SECTION_MODES[0],
                   help="replace each feature by its rank or z-score across the tickers of the same date")
    g.add_argument("--sequence-length", type=_positive_int, default=30, help="bars per window")
    g.add_argument("--horizon", type=_positive_int, default=1, help="label horizon in bars")
    _add(g, "--label", choices=LABEL_METHODS, default=LABEL_METHODS[0],
         help="fixed band, volatility-scaled band, train-split terciles, or terciles of each date's forward "
              "returns across the tickers (cross_section: a universe)")
    g.add_argument("--threshold", type=_positive_float, default=None,
                   help="label band: return for 'fixed' (default 0.005), multiple of sigma for 'volatility' (0.5)")
    g.add_argument("--scaler", choices=SCALERS, default=SCALERS[0], help="feature scaling, fit on training rows only")
    g.add_argument("--val-fraction", type=_positive_float, default=0.15, help="share of the dates for validation")
    if test_fraction:
        g.add_argument("--test-fraction", type=_positive_float, default=0.15, help="share of the dates for testing")


def _architecture_defaults(param: str) -> str:
    """'attention_lstm 128, lstm 64': the default of ``param`` in each architecture that takes it."""
    return ", ".join(f"{name} {model_params(name)[param]}" for name in MODEL_NAMES
                     if param in model_params(name) and name != "causal_attention_lstm")


def _add_network_flags(g) -> None:
    """Hyperparameters of the networks; unset, each architecture uses its own default."""
    helps = {"lstm_units": ("units per LSTM direction", _positive_int),
             "attention_units": ("attention scoring units", _positive_int),
             "dropout_rate": ("dropout rate", _fraction),
             "d_model": ("transformer width", _positive_int),
             "num_heads": ("transformer heads", _positive_int),
             "num_layers": ("layers / blocks / levels of the architecture", _positive_int),
             "ff_dim": ("feed-forward width of a transformer block", _positive_int),
             "hidden_size": ("recurrent units (Qlib zoo)", _positive_int),
             "rnn_type": ("recurrent cell of alstm", ("gru", "lstm")),
             "channels": ("convolution channels of tcn", _positive_int),
             "kernel_size": ("convolution kernel size", _positive_int),
             "cnn_filters": ("convolution filters of krnn", _positive_int),
             "num_branches": ("parallel recurrent branches of krnn", _positive_int),
             "base_model": ("recurrent encoder of gats", ("gru", "lstm"))}
    for param in NETWORK_FLAGS:
        text, kind = helps[param]
        kind = dict(choices=kind) if isinstance(kind, tuple) else dict(type=kind)
        _add(g, "--" + param.replace("_", "-"), **kind, default=None,
             help=f"{text} (default: {_architecture_defaults(param)})")


def _add_training_flags(g) -> None:
    """Trainer options; defaults from `skills.training.TrainConfig`."""
    config = TrainConfig()
    g.add_argument("--epochs", type=_positive_int, default=config.epochs,
                   help="upper bound; early stopping ends sooner")
    g.add_argument("--batch-size", type=_positive_int, default=config.batch_size, help="windows per batch")
    g.add_argument("--learning-rate", type=_positive_float, default=config.learning_rate, help="initial rate")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=config.optimizer, help="sgd uses momentum 0.9")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=config.lr_schedule, help="learning-rate schedule")
    g.add_argument("--clipnorm", type=_positive_float, default=config.clipnorm, help="gradient norm clipping")
    g.add_argument("--patience", type=_positive_int, default=config.patience,
                   help="early-stopping patience in epochs on the validation loss (best weights restored)")
    g.add_argument("--class-weight", choices=("none", "balanced"), default=config.class_weight or "none",
                   help="weight the classes by their inverse frequency in the training split")
    g.add_argument("--precision", choices=PRECISIONS, default=config.precision,
                   help="dtype policy; auto: the one measured fastest on this backend and device (float32 so far: "
                        "mixed_float16 was measured slower for these networks on an H200), and the log says why")
    g.add_argument("--seed", type=int, default=config.seed, help="seeds Keras, NumPy, Python and the shuffling")
    g.add_argument("--batch-by", choices=BATCH_BY, default=None,
                   help="window: batches of --batch-size windows; date: one batch per date holding all its "
                        "tickers (a universe; gats always trains so) (default: window)")


def build_parser() -> argparse.ArgumentParser:
    """The ``skills`` parser with its six commands (``parser.commands`` maps each name to its parser)."""
    parser = _Parser(prog="skills", description="Leak-free deep-learning trading signals on daily bars.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = sub.add_parser("data", help="prepare the dataset and print its summary (nothing is trained)",
                          formatter_class=_Help)
    _add_data_flags(data)

    train = sub.add_parser("train", help="train a model and report it beside baselines on the test split",
                           formatter_class=_Help)
    _add_data_flags(train)
    g = train.add_argument_group("model")
    g.add_argument("--model", choices=MODEL_NAMES, default=MODEL_NAMES[0], help="architecture")
    g.add_argument("--model-path", default=str(DEFAULT_MODEL_PATH), help=".h5 or .keras file to write")
    _add_network_flags(g)
    g = train.add_argument_group("training")
    _add_training_flags(g)
    _add(g, "--tensorboard-dir", metavar="DIR", default=None, help="write TensorBoard logs to DIR")
    g.add_argument("--resume", action="store_true",
                   help="continue training the model already at --model-path (same model and features)")
    g.add_argument("--quiet", action="store_true", help="no progress bars, only the final table")

    backtest = sub.add_parser("backtest", help="trade a model's signals with MLStrategy beside buy-and-hold, or "
                              "a top-k portfolio beside the equal-weight universe", formatter_class=_Help)
    _add(backtest, "--model-path", default=None, help="model file (.h5 or .keras) written by train (required)")
    backtest.add_argument("--data-path", default=str(DEFAULT_DATA),
                          help="one ticker's CSV, a folder of CSVs or a long-format file; a universe's tickers "
                               "trade together (ml: one position each; topk: one universe)")
    _add_loading_flags(backtest)
    backtest.add_argument("--strategy", choices=STRATEGIES, default=None,
                          help="ml: MLStrategy's thresholds per ticker; topk: hold the k best-scored tickers "
                               "(default: topk for a model trained with --label cross_section on several "
                               "tickers, else ml)")
    g = backtest.add_argument_group("ml strategy (--strategy ml)")
    g.add_argument("--confidence-threshold", type=_threshold, default=None,
                   help="enter when P(up) (or P(down) with --allow-short) >= this, or 'auto': the P(up) and "
                        "P(down) the top 20%% of the model's validation days reached, stored in the model file "
                        "(default: auto when the file has them, else 0.65)")
    g.add_argument("--exit-threshold", type=_probability, default=None,
                   help="leave when the opposite class's P >= this (default: the confidence threshold)")
    g.add_argument("--allow-short", action="store_true", help="P(down) opens a short instead of only exiting")
    g.add_argument("--hold-bars", type=_positive_int, default=None, help="close positions after N bars")
    g = backtest.add_argument_group("top-k strategy (--strategy topk)")
    g.add_argument("--k", type=_positive_int, default=None,
                   help="tickers held per side (default: a fifth of the tickers, at least 1)")
    g.add_argument("--n-drop", type=_count, default=None,
                   help="replace at most this many holdings per rebalance (Qlib's TopkDropout; default: no limit)")
    g.add_argument("--rebalance", type=_positive_int, default=None, help="rebalance every N bars (default: 1)")
    g.add_argument("--long-short", action="store_true", help="also short the k worst-scored tickers")
    g = backtest.add_argument_group("broker and output")
    g.add_argument("--stake", type=_probability, default=None,
                   help="ml: fraction of equity per position (default: 0.95 / number of tickers); topk: gross "
                        "fraction of equity invested (default: 0.95)")
    g.add_argument("--cash", type=_positive_float, default=100_000.0, help="starting cash")
    g.add_argument("--commission", type=_fraction, default=0.001, help="fraction of each fill's value")
    g.add_argument("--slippage", type=_fraction, default=0.0, help="fraction of price, against the order")
    g.add_argument("--start", type=_date, default=None,
                   help="first date to trade (default: the start of the model's test split, so the "
                        "backtest is out of sample)")
    g.add_argument("--end", type=_date, default=None, help="last date to use (default: the last bar)")
    g.add_argument("--plot", metavar="PNG", default=None, help="save the equity curve beside its benchmark")
    g.add_argument("--json", metavar="PATH", default=None, help="write metrics and orders as JSON")
    g.add_argument("--quiet", action="store_true", help="only the table")

    attention = sub.add_parser("attention", help="draw a model's attention weights over a ticker's bars",
                               formatter_class=_Help)
    _add(attention, "--model-path", default=None,
         help="model file (.h5 or .keras) with an attention layer (required)")
    attention.add_argument("--data-path", required=True, help="one ticker's CSV")
    attention.add_argument("--start", type=_date, default=None,
                           help="first window end to draw (default: the last --last windows up to --end)")
    attention.add_argument("--end", type=_date, default=None, help="last window end to draw (default: the last bar)")
    attention.add_argument("--last", type=_positive_int, default=250, help="windows drawn when --start is not given")
    attention.add_argument("--out", default="attention.png", help="image to write (.png, .pdf, .svg)")

    compare = sub.add_parser("compare", help="walk-forward comparison of models beside baselines: "
                             "classification, IC and backtest figures", formatter_class=_Help)
    _add_data_flags(compare, test_fraction=False)
    g = compare.add_argument_group("models")
    g.add_argument("--models", default=",".join(DEFAULT_COMPARE_MODELS),
                   help=f"comma-separated, from {', '.join(MODEL_NAMES)}")
    baselines = inspect.signature(walk_forward).parameters["baselines"].default
    g.add_argument("--baselines", default=",".join(baselines), help=f"comma-separated, from {', '.join(BASELINES)}")
    _add_network_flags(g)
    g = compare.add_argument_group("walk-forward")
    _add(g, "--n-splits", type=_positive_int, default=3, help="expanding (or rolling) folds over time")
    g.add_argument("--mode", choices=WALK_FORWARD_MODES, default=WALK_FORWARD_MODES[0], help="training window")
    g = compare.add_argument_group("training (each fold)")
    _add_training_flags(g)
    g = compare.add_argument_group("backtest (each fold's test block)")
    g.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="ml: MLStrategy per ticker; topk: one top-k portfolio over the tickers, as Qlib scores a "
                        f"universe (default: topk with --label cross_section or >= {TOPK_MIN_TICKERS} tickers)")
    g.add_argument("--confidence-threshold", type=_threshold, default=None,
                   help="ml: enter when P(up) >= this, or 'auto' (default: auto, the threshold each model chose on "
                        "its validation split, 0.65 for the baselines; the table shows 0.65 beside it)")
    g.add_argument("--k", type=_positive_int, default=None,
                   help="topk: tickers held (default: a tenth of the tickers, at least 1)")
    g.add_argument("--n-drop", type=_count, default=None,
                   help="topk: replace at most this many holdings per rebalance (default: k / 5, at least 1)")
    g.add_argument("--rebalance", type=_positive_int, default=5, help="topk: rebalance every N bars")
    g.add_argument("--commission", type=_fraction, default=0.001, help="fraction of each fill's value")
    add_ray_flags(compare.add_argument_group("scale-out on Ray (each fold x model is one task)"))
    g = compare.add_argument_group("output")
    g.add_argument("--json", metavar="PATH", default=None, help="write every fold's figures and the summary as JSON")
    g.add_argument("--plot", metavar="PNG", default=None, help="save macro-F1, IC and Sharpe per model")
    g.add_argument("--quiet", action="store_true", help="only the table")
    # -- hyperparameter search: `tune`, and `--config FILE` of train and compare --
    for command in (train, compare):
        command.add_argument("--config", metavar="FILE", default=None,
                             help="JSON or YAML file of flag values (e.g. the best_config.json of tune); flags "
                                  "given on the command line win")
    _add_tune_parser(sub)
    parser.commands = sub.choices
    return parser


def _add_tune_parser(sub) -> None:
    """``skills tune``: a hyperparameter search of one architecture on walk-forward validation splits."""
    tune = sub.add_parser("tune", help="search hyperparameters (Optuna TPE, ASHA early stopping on Ray Tune) on "
                          "walk-forward validation splits, and refit the best", formatter_class=_Help)
    _add_data_flags(tune)
    g = tune.add_argument_group("search")
    g.add_argument("--model", choices=MODEL_NAMES, default=MODEL_NAMES[0], help="architecture")
    g.add_argument("--trials", type=_positive_int, default=20, help="configurations to try")
    g.add_argument("--folds", type=_at_least_two, default=3,
                   help="walk-forward folds; each trial is scored on every fold's validation split")
    g.add_argument("--mode", choices=WALK_FORWARD_MODES, default=WALK_FORWARD_MODES[0], help="training window")
    g.add_argument("--metric", choices=("auto", "log_loss", "rank_ic"), default="auto",
                   help="objective: mean validation log loss (minimised) or mean daily rank IC (maximised); auto: "
                        "rank_ic with --label cross_section, else log_loss")
    g.add_argument("--space", metavar="FILE", default=None,
                   help="JSON or YAML file of search-space entries replacing the architecture's defaults, e.g. "
                        '{"lstm_units": {"choice": [32, 64]}, "learning_rate": {"loguniform": [1e-4, 1e-2]}}')
    g.add_argument("--out", metavar="DIR", default=str(Path("models") / "tune"),
                   help="trial results, best_config.json and the refitted best model; running the same command "
                        "again on it resumes the search")
    g = tune.add_argument_group("Ray")
    g.add_argument("--address", default=None,
                   help="Ray cluster to attach to, e.g. ray://head:10001 or auto (default: $RAY_ADDRESS, else "
                        "Ray starts inside the command)")
    g.add_argument("--cpus", type=_positive_int, default=None,
                   help="CPUs of the Ray started inside the command (default: all)")
    g.add_argument("--cpus-per-trial", type=_positive_float, default=1.0, help="CPUs each trial asks for")
    g.add_argument("--gpus-per-trial", type=_fraction, default=0.0, help="GPUs each trial asks for (a fraction "
                   "shares one)")
    g = tune.add_argument_group("training (fixed values of the options the space does not search)")
    _add_training_flags(g)
    tune.set_defaults(epochs=10)
    g.add_argument("--quiet", action="store_true", help="no progress lines, only the table")


def parse_args(argv=None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse ``argv``; ``--debug`` may also come after the command. Bad flags exit 2 with one line."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "config", None):  # the file's values become the command's defaults; given flags win
        from skills.cli.config_file import config_defaults

        command = parser.commands[args.command]
        try:
            command.set_defaults(**config_defaults(args.command, command, args.config))
        except ValueError as exc:
            command.error(str(exc))
        args, unknown = parser.parse_known_args(argv)
    args.debug = args.debug or "--debug" in unknown
    unknown = [arg for arg in unknown if arg != "--debug"]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in ("backtest", "attention") and args.model_path is None:
        parser.error(f"{args.command}: the following arguments are required: --model-path")
    return parser, args


# -- scale-out on Ray --------------------------------------------------------------------------------------------


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_ray_flags(g) -> None:
    """``--workers``, ``--address``, ``--cpus-per-task``, ``--gpus-per-task`` (see `ray_options`)."""
    g.add_argument("--workers", type=_positive_int, default=None,
                   help="run the tasks on a local Ray started inside the command, this many at once (default: "
                        "serial, in this process)")
    g.add_argument("--address", default=None,
                   help="run the tasks on a running Ray cluster: 'auto', HOST:6379 or ray://HOST:10001 (default: "
                        "$RAY_ADDRESS when set, unless --workers is given)")
    g.add_argument("--cpus-per-task", type=_positive_float, default=None,
                   help="CPUs Ray reserves for each task (default 1)")
    g.add_argument("--gpus-per-task", type=_non_negative_float, default=None,
                   help="GPUs Ray reserves for each task, e.g. 0.5 to share one GPU between two (default 0)")


def ray_options(args):
    """The `RayOptions` the scale-out flags ask for, or None for a serial run (no flag and no RAY_ADDRESS).

    Raises:
        UsageError: --workers with --address, or a per-task resource without Ray.
    """
    import os

    from skills.evaluation.parallel import RayOptions

    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if args.workers is not None and args.address is not None:
        raise UsageError("--workers starts a local Ray; with --address the cluster's resources decide how many "
                         "tasks run at once: give one of them")
    if args.workers is None and address is None:
        given = [flag for flag in ("--cpus-per-task", "--gpus-per-task")
                 if getattr(args, flag[2:].replace("-", "_")) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only with --workers N or --address ADDR (a run on Ray)")
        return None
    return RayOptions(workers=args.workers, address=None if args.workers is not None else address,
                      cpus_per_task=1 if args.cpus_per_task is None else args.cpus_per_task,
                      gpus_per_task=0 if args.gpus_per_task is None else args.gpus_per_task)


# -- checks of flag values, and output --------------------------------------------------------------------------


def names(flag: str, text: str, choices) -> list[str]:
    """The comma-separated names of ``text``, distinct and each one of ``choices``."""
    listed = [name.strip() for name in text.split(",") if name.strip()]
    if not listed or len(set(listed)) != len(listed) or not set(listed) <= set(choices):
        raise UsageError(f"{flag} must list distinct names from {', '.join(choices)}, got {text!r}")
    return listed


def check_data_path(path) -> None:
    if not Path(path).exists():
        raise UsageError(f"--data-path {path}: no such file or folder")


def check_model_and_range(args) -> None:
    """--model-path names a file and --start is not after --end (backtest, attention)."""
    if not Path(args.model_path).is_file():
        raise UsageError(f"--model-path {args.model_path}: no such file (train one with: python -m skills train)")
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError(f"--start {args.start.date()} is after --end {args.end.date()}")


#: The backtest flags of each strategy only, with their unset values.
STRATEGY_FLAGS = {"ml": {"--confidence-threshold": None, "--exit-threshold": None, "--allow-short": False,
                         "--hold-bars": None},
                  "topk": {"--k": None, "--n-drop": None, "--rebalance": None, "--long-short": False}}


def check_strategy_flags(args) -> None:
    """The backtest flags of one strategy are not given with the other; unset ones get their defaults.
    ``args.strategy`` must be resolved (not None) before."""
    for strategy, flags in STRATEGY_FLAGS.items():
        if strategy == args.strategy:
            continue
        given = [flag for flag, unset in flags.items() if getattr(args, flag[2:].replace("-", "_")) != unset]
        if given:
            raise UsageError(f"{', '.join(given)} only with --strategy {strategy} (got --strategy {args.strategy})")
    if args.strategy == "topk" and args.rebalance is None:
        args.rebalance = 1


def check_output(flag: str, path, suffixes=None) -> None:
    if path is None:
        return
    suffix = Path(path).suffix
    if not suffix or (suffixes and suffix not in suffixes):
        wanted = " or ".join(suffixes) if suffixes else "a suffix such as .png"
        raise UsageError(f"{flag} must end in {wanted}, got {path}")


def write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
