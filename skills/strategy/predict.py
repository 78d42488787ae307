"""Tomorrow's signal: what `MLStrategy` or `TopKStrategy` would do at the open after bar d, from the
probabilities a backtest would feed them on d.

The probabilities come from `probability_feeds`, the function `run_backtest` feeds its strategies with, on the
bars up to d (so nothing after d's close is read): the same features, windows, scaler and network call. The
ML rule is `MLStrategy.next`'s, stated for each position the ticker may be in; the top-k book is the one
`TopKStrategy` buys from an empty book (`topk_picks`), ranked by the same score, P(up) - P(down).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skills.data.dataset import as_frames
from skills.data.io import DataError
from skills.data.labels import CLASS_NAMES
from skills.strategy.defaults import default_strategy, topk_defaults
from skills.strategy.feeds import probability_feeds
from skills.strategy.ml_strategy import (
    AUTO,
    DOWN,
    PROBABILITY_LINES,
    UP,
    _positive_threshold,
    as_model,
    decide,
    resolve_threshold,
)
from skills.strategy.topk import topk_picks

__all__ = ["NextOpen", "POSITIONS", "ml_actions", "next_open", "probabilities_on", "topk_book"]

#: The positions a ticker may be in before the next open, for `ml_actions` (``short`` only with shorts allowed).
POSITIONS = ("flat", "long", "short")


def probabilities_on(model, frames: dict, date) -> tuple[dict, dict]:
    """Each ticker's (P(down), P(flat), P(up)) on ``date``, as `run_backtest` would feed them to its strategy.

    A model whose input spans the universe predicts every ticker's bars up to ``date`` at once; any other
    model predicts each ticker with a bar on ``date`` alone (a ticker whose bars give no complete window is
    then an error for one ticker, and left out with the reason among several).

    Args:
        model: a fitted model.
        frames: ``{ticker: bars}``.
        date: the bar whose close the prediction is made at.

    Returns:
        ``(proba, skipped)``: ``{ticker: float array (3,)}`` of the tickers with a prediction on ``date``, and
        ``{ticker: reason}`` of the others.

    Raises:
        DataError: one ticker only, and it has no bar on ``date`` or no complete window ending on it.
    """
    date = pd.Timestamp(date)
    skipped = {ticker: _no_bar(bars, date) for ticker, bars in frames.items() if date not in bars.index}
    if len(frames) == 1 and skipped:
        raise DataError(f"{next(iter(skipped))}: {next(iter(skipped.values()))}")
    present = {ticker: bars for ticker, bars in frames.items() if ticker not in skipped}
    feeds = {}
    if getattr(model, "needs_universe", False) and present:
        # one call over every ticker with bars up to d, as the backtest's: the cross-sections (ranks, a graph)
        # of the dates a window spans hold the tickers of those dates, some of which may have ended before d
        begun = {ticker: bars for ticker, bars in frames.items() if len(bars) and bars.index[0] <= date}
        feeds = probability_feeds(model, begun, date, date, found := {})
        skipped.update({ticker: f"{why} up to {date.date()}" for ticker, why in found.items()
                        if ticker not in skipped})
    else:
        for ticker, bars in present.items():
            try:
                feeds.update(probability_feeds(model, {ticker: bars}, date, date))
            except DataError as error:
                if len(frames) == 1:
                    raise
                skipped[ticker] = str(error)
    proba = {ticker: frame[list(PROBABILITY_LINES)].to_numpy(dtype=float)[0] for ticker, frame in feeds.items()}
    return proba, skipped


def _no_bar(bars, date) -> str:
    if bars.empty or bars.index[0] > date:
        return f"no bar on {date.date()} (its bars start on {bars.index[0].date()})" if len(bars) else "no bars"
    return f"no bar on {date.date()} (the last before it is {bars.loc[:date].index[-1].date()})"


def ml_actions(p, entry: tuple, exit: tuple, allow_short: bool = False) -> dict:
    """What `MLStrategy.next` does at bar d's close, for each position the ticker may hold; the order fills
    at the next open.

    Args:
        p: (P(down), P(flat), P(up)).
        entry: ``(up, down)`` thresholds that open a position on each side.
        exit: ``(up, down)`` thresholds that close a short (on P(up)) or a long (on P(down)).
        allow_short: whether P(down) opens (or reverses into) a short.

    Returns:
        ``{"flat": ..., "long": ...}`` (and ``"short"`` with ``allow_short``): ``"enter long"``, ``"enter short"``
        or ``"nothing"`` when flat; ``"hold"``, ``"exit"`` or ``"reverse to short"`` when long; ``"hold"``,
        ``"cover"`` or ``"reverse to long"`` when short. (``hold_bars``, which closes a position after N bars
        whatever the probabilities, is not applied: it depends on when the position was opened.)
    """
    enter, leave = {UP: entry[0], DOWN: entry[1]}, {UP: exit[0], DOWN: exit[1]}
    words = {0: {1: "enter long", -1: "enter short", None: "nothing"},
             1: {None: "hold", 0: "exit", -1: "reverse to short"},
             -1: {None: "hold", 0: "cover", 1: "reverse to long"}}
    actions = {"flat": words[0][decide(p, 0, enter, leave, allow_short)],
               "long": words[1][decide(p, 1, enter, leave, allow_short)]}
    if allow_short:
        actions["short"] = words[-1][decide(p, -1, enter, leave, allow_short)]
    return actions


def topk_book(scores: dict, k: int, n_drop: int, long_short: bool = False) -> dict:
    """The names `TopKStrategy` holds after a rebalance from an empty book: ``{name: "long" | "short"}``.

    The long side is the ``k`` best ``scores`` (ties broken by name); with ``long_short`` the short side is the
    ``k`` worst of the others. From a book that already holds names, at most ``n_drop`` of the held names that
    left the top ``k`` are sold per rebalance, so the book can differ from this one.
    """
    longs = topk_picks(scores, set(), k, n_drop)
    book = dict.fromkeys(longs, "long")
    if long_short:
        down = {name: -score for name, score in scores.items()}
        book.update(dict.fromkeys(topk_picks(down, set(), k, n_drop, exclude=set(longs)), "short"))
    return book


@dataclass
class NextOpen:
    """What `next_open` returns.

    Attributes:
        date: the bar the probabilities are computed at (its close); orders would fill at the next open.
        strategy: ``"ml"`` or ``"topk"``.
        frame: one row per ticker with a prediction on ``date`` (index ``ticker``): ``p_down``, ``p_flat``,
            ``p_up``, ``class`` (the most probable), ``score`` (P(up) - P(down)); ML: ``if_flat``, ``if_long``
            (and ``if_short``), the `ml_actions`; top-k: ``rank`` (1 = best score) and ``hold`` (``"long"``,
            ``"short"`` or ``""``), rows in rank order.
        skipped: ``{ticker: reason}`` of the tickers without a prediction on ``date``.
        rule: the parameters used: ML ``confidence_threshold``, ``down_threshold``, ``exit_threshold``,
            ``exit_down_threshold``, ``threshold_source`` (``"val"``, ``"given"``, ``"default"``) and
            ``allow_short``; top-k ``k``, ``n_drop`` and ``long_short``.
    """

    date: pd.Timestamp
    strategy: str
    frame: pd.DataFrame
    skipped: dict = field(default_factory=dict)
    rule: dict = field(default_factory=dict)


def next_open(model, data, date, strategy=AUTO, confidence_threshold=None, exit_threshold=None,
              allow_short: bool = False, k=None, n_drop=None, long_short: bool = False) -> NextOpen:
    """The probabilities on bar ``date`` and what the backtest's strategy would do at the next open.

    Args:
        model: a fitted `SequenceClassifier` or a path to its file.
        data: one ticker's bars, ``{ticker: bars}`` or a path (`as_frames`); bars after ``date`` are not read.
        date: the bar to predict at.
        strategy: ``"ml"``, ``"topk"`` or ``"auto"``: `default_strategy` of the tickers and the model's label
            rule, as `run_backtest` chooses.
        confidence_threshold, exit_threshold, allow_short: `MLStrategy`'s (None: the thresholds stored in the
            model file, else `DEFAULT_CONFIDENCE`; `resolve_threshold`).
        k, n_drop, long_short: `TopKStrategy`'s (None: `topk_defaults` of the number of tickers).

    Returns:
        `NextOpen`.

    Raises:
        DataError: no ticker has a prediction on ``date`` (one ticker: it has no bar on it, or no complete
            window ends on it). ModelFileError: ``"auto"`` for a model without stored thresholds, or bars that
            cannot give the model's features. ValueError: a bad strategy, threshold, ``k`` or ``n_drop``.
    """
    model, frames, date = as_model(model), as_frames(data), pd.Timestamp(date)
    if strategy == AUTO:
        method = ((getattr(model, "metadata_", None) or {}).get("label_rule") or {}).get("method")
        strategy = default_strategy(len(frames), method)
    if strategy not in ("ml", "topk"):
        raise ValueError(f"next_open: strategy must be ml, topk or auto, got {strategy!r}")
    if strategy == "ml":
        up, down, source = resolve_threshold(model, confidence_threshold)  # fails before predicting
        out = (up, down) if exit_threshold is None else (_positive_threshold("exit_threshold", exit_threshold),) * 2
        rule = dict(confidence_threshold=up, down_threshold=down, exit_threshold=out[0], exit_down_threshold=out[1],
                    threshold_source=source, allow_short=bool(allow_short))
    else:
        k, n_drop = topk_defaults(len(frames), k, n_drop, long_short)
        rule = dict(k=k, n_drop=n_drop, long_short=bool(long_short))
    proba, skipped = probabilities_on(model, frames, date)
    if not proba:
        reasons = "; ".join(f"{ticker}: {why}" for ticker, why in list(skipped.items())[:3])
        raise DataError(f"no ticker of the {len(frames)} has a prediction on {date.date()} ({reasons}"
                        f"{', ...' if len(skipped) > 3 else ''})")
    values = np.array(list(proba.values()), dtype=float).reshape(-1, len(CLASS_NAMES))
    frame = pd.DataFrame(values, index=pd.Index(list(proba), name="ticker"), columns=list(PROBABILITY_LINES))
    frame["class"] = [CLASS_NAMES[i] for i in values.argmax(axis=1)]
    frame["score"] = values[:, UP] - values[:, DOWN]
    if strategy == "ml":
        actions = [ml_actions(p, (up, down), out, allow_short) for p in values]
        for position in POSITIONS[:3 if allow_short else 2]:
            frame[f"if_{position}"] = [a[position] for a in actions]
    else:
        order = sorted(frame.index, key=lambda name: (-frame.at[name, "score"], str(name)))
        frame = frame.loc[order]
        frame["rank"] = np.arange(1, len(frame) + 1)
        book = topk_book(frame["score"].to_dict(), k, n_drop, long_short)
        frame["hold"] = [book.get(name, "") for name in frame.index]
    return NextOpen(date=date, strategy=strategy, frame=frame, skipped=skipped, rule=rule)
