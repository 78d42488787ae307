"""``skills tune``: a hyperparameter search of one architecture on Ray Tune, scored on walk-forward validation
splits (`skills.tuning.tune`), with the trial table printed and the best configuration written for
``train --config`` and ``compare --config``."""

from __future__ import annotations

from pathlib import Path

from skills.cli.loading import flag_errors, load_bars, tracking
from skills.cli.parser import UsageError, check_data_path, ray_options
from skills.cli.train import fit_options, prepare_options
from skills.pipeline import check_fractions
from skills.tuning import TuningError, load_space, search_space, tune


def _metric(args) -> str:
    if args.metric != "auto":
        return args.metric
    return "rank_ic" if args.label == "cross_section" else "log_loss"


def run(args) -> int:
    """Search, print the table of trials, write the results into ``--out``; 1 when no trial finished."""
    check_data_path(args.data_path)
    with flag_errors():
        check_fractions(args.val_fraction, args.test_fraction)
    parallel = ray_options(args, serial=False)
    overrides = load_space(args.space) if args.space else None
    search_space(args.model, overrides, where=f"--space {args.space}")  # a bad entry fails before Ray starts
    metric = _metric(args)
    if metric == "rank_ic" and args.label != "cross_section":
        raise UsageError("--metric rank_ic ranks the tickers of each date: use it with --label cross_section on a "
                         "universe")
    options = prepare_options(args)
    sequence_length = options.pop("sequence_length")
    fit = fit_options(args)
    fit.pop("epochs")
    tracked = tracking(args)
    bars = load_bars(args)
    try:
        result = tune(args.model, bars, trials=args.trials, folds=args.n_splits, epochs=args.epochs, out=args.out,
                      space=overrides, metric=metric, mode=args.mode, val_fraction=args.val_fraction,
                      sequence_length=sequence_length, prepare=options, fit=fit, test_fraction=args.test_fraction,
                      parallel=parallel, quiet=args.quiet, tracking=tracked,
                      **({} if args.seed is None else {"seed": args.seed}))
    except (TuningError, ConnectionError) as exc:  # ConnectionError: no Ray cluster at --address / RAY_ADDRESS
        raise UsageError(str(exc)) from None
    counts = result.trials["status"].value_counts().to_dict()
    print(f"\n{len(result.trials)} trials of {args.model} ({', '.join(f'{n} {s}' for s, n in counts.items())}) in "
          f"{result.seconds / 60:.1f} min{' (resumed)' if result.restored else ''}; objective: mean validation "
          f"{result.metric} over {args.n_splits} walk-forward folds "
          f"({'lower' if result.direction == 'min' else 'higher'} is better)")
    print(result.table)
    out = Path(args.out)
    if result.interrupted:
        print(f"\nthe search was interrupted; run the same command again to resume it from {out}")
        return 130
    if result.best_config is None:
        print(f"\nno trial finished; the trials and their errors are in {out / 'trials.csv'}")
        return 1
    searched = ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                         for key, value in result.best_params.items())
    print(f"\nbest: objective {result.best_objective:.4f} with {searched}")
    default = result.default_trial
    if default is not None and default["objective"] is not None:
        better = (result.best_objective < default["objective"]) if result.direction == "min" else \
            (result.best_objective > default["objective"])
        verdict = (f"the best beats them by {abs(result.best_objective - default['objective']):.4f}" if better
                   else "no trial beat them")
        print(f"the defaults (trial {default['trial']}, {default['status']}): objective {default['objective']:.4f}; "
              f"{verdict}")
    if result.refit_validation is not None:
        print(f"refitted on the chronological split: validation log loss {result.refit_validation['log_loss']:.4f}"
              f", accuracy {result.refit_validation['accuracy']:.4f}")
    written = [out / "trials.csv", out / "trials.json", out / "best_config.json"]
    if result.best_model_path is not None:
        written += [out / result.best_model_path.name, out / "best.json"]
    print(f"wrote {', '.join(map(str, written))}")
    print(f"train it again with: python -m skills train --config {out / 'best_config.json'} --data-path "
          f"{args.data_path}")
    return 0
