"""`compare`: every model and baseline fitted and scored fold by fold on walk-forward splits, the summary table,
and the optional JSON and plot: ``python -m skills compare`` as one call."""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path

from skills._atomic import write_together
from skills.data import DataError, prepare_walk_forward
from skills.data.dataset import as_frames
from skills.evaluation import ALL_BASELINES, UNIVERSE_BASELINES, walk_forward
from skills.evaluation.tables import format_summary_table
from skills.models import MODEL_NAMES, model_params
from skills.pipeline.backtest import source_of, topk_rule
from skills.pipeline.loading import OptionError, load_bars, new_model, write_json
from skills.pipeline.tracked import log_compare
from skills.pipeline.train import _sequence_length, route_options
from skills.plots import plot_walk_forward, save_figure
from skills.strategy import DEFAULT_REBALANCE, default_strategy
from skills.tracking import optional_run
from skills.training import TrainConfig

__all__ = ["CompareResult", "DEFAULT_COMPARE_MODELS", "DEFAULT_SPLITS", "compare"]

#: The networks `compare` fits unless told otherwise: the four of the seed documents.
DEFAULT_COMPARE_MODELS = ("attention_lstm", "causal_attention_lstm", "lstm", "transformer")
#: Walk-forward folds of `compare` unless told otherwise.
DEFAULT_SPLITS = 3


@dataclass
class CompareResult:
    """The walk-forward report (`walk_forward`: ``folds`` and ``summary``), what was compared, how it traded and
    the files written. `format` is the text ``python -m skills compare`` prints."""

    report: dict
    models: list
    baselines: list
    tickers: list
    n_splits: int
    mode: str
    topk: dict | None
    seconds: float
    parallel: object = None
    files: list = field(default_factory=list)
    basis: str = "open_to_open"

    @property
    def summary(self) -> dict:
        return self.report["summary"]

    def table(self) -> str:
        """Mean ± std over the folds, one row per model and baseline (`format_summary_table`)."""
        return format_summary_table(self.summary)

    def format(self) -> str:
        """The folds, how the tasks ran and traded, and the table, as the command prints them."""
        folds = self.report["folds"]
        blocks = ", ".join(f"{fold['dates']['test'][0]} .. {fold['dates']['test'][1]}" for fold in folds)
        tickers = self.tickers
        where = ", ".join(tickers) if len(tickers) <= 12 else f"{len(tickers)} tickers ({', '.join(tickers[:5])}, ...)"
        scope = (f"{self.n_splits} {self.mode} folds" if len(folds) == self.n_splits
                 else f"fold {folds[0]['fold']} of {self.n_splits} {self.mode} folds only")
        lines = [f"\nWalk-forward over {where}: {scope}, test blocks {blocks}; {self.seconds / 60:.0f} min"]
        parallel = self.parallel
        if parallel is not None:
            place = (f"a local Ray, {parallel.workers} at once" if parallel.workers is not None
                     else f"the Ray cluster at {parallel.resolved_address()}")
            lines.append(f"{len(folds) * (len(self.models) + len(self.baselines))} fold x model tasks on {place}, "
                         f"{parallel.cpus_per_task:g} CPU / {parallel.gpus_per_task:g} GPU each")
        if self.topk is not None:
            basis = {r["ic_basis"] for fold in folds for r in fold["results"].values()}
            lines.append(f"mean ± std over folds; IC: {' / '.join(sorted(basis))} cross-sectional, score P(up) - "
                         f"P(down); rank IC t: the mean daily rank IC over every test day of the folds, over its "
                         f"standard error; top-k: k {self.topk['k']}, n_drop {self.topk['n_drop']}, rebalance every "
                         f"{self.topk['rebalance']} bar(s), excess over the equal-weight universe, each fold's test "
                         f"block")
        else:
            lines.append("mean ± std over folds; backtest figures: each fold's mean over its tickers, trading its "
                         "test block")
        lines.append(f"labels and IC on {self.basis.replace('_', '-')} returns")
        lines.append(self.table())
        return "\n".join(lines)


def compare(data=None, *, models=DEFAULT_COMPARE_MODELS, baselines=None, n_splits: int = DEFAULT_SPLITS,
            fold: int | None = None, strategy=None, k=None, n_drop=None, rebalance=None, confidence_threshold=None,
            commission=None, parallel=None, json_path=None, plot=None, settings=None, on_bad_rows=None,
            on_bad_files=None, tracking=None, **options) -> CompareResult:
    """Walk-forward comparison of models beside baselines, as ``python -m skills compare``.

    Each of ``n_splits`` folds (`prepare_walk_forward`) fits a new model of every architecture on its past and
    scores it on its next block beside the baselines (`walk_forward`): classification figures, IC, and a backtest
    of the block: a per-ticker `MLStrategy`, or one top-k portfolio over the tickers.

    Args:
        data: a path as `load_bars` reads it, or bars; None: the bundled real data.
        models: architecture names (`skills.models.MODEL_NAMES`), a sequence or a comma-separated string.
        baselines: names from `ALL_BASELINES`; None: on a universe traded top-k, `UNIVERSE_BASELINES` (LightGBM on
            Alpha158, LightGBM on the last bar, reversal, momentum, majority), else `walk_forward`'s default
            (majority, LightGBM). Either may be empty, not both.
        n_splits: walk-forward folds.
        fold: run only this fold (1-based) of the ``n_splits``, to screen a change on one fold before confirming
            it on all; None: every fold.
        strategy: ``"ml"`` or ``"topk"``; None: `default_strategy` of the tickers and the label rule.
        k, n_drop: top-k holdings and replacements per rebalance; None: `topk_defaults`.
        rebalance: top-k rebalance every this many bars; None: `DEFAULT_REBALANCE`.
        confidence_threshold: the ML strategy's entry threshold; None: each model's own (`walk_forward`).
        commission: fraction of each fill's value; None: `run_backtest`'s default.
        parallel: a `skills.evaluation.parallel.RayOptions` to run the fold x model tasks on Ray; None: serial.
        json_path, plot: write every fold's figures and the summary as JSON / the summary as a figure.
        settings: recorded as the JSON's ``flags``; default: this call's arguments.
        on_bad_rows, on_bad_files: the loading policies of `load_bars`.
        tracking: a `skills.tracking.Tracking`: log the comparison into MLflow (`log_compare`: a parent run with
            the summary, a child run per model × fold); it connects before any data is loaded, and a comparison
            that fails is marked FAILED. None: no tracking.
        **options: the networks' hyperparameters (each model gets those it takes), the data options of
            `prepare_walk_forward` (``mode``, ``sequence_length``, ``label``, ``val_fraction``, ...) and the
            trainer's options of `TrainConfig` (``epochs``, ``seed``, ...).

    Returns:
        CompareResult.

    Raises:
        OptionError: an unknown model or baseline, a name listed twice, a hyperparameter no model takes or one
            a model refuses, top-k on one ticker, ``k`` more than the tickers; DataError: bad or short data.
        TrackingError: ``tracking`` cannot reach its store.
        TypeError: an unknown keyword argument.
    """
    models = _names("models", models, MODEL_NAMES, allow_empty=True)
    if fold is not None and not (isinstance(fold, int) and 1 <= fold <= n_splits):
        raise OptionError(f"{{fold}} must be a fold number from 1 to {n_splits} (the n_splits), got {fold!r}", "fold")
    if baselines is not None:
        baselines = _names("baselines", baselines, ALL_BASELINES, allow_empty=True)
    if not models and baselines is not None and not baselines:
        raise OptionError("{models} and {baselines} are both empty: nothing to compare", "models", "baselines")
    network, data_options, fit = route_options(options, prepare_walk_forward, "compare")
    untaken = sorted(set(network) - set().union(*(model_params(name) for name in models)))
    if untaken:
        raise OptionError(f"{{models}} {', '.join(models) or '(none)'} take(s) no {', '.join(untaken)}", "models")
    for name, path in (("json_path", json_path), ("plot", plot)):
        if path is not None and not Path(path).suffix:
            raise OptionError(f"{{{name}}} must end in a suffix such as .json or .png, got {path}", name)
    sequence_length = _sequence_length(data_options, prepare_walk_forward)
    makers = {}
    for name in models:  # a bad hyperparameter fails now, not after the first fold
        takes = {key: value for key, value in network.items() if key in model_params(name)}
        new_model(name, sequence_length, **takes)
        makers[name] = _maker(name, sequence_length, takes)
    if settings is None:
        settings = dict(data=data if data is None or isinstance(data, (str, Path)) else type(data).__name__,
                        models=models, baselines=baselines, n_splits=n_splits, fold=fold, strategy=strategy, k=k,
                        n_drop=n_drop, rebalance=rebalance, confidence_threshold=confidence_threshold,
                        commission=commission, **options)
    if tracking is not None:
        tracking.check()
    with optional_run(tracking, f"compare {','.join(models) or 'baselines'}") as run:
        result = _compare(data, models, baselines, makers, n_splits, fold, strategy, k, n_drop, rebalance,
                          confidence_threshold, commission, parallel, json_path, plot, settings, on_bad_rows,
                          on_bad_files, network, data_options, fit)
        if run is not None:
            log_compare(run, result)
    return result


def _compare(data, models, baselines, makers, n_splits, fold, strategy, k, n_drop, rebalance, confidence_threshold,
             commission, parallel, json_path, plot, settings, on_bad_rows, on_bad_files, network, data_options,
             fit) -> CompareResult:
    started = time.perf_counter()
    bars = load_bars(data, on_bad_rows, on_bad_files)
    tickers = sorted(as_frames(bars))
    defaults = {name: p.default for name, p in inspect.signature(prepare_walk_forward).parameters.items()}
    label = data_options.get("label", defaults["label"])
    topk = _strategy(strategy, len(tickers), label, source_of(data, bars)) == "topk"
    if baselines is None:
        default = inspect.signature(walk_forward).parameters["baselines"].default
        baselines = list(UNIVERSE_BASELINES if topk else default)
        if settings.get("baselines", baselines) is None:
            settings = {**settings, "baselines": baselines}
    try:
        folds = prepare_walk_forward(bars, n_splits=n_splits, **data_options)
    except DataError:
        raise
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    if fold is not None:
        folds = folds[fold - 1:fold]
    broker = {} if commission is None else {"commission": commission}
    topk_options = None
    if topk:
        k, n_drop = topk_rule(len(tickers), k, n_drop, where=source_of(data, bars))
        topk_options = dict(k=k, n_drop=n_drop, rebalance=rebalance or DEFAULT_REBALANCE, **broker)
    try:
        report = walk_forward(folds, makers, bars=bars, baselines=baselines, fit_options={**fit, "verbose": 0},
                              backtest_options=dict(confidence_threshold=confidence_threshold, **broker),
                              topk_options=topk_options, seed=fit.get("seed", TrainConfig().seed),
                              parallel=parallel)
    except ConnectionError as exc:  # only Ray attaching to a cluster address raises it here
        raise OptionError(str(exc)) from None
    if fold is not None:
        report["folds"][0]["fold"] = fold
    seconds = time.perf_counter() - started
    result = CompareResult(report=report, models=models, baselines=baselines, tickers=tickers, n_splits=n_splits,
                           mode=data_options.get("mode", defaults["mode"]), topk=topk_options, seconds=seconds,
                           parallel=parallel, basis=folds[0].label_rule.basis)
    writers = {}
    if json_path is not None:
        payload = {"flags": settings, "seconds": round(seconds, 1), **report}
        writers[Path(json_path)] = lambda tmp: write_json(tmp, payload)
    if plot is not None:
        writers[Path(plot)] = lambda tmp: save_figure(plot_walk_forward(report["summary"]), tmp)
    result.files = write_together(writers)
    return result


def _maker(name, sequence_length, params):
    return lambda: new_model(name, sequence_length, **params)


def _names(argument: str, names, choices, allow_empty: bool = False) -> list:
    """``names`` (a sequence or a comma-separated string), distinct and each one of ``choices``."""
    listed = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    listed = [n for n in listed if n]
    if (not listed and not allow_empty) or len(set(listed)) != len(listed) or not set(listed) <= set(choices):
        raise OptionError(f"{{{argument}}} must list distinct names from {', '.join(choices)}, got {names!r}",
                          argument)
    return listed


def _strategy(strategy, n_tickers: int, label, where: str) -> str:
    """``strategy``, or `default_strategy` of the tickers and the label rule."""
    if strategy is None:
        return default_strategy(n_tickers, label)
    if strategy == "topk" and n_tickers < 2:
        raise OptionError(f"{{strategy}} topk needs several tickers; {where} has {n_tickers}", "strategy")
    return strategy
