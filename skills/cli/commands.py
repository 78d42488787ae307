"""``skills backtest``, ``skills attention`` and ``skills compare``: a saved model's trades and attention, and the
walk-forward comparison of models beside baselines."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from skills._atomic import write_together
from skills.cli.loading import is_universe, load_bars, resolve_features
from skills.cli.parser import (
    TOPK_MIN_TICKERS,
    UsageError,
    check_data_path,
    check_model_and_range,
    check_output,
    check_strategy_flags,
    names,
    ray_options,
    write_json,
)
from skills.cli.train import fit_options, new_model, prepare_options, topk_defaults
from skills.data import DataError, feature_windows, load_ohlcv, prepare_walk_forward
from skills.data.dataset import as_frames
from skills.evaluation import BASELINES, format_summary_table, walk_forward
from skills.models import MODEL_NAMES, load_model
from skills.plots import plot_attention_report, plot_equity_curve, plot_walk_forward, save_figure
from skills.strategy import out_of_sample_start, run_backtest
from skills.strategy.backtest import format_metrics, format_topk_metrics
from skills.strategy.topk import names_per_side


def _print_written(writers: dict) -> None:
    written = write_together(writers)
    if written:
        print(f"\nwrote {', '.join(written)}")


def _backtest_strategy(args, model) -> str:
    """``--strategy``, or when not given: topk for a model trained with ``--label cross_section`` on a universe
    (its classes are relative to the day's other tickers, so only a ranking of them means anything), else ml."""
    if args.strategy is not None:
        return args.strategy
    method = (model.metadata_.get("label_rule") or {}).get("method")
    if method == "cross_section" and is_universe(args.data_path):
        print("--strategy topk: the model was trained with --label cross_section (give --strategy ml to override)")
        return "topk"
    return "ml"


def backtest(args) -> int:
    """Trade the model's signals from its out-of-sample start and print the table beside its benchmark:
    buy-and-hold for ``--strategy ml``, the equal-weight universe for ``--strategy topk``."""
    check_output("--plot", args.plot)
    check_output("--json", args.json, (".json",))
    check_model_and_range(args)
    check_data_path(args.data_path)
    model = load_model(args.model_path)
    args.strategy = _backtest_strategy(args, model)
    check_strategy_flags(args)
    data = load_bars(args)
    tickers = list(as_frames(data))
    if args.strategy == "topk":
        most = names_per_side(len(tickers), args.long_short)
        if args.long_short and len(tickers) < 2:
            raise UsageError(f"--long-short needs at least 2 tickers; {args.data_path} has {len(tickers)}")
        if args.k is not None and args.k > most:
            raise UsageError(f"--k {args.k} is more than the {most} ticker(s) a side can hold in "
                             f"{args.data_path} ({len(tickers)} tickers{', long-short' if args.long_short else ''})")
    common = dict(cash=args.cash, commission=args.commission, slippage=args.slippage,
                  start=out_of_sample_start(model, args.start), end=args.end)
    if args.strategy == "topk":
        stake = {} if args.stake is None else {"stake": args.stake}
        result = run_backtest(model, data, strategy="topk", k=args.k, n_drop=args.n_drop, rebalance=args.rebalance,
                              long_short=args.long_short, **stake, **common)
        rule = (f"top {result.strategy.k}{' long-short' if args.long_short else ''}, rebalance every "
                f"{args.rebalance} bar(s), n_drop {args.n_drop if args.n_drop is not None else 'no limit'}")
        table = format_topk_metrics
    else:
        result = run_backtest(model, data, confidence_threshold=args.confidence_threshold,
                              exit_threshold=args.exit_threshold, allow_short=args.allow_short, stake=args.stake,
                              hold_bars=args.hold_bars, **common)
        source = {"val": "chosen on the model's validation split", "given": "given",
                  "default": "the default; the model file stores none"}[result.metrics["threshold_source"]]
        rule = (f"confidence threshold P(up) >= {result.metrics['confidence_threshold']:.4g}, P(down) >= "
                f"{result.metrics['down_threshold']:.4g} ({source})")
        table = format_metrics
    m = result.metrics
    skipped = m.get("skipped_tickers") or {}
    traded = ", ".join(t for t in tickers if t not in skipped) + (f" ({', '.join(skipped)} left out: no bar in the "
                                                                 f"period)" if skipped else "")
    print(f"\nBacktest of {args.model_path} on {traded}: {m['start']} .. {m['end']} "
          f"({m['bars']} bars), {rule}, commission {args.commission}, cash {args.cash:,.0f}")
    print(table(m))
    writers = {}
    if args.plot:
        writers[Path(args.plot)] = lambda tmp: save_figure(plot_equity_curve(result.equity, result.buy_and_hold), tmp)
    if args.json:
        payload = {"flags": vars(args), "model": str(args.model_path), **result.to_dict()}
        writers[Path(args.json)] = lambda tmp: write_json(tmp, payload)
    _print_written(writers)
    return 0


def attention(args) -> int:
    """Draw the attention weights of the windows ending in [--start, --end] (or the last --last ones)."""
    check_output("--out", args.out)
    check_model_and_range(args)
    if not Path(args.data_path).is_file():
        raise UsageError(f"--data-path {args.data_path}: give one ticker's CSV file")
    model = load_model(args.model_path)
    bars = load_ohlcv(args.data_path)
    try:
        windows, dates = feature_windows(bars, model.feature_names_, model.sequence_length)
    except DataError:
        raise
    except ValueError as exc:  # a feature this version of skills does not compute
        raise UsageError(f"--model-path {args.model_path}: the data cannot provide the model's features: {exc}") \
            from None
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
        raise UsageError(f"--model-path {args.model_path}: {exc}; use an attention_lstm, causal_attention_lstm "
                         f"or alstm model") from None
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


def _compare_strategy(args, n_tickers: int) -> str:
    """``--strategy``, or topk with ``--label cross_section`` or a universe of at least `TOPK_MIN_TICKERS`."""
    if args.strategy is not None:
        if args.strategy == "topk" and n_tickers < 2:
            raise UsageError(f"--strategy topk needs several tickers; {args.data_path} has {n_tickers}")
        return args.strategy
    return "topk" if n_tickers > 1 and (args.label == "cross_section" or n_tickers >= TOPK_MIN_TICKERS) else "ml"


def compare(args) -> int:
    """Walk-forward: every model and baseline fold by fold, the summary table, and optionally JSON and a plot."""
    models = names("--models", args.models, MODEL_NAMES)
    baselines = names("--baselines", args.baselines, BASELINES)
    check_output("--json", args.json, (".json",))
    check_output("--plot", args.plot)
    check_data_path(args.data_path)
    for name in models:
        new_model(name, args)  # a bad hyperparameter fails now, not after the first fold
    resolve_features(args.features)  # a bad --features fails now
    parallel = ray_options(args)  # None: serial, in this process
    started = time.perf_counter()
    bars = load_bars(args)
    tickers = sorted(as_frames(bars))
    topk = _compare_strategy(args, len(tickers)) == "topk"
    folds = prepare_walk_forward(bars, n_splits=args.n_splits, mode=args.mode, val_fraction=args.val_fraction,
                                 **prepare_options(args))
    topk_options = None
    if topk:
        k, n_drop = topk_defaults(len(tickers), args.k, args.n_drop)
        topk_options = dict(k=k, n_drop=n_drop, rebalance=args.rebalance, commission=args.commission)
    try:
        report = walk_forward(
            folds, {name: (lambda name=name: new_model(name, args)) for name in models}, bars=bars,
            baselines=baselines, fit_options={**fit_options(args), "verbose": 0},
            backtest_options=dict(confidence_threshold=args.confidence_threshold, commission=args.commission),
            topk_options=topk_options, seed=args.seed, parallel=parallel)
    except ConnectionError as exc:  # only Ray attaching to --address / RAY_ADDRESS raises it here
        raise UsageError(str(exc)) from None
    seconds = time.perf_counter() - started
    blocks = ", ".join(f"{fold['dates']['test'][0]} .. {fold['dates']['test'][1]}" for fold in report["folds"])
    where = ", ".join(tickers) if len(tickers) <= 12 else f"{len(tickers)} tickers ({', '.join(tickers[:5])}, ...)"
    print(f"\nWalk-forward over {where}: {args.n_splits} {args.mode} folds, test blocks {blocks}; "
          f"{seconds / 60:.0f} min")
    if parallel is not None:
        place = (f"a local Ray, {parallel.workers} at once" if parallel.workers is not None
                 else f"the Ray cluster at {parallel.resolved_address()}")
        print(f"{len(folds) * (len(models) + len(baselines))} fold x model tasks on {place}, "
              f"{parallel.cpus_per_task:g} CPU / {parallel.gpus_per_task:g} GPU each")
    if topk:
        basis = {r["ic_basis"] for fold in report["folds"] for r in fold["results"].values()}
        print(f"mean ± std over folds; IC: {' / '.join(sorted(basis))} cross-sectional, score P(up) - P(down); "
              f"top-k: k {topk_options['k']}, n_drop {topk_options['n_drop']}, rebalance every {args.rebalance} "
              f"bar(s), excess over the equal-weight universe, each fold's test block")
    else:
        print("mean ± std over folds; backtest figures: each fold's mean over its tickers, trading its test block")
    print(format_summary_table(report["summary"]))
    writers = {}
    if args.json:
        payload = {"flags": vars(args), "seconds": round(seconds, 1), **report}
        writers[Path(args.json)] = lambda tmp: write_json(tmp, payload)
    if args.plot:
        writers[Path(args.plot)] = lambda tmp: save_figure(plot_walk_forward(report["summary"]), tmp)
    _print_written(writers)
    return 0
