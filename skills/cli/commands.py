"""``skills backtest``, ``skills attention``, ``skills compare`` and ``skills predict``: the flags turned into
`skills.pipeline.backtest` / `attention` / `compare` / `predict` arguments, and what those calls return printed."""

from __future__ import annotations

from skills import pipeline
from skills.cli.loading import flag_errors, load_bars, tracking
from skills.cli.parser import check_model_path, check_output, names, ray_options
from skills.cli.train import fit_options, network_options, prepare_options
from skills.evaluation import ALL_BASELINES
from skills.models import MODEL_NAMES
from skills.pipeline.backtest import check_range
from skills.strategy import TOPK_MIN_TICKERS

__all__ = ["attention", "backtest", "compare", "predict"]

_BACKTEST_OPTIONS = ("confidence_threshold", "exit_threshold", "allow_short", "hold_bars", "k", "n_drop",
                     "rebalance", "long_short", "stake", "cash", "commission", "slippage")


def _written(files) -> None:
    if files:
        print(f"\nwrote {', '.join(files)}")


def _check_model_and_range(args) -> None:
    """--model-path names a file and --start is not after --end, before any bars are loaded."""
    check_model_path(args)
    with flag_errors():
        check_range(args.start, args.end)


def backtest(args) -> int:
    """Trade the model's signals from its out-of-sample start and print the table beside its benchmark:
    buy-and-hold for ``--strategy ml``, the equal-weight universe for ``--strategy topk``."""
    check_output("--plot", args.plot)
    check_output("--json", args.json, (".json",))
    _check_model_and_range(args)
    settings = vars(args)  # the JSON records the flags, with the load report that loading adds to them
    tracked = tracking(args)
    bars = load_bars(args)
    with flag_errors(model="--model-path"):
        run = pipeline.backtest(args.model_path, bars, strategy=args.strategy, start=args.start, end=args.end,
                                plot=args.plot, json_path=args.json, settings=settings, tracking=tracked,
                                **{name: getattr(args, name) for name in _BACKTEST_OPTIONS})
    if run.strategy_source == "label":
        print("--strategy topk: the model was trained with --label cross_section (give --strategy ml to override)")
    elif run.strategy_source == "universe" and run.strategy == "topk":
        print(f"--strategy topk: a universe of {len(run.tickers)} tickers (top-k from {TOPK_MIN_TICKERS} on; give "
              f"--strategy ml to override)")
    print(run.format())
    _written(run.files)
    return 0


def attention(args) -> int:
    """Draw the attention weights of the windows ending in [--start, --end] (or the last --last ones)."""
    check_output("--out", args.out)
    _check_model_and_range(args)
    with flag_errors(model="--model-path"):
        result = pipeline.attention(args.model_path, args.data_path, start=args.start, end=args.end, last=args.last,
                                    out=args.out)
    print(result.format())
    return 0


def compare(args) -> int:
    """Walk-forward: every model and baseline fold by fold, the summary table, and optionally JSON and a plot."""
    models = names("--models", args.models, MODEL_NAMES, allow_empty=True)
    baselines = None if args.baselines is None else names("--baselines", args.baselines, ALL_BASELINES,
                                                          allow_empty=True)
    check_output("--json", args.json, (".json",))
    check_output("--plot", args.plot)
    network = {}
    for name in models:
        network.update(network_options(name, args))
    options = dict(**prepare_options(args), val_fraction=args.val_fraction, mode=args.mode, **network,
                   **fit_options(args))
    with flag_errors():  # a bad hyperparameter or --features fails now, before loading
        for name in models:
            pipeline.new_model(name, args.sequence_length, **network_options(name, args))
    parallel = ray_options(args)  # None: serial, in this process
    settings = vars(args)  # the JSON records the flags, with the load report that loading adds to them
    tracked = tracking(args)
    bars = load_bars(args)
    with flag_errors():
        result = pipeline.compare(bars, models=models, baselines=baselines, n_splits=args.n_splits, fold=args.fold,
                                  strategy=args.strategy, k=args.k, n_drop=args.n_drop, rebalance=args.rebalance,
                                  confidence_threshold=args.confidence_threshold, commission=args.commission,
                                  parallel=parallel, json_path=args.json, plot=args.plot, settings=settings,
                                  tracking=tracked, **options)
    print(result.format())
    _written(result.files)
    return 0


def predict(args) -> int:
    """Each ticker's probabilities at the close of --date (default: the last bar), and what the backtest's strategy
    would do at the next open."""
    check_output("--json", args.json, (".json",))
    check_output("--csv", args.csv, (".csv",))
    check_model_path(args)
    bars = load_bars(args)
    with flag_errors(model="--model-path", csv_path="--csv"):
        result = pipeline.predict(args.model_path, bars, date=args.date, json_path=args.json, csv_path=args.csv)
    print(result.format())
    _written(result.files)
    return 0
