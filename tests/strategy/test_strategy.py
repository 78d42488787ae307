"""MLStrategy and run_backtest on real AAPL / GOOG bars.

Two kinds of signal: probabilities planted by hand in a `ProbabilityData` feed (exact entry and exit bars), and a
tiny Attention-LSTM trained for one epoch (the model route: batched prediction before the first next(), the
live route, and the no-look-ahead checks).
"""

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from skills.data import WARMUP_BARS, prepare_dataset
from skills.strategy import PROBABILITY_LINES, MLStrategy, ProbabilityData, run_backtest

SEQ = 10


@pytest.fixture(scope="module")
def model(aapl):
    from skills.models import AttentionLSTMModel

    data = prepare_dataset(aapl.iloc[-700:-200], sequence_length=SEQ)
    return AttentionLSTMModel(sequence_length=SEQ, lstm_units=8, attention_units=8).fit(
        data, epochs=1, batch_size=64, verbose=0)


@pytest.fixture(scope="module")
def bars(aapl):
    """400 real bars after the model's data."""
    return aapl.iloc[-400:].copy()


def _planted(bars, k, up=0.9, down=0.05, side="up"):
    """P(up) (or P(down)) low before bar k and ``up`` from bar k on."""
    p = np.tile([0.3, 0.4, 0.3], (len(bars), 1))
    high = [down, 1 - up - down, up] if side == "up" else [up, 1 - up - down, down]
    p[k:] = high
    return bars.join(pd.DataFrame(p, index=bars.index, columns=list(PROBABILITY_LINES)))


def _run(frames, strategy=MLStrategy, preload=True, **params):
    """Cerebro over the frames; returns (strategy, fills DataFrame)."""
    cerebro = bt.Cerebro(stdstats=False, preload=preload)
    cerebro.broker.setcash(100_000)
    for name, frame in frames.items():
        feed = ProbabilityData if PROBABILITY_LINES[0] in frame.columns else bt.feeds.PandasData
        cerebro.adddata(feed(dataname=frame, name=name))
    cerebro.addstrategy(strategy, **params)
    cerebro.addanalyzer(bt.analyzers.Transactions, _name="tx")
    strat = cerebro.run()[0]
    rows = [(pd.Timestamp(d).normalize(), sym, "buy" if size > 0 else "sell", abs(size), price)
            for d, entries in strat.analyzers.tx.get_analysis().items() for size, price, _, sym, _ in entries]
    return strat, pd.DataFrame(rows, columns=["date", "ticker", "side", "size", "price"])


# -- planted probabilities: exact bars --------------------------------------------------------------------
@pytest.mark.parametrize("k", [5, 137])
def test_crossing_at_bar_k_enters_once_at_the_next_open(bars, k):
    _, fills = _run({"AAPL": _planted(bars, k)}, confidence_threshold=0.65)
    assert len(fills) == 1
    fill = fills.iloc[0]
    assert fill.side == "buy" and fill.date == bars.index[k + 1]
    assert fill.price == pytest.approx(bars["open"].iloc[k + 1])


def test_just_below_the_threshold_never_trades(bars):
    _, fills = _run({"AAPL": _planted(bars, 50, up=0.6499)}, confidence_threshold=0.65)
    assert fills.empty


def test_exit_on_p_down_and_short_when_allowed(bars):
    frame = _planted(bars, 10)
    frame.iloc[60:, frame.columns.get_indexer(list(PROBABILITY_LINES))] = [0.8, 0.1, 0.1]  # P(down) from bar 60
    _, long_only = _run({"AAPL": frame})
    assert list(long_only.side) == ["buy", "sell"]
    assert list(long_only.date) == [bars.index[11], bars.index[61]]
    strat, both = _run({"AAPL": frame}, allow_short=True)
    assert list(both.side) == ["buy", "sell"] and both.date.iloc[1] == bars.index[61]
    assert both["size"].iloc[1] > 1.9 * both["size"].iloc[0]  # closes the long and opens a short in one order
    assert strat.getposition(strat.datas[0]).size < 0


def test_hold_bars_caps_the_holding_period(bars):
    _, fills = _run({"AAPL": _planted(bars, 20)}, hold_bars=5)
    assert list(fills.side[:3]) == ["buy", "sell", "buy"]
    assert fills.date.iloc[0] == bars.index[21] and fills.date.iloc[1] == bars.index[26]  # 5 bars held
    assert fills.date.iloc[2] == bars.index[27]  # P(up) still clears the threshold: back in on the next bar


def test_start_date_blocks_earlier_orders(bars):
    _, fills = _run({"AAPL": _planted(bars, 5)}, start=bars.index[100])
    assert fills.date.iloc[0] == bars.index[101]


@pytest.mark.parametrize("params", [dict(confidence_threshold=0.0), dict(confidence_threshold=1.5),
                                    dict(exit_threshold=-0.1), dict(stake=1.5), dict(hold_bars=0)])
def test_bad_params_are_refused(bars, params):
    with pytest.raises(ValueError, match="MLStrategy"):
        _run({"AAPL": _planted(bars, 5)}, **params)


def test_a_feed_without_probabilities_needs_a_model(bars):
    with pytest.raises(ValueError, match="no model was given"):
        _run({"AAPL": bars})


def _preloaded(frame, **params):
    """Every line of a ProbabilityData feed of ``frame`` after backtrader preloads it, as arrays."""
    cerebro = bt.Cerebro(stdstats=False)
    feed = ProbabilityData(dataname=frame, **params)
    cerebro.adddata(feed)
    feed._start()   # what Cerebro.run does before preloading
    feed.preload()
    assert len(feed) == 0 and feed.buflen() == len(frame)   # rewound to the first bar, as after a row-by-row load
    return {name: np.asarray(getattr(feed.lines, name).array) for name in feed.getlinealiases()}


def test_a_preloaded_feed_holds_what_the_row_by_row_load_holds(bars):
    """Preloading copies whole columns; a ``fromdate`` before the first bar sends the feed down backtrader's
    row-by-row path (`load`), which must give the same lines, NaN probabilities and a missing column included."""
    frame = _planted(bars, 50)
    frame.iloc[:30, frame.columns.get_indexer(["p_up"])] = np.nan
    frame = frame.drop(columns="volume")
    fast = _preloaded(frame)
    slow = _preloaded(frame, fromdate=pd.Timestamp("1990-01-01").to_pydatetime())
    assert set(fast) == set(slow) >= {"datetime", "close", "volume", *PROBABILITY_LINES}
    for name in fast:
        np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
    assert np.isnan(fast["volume"]).all() and np.isnan(fast["p_up"][:30]).all()
    assert [bt.num2date(x) for x in fast["datetime"][:3]] == list(bars.index[:3].to_pydatetime())


# -- the model route -----------------------------------------------------------------------------------------
class _CountingStrategy(MLStrategy):
    """Records every model call and whether it happened inside next()."""

    def start(self):
        self.calls, self.in_next = [], False
        network = self.model.network_
        for owner, name in ((self.model, "predict_proba"), (network, "predict"), (network, "predict_on_batch"),
                            (network, "__call__")):
            original = getattr(owner, name)

            def counted(*args, _original=original, _name=name, **kwargs):
                self.calls.append((_name, self.in_next))
                return _original(*args, **kwargs)

            setattr(owner, name, counted)
        self._restore = lambda: [vars(owner).pop(name, None) for owner, name in
                                 ((self.model, "predict_proba"), (network, "predict"),
                                  (network, "predict_on_batch"), (network, "__call__"))]
        super().start()

    def next(self):
        self.in_next = True
        super().next()
        self.in_next = False

    def stop(self):
        self._restore()


def test_preloaded_feed_predicts_once_before_next(model, bars):
    strat, fills = _run({"AAPL": bars}, strategy=_CountingStrategy, model=model, confidence_threshold=0.01)
    assert strat.model_calls == 1
    assert strat.calls == [("predict_proba", False), ("predict", False)]  # one batched call, none in next()
    # a threshold every bar clears: the first order goes in on the first bar with a complete window
    first_window_bar = WARMUP_BARS + SEQ - 1
    assert fills.date.iloc[0] == bars.index[first_window_bar + 1]


def test_live_feed_predicts_each_bar_with_the_compiled_step(model, bars):
    frames = {"AAPL": bars.iloc[:160]}
    threshold = float(np.quantile(model.predict_frame(frames["AAPL"])["up"], 0.6))
    live, live_fills = _run(frames, strategy=_CountingStrategy, preload=False, model=model,
                            confidence_threshold=threshold)
    assert {name for name, _ in live.calls} == {"predict_on_batch"}  # never model.predict
    assert live.model_calls == 160 - (WARMUP_BARS + SEQ - 1)  # one per bar with a complete window
    _, fills = _run(frames, model=model, confidence_threshold=threshold)
    assert not fills.empty
    pd.testing.assert_frame_equal(live_fills, fills)  # same features, same probabilities, same orders


def test_threshold_one_never_trades(model, bars):
    result = run_backtest(model, bars, confidence_threshold=1.0)
    assert result.metrics["n_trades"] == 0 and result.orders.empty
    assert result.metrics["exposure"] == 0.0 and result.metrics["total_return"] == 0.0
    assert np.allclose(result.equity, 100_000)


def _threshold(model, bars, q=0.6):
    return float(np.quantile(model.predict_frame(bars)["up"], q))


def _recorded(strategy):
    """``strategy`` recording what it decided on each bar: the probabilities it read for each ticker
    (``seen``), and each order with the bar it was decided on and the bar backtrader created it on
    (``ordered``)."""
    class Recorded(strategy):
        def start(self):
            self.seen, self.ordered = [], []
            super().start()

        def probabilities(self, data):
            p = super().probabilities(data)
            self.seen.append((data.datetime.date(0), data._name, None if p is None else np.asarray(p, dtype=float)))
            return p

        def order_target_percent(self, data=None, target=0.0, **kwargs):
            order = super().order_target_percent(data=data, target=target, **kwargs)
            self.ordered.append((self.datetime.date(0), data._name, target, bt.num2date(order.created.dt).date()))
            return order

    return Recorded


class _PeekingStrategy(MLStrategy):
    """Trades bar t on bar t+1's probabilities: the one-bar look-ahead the checks below must catch."""

    def probabilities(self, data):
        bar = len(data)   # the next bar's row
        return self.proba[data][bar] if bar < len(self.proba[data]) and self.finite[data][bar] else None


def _agree_up_to(a, b, day) -> bool:
    """Whether two recorded runs decided the same on every bar up to ``day``: the same probabilities read
    (to 1e-6: a batch of another size may round differently) and the same orders."""
    def upto(rows):
        return [row for row in rows if row[0] <= day.date()]

    seen_a, seen_b = upto(a.seen), upto(b.seen)
    same_seen = len(seen_a) == len(seen_b) and all(
        x[:2] == y[:2] and (x[2] is None) == (y[2] is None) and (x[2] is None or np.allclose(x[2], y[2], atol=1e-6))
        for x, y in zip(seen_a, seen_b))
    return same_seen and upto(a.ordered) == upto(b.ordered)


def _runs_around(model, bars, strategy, cut=250):
    """Recorded runs of ``strategy`` on the bars up to ``cut``, on all of them, and on all of them with every bar
    after ``cut`` changed (prices x1.7, volume x0.1)."""
    threshold = _threshold(model, bars)
    changed = bars.copy()
    later = changed.index > bars.index[cut]
    changed.loc[later, ["open", "high", "low", "close"]] *= 1.7
    changed.loc[later, "volume"] *= 0.1
    return [_run({"AAPL": frame}, strategy=_recorded(strategy), model=model, confidence_threshold=threshold)[0]
            for frame in (bars.iloc[:cut + 1], bars, changed)]


def test_later_bars_change_no_decision_made_before_them(model, bars):
    day = bars.index[250]
    short, full, moved = _runs_around(model, bars, MLStrategy)
    assert len(short.ordered) >= 2
    assert all(decided == created for decided, _, _, created in full.ordered)   # decided and ordered on one bar
    assert _agree_up_to(short, full, day) and _agree_up_to(full, moved, day)
    assert not _agree_up_to(full, moved, bars.index[-1])   # the change did move the later decisions


def test_the_look_ahead_check_catches_a_strategy_that_peeks_one_bar_ahead(model, bars):
    _, full, moved = _runs_around(model, bars, _PeekingStrategy)
    assert _agree_up_to(full, moved, bars.index[249])   # the bars it peeks at are unchanged up to the cut
    assert not _agree_up_to(full, moved, bars.index[250])


def test_future_bars_do_not_move_the_fills_of_earlier_decisions(model, bars):
    """run_backtest's fills up to the bar after the cut: those of the decisions made up to the cut."""
    threshold = _threshold(model, bars)
    cut, filled = bars.index[250], bars.index[251]
    base = run_backtest(model, bars.iloc[:251], confidence_threshold=threshold).orders
    assert len(base) >= 2
    changed = bars.copy()
    changed.loc[changed.index > cut, ["open", "high", "low", "close"]] *= 1.7
    changed.loc[changed.index > cut, "volume"] *= 0.1
    moved = run_backtest(model, changed, confidence_threshold=threshold).orders
    longer = run_backtest(model, bars, confidence_threshold=threshold).orders
    for other in (longer, moved):
        pd.testing.assert_frame_equal(other[other.date < filled].reset_index(drop=True), base)
    # a decision on the cut bar fills at the next bar's open: the same order, at that bar's (changed) price
    assert (longer[longer.date == filled][["ticker", "side", "size"]].reset_index(drop=True)
            .equals(moved[moved.date == filled][["ticker", "side", "size"]].reset_index(drop=True)))


def test_two_feeds_trade_independently(model, bars, data_dir):
    from skills.data import load_ohlcv

    goog = load_ohlcv(data_dir / "GOOG.csv")
    frames = {"AAPL": bars, "GOOG": goog.loc[bars.index[0]:bars.index[-1]]}
    threshold = _threshold(model, bars)
    both = run_backtest(model, frames, confidence_threshold=threshold, stake=0.45)
    assert both.metrics["model_calls"] == 2
    assert set(both.orders.ticker) == {"AAPL", "GOOG"}
    for ticker, frame in frames.items():
        alone = run_backtest(model, frame, confidence_threshold=threshold, stake=0.45).orders
        joint = both.orders[both.orders.ticker == ticker].reset_index(drop=True)
        assert not alone.empty
        pd.testing.assert_frame_equal(joint[["date", "side"]], alone[["date", "side"]])


def test_run_backtest_metrics_and_buy_and_hold(model, bars):
    result = run_backtest(model, bars, confidence_threshold=_threshold(model, bars), commission=0.0)
    m = result.metrics
    for key in ("sharpe", "max_drawdown", "total_return", "annual_return", "n_trades", "win_rate", "exposure",
                "buy_and_hold_return"):
        assert key in m
    assert m["n_trades"] >= 1 and 0 < m["exposure"] <= 1 and 0 <= m["max_drawdown"] < 1
    first = bars.index[WARMUP_BARS + SEQ - 1]
    assert result.equity.index[0] == first and result.buy_and_hold.index.equals(result.equity.index)
    assert result.equity.iloc[-1] == pytest.approx(100_000 * (1 + m["total_return"]), rel=1e-9)
    # buy-and-hold buys 95% at the second bar's open (no commission here) and holds to the last close
    close, open_ = bars["close"], bars["open"]
    size = int(0.95 * 100_000 / close.loc[first])
    expected = (100_000 + size * (close.iloc[-1] - open_.loc[bars.index[WARMUP_BARS + SEQ]])) / 100_000 - 1
    assert m["buy_and_hold_return"] == pytest.approx(expected, rel=1e-9)
    assert list(result.orders.columns) == ["date", "ticker", "side", "size", "price", "value"]
    fill_bars = bars.loc[result.orders.date]
    assert np.allclose(result.orders.price, fill_bars["open"])  # every fill at its bar's open


def test_run_backtest_rejects_unknown_params(model, bars):
    with pytest.raises(TypeError, match="threshhold"):
        run_backtest(model, bars, threshhold=0.6)


def test_model_param_may_be_a_file_path(model, bars, tmp_path):
    path = tmp_path / "m.keras"
    model.save(path)
    threshold = _threshold(model, bars)
    _, from_file = _run({"AAPL": bars}, model=str(path), confidence_threshold=threshold)
    _, in_memory = _run({"AAPL": bars}, model=model, confidence_threshold=threshold)
    assert not in_memory.empty
    pd.testing.assert_frame_equal(from_file, in_memory)


def test_creating_the_strategy_outside_a_cerebro_is_one_clear_error():
    """backtrader itself fails deep inside with "'NoneType' object has no attribute '_next_stid'"."""
    with pytest.raises(TypeError, match=r"inside a backtrader Cerebro.*cerebro\.addstrategy\(MLStrategy"):
        MLStrategy(model=None, confidence_threshold=0.65)
