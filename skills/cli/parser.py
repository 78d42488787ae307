"""The parser of ``python -m skills``: its seven commands assembled from the flags of `skills.cli.flags`, and the
checks of flag values that need more than one flag."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from skills import pipeline
from skills.cli.flags import (
    NETWORK_FLAGS,
    add_config_flag,
    add_data_flags,
    add_data_path,
    add_loading_flags,
    add_model_flag,
    add_model_path,
    add_network_flags,
    add_old_spellings,
    add_ray_flags,
    add_strategy_flags,
    add_tracking_flags,
    add_training_flags,
    add_walk_forward_flags,
    date,
    default_of,
    fraction,
    positive_float,
    positive_int,
    probability,
    warn_old_spellings,
)
from skills.data import prepare_walk_forward
from skills.evaluation import ALL_BASELINES, UNIVERSE_BASELINES, walk_forward
from skills.models import MODEL_NAMES
from skills.strategy import run_backtest
from skills.tuning import METRICS as TUNE_METRICS
from skills.tuning import tune as tune_search

__all__ = ["NETWORK_FLAGS", "UsageError", "build_parser", "parse_args", "ray_options"]


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


def build_parser() -> argparse.ArgumentParser:
    """The ``skills`` parser with its seven commands (``parser.commands`` maps each name to its parser)."""
    parser = _Parser(prog="skills", description="Leak-free deep-learning trading signals on daily bars.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = sub.add_parser("data", help="prepare the dataset and print its summary (nothing is trained)",
                          formatter_class=_Help)
    add_data_flags(data)

    train = sub.add_parser("train", help="train a model and report it beside baselines on the test split",
                           formatter_class=_Help)
    add_data_flags(train)
    g = train.add_argument_group("model")
    add_model_flag(g)
    add_model_path(g, ".h5 or .keras file to write", default=str(pipeline.DEFAULT_MODEL_PATH))
    add_network_flags(g)
    g = train.add_argument_group("training")
    add_training_flags(g)
    g.add_argument("--tensorboard-dir", metavar="DIR", default=None, help="write TensorBoard logs to DIR")
    g.add_argument("--resume", action="store_true",
                   help="continue training the model already at --model-path (same model and features)")
    g.add_argument("--quiet", action="store_true", help="no progress bars, only the final table")
    add_tracking_flags(train)
    add_config_flag(train)

    _add_backtest_parser(sub)

    attention = sub.add_parser("attention", help="draw a model's attention weights over a ticker's bars",
                               formatter_class=_Help)
    add_model_path(attention, "model file (.h5 or .keras) with an attention layer (required)")
    add_data_path(attention, required=True, help="one ticker's CSV")
    attention.add_argument("--start", type=date, default=None,
                           help="first window end to draw (default: the last --last windows up to --end)")
    attention.add_argument("--end", type=date, default=None, help="last window end to draw (default: the last bar)")
    attention.add_argument("--last", type=positive_int, default=pipeline.DEFAULT_LAST,
                           help="windows drawn when --start is not given")
    attention.add_argument("--out", default="attention.png", help="image to write (.png, .pdf, .svg)")

    _add_compare_parser(sub)
    _add_tune_parser(sub)
    _add_predict_parser(sub)
    for command in sub.choices.values():
        add_old_spellings(command)
    parser.commands = sub.choices
    return parser


def _add_backtest_parser(sub) -> None:
    """``skills backtest``: a saved model's signals traded with MLStrategy or TopKStrategy."""
    backtest = sub.add_parser("backtest", help="trade a model's signals with MLStrategy beside buy-and-hold, or "
                              "a top-k portfolio beside the equal-weight universe", formatter_class=_Help)
    add_model_path(backtest, "model file (.h5 or .keras) written by train (required)")
    add_data_path(backtest, help="one ticker's CSV, a folder of CSVs or a long-format file; a universe's tickers "
                                 "trade together (ml: one position each; topk: one universe)")
    add_loading_flags(backtest)
    ml = backtest.add_argument_group("ml strategy (--strategy ml)")
    topk = backtest.add_argument_group("top-k strategy (--strategy topk)")
    broker = backtest.add_argument_group("broker and output")
    add_strategy_flags(backtest, ml, topk, broker)
    ml.add_argument("--exit-threshold", type=probability, default=None,
                    help="leave when the opposite class's P >= this (default: the confidence threshold)")
    ml.add_argument("--allow-short", action="store_true", help="P(down) opens a short instead of only exiting")
    ml.add_argument("--hold-bars", type=positive_int, default=None, help="close positions after N bars")
    topk.add_argument("--long-short", action="store_true", help="also short the k worst-scored tickers")
    broker.add_argument("--stake", type=probability, default=None,
                        help="ml: fraction of equity per position (default: 0.95 / number of tickers); topk: gross "
                             "fraction of equity invested (default: 0.95)")
    broker.add_argument("--cash", type=positive_float, default=float(default_of(run_backtest, "cash")),
                        help="starting cash")
    broker.add_argument("--slippage", type=fraction, default=default_of(run_backtest, "slippage"),
                        help="fraction of price, against the order")
    broker.add_argument("--start", type=date, default=None,
                        help="first date to trade (default: the start of the model's test split, so the "
                             "backtest is out of sample)")
    broker.add_argument("--end", type=date, default=None, help="last date to use (default: the last bar)")
    broker.add_argument("--plot", metavar="PNG", default=None,
                        help="save the equity curve beside its benchmark, both drawdowns and, for one ticker, its "
                             "price with the fills")
    broker.add_argument("--json", metavar="PATH", default=None, help="write metrics and orders as JSON")
    broker.add_argument("--quiet", action="store_true", help="only the table")
    add_tracking_flags(backtest)


def _add_predict_parser(sub) -> None:
    """``skills predict``: a saved model's probabilities at a bar's close and what its backtest would do next."""
    predict = sub.add_parser("predict", help="a model's P(down), P(flat), P(up) for each ticker at the last bar (or "
                             "--date), and what the backtest's strategy would do at the next open",
                             formatter_class=_Help)
    add_model_path(predict, "model file (.h5 or .keras) written by train (required)")
    add_data_path(predict, help="one ticker's CSV, a folder of CSVs or a long-format file; the strategy and its "
                                "thresholds or top-k rule are those backtest uses on the same data")
    add_loading_flags(predict)
    predict.add_argument("--date", type=date, default=None,
                         help="the bar to predict at, from the bars up to its close (default: the last bar)")
    predict.add_argument("--json", metavar="PATH", default=None, help="write the predictions and the rule as JSON")
    predict.add_argument("--csv", metavar="PATH", default=None, help="write one row per ticker as CSV")
    predict.add_argument("--quiet", action="store_true", help="only the table")


def _add_compare_parser(sub) -> None:
    """``skills compare``: a walk-forward comparison of models beside baselines."""
    compare = sub.add_parser("compare", help="walk-forward comparison of models beside baselines: "
                             "classification, IC and backtest figures", formatter_class=_Help)
    add_data_flags(compare, prepare_walk_forward)
    g = compare.add_argument_group("models")
    g.add_argument("--models", default=",".join(pipeline.DEFAULT_COMPARE_MODELS),
                   help=f"comma-separated, from {', '.join(MODEL_NAMES)}; \"\" for the baselines alone")
    g.add_argument("--baselines", default=None,
                   help=f"comma-separated, from {', '.join(ALL_BASELINES)} (default: on a universe traded top-k "
                        f"{','.join(UNIVERSE_BASELINES)}, else {','.join(default_of(walk_forward, 'baselines'))})")
    add_network_flags(g)
    g = compare.add_argument_group("walk-forward")
    add_walk_forward_flags(g, pipeline.DEFAULT_SPLITS, default_of(prepare_walk_forward, "mode"))
    g.add_argument("--fold", type=positive_int, default=None,
                   help="run only this fold (1 = the oldest) of --n-splits: screen a change on one fold, then "
                        "confirm it on all")
    add_training_flags(compare.add_argument_group("training (each fold)"))
    g = compare.add_argument_group("backtest (each fold's test block)")
    add_strategy_flags(g, g, g, g)
    add_ray_flags(compare.add_argument_group("scale-out on Ray (each fold x model is one task)"), serial=True)
    g = compare.add_argument_group("output")
    g.add_argument("--json", metavar="PATH", default=None, help="write every fold's figures and the summary as JSON")
    g.add_argument("--plot", metavar="PNG", default=None, help="save macro-F1, IC and Sharpe per model")
    g.add_argument("--quiet", action="store_true", help="only the table")
    add_tracking_flags(compare)
    add_config_flag(compare)


def _add_tune_parser(sub) -> None:
    """``skills tune``: a hyperparameter search of one architecture on walk-forward validation splits; the
    defaults of `skills.tuning.tune` where it has its own (trials, folds, epochs, windows and fractions)."""
    tune = sub.add_parser("tune", help="search hyperparameters (Optuna TPE, ASHA early stopping on Ray Tune) on "
                          "walk-forward validation splits, and refit the best", formatter_class=_Help)
    add_data_flags(tune)
    g = tune.add_argument_group("search")
    add_model_flag(g)
    g.add_argument("--trials", type=positive_int, default=default_of(tune_search, "trials"),
                   help="configurations to try")
    add_walk_forward_flags(g, default_of(tune_search, "folds"), default_of(tune_search, "mode"))
    g.add_argument("--metric", choices=("auto", *TUNE_METRICS), default="auto",
                   help="objective: mean validation log loss (minimised), mean daily rank IC or macro-F1 "
                        "(maximised); auto: rank_ic with --label cross_section, else log_loss")
    g.add_argument("--space", metavar="FILE", default=None,
                   help="JSON or YAML file of search-space entries replacing the architecture's defaults, e.g. "
                        '{"lstm_units": {"choice": [32, 64]}, "learning_rate": {"loguniform": [1e-4, 1e-2]}}')
    g.add_argument("--out", metavar="DIR", default=str(Path("models") / "tune"),
                   help="trial results, best_config.json and the refitted best model; running the same command "
                        "again on it resumes the search")
    add_ray_flags(tune.add_argument_group("Ray (each trial is one task)"), serial=False)
    g = tune.add_argument_group("training (fixed values of the options the space does not search)")
    add_training_flags(g)
    tune.set_defaults(**{name: default_of(tune_search, name)
                         for name in ("epochs", "sequence_length", "val_fraction", "test_fraction")})
    g.add_argument("--quiet", action="store_true", help="no progress lines, only the table")
    add_tracking_flags(tune)


def parse_args(argv=None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse ``argv``; ``--debug`` may also come after the command. Bad flags exit 2 with one line; each old
    spelling used is warned about in one line."""
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
    if args.command in ("backtest", "attention", "predict") and args.model_path is None:
        parser.error(f"{args.command}: the following arguments are required: --model-path")
    warn_old_spellings(f"skills {args.command}", args)
    return parser, args


def ray_options(args, serial: bool = True):
    """The `RayOptions` the Ray flags ask for; with ``serial``, None for a run in this process (no flag and no
    ``RAY_ADDRESS``). The old ``--cpus N`` (CPUs of a local Ray) is ``--workers N / cpus-per-task``.

    Raises:
        UsageError: --workers with --address, or (``serial``) a per-task resource without Ray.
    """
    from skills.evaluation.parallel import RayOptions

    cpus = 1 if args.cpus_per_task is None else args.cpus_per_task
    workers = args.workers
    if getattr(args, "cpus", None) is not None:
        if workers is not None:
            raise UsageError("--cpus is the old spelling of --workers: give one of them")
        workers = max(1, int(args.cpus // cpus))
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if workers is not None and args.address is not None:
        raise UsageError("--workers starts a local Ray; with --address the cluster's resources decide how many "
                         "tasks run at once: give one of them")
    if serial and workers is None and address is None:
        given = [flag for flag in ("--cpus-per-task", "--gpus-per-task")
                 if getattr(args, flag[2:].replace("-", "_")) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only with --workers N or --address ADDR (a run on Ray)")
        return None
    return RayOptions(workers=workers, address=None if workers is not None else args.address, cpus_per_task=cpus,
                      gpus_per_task=0 if args.gpus_per_task is None else args.gpus_per_task)


# -- checks of flag values, and output --------------------------------------------------------------------------


def names(flag: str, text: str, choices, allow_empty: bool = False) -> list[str]:
    """The comma-separated names of ``text``, distinct and each one of ``choices`` (none at all only when
    ``allow_empty``)."""
    listed = [name.strip() for name in text.split(",") if name.strip()]
    if (not listed and not allow_empty) or len(set(listed)) != len(listed) or not set(listed) <= set(choices):
        raise UsageError(f"{flag} must list distinct names from {', '.join(choices)}, got {text!r}")
    return listed


def check_data_path(path) -> None:
    if not Path(path).exists():
        raise UsageError(f"--data-path {path}: no such file or folder")


def check_model_path(args) -> None:
    """--model-path names a file (backtest, attention)."""
    if not Path(args.model_path).is_file():
        raise UsageError(f"--model-path {args.model_path}: no such file (train one with: python -m skills train)")


def check_output(flag: str, path, suffixes=None) -> None:
    if path is None:
        return
    suffix = Path(path).suffix
    if not suffix or (suffixes and suffix not in suffixes):
        wanted = " or ".join(suffixes) if suffixes else "a suffix such as .png"
        raise UsageError(f"{flag} must end in {wanted}, got {path}")

