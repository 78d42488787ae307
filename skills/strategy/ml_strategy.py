"""`MLStrategy`: trade a model's down / flat / up probabilities in backtrader.

The probabilities of a preloaded feed are computed once, before the first ``next()``, in one batched call over
the feed's own bars (features at bar t use bars <= t only). ``next()`` then only reads numbers and places
market orders, which backtrader fills at the next bar's open: a signal seen at bar t's close never trades at
bar t's prices. A feed that already carries probabilities (`ProbabilityData`) is read as it is, with no model.
"""

from __future__ import annotations

import math
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from skills.data.labels import CLASS_NAMES
from skills.strategy.defaults import DEFAULT_CONFIDENCE

__all__ = ["AUTO", "MLStrategy", "NeedsCerebro", "decide", "ProbabilityData", "PROBABILITY_LINES",
           "resolve_threshold"]

#: The extra feed lines that carry class probabilities, in ``CLASS_NAMES`` order.
PROBABILITY_LINES = tuple(f"p_{name}" for name in CLASS_NAMES)
DOWN, FLAT, UP = range(len(CLASS_NAMES))


def decide(p, side: int, entry: dict, exit: dict, allow_short: bool = False):
    """`MLStrategy`'s rule at a bar's close: the side to hold from the next open, or None to leave it as it is.

    Args:
        p: the bar's probabilities, indexed by class id (``p[UP]``, ``p[DOWN]``).
        side: the position held: 1 long, -1 short, 0 none.
        entry: ``{UP: threshold, DOWN: threshold}`` that opens a position on each side.
        exit: ``{UP: ..., DOWN: ...}``: P(down) reaching ``exit[DOWN]`` closes a long, P(up) reaching ``exit[UP]``
            a short.
        allow_short: whether P(down) opens (or reverses into) a short.

    Returns:
        1 (long), -1 (short), 0 (close) or None (no order). Flat: long when P(up) reaches its entry, else short
        when shorts are allowed and P(down) reaches its entry. Holding: close when the other side's probability
        reaches its exit threshold, reversing when it also reaches that side's entry and shorts are allowed.
    """
    if side == 0:
        if p[UP] >= entry[UP]:
            return 1
        return -1 if allow_short and p[DOWN] >= entry[DOWN] else None
    against = DOWN if side > 0 else UP
    if p[against] < exit[against]:
        return None
    return -side if allow_short and p[against] >= entry[against] else 0
#: ``confidence_threshold`` value meaning "the thresholds chosen on the model's validation split".
AUTO = "auto"


class ProbabilityData(bt.feeds.PandasDirectData):
    """A pandas feed of bars plus precomputed class probabilities (columns ``p_down p_flat p_up``).

    Columns are found by name (``open high low close volume`` and the probability columns; the index is the
    date). Preloaded, each line is copied from its column in one step; a feed with filters, an input time zone
    or a date range (``fromdate``/``todate``), and a feed that is not preloaded, read the rows one by one with
    ``itertuples``, several times faster than `bt.feeds.PandasData`'s per-cell lookups. Rows whose
    probabilities are NaN (e.g. the indicator warm-up) place no orders.

    Example:
        >>> frame = bars.join(model.predict_frame(bars).add_prefix("p_"))   # doctest: +SKIP
        >>> cerebro.adddata(ProbabilityData(dataname=frame, name="AAPL"))   # doctest: +SKIP
    """

    lines = PROBABILITY_LINES
    params = tuple((name, -1) for name in PROBABILITY_LINES)

    def start(self):
        # itertuples() puts the index (the date) at position 0 and column i at position i + 1
        columns = {str(name).lower(): i + 1 for i, name in enumerate(self.p.dataname.columns)}
        self.p.datetime = 0
        for name in self.getlinealiases():
            if name != "datetime":
                setattr(self.p, name, columns.get(name, -1))
        super().start()

    def preload(self):
        """Every bar at once: each line's values are its column's, and the datetime line holds
        ``date2num`` of each index entry, as the row-by-row ``load`` would store them."""
        lines = [getattr(self.lines, name) for name in self.getlinealiases()]
        if (self._filters or self._ffilters or self._tzinput or self._barstack or self._barstash
                or self.fromdate != -math.inf or self.todate != math.inf or any(len(line.array) for line in lines)):
            return super().preload()
        frame = self.p.dataname
        for name, line in zip(self.getlinealiases(), lines):
            if name == "datetime":
                values = [bt.date2num(moment) for moment in frame.index.to_pydatetime()]
            else:
                column = getattr(self.p, name)
                values = (frame.iloc[:, column - 1].to_numpy(dtype=float) if column > 0
                          else np.full(len(frame), np.nan))
            line.array.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        self._last()
        self.home()


def as_model(model):
    """``model`` itself, or the model loaded from it when it is a path to a model file."""
    if isinstance(model, (str, Path)):
        from skills.models import load_model

        return load_model(model)
    return model


def _window_length(model) -> int:
    """The number of bars in each window ``model`` reads: the fitted length (``sequence_length_``), else its
    ``sequence_length`` param."""
    return getattr(model, "sequence_length_", None) or model.sequence_length


def _positive_threshold(name, value):
    try:
        number = None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 < number <= 1:
        raise ValueError(f"MLStrategy: {name} must be in (0, 1] or \"{AUTO}\", got {value!r}")
    return number


def resolve_threshold(model, value):
    """The entry thresholds on P(up) and on P(down) that ``confidence_threshold=value`` means for ``model``.

    Args:
        model: a fitted model (or None); its ``metadata_["trading"]`` holds the thresholds chosen on its
            validation split, when it has them (`skills.models.saving.trading_record`).
        value: a number in (0, 1] (both sides use it, exactly); ``"auto"`` (the model's stored thresholds);
            or None (``"auto"`` when the model has stored thresholds, else `DEFAULT_CONFIDENCE`).

    Returns:
        tuple ``(up, down, source)``: ``source`` is ``"val"`` (stored), ``"given"`` or ``"default"``.

    Raises:
        ModelFileError: ``"auto"`` and the model has no threshold chosen on a validation split.
        ValueError: any other value outside (0, 1].
    """
    record = (getattr(model, "metadata_", None) or {}).get("trading")
    if value is None:
        if record is None:
            return DEFAULT_CONFIDENCE, DEFAULT_CONFIDENCE, "default"
        value = AUTO
    if isinstance(value, str) and value.strip().lower() == AUTO:
        if record is None:
            from skills.models.saving import ModelFileError

            where = getattr(model, "path_", None) or ("no model" if model is None else f"this {type(model).__name__}")
            raise ModelFileError(
                f"{where}: confidence_threshold=\"auto\" but the model file has no validation-chosen threshold "
                "(saved before skills recorded one, or fitted without validation data): pass a number such as "
                "0.4, or retrain on a PreparedData")
        return float(record["confidence_threshold"]), float(record["down_threshold"]), "val"
    number = _positive_threshold("confidence_threshold", value)
    return number, number, "given"


class NeedsCerebro(type(bt.Strategy)):
    """Metaclass of the package's strategies: creating one outside a `backtrader.Cerebro` is one clear error.

    backtrader builds a strategy inside ``cerebro.run()``; called directly, its own metaclass fails deep inside
    with ``AttributeError: 'NoneType' object has no attribute '_next_stid'``. This says what to do instead.
    """

    def donew(cls, *args, **kwargs):
        try:
            return super().donew(*args, **kwargs)
        except AttributeError as error:
            if "_next_stid" not in str(error):
                raise
            raise TypeError(
                f"{cls.__name__} runs inside a backtrader Cerebro, not on its own: use "
                f"cerebro.addstrategy({cls.__name__}, model=model, ...) and cerebro.run(), or "
                "skills.strategy.run_backtest(model, bars) for the whole backtest in one call"
            ) from None


class MLStrategy(bt.Strategy, metaclass=NeedsCerebro):
    """Go long when P(up) clears the threshold; exit (or go short) when P(down) does.

    Rules, per feed (one position per feed):
      - flat: buy ``stake`` of equity when P(up) >= the up threshold; with ``allow_short``, sell short when
        P(down) >= the down threshold;
      - long: when P(down) >= ``exit_threshold`` (default: the down threshold), close, or reverse to short if
        ``allow_short`` and P(down) also clears the down threshold; close after ``hold_bars`` bars if set;
      - short: the mirror image on P(up).
    A number as ``confidence_threshold`` is both the up and the down threshold. ``"auto"`` takes the two chosen
    on the model's validation split and stored in its file (`resolve_threshold`: the P(up) and P(down) that the
    top 20 % of validation windows reach, by default); None, the default, is ``"auto"`` for a model that has
    them and `DEFAULT_CONFIDENCE` (0.65) otherwise. ``entry``, ``exit`` and ``threshold_source`` record what was
    used.
    Orders are market orders filled at the next bar's open. Bars without probabilities (indicator warm-up plus
    sequence length) and bars before ``start`` place no orders. While a feed's order is pending, that feed waits.
    """

    params = (
        ("model", None),                 # fitted SequenceClassifier or a path to its .h5/.keras file
        ("confidence_threshold", None),  # enter when P(up) (P(down) for shorts) >= this; "auto" = the model's
                                         # validation-chosen thresholds; None = "auto" if stored, else
                                         # DEFAULT_CONFIDENCE
        ("exit_threshold", None),        # leave a long when P(down) >= this (short: P(up)); None = same as entry
        ("allow_short", False),          # P(down) opens (or reverses into) a short instead of only exiting
        ("stake", None),                 # fraction of equity per position; None = 0.95 / number of feeds
        ("hold_bars", None),             # hold a position at most this many bars (None = until the exit signal)
        ("start", None),                 # no orders on bars before this date (warm-up still uses those bars)
        ("live_bars", 500),              # live feeds: bars of history the features are computed on per bar
        ("printlog", False),             # print each fill and each signal acted on
    )

    def __init__(self):
        self.model = as_model(self.p.model)
        up, down, self.threshold_source = resolve_threshold(self.model, self.p.confidence_threshold)
        self.entry = {UP: up, DOWN: down}   # class -> threshold that opens a position on that side
        exit_threshold = self.p.exit_threshold
        self.exit = dict(self.entry) if exit_threshold is None else dict.fromkeys(
            (UP, DOWN), _positive_threshold("exit_threshold", exit_threshold))  # class -> threshold that closes
        self.stake = 0.95 / len(self.datas) if self.p.stake is None else float(self.p.stake)
        if not 0 < self.stake <= 1:
            raise ValueError(f"MLStrategy: stake must be a fraction of equity in (0, 1], got {self.p.stake!r}")
        if self.p.hold_bars is not None and int(self.p.hold_bars) < 1:
            raise ValueError(f"MLStrategy: hold_bars must be a positive number of bars, got {self.p.hold_bars!r}")
        self.start_date = None if self.p.start is None else pd.Timestamp(self.p.start).date()
        self.orders = {data: None for data in self.datas}   # the pending order of each feed
        self.entry_bar = {data: None for data in self.datas}
        self.source = {}       # data -> "preloaded" (all bars in memory), "lines" (a live ProbabilityData) or "live"
        self.proba = {}        # data -> float (n_bars, 3) array of a preloaded feed, NaN in the warm-up
        self.finite = {}       # data -> list of bools: whether each bar of a preloaded feed has probabilities
        self.model_calls = 0   # model invocations: one per preloaded feed, one per bar per live feed

    # -- probabilities ------------------------------------------------------------------------------------
    def start(self):
        for data in self.datas:
            has_lines = all(hasattr(data.lines, name) for name in PROBABILITY_LINES)
            if has_lines and data.buflen() > 0:  # preloaded probability lines: read as one array
                self.source[data] = "preloaded"
                self.proba[data] = np.stack([np.asarray(getattr(data.lines, name).array, dtype=float)
                                             for name in PROBABILITY_LINES], axis=1)
            elif has_lines:
                self.source[data] = "lines"
            elif self.model is None:
                raise ValueError(f"MLStrategy: feed {data._name or '#0'} carries no probability lines and no "
                                 "model was given (params: model=...)")
            elif data.buflen() > 0:  # preloaded: all bars are in memory before the first next()
                self.source[data] = "preloaded"
                self.proba[data] = self._predict_all(data)
            else:
                self.source[data] = "live"
        self.finite = {data: np.isfinite(p).all(axis=1).tolist() for data, p in self.proba.items()}

    def _bars(self, data, size=None) -> pd.DataFrame:
        """The feed's bars (all of them, or the last ``size`` up to now) as an OHLCV frame."""
        def line(name):
            values = getattr(data, name)
            return np.asarray(values.array if size is None else values.get(size=size), dtype=float)

        n = data.buflen() if size is None else size
        times = line("datetime")[:n]
        index = pd.DatetimeIndex([bt.num2date(t) for t in times], name="date")
        return pd.DataFrame({name: line(name)[:n] for name in ("open", "high", "low", "close", "volume")},
                            index=index)

    def _predict_all(self, data) -> np.ndarray:
        bars = self._bars(data)
        bars.attrs["source"] = data._name or "feed"
        frame = self.model.predict_frame(bars)          # one batched call; warm-up rows absent
        self.model_calls += 1
        return frame.reindex(bars.index).to_numpy(dtype=float)

    def _predict_live(self, data) -> np.ndarray | None:
        """P for the current bar of a live feed: features on the last ``live_bars`` bars, one compiled call."""
        from skills.data.io import DataError
        from skills.data.windows import feature_windows

        size = min(len(data), int(self.p.live_bars))
        try:
            windows, dates = feature_windows(self._bars(data, size=size), self.model.feature_names_,
                                             _window_length(self.model))
        except DataError:
            return None  # still in the warm-up
        if dates[-1] != bt.num2date(data.datetime[0]):
            return None  # the current bar has no complete window yet
        self.model_calls += 1
        window = windows[len(windows) - 1:len(windows)]
        # predict_on_batch runs Keras' compiled predict step: no data adapter, no per-call loop set-up
        return np.asarray(self.model.network_.predict_on_batch(window), dtype=float)[0]

    def probabilities(self, data) -> np.ndarray | None:
        """(P(down), P(flat), P(up)) for ``data``'s current bar, or None where there is none yet."""
        source = self.source[data]
        if source == "preloaded":
            bar = len(data) - 1
            return self.proba[data][bar] if self.finite[data][bar] else None
        if source == "lines":
            p = np.array([getattr(data.lines, name)[0] for name in PROBABILITY_LINES])
        else:
            p = self._predict_live(data)
        if p is None or not np.all(np.isfinite(p)):
            return None
        return p

    # -- orders -------------------------------------------------------------------------------------------
    def log(self, text, data=None):
        if self.p.printlog:
            when = (data or self.datas[0]).datetime.date(0)
            print(f"{when} {data._name if data is not None else ''} {text}".replace("  ", " "))

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        data = order.data
        if order.status == order.Completed:
            position = self.getposition(data).size
            self.entry_bar[data] = len(data) if position else None
            self.log(f"{'BUY' if order.isbuy() else 'SELL'} {abs(order.executed.size):g} @ "
                     f"{order.executed.price:.4f}", data)
        else:
            self.log(f"order {order.getstatusname()}", data)
        if not order.alive():
            self.orders[data] = None

    def _target(self, data, fraction, reason):
        self.log(f"{reason} -> target {fraction:+.2f} of equity", data)
        self.orders[data] = self.order_target_percent(data=data, target=fraction)

    def next(self):
        for data in self.datas:
            if self.orders[data] is not None or not len(data):
                continue
            if self.start_date is not None and data.datetime.date(0) < self.start_date:
                continue
            p = self.probabilities(data)
            if p is None:
                continue
            side = int(np.sign(self.getposition(data).size))
            target = decide(p, side, self.entry, self.exit, self.p.allow_short)
            if target is not None:
                read = (UP if target > 0 else DOWN) if side == 0 else (DOWN if side > 0 else UP)
                self._target(data, target * self.stake, f"P({CLASS_NAMES[read]})={p[read]:.3f}")
            elif side != 0 and self.p.hold_bars is not None and self._held(data) >= int(self.p.hold_bars):
                self._target(data, 0.0, f"held {self._held(data)} bars")

    def _held(self, data) -> int:
        """Bars the position has been held, counting its fill bar (it is closed at the next open)."""
        return 0 if self.entry_bar[data] is None else len(data) - self.entry_bar[data] + 1
