"""`backtest`: a saved model's signals traded from its out-of-sample start, with `MLStrategy` beside buy-and-hold or
a top-k portfolio beside the equal-weight universe, and the optional plot and JSON: ``python -m skills backtest``
as one call."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from skills._atomic import write_together
from skills.data.dataset import as_frames
from skills.evaluation.tables import format_metrics, format_ticker_table, format_topk_metrics
from skills.models import load_model
from skills.pipeline.loading import OptionError, load_bars, write_json
from skills.pipeline.tracked import log_backtest
from skills.plots import plot_backtest, save_figure
from skills.strategy import DEFAULT_REBALANCE, default_strategy, names_per_side, run_backtest, topk_defaults
from skills.strategy.backtest import BacktestResult, out_of_sample_start
from skills.tracking import optional_run

__all__ = ["BacktestRun", "backtest", "check_range", "model_strategy", "source_of", "topk_rule"]

# the options of each strategy only (`run_backtest` params), for "given only with the other strategy"
_ONLY = {"ml": ("confidence_threshold", "exit_threshold", "allow_short", "hold_bars"),
         "topk": ("k", "n_drop", "rebalance", "long_short")}
_BROKER = {name: p.default for name, p in inspect.signature(run_backtest).parameters.items()
           if name in ("cash", "commission", "slippage")}


@dataclass
class BacktestRun:
    """What `backtest` did: the `BacktestResult`, the strategy and why it was chosen, the tickers traded, the
    options it ran with and the files written. `format` is the text ``python -m skills backtest`` prints."""

    result: BacktestResult
    strategy: str
    strategy_source: str  # "given", "label" (a cross-sectional model on several tickers) or "universe"/"ticker"
    model_path: str
    tickers: list
    options: dict
    files: list = field(default_factory=list)

    @property
    def metrics(self) -> dict:
        return self.result.metrics

    def rule(self) -> str:
        """The trading rule in words: top-k's k, n_drop and schedule, or the ML strategy's thresholds."""
        o, m = self.options, self.metrics
        if self.strategy == "topk":
            return (f"top {o['k']}{' long-short' if o.get('long_short') else ''}, rebalance every "
                    f"{o['rebalance']} bar(s), n_drop {o['n_drop']}")
        source = {"val": "chosen on the model's validation split", "given": "given",
                  "default": "the default; the model file stores none"}[m["threshold_source"]]
        return (f"confidence threshold P(up) >= {m['confidence_threshold']:.4g}, P(down) >= "
                f"{m['down_threshold']:.4g} ({source})")

    def table(self) -> str:
        """The metrics beside the benchmark (`format_metrics` or `format_topk_metrics`)."""
        return (format_topk_metrics if self.strategy == "topk" else format_metrics)(self.metrics)

    def figure(self):
        """The `plot_backtest` figure: equity beside the benchmark, both drawdowns and, for the ML strategy on one
        ticker, its price with the fills."""
        result, m = self.result, self.metrics
        tickers = list(map(str, result.closes.columns))
        one = self.strategy == "ml" and len(tickers) == 1
        names = ", ".join(tickers) if len(tickers) <= 5 else f"{len(tickers)} tickers"
        rule, versus, key = (("ML strategy", "buy & hold", "buy_and_hold_return") if self.strategy == "ml"
                             else ("top-k", "equal weight", "benchmark_return"))
        title = (f"{names}, {rule}, {m['start']} .. {m['end']}: {_percent(m['total_return'])} vs {versus} "
                 f"{_percent(m[key])}")
        return plot_backtest(result.equity.rename("strategy" if self.strategy == "ml" else "top-k"),
                             result.buy_and_hold.rename(versus), orders=result.orders if one else None,
                             close=result.closes.iloc[:, 0] if one else None, title=title,
                             ends=_early_ends(result.closes, result.equity.index[-1]))

    def format(self) -> str:
        """The period, tickers and rule, then the table (and, for the ML strategy on several tickers, each
        ticker's bars, trades and returns: `format_ticker_table`), as the command prints them."""
        m = self.metrics
        skipped = m.get("skipped_tickers") or {}
        traded = ", ".join(t for t in self.tickers if t not in skipped) + (
            f" ({', '.join(skipped)} left out: no bar in the period)" if skipped else "")
        return (f"\nBacktest of {self.model_path} on {traded}: {m['start']} .. {m['end']} ({m['bars']} bars), "
                f"{self.rule()}, commission {self.options['commission']}, cash {self.options['cash']:,.0f}\n"
                f"{self.table()}" + (f"\n\n{format_ticker_table(self.result.per_ticker)}"
                                     if self.strategy == "ml" and len(self.result.per_ticker) > 1 else ""))


def _early_ends(closes, last, most=4) -> dict:
    """``{date: "A, B: last bar"}`` of the tickers whose bars end before ``last``, when at most ``most`` such dates."""
    ends = closes.apply(lambda column: column.last_valid_index())
    early = ends[ends < last]
    groups = {date: ", ".join(map(str, early.index[early == date])) for date in sorted(set(early))}
    return {date: f"{names}: last bar" for date, names in groups.items()} if len(groups) <= most else {}


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def check_range(start, end) -> None:
    """``start`` is not after ``end``.

    Raises:
        OptionError: it is.
    """
    if start is not None and end is not None and start > end:
        raise OptionError(f"{{start}} {start:%Y-%m-%d} is after {{end}} {end:%Y-%m-%d}", "start", "end")


def model_strategy(strategy, n_tickers: int, model) -> tuple[str, str]:
    """The strategy and its source: as given, else `default_strategy` of the tickers and the model's labels."""
    if strategy is not None:
        return strategy, "given"
    method = (model.metadata_.get("label_rule") or {}).get("method")
    chosen = default_strategy(n_tickers, method)
    if chosen == "ml":
        return "ml", "ticker" if n_tickers == 1 else "universe"
    return "topk", "label" if method == "cross_section" else "universe"


def topk_rule(n_tickers: int, k=None, n_drop=None, long_short: bool = False, where: str = "the data"):
    """``(k, n_drop)`` of a top-k portfolio over ``n_tickers`` by `topk_defaults`, as an `OptionError` naming ``k``
    or ``long_short`` when they cannot work (``where``: the data, for the message)."""
    if long_short and n_tickers < 2:
        raise OptionError(f"{{long_short}} needs at least 2 tickers; {where} has {n_tickers}", "long_short")
    try:
        return topk_defaults(n_tickers, k, n_drop, long_short)
    except ValueError as exc:
        most = names_per_side(n_tickers, long_short)
        if k is not None and k > most:
            raise OptionError(f"{{k}} {k} is more than the {most} ticker(s) a side can hold in {where} "
                              f"({n_tickers} tickers{', long-short' if long_short else ''})", "k") from None
        raise OptionError(str(exc)) from None


def _topk_options(options: dict, n: int, where: str) -> dict:
    """k and n_drop by `topk_defaults`, the rebalance by `DEFAULT_REBALANCE` where not given."""
    k, n_drop = topk_rule(n, options.get("k"), options.get("n_drop"), bool(options.get("long_short")), where)
    return {**options, "k": k, "n_drop": n_drop, "rebalance": options.get("rebalance") or DEFAULT_REBALANCE}


def backtest(model, data=None, *, strategy=None, start=None, end=None, plot=None, json_path=None, settings=None,
             on_bad_rows=None, on_bad_files=None, tracking=None, **options) -> BacktestRun:
    """Trade a model's signals from its out-of-sample start (`run_backtest`), as ``python -m skills backtest``.

    Args:
        model: a model file (``.h5`` / ``.keras``) or a fitted model.
        data: the bars to trade: a path as `load_bars` reads it, or bars; None: the bundled real data.
        strategy: ``"ml"`` (`MLStrategy`, a position per ticker, beside buy-and-hold) or ``"topk"``
            (`TopKStrategy` over the tickers, beside the equal-weight universe); None: `default_strategy` of the
            number of tickers and the model's label rule.
        start: first date to trade; None: the start of the model's test split (`out_of_sample_start`).
        end: last date to use; None: the last bar.
        plot: write the figure of `BacktestRun.figure` to this image: the equity curve beside its benchmark, both
            drawdowns and, for the ML strategy on one ticker, its price with the fills.
        json_path: write the metrics, orders, curves and per-ticker figures (`BacktestResult.to_dict`) to this
            JSON file.
        settings: recorded as the JSON's ``flags``; default: this call's arguments.
        on_bad_rows, on_bad_files: the loading policies of `load_bars`.
        tracking: a `skills.tracking.Tracking`: log the backtest into MLflow (`log_backtest`: its options, figures
            and the figure of `BacktestRun.figure`); it connects before anything is loaded. None: no tracking.
        **options: `run_backtest`'s: ``cash``, ``commission``, ``slippage``, ``stake``; for ``"ml"``
            ``confidence_threshold``, ``exit_threshold``, ``allow_short``, ``hold_bars``; for ``"topk"`` ``k``,
            ``n_drop`` (both `topk_defaults` when None), ``rebalance`` (`DEFAULT_REBALANCE`), ``long_short``.
            None leaves an option at its default.

    Returns:
        BacktestRun.

    Raises:
        OptionError: options of the other strategy, ``k`` more than a side can hold, ``start`` after ``end``, an
            output path without a suffix, ...; ModelFileError: a bad model file; DataError: bad bars.
        TrackingError: ``tracking`` cannot reach its store.
        TypeError: an unknown option.
    """
    known = set(_BROKER) | {"stake"} | {name for names in _ONLY.values() for name in names}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"backtest() got unexpected keyword argument(s): {', '.join(unknown)}")
    options = {key: value for key, value in options.items() if value is not None and value is not False}
    for name, path in (("plot", plot), ("json_path", json_path)):
        if path is not None and not Path(path).suffix:
            raise OptionError(f"{{{name}}} must end in a suffix such as .png or .json, got {path}", name)
    start = None if start is None else pd.Timestamp(start)
    end = None if end is None else pd.Timestamp(end)
    check_range(start, end)
    if settings is None:
        settings = dict(model=str(model) if isinstance(model, (str, Path)) else type(model).__name__,
                        data=data if data is None or isinstance(data, (str, Path)) else type(data).__name__,
                        strategy=strategy, start=start, end=end, **options)
    if tracking is not None:
        tracking.check()
    model_path = str(model) if isinstance(model, (str, Path)) else (getattr(model, "path_", None) or "the model")
    with optional_run(tracking, f"backtest {Path(model_path).stem}") as tracked:
        run = _backtest(model, model_path, data, strategy, start, end, plot, json_path, settings, on_bad_rows,
                        on_bad_files, options)
        if tracked is not None:
            log_backtest(tracked, run)
    return run


def _backtest(model, model_path, data, strategy, start, end, plot, json_path, settings, on_bad_rows, on_bad_files,
              options) -> BacktestRun:
    model = load_model(model) if isinstance(model, (str, Path)) else model
    bars = load_bars(data, on_bad_rows, on_bad_files)
    tickers = list(as_frames(bars))
    strategy, source = model_strategy(strategy, len(tickers), model)
    other = "ml" if strategy == "topk" else "topk"
    given = [name for name in _ONLY[other] if name in options]
    if given:
        raise OptionError(f"{', '.join('{' + name + '}' for name in given)} only with {{strategy}} {other} (got "
                          f"{{strategy}} {strategy})", *given, "strategy")
    if strategy == "topk":
        options = _topk_options(options, len(tickers), source_of(data, bars))
    options = {**_BROKER, **options}
    result = run_backtest(model, bars, strategy=strategy, start=out_of_sample_start(model, start), end=end,
                          **options)
    run = BacktestRun(result=result, strategy=strategy, strategy_source=source, model_path=model_path,
                      tickers=tickers, options=options)
    writers = {}
    if plot is not None:
        writers[Path(plot)] = lambda tmp: save_figure(run.figure(), tmp)
    if json_path is not None:
        payload = {"flags": settings, "model": model_path, "strategy": strategy, "options": options,
                   **result.to_dict()}
        writers[Path(json_path)] = lambda tmp: write_json(tmp, payload)
    run.files = write_together(writers)
    return run


def source_of(data, bars) -> str:
    """Where ``bars`` came from, for messages: the path given, else the path they were read from."""
    if isinstance(data, (str, Path)):
        return str(data)
    report = getattr(bars, "report", None)
    source = getattr(report, "source", None) or getattr(bars, "attrs", {}).get("source")
    return str(source) if source else "the data"
