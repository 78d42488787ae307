"""The flags of ``skills``, each declared once and named after the parameter it sets, with choices and defaults
from the library (`MODEL_NAMES`, `TrainConfig`, `PRECISIONS`, `LABEL_METHODS`, the defaults of `prepare_dataset`,
`run_backtest` and `skills.pipeline`, ...), and the old spellings that still work for one release
(`OLD_SPELLINGS`: hidden from ``--help``, each use warned about in one line)."""

from __future__ import annotations

import argparse
import inspect
import sys

import pandas as pd

from skills import pipeline
from skills.data import (
    BATCH_BY,
    CROSS_SECTION_MODES,
    LABEL_BASES,
    LABEL_METHODS,
    SCALERS,
    WALK_FORWARD_MODES,
    default_data_path,
    prepare_dataset,
)
from skills.data.universe import BAD_FILE_POLICIES, BAD_ROW_POLICIES
from skills.models import MODEL_NAMES, make_model, model_params
from skills.strategy import DEFAULT_CONFIDENCE, DEFAULT_REBALANCE, STRATEGIES, TOPK_MIN_TICKERS, run_backtest
from skills.training import LR_SCHEDULES, MONITORS, OPTIMIZERS, PRECISIONS, TrainConfig

#: The flags of the network hyperparameters; each is passed only to the architectures that take it.
NETWORK_FLAGS = ("lstm_units", "attention_units", "dropout_rate", "d_model", "num_heads", "num_layers", "ff_dim",
                 "hidden_size", "rnn_type", "channels", "kernel_size", "cnn_filters", "num_branches", "base_model")
#: Old spellings still accepted for one release: old flag -> the flag it now is. A command whose own flag has the
#: old name keeps it (``train --model`` is the architecture; ``backtest --model`` is the old ``--model-path``).
OLD_SPELLINGS = {"--dropout": "--dropout-rate", "--label-method": "--label", "--folds": "--n-splits",
                 "--tensorboard": "--tensorboard-dir", "--model": "--model-path", "--cpus-per-trial": "--cpus-per-task",
                 "--gpus-per-trial": "--gpus-per-task"}
#: Why an old spelling went, where its name alone does not say.
_WHY = {"--model": "--model names an architecture", "--cpus": "N CPUs: N / --cpus-per-task tasks at once"}
#: The attribute of the parsed arguments that lists the old spellings used (`warn_old_spellings` removes it).
OLD_USED = "_old_spellings"


def default_of(function, name: str):
    """The default of parameter ``name`` of ``function``: the flag that sets it shows the library's own."""
    return inspect.signature(function).parameters[name].default


# -- value types -------------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def threshold(text: str):
    """``auto`` (the threshold stored in the model file) or a probability in (0, 1]."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return probability(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a probability in (0, 1], got {text}") from None


def date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


# -- old spellings -----------------------------------------------------------------------------------------------


class _OldSpelling(argparse.Action):
    """Stores the value as the new flag does, and notes the old spelling for a one-line warning."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        used = getattr(namespace, OLD_USED, [])
        setattr(namespace, OLD_USED, [*used, (option_string, self.new)])


def add_old_spellings(parser: argparse.ArgumentParser) -> None:
    """Add each `OLD_SPELLINGS` entry whose new flag ``parser`` has (and whose old name it does not) as a hidden
    alias: the same destination, type and choices."""
    flags = parser._option_string_actions
    for old, new in OLD_SPELLINGS.items():
        if new in flags and old not in flags:
            action = flags[new]
            parser.add_argument(old, dest=action.dest, type=action.type, choices=action.choices, new=new,
                                action=_OldSpelling, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def warn_old_spellings(prog: str, args: argparse.Namespace) -> None:
    """Print one warning line per old spelling ``args`` were given with, and remove the note of them."""
    for old, new in dict.fromkeys(vars(args).pop(OLD_USED, [])):
        why = f" ({_WHY[old]})" if old in _WHY else ""
        print(f"{prog}: warning: {old} is an old spelling of {new}{why}; it goes in the next release", file=sys.stderr)


# -- flag groups -------------------------------------------------------------------------------------------------


def add_data_path(g, required: bool = False, help: str | None = None) -> None:
    """``--data-path``: by default the bundled real data (`skills.data.default_data_path`)."""
    if required:
        g.add_argument("--data-path", required=True, help=help)
        return
    g.add_argument("--data-path", default=str(default_data_path()), help=(help or "one ticker's CSV, a folder of "
                   "CSVs, or a long-format date,ticker,open,... file (.csv or .csv.gz; e.g. data/universe) or a "
                   "folder holding one") + " (default: the bundled real data, %(default)s)")


def add_loading_flags(g) -> None:
    """How a universe (a folder, or a long-format ``date,ticker,...`` file) is loaded (`load_universe`)."""
    g.add_argument("--on-bad-rows", choices=BAD_ROW_POLICIES, default=None,
                   help="a bad row (NaN or non-positive price, high below low, ...): drop it and list it, or stop "
                        "(default: drop for a universe, raise for one ticker's CSV)")
    g.add_argument("--on-bad-files", choices=BAD_FILE_POLICIES, default=None,
                   help="a bad or too short ticker of a universe: skip it and list it, or stop (default: skip)")


def add_data_flags(p, prepare=prepare_dataset) -> None:
    """The data and its preparation: the flags of the parameters of ``prepare`` (`prepare_dataset`, or
    `prepare_walk_forward`, which takes no ``--test-fraction``), with its defaults."""
    takes = inspect.signature(prepare).parameters
    g = p.add_argument_group("data")
    add_data_path(g)
    add_loading_flags(g)
    g.add_argument("--features", default="all",
                   help="all (the 50 ta indicators), alpha158 (Qlib's 158 engineered factors), price_volume "
                        "(Alpha360-style raw price-volume windows), or a comma-separated list of feature names")
    g.add_argument("--cross-section", choices=CROSS_SECTION_MODES, default=takes["cross_section"].default,
                   help="replace each feature by its rank or z-score across the tickers of the same date")
    g.add_argument("--sequence-length", type=positive_int, default=takes["sequence_length"].default,
                   help="bars per window")
    g.add_argument("--horizon", type=positive_int, default=takes["horizon"].default, help="label horizon in bars")
    g.add_argument("--label", choices=LABEL_METHODS, default=takes["label"].default,
                   help="fixed band, volatility-scaled band, train-split terciles, or terciles of each date's "
                        "forward returns across the tickers (cross_section: a universe)")
    g.add_argument("--label-basis", choices=LABEL_BASES, default=takes["label_basis"].default,
                   help="the return a label (and every IC) is taken on: open_to_open, from the open after bar t "
                        "to the open h bars later (what an order placed on bar t's close can earn), or "
                        "close_to_close, from bar t's close to the close h bars later")
    g.add_argument("--threshold", type=positive_float, default=None,
                   help="label band: return for 'fixed' (default 0.005), multiple of sigma for 'volatility' (0.5)")
    g.add_argument("--scaler", choices=SCALERS, default=takes["scaler"].default,
                   help="feature scaling, fit on training rows only")
    g.add_argument("--val-fraction", type=positive_float, default=takes["val_fraction"].default,
                   help="share of the dates for validation")
    if "test_fraction" in takes:
        g.add_argument("--test-fraction", type=positive_float, default=takes["test_fraction"].default,
                       help="share of the dates for testing")


def add_model_flag(g) -> None:
    """``--model``: always an architecture (default: the one `skills.pipeline.train` fits)."""
    g.add_argument("--model", choices=MODEL_NAMES, default=pipeline.DEFAULT_MODEL, help="architecture")


def add_model_path(g, help: str, default=None) -> None:
    """``--model-path``: always a model file."""
    g.add_argument("--model-path", default=default, help=help)


def _architecture_defaults(param: str) -> str:
    """'attention_lstm 128, lstm 64': the default of ``param`` in each architecture that takes it."""
    return ", ".join(f"{name} {model_params(name)[param]}" for name in MODEL_NAMES
                     if param in model_params(name) and name != "causal_attention_lstm")


def _learning_rates() -> str:
    """'attention_lstm 0.00015, the others 0.001': each architecture's `default_learning_rate`."""
    rates = {name: make_model(name).default_learning_rate for name in MODEL_NAMES}
    common = max(set(rates.values()), key=list(rates.values()).count)
    own = [f"{name} {rate:g}" for name, rate in rates.items() if rate != common]
    return ", ".join(own + [f"the others {common:g}"])


def add_network_flags(g) -> None:
    """Hyperparameters of the networks; unset, each architecture uses its own default."""
    helps = {"lstm_units": ("units per LSTM direction", positive_int),
             "attention_units": ("attention scoring units", positive_int),
             "dropout_rate": ("dropout rate", fraction),
             "d_model": ("transformer width", positive_int),
             "num_heads": ("transformer heads", positive_int),
             "num_layers": ("layers / blocks / levels of the architecture", positive_int),
             "ff_dim": ("feed-forward width of a transformer block", positive_int),
             "hidden_size": ("recurrent units (Qlib zoo)", positive_int),
             "rnn_type": ("recurrent cell of alstm", ("gru", "lstm")),
             "channels": ("convolution channels of tcn", positive_int),
             "kernel_size": ("convolution kernel size", positive_int),
             "cnn_filters": ("convolution filters of krnn", positive_int),
             "num_branches": ("parallel recurrent branches of krnn", positive_int),
             "base_model": ("recurrent encoder of gats", ("gru", "lstm"))}
    for param in NETWORK_FLAGS:
        text, kind = helps[param]
        kind = dict(choices=kind) if isinstance(kind, tuple) else dict(type=kind)
        g.add_argument("--" + param.replace("_", "-"), **kind, default=None,
                       help=f"{text} (default: {_architecture_defaults(param)})")


def add_training_flags(g) -> None:
    """Trainer options; defaults from `skills.training.TrainConfig`."""
    config = TrainConfig()
    g.add_argument("--epochs", type=positive_int, default=config.epochs,
                   help="upper bound; early stopping ends sooner")
    g.add_argument("--batch-size", type=positive_int, default=config.batch_size, help="windows per batch")
    g.add_argument("--learning-rate", type=positive_float, default=config.learning_rate,
                   help=f"initial rate (default: the architecture's own: {_learning_rates()})")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=config.optimizer, help="sgd uses momentum 0.9")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=config.lr_schedule, help="learning-rate schedule")
    g.add_argument("--clipnorm", type=positive_float, default=config.clipnorm, help="gradient norm clipping")
    g.add_argument("--patience", type=positive_int, default=config.patience,
                   help="early-stopping patience in epochs on --monitor (best weights restored)")
    g.add_argument("--monitor", choices=MONITORS, default=config.monitor,
                   help="what early stopping and the best epoch watch: val_rank_ic (the validation split's mean "
                        "daily rank IC), val_loss, or auto: val_rank_ic on a universe (many tickers a day), else "
                        "val_loss")
    g.add_argument("--seeds", dest="n_seeds", type=positive_int, default=config.n_seeds,
                   help="train this many networks that differ only in their seed and average their "
                        "probabilities (one model file)")
    g.add_argument("--class-weight", choices=("none", "balanced"), default=config.class_weight or "none",
                   help="weight the classes by their inverse frequency in the training split")
    g.add_argument("--precision", choices=PRECISIONS, default=config.precision,
                   help="dtype policy; auto: the one measured fastest on this backend and device (float32 so far: "
                        "mixed_float16 was measured slower for these networks on an H200), and the log says why")
    g.add_argument("--seed", type=int, default=config.seed, help="seeds Keras, NumPy, Python and the shuffling")
    g.add_argument("--batch-by", choices=BATCH_BY, default=None,
                   help="window: batches of --batch-size windows; date: one batch per date holding all its "
                        "tickers (a universe; gats always trains so) (default: window)")

    def devices(text: str):
        """``all`` or a positive integer."""
        return text if text == "all" else positive_int(text)

    g.add_argument("--devices", type=devices, default=config.devices, metavar="N|all",
                   help="split each training batch over N devices of this machine (all: every one the backend "
                        "sees; jax and tensorflow): --batch-size windows per device, so a step reads --batch-size "
                        "x N windows")


def add_walk_forward_flags(g, n_splits: int, mode: str) -> None:
    """``--n-splits`` and ``--mode`` of `prepare_walk_forward`, with the defaults of the command's library call."""
    g.add_argument("--n-splits", type=positive_int, default=n_splits,
                   help="walk-forward folds over time, each trained on its past (tune: needs at least 2)")
    g.add_argument("--mode", choices=WALK_FORWARD_MODES, default=mode, help="training window")


def add_strategy_flags(strategy, ml, topk, broker) -> None:
    """``--strategy`` and the flags of the strategies that ``backtest`` and ``compare`` share, into the groups
    ``strategy``, ``ml``, ``topk`` and ``broker`` (one group may serve all four); defaults from `skills.strategy`.
    Unset, ``--k``, ``--n-drop`` and ``--rebalance`` stay None: the library call resolves them (and tells a flag
    of the other strategy that was given)."""
    strategy.add_argument("--strategy", choices=STRATEGIES, default=None,
                          help="ml: MLStrategy's thresholds per ticker; topk: hold the k best-scored tickers of a "
                               f"universe (default: topk on several tickers labelled cross_section or on >= "
                               f"{TOPK_MIN_TICKERS} tickers, else ml)")
    ml.add_argument("--confidence-threshold", type=threshold, default=None,
                    help="ml: enter when P(up) (or P(down) for a short) >= this, or 'auto': the threshold chosen on "
                         "the model's validation split and stored in its file (default: auto when the file has "
                         f"one, else {DEFAULT_CONFIDENCE})")
    topk.add_argument("--k", type=positive_int, default=None,
                      help="topk: tickers held per side (default: a tenth of the tickers a side can hold, at "
                           "least 1)")
    topk.add_argument("--n-drop", type=count, default=None,
                      help="topk: replace at most this many holdings per rebalance (Qlib's TopkDropout; default: "
                           "k // 5, at least 1)")
    topk.add_argument("--rebalance", type=positive_int, default=None,
                      help=f"topk: rebalance every N bars (default: {DEFAULT_REBALANCE})")
    broker.add_argument("--commission", type=fraction, default=default_of(run_backtest, "commission"),
                        help="fraction of each fill's value")


def add_ray_flags(g, serial: bool) -> None:
    """``--workers``, ``--address``, ``--cpus-per-task``, ``--gpus-per-task``: where the tasks (``compare``: a
    fold x model; ``tune``: a trial) run, as `skills.evaluation.parallel.RayOptions`. ``serial``: without a flag
    (and without ``RAY_ADDRESS``) the command runs its tasks in its own process; else on a local Ray of all CPUs."""
    alone = "serial, in this process" if serial else "as many as the machine's CPUs allow"
    g.add_argument("--workers", type=positive_int, default=None,
                   help=f"run the tasks on a local Ray started inside the command, this many at once (default: "
                        f"{alone})")
    g.add_argument("--address", default=None,
                   help="run the tasks on a running Ray cluster: 'auto', HOST:6379 or ray://HOST:10001 (default: "
                        "$RAY_ADDRESS when set, unless --workers is given)")
    g.add_argument("--cpus-per-task", type=positive_float, default=None,
                   help="CPUs Ray reserves for each task; its thread pools are sized to them (default 1)")
    g.add_argument("--gpus-per-task", type=non_negative_float, default=None,
                   help="GPUs Ray reserves for each task, e.g. 0.5 to share one GPU between two (default 0)")
    g.add_argument("--cpus", type=positive_int, new="--workers", action=_OldSpelling, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old CPU count of tune's local Ray (see `ray_options`)


def add_config_flag(p) -> None:
    p.add_argument("--config", metavar="FILE", default=None,
                   help="JSON or YAML file of flag values (e.g. the best_config.json of tune); flags given on the "
                        "command line win")


def add_tracking_flags(p) -> None:
    """``--track``, ``--tracking-uri``, ``--experiment``: log the run into MLflow (`skills.tracking.Tracking`)."""
    g = p.add_argument_group("tracking (MLflow: pip install .[tracking])")
    g.add_argument("--track", action="store_true",
                   help="log this run into MLflow: params, per-epoch figures, test figures and files (see them with "
                        "'mlflow ui' in the same folder)")
    g.add_argument("--tracking-uri", metavar="URI", default=None,
                   help="where runs go: sqlite:///mlflow.db, http://HOST:5000, ... (implies --track; default: "
                        "$MLFLOW_TRACKING_URI, else MLflow's local store in the working folder)")
    g.add_argument("--experiment", metavar="NAME", default=None,
                   help="MLflow experiment of the run (implies --track; default: $MLFLOW_EXPERIMENT_NAME, else "
                        "'skills')")
