"""`TopKStrategy`: hold the k best-scored tickers of a universe (Qlib's TopkDropout) in backtrader, and the
`EqualWeight` universe benchmark it is measured against.

The score of a ticker on a bar is P(up) - P(down). Probabilities come from `ProbabilityData` feeds or are computed
once per ticker, before the first ``next()``, in one batched ``model.predict_frame`` call each (as `MLStrategy`
does); ``next()`` only reads numbers. Orders are market orders: a ranking made at bar t's close fills at bar
t+1's open. ``k``, ``n_drop`` and the rebalancing period default to `topk_defaults` and `DEFAULT_REBALANCE`.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from skills.strategy.defaults import DEFAULT_REBALANCE, names_per_side, topk_defaults
from skills.strategy.ml_strategy import DOWN, PROBABILITY_LINES, UP, MLStrategy, NeedsCerebro, as_model

__all__ = ["EqualWeight", "TopKStrategy", "names_per_side", "topk_picks"]


def _kept(scores: dict, held: set, k: int, n_drop: int | None) -> list:
    """The held names that stay: those still in the top k, and those the ``n_drop`` limit does not let go."""
    ranked = sorted(scores, key=lambda name: (-scores[name], str(name)))
    top = set(ranked[:k])
    others = sorted((name for name in held if name not in top),
                    key=lambda name: (scores.get(name, -np.inf), str(name)))   # worst first
    n_sell = len(others) if n_drop is None else min(int(n_drop), len(others))
    return sorted([name for name in held if name in top] + others[n_sell:], key=str)


def topk_picks(scores: dict, held: set, k: int, n_drop: int | None, exclude=()) -> list:
    """The names to hold after one rebalance of one side (TopkDropout).

    Args:
        scores: ``{name: score}`` of the names with a score on this bar (higher = better for this side).
        held: names held on this side now (those without a score rank below every scored name).
        k: slots on this side.
        n_drop: at most this many held names that left the top k are sold; None = no limit.
        exclude: names that may not be bought on this side (those held on the other side).

    Returns:
        list: the names to hold: the held names kept (by name), then the new ones by rank (ties broken by name).
    """
    keep = _kept(scores, held, k, n_drop)
    ranked = sorted(scores, key=lambda name: (-scores[name], str(name)))
    buy = [name for name in ranked if name not in held and name not in exclude][:max(0, k - len(keep))]
    return keep + buy


class _Rebalancing(bt.Strategy, metaclass=NeedsCerebro):
    """Shared schedule and bookkeeping: rebalance every ``rebalance`` bars from ``start``; record each
    rebalance's date, equity and traded value (filled at the next open), every order that did not fill, and
    every held ticker that could not be traded on a rebalance day (it had no bar that day)."""

    def __init__(self):
        if int(self.p.rebalance) < 1:
            raise ValueError(f"{type(self).__name__}: rebalance must be a positive number of bars, "
                             f"got {self.p.rebalance!r}")
        self.start_date = None if self.p.start is None else pd.Timestamp(self.p.start).date()
        self.bar = 0             # tradable bars seen (on or after start)
        self.rebalances = []     # one dict per rebalance: date, equity, long, short, untraded, traded
        self.unfilled = []       # (date, ticker, status) of each order that did not fill (e.g. Margin)
        self.names = {data: data._name or f"#{i}" for i, data in enumerate(self.datas)}

    def prenext(self):  # a universe whose tickers start on different dates trades from the first bar of any
        self.next()

    def now(self):
        """The current date: the latest bar of any feed (feeds advance together by date)."""
        return max(data.datetime.date(0) for data in self.datas if len(data))

    def today(self):
        """The feeds that have a bar on the current date (a feed that ended or has a gap has none)."""
        now = self.now()
        return [data for data in self.datas if len(data) and data.datetime.date(0) == now]

    def notify_order(self, order):
        if order.status == order.Completed and self.rebalances:
            self.rebalances[-1]["traded"] += abs(order.executed.size * order.executed.price)
        elif order.status in (order.Margin, order.Rejected, order.Canceled, order.Expired):
            self.unfilled.append((self.now(), self.names[order.data], order.getstatusname()))

    def stop(self):
        """Orders still open at the end, other than those of the last bar (which have no next open), are
        unfilled too."""
        for order in self.broker.get_orders_open():
            if bt.num2date(order.created.dt).date() < self.now():
                self.unfilled.append((self.now(), self.names[order.data], "pending at the end"))

    def held_without_bar(self, datas) -> list:
        """Held tickers with no bar today (halted, delisted, or a gap): they cannot be traded now."""
        today = set(datas)
        return sorted(self.names[d] for d in self.datas if d not in today and self.getposition(d).size)

    def next(self):
        if self.start_date is not None and self.now() < self.start_date:
            return
        due = self.bar % int(self.p.rebalance) == 0
        self.bar += 1
        if due:
            datas = self.today()
            targets = self.targets(datas)
            if targets is None:
                self.bar -= 1   # nothing to rank yet: the schedule starts at the first rankable bar
                return
            self.rebalances.append({"date": self.now(), "equity": self.broker.getvalue(),
                                    "long": sorted(n for n, w in targets.items() if w > 0),
                                    "short": sorted(n for n, w in targets.items() if w < 0),
                                    "untraded": self.held_without_bar(datas), "traded": 0.0})
            self._order(targets, datas)

    def _order(self, targets: dict, datas) -> None:
        """order_target_percent to every target (0 for held names not in it) among ``datas`` (the feeds with a
        bar today); sells and covers first, so that their cash pays for the buys at the same open."""
        by_name = {self.names[data]: data for data in datas}
        held = {self.names[d] for d in datas if self.getposition(d).size}
        plan = {name: targets.get(name, 0.0) for name in held | set(targets)}

        def reduces(name):
            data = by_name[name]
            value = self.getposition(data).size * data.close[0]
            return plan[name] * self.broker.getvalue() < value

        for name in sorted(plan, key=lambda n: (not reduces(n), str(n))):
            self.order_target_percent(data=by_name[name], target=plan[name])


class TopKStrategy(_Rebalancing):
    """Hold the ``k`` tickers with the best score P(up) - P(down), equally weighted (Qlib's TopkDropout).

    Rules, every ``rebalance`` bars from ``start`` (the first rebalance is the first bar on which some ticker
    has a score):
      - rank the tickers that have a score on that bar (a bar of their own on that date, finite probabilities);
      - held names still in the top k are kept; of the held names that left it (or have no score), the worst
        ranked are sold, at most ``n_drop`` of them; the others stay;
      - the free slots (k minus the names kept) are filled with the best-ranked names not held;
      - with ``long_short``, the same on the short side with the bottom k; a name is never on both sides (a
        name still held short after the short side's dropout is not bought long);
      - a held ticker with no bar on the rebalance day (halted, delisted, a gap in its data) cannot be traded:
        it keeps its position and its slot, and is listed in that rebalance's ``untraded``;
      - every name held afterwards gets an equal weight: ``stake / k`` of equity (``stake / (2 k)`` per name
        when long-short); a slot left empty stays in cash; names sold get 0. Orders are placed with
        ``order_target_percent`` at bar t's close (sizes in whole shares from that close) and fill at bar
        t+1's open, sells first.

    ``k`` and ``n_drop`` default to `topk_defaults` (a tenth of the names a side can hold, and ``k // 5``, each at
    least 1); the values used are ``self.k`` and ``self.n_drop``. ``rebalance`` defaults to `DEFAULT_REBALANCE`.
    """

    params = (
        ("model", None),        # fitted SequenceClassifier or a path to its file; None: feeds are ProbabilityData
        ("k", None),            # names per side; None = a tenth of the names a side can hold (topk_defaults)
        ("n_drop", None),       # at most this many holdings replaced per rebalance; None = k // 5 (topk_defaults)
        ("rebalance", DEFAULT_REBALANCE),  # rebalance every N bars
        ("long_short", False),  # False: long the top k; True: also short the bottom k
        ("stake", 0.95),        # gross fraction of equity invested
        ("start", None),        # no orders on bars before this date (earlier bars still feed the model)
    )

    def __init__(self):
        super().__init__()
        try:
            self.k, self.n_drop = topk_defaults(len(self.datas), self.p.k, self.p.n_drop, self.p.long_short)
        except ValueError as error:
            raise ValueError(f"TopKStrategy: {error}") from None
        if not 0 < float(self.p.stake) <= 1:
            raise ValueError(f"TopKStrategy: stake must be a fraction of equity in (0, 1], got {self.p.stake!r}")
        self.model = as_model(self.p.model)
        self.scores = {}       # data -> float array of scores by bar, NaN where there is none
        self.model_calls = 0

    def start(self):
        universe = None
        if getattr(self.model, "needs_universe", False):  # cross-sectional features or a graph: all feeds at once
            frames = {}
            for data in self.datas:
                if not all(hasattr(data.lines, name) for name in PROBABILITY_LINES) and data.buflen() > 0:
                    frames[self.names[data]] = MLStrategy._bars(self, data)
            universe = self.model.predict_universe(frames) if frames else {}
            self.model_calls += 1
        for data in self.datas:
            if all(hasattr(data.lines, name) for name in PROBABILITY_LINES):
                p = np.stack([np.asarray(getattr(data.lines, name).array, dtype=float)
                              for name in PROBABILITY_LINES], axis=1)
            elif self.model is None:
                raise ValueError(f"TopKStrategy: feed {self.names[data]} carries no probability lines and no "
                                 "model was given (params: model=...)")
            elif universe is not None and data.buflen() > 0:
                bars = frames[self.names[data]]  # built once above, for predict_universe
                frame = universe.get(self.names[data], pd.DataFrame(columns=list(PROBABILITY_LINES)))
                p = frame.reindex(bars.index).to_numpy(dtype=float)
            elif data.buflen() > 0:
                bars = MLStrategy._bars(self, data)
                bars.attrs["source"] = self.names[data]
                frame = self.model.predict_frame(bars)   # one batched call per ticker; warm-up rows absent
                self.model_calls += 1
                p = frame.reindex(bars.index).to_numpy(dtype=float)
            else:
                raise ValueError(f"TopKStrategy: feed {self.names[data]} is not preloaded (live feeds are not "
                                 "supported: use cerebro = bt.Cerebro(preload=True))")
            self.scores[data] = p[:, UP] - p[:, DOWN]

    def score(self, data) -> float:
        return float(self.scores[data][len(data) - 1])

    def targets(self, datas) -> dict | None:
        scores = {self.names[d]: s for d in datas if np.isfinite(s := self.score(d))}
        if not scores:
            return None
        tradable = {self.names[d] for d in datas}
        longs = {self.names[d] for d in self.datas if self.getposition(d).size > 0}
        shorts = {self.names[d] for d in self.datas if self.getposition(d).size < 0}
        n_drop = self.n_drop
        # a held name without a bar today keeps its position and its slot until it can be traded
        k_long, k_short = self.k - len(longs - tradable), self.k - len(shorts - tradable)
        down = {name: -s for name, s in scores.items()}
        # shorts that stay are decided first, so that the long side never buys a name still held short
        staying_short = _kept(down, shorts & tradable, k_short, n_drop) if self.p.long_short else []
        picks = topk_picks(scores, longs & tradable, k_long, n_drop, exclude=set(staying_short))
        weight = float(self.p.stake) / (2 * self.k if self.p.long_short else self.k)
        targets = {name: weight for name in picks}
        if self.p.long_short:
            for name in topk_picks(down, shorts & tradable, k_short, n_drop, exclude=set(picks)):
                targets[name] = -weight
        return targets


class EqualWeight(_Rebalancing):
    """The equal-weight universe: every ``rebalance`` bars from ``start``, ``stake / n`` of equity in each of
    the n tickers that have a bar that day, filled at the next open (a held ticker with no bar that day keeps
    its position until it has one).

    It rebalances on the same schedule as the `TopKStrategy` it is compared with, rather than buying once and
    holding: a bought-once portfolio drifts towards the winners (it becomes a momentum portfolio), and a ticker
    that starts trading later would never enter it. On the same calendar, stake and costs, the excess return
    of the top-k portfolio measures the ranking and nothing else.
    """

    params = (
        ("rebalance", DEFAULT_REBALANCE),   # rebalance every N bars
        ("stake", 0.95),    # gross fraction of equity invested
        ("start", None),    # no orders on bars before this date
    )

    def targets(self, datas) -> dict | None:
        if not datas:
            return None
        return {self.names[d]: float(self.p.stake) / len(datas) for d in datas}
