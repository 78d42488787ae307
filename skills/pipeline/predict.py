"""`predict`: what a saved model says at a bar's close and what its backtest's strategy would do at the next open,
for each ticker of the data: ``python -m skills predict`` as one call.

The probabilities, thresholds and top-k rule are the backtest's own (`skills.strategy.predict.next_open`, which
feeds on `probability_feeds` as `run_backtest` does, and `skills.pipeline.backtest`'s choice of strategy, ``k``
and ``n_drop``), so the figures for a date are those a backtest over that date trades on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from skills._atomic import write_together
from skills.data import DataError
from skills.data.dataset import as_frames
from skills.models import load_model
from skills.pipeline.backtest import model_strategy, source_of, topk_rule
from skills.pipeline.loading import OptionError, load_bars, write_json
from skills.strategy.predict import next_open

__all__ = ["PredictResult", "SHOWN", "predict"]

#: A ranking of more tickers than this prints its top and bottom rows only (the frame and files hold them all).
SHOWN = 30
_ML, _TOPK = ("confidence_threshold", "exit_threshold", "allow_short"), ("k", "n_drop", "long_short")
_HEADERS = {"ticker": "ticker", "p_down": "P(down)", "p_flat": "P(flat)", "p_up": "P(up)", "score": "score",
            "class": "class", "if_flat": "if flat", "if_long": "if long", "if_short": "if short", "rank": "rank",
            "hold": "hold"}


@dataclass
class PredictResult:
    """What `predict` returns. `format` is the text ``python -m skills predict`` prints.

    Attributes:
        model_path: the model file (or the model's name).
        date: the bar predicted at: orders would be placed at its close and fill at the next open.
        strategy: ``"ml"`` or ``"topk"``; strategy_source: ``"given"``, ``"label"``, ``"universe"`` or
            ``"ticker"`` (as `skills.pipeline.BacktestRun`).
        tickers: every ticker of the data.
        frame: one row per ticker with a prediction on ``date`` (`skills.strategy.predict.NextOpen.frame`):
            ``p_down p_flat p_up class score``, then ``if_flat if_long [if_short]`` (ML) or ``rank hold`` (top-k,
            rows in rank order).
        skipped: ``{ticker: reason}`` of the tickers without a prediction on ``date``.
        rule: the thresholds (ML) or ``k``, ``n_drop``, ``long_short`` (top-k) used.
        last_bar: the data's last bar (of any ticker).
        files: the files written.
    """

    model_path: str
    date: pd.Timestamp
    strategy: str
    strategy_source: str
    tickers: list
    frame: pd.DataFrame
    skipped: dict
    rule: dict
    last_bar: pd.Timestamp
    files: list = field(default_factory=list)

    def rule_text(self) -> str:
        """The strategy's rule in words, as the backtest prints it."""
        r = self.rule
        if self.strategy == "topk":
            return (f"top {r['k']}{' long-short' if r['long_short'] else ''} by P(up) - P(down), n_drop {r['n_drop']} "
                    f"(the book bought from an empty one; a book that holds other names sells at most n_drop of "
                    f"those that left the top {r['k']} per rebalance)")
        source = {"val": "chosen on the model's validation split", "given": "given",
                  "default": "the default; the model file stores none"}[r["threshold_source"]]
        text = (f"MLStrategy: P(up) >= {r['confidence_threshold']:.4g} enters long, P(down) >= "
                f"{r['down_threshold']:.4g} {'enters short or ' if r['allow_short'] else ''}exits ({source})")
        if (r["exit_threshold"], r["exit_down_threshold"]) != (r["confidence_threshold"], r["down_threshold"]):
            text += f"; exit at {r['exit_threshold']:.4g}"
        return text

    def table(self, most: int | None = SHOWN) -> str:
        """The frame as text; a top-k ranking longer than ``most`` rows shows its top and bottom rows only."""
        shown = self.frame.reset_index()
        hidden = 0
        if self.strategy == "topk" and most is not None and len(shown) > most:
            k = self.rule["k"]
            head, tail = k + 5, (k + 5 if self.rule["long_short"] else 5)
            if head + tail < len(shown):
                hidden = len(shown) - head - tail
                shown = pd.concat([shown.iloc[:head], shown.iloc[-tail:]])
        columns = (["rank", "ticker", "p_down", "p_flat", "p_up", "score", "class", "hold"] if self.strategy == "topk"
                   else ["ticker", "p_down", "p_flat", "p_up", "class", *[c for c in shown if c.startswith("if_")]])
        text = shown[columns].rename(columns=_HEADERS).to_string(
            index=False, formatters={_HEADERS[c]: "{:.4f}".format for c in ("p_down", "p_flat", "p_up")} |
            {"score": "{:+.4f}".format})
        text = "\n".join(line.rstrip() for line in text.splitlines())
        if hidden:
            lines = text.splitlines()
            first = self.rule["k"] + 6  # the rank of the first row not shown; lines[0] is the header
            text = "\n".join([*lines[:first], f"... {hidden} more ticker(s), ranked {first} to {first + hidden - 1} "
                              "(the frame, --csv and --json hold every one)", *lines[first:]])
        return text

    def format(self) -> str:
        """The date, tickers and rule, the table, and the tickers without a prediction."""
        traded = (", ".join(self.tickers) if len(self.tickers) <= 12
                  else f"{len(self.tickers)} tickers ({', '.join(self.tickers[:5])}, ...)")
        lines = [f"\nPrediction of {self.model_path} at the close of {self.date.date()} (orders fill at the next "
                 f"open) on {traded}:", f"{self.rule_text()}", self.table()]
        if self.skipped:
            reasons = [f"  {ticker}: {why}" for ticker, why in list(self.skipped.items())[:10]]
            more = len(self.skipped) - len(reasons)
            lines += [f"no prediction on {self.date.date()} for {len(self.skipped)} ticker(s):", *reasons,
                      *([f"  ... and {more} more"] if more else [])]
        if self.date < self.last_bar:
            lines.append(f"(the data go on to {self.last_bar.date()}: this is the prediction made at "
                         f"{self.date.date()}'s close, from the bars up to it)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready: the model, date, strategy, rule, one record per ticker, and the tickers skipped."""
        records = [{key: value.item() if hasattr(value, "item") else value for key, value in row.items()}
                   for row in self.frame.reset_index().to_dict(orient="records")]
        return {"model": self.model_path, "date": str(self.date.date()), "strategy": self.strategy,
                "strategy_source": self.strategy_source, "rule": self.rule, "predictions": records,
                "skipped": self.skipped, "last_bar": str(self.last_bar.date())}


def _dated(frame: pd.DataFrame, date) -> pd.DataFrame:
    """``frame`` with the date of its predictions as its first column."""
    frame = frame.copy()
    frame.insert(0, "date", str(pd.Timestamp(date).date()))
    return frame


def _check_date(date, frames: dict, where: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The date to predict at (``date``, or the data's last bar) and the data's last bar."""
    last = max(bars.index[-1] for bars in frames.values())
    if date is None:
        return last, last
    date = pd.Timestamp(date)
    if date > last:
        raise OptionError(f"{{date}} {date.date()} is after the last bar of {where} ({last.date()}): there are no "
                          f"bars to predict from", "date")
    first = min(bars.index[0] for bars in frames.values())
    if date < first:
        raise OptionError(f"{{date}} {date.date()} is before the first bar of {where} ({first.date()})", "date")
    return date, last


def _check_universe(model, frames: dict, model_path: str) -> None:
    """A model whose input spans the universe (cross-sectional features, a graph network) is given every ticker
    it was trained on: without them its inputs are not those it learnt from."""
    if not getattr(model, "needs_universe", False):
        return
    trained = (model.metadata_.get("data") or {}).get("tickers") or []
    lacking = [ticker for ticker in trained if ticker not in frames]
    if lacking:
        raise DataError(f"{model_path}: the model reads its {len(trained)} training tickers together (features "
                        f"across the tickers of each date, or a graph), and the data lack {len(lacking)} of them "
                        f"({', '.join(lacking[:5])}{', ...' if len(lacking) > 5 else ''}): predict on the universe "
                        "it was trained on")


def predict(model, data=None, *, date=None, strategy=None, json_path=None, csv_path=None, on_bad_rows=None,
            on_bad_files=None, **options) -> PredictResult:
    """The model's probabilities at the close of ``date`` and what its backtest's strategy would do at the next
    open, as ``python -m skills predict``.

    Args:
        model: a model file (``.h5`` / ``.keras``) or a fitted model.
        data: the bars, as `skills.pipeline.backtest` takes them (None: the bundled real data).
        date: the bar to predict at; None: the data's last bar. Bars after it are not read.
        strategy: ``"ml"`` or ``"topk"``; None: the backtest's choice (`skills.strategy.default_strategy` of the
            number of tickers and the model's label rule).
        json_path, csv_path: write the result (`PredictResult.to_dict`) as JSON, the frame as CSV.
        on_bad_rows, on_bad_files: the loading policies of `load_bars`.
        **options: ML ``confidence_threshold`` (default: the thresholds stored in the model file, as the
            backtest's), ``exit_threshold``, ``allow_short``; top-k ``k``, ``n_drop`` (`topk_defaults` of the
            data's tickers when None), ``long_short``. None leaves an option at its default.

    Returns:
        PredictResult.

    Raises:
        OptionError: ``date`` after the data's last bar (or before its first), options of the other strategy,
            ``k`` more than a side can hold, an output path with the wrong suffix. DataError: bad bars, one
            ticker without a bar on ``date`` or with too few bars for the model's window, a universe model given
            data that lack some of its tickers. ModelFileError: a bad model file.
        TypeError: an unknown option.
    """
    unknown = sorted(set(options) - {*_ML, *_TOPK})
    if unknown:
        raise TypeError(f"predict() got unexpected keyword argument(s): {', '.join(unknown)}")
    options = {key: value for key, value in options.items() if value is not None and value is not False}
    for name, path, suffix in (("json_path", json_path, ".json"), ("csv_path", csv_path, ".csv")):
        if path is not None and Path(path).suffix != suffix:
            raise OptionError(f"{{{name}}} must end in {suffix}, got {path}", name)
    model_path = str(model) if isinstance(model, (str, Path)) else (getattr(model, "path_", None) or "the model")
    model = load_model(model) if isinstance(model, (str, Path)) else model
    bars = load_bars(data, on_bad_rows, on_bad_files)
    frames = as_frames(bars)
    where = source_of(data, bars)
    date, last = _check_date(date, frames, where)
    _check_universe(model, frames, model_path)
    strategy, source = model_strategy(strategy, len(frames), model)
    other = _TOPK if strategy == "ml" else _ML
    given = [name for name in other if name in options]
    if given:
        raise OptionError(f"{', '.join('{' + name + '}' for name in given)} only with {{strategy}} "
                          f"{'topk' if strategy == 'ml' else 'ml'} (got {{strategy}} {strategy})", *given, "strategy")
    if strategy == "topk":
        options["k"], options["n_drop"] = topk_rule(len(frames), options.get("k"), options.get("n_drop"),
                                                    bool(options.get("long_short")), where)
    signals = next_open(model, frames, date, strategy=strategy, **options)
    result = PredictResult(model_path=model_path, date=signals.date, strategy=strategy, strategy_source=source,
                           tickers=list(frames), frame=signals.frame, skipped=signals.skipped, rule=signals.rule,
                           last_bar=last)
    writers = {}
    if json_path is not None:
        writers[Path(json_path)] = lambda tmp: write_json(tmp, result.to_dict())
    if csv_path is not None:
        writers[Path(csv_path)] = lambda tmp: _dated(result.frame, date).to_csv(tmp)
    result.files = write_together(writers)
    return result
