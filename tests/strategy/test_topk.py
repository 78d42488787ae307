"""TopKStrategy and run_backtest(strategy="topk") on real 2013 bars of four bundled tickers, with planted scores.

The scores (P(up) - P(down)) are drawn at random per ticker and bar and put in `ProbabilityData` columns, so the
expected picks of every rebalance are known. The portfolio is checked three ways: its holdings against the
TopkDropout rules, its fills against the next bar's open, and its equity against an independent pandas
computation of the same portfolio.
"""

import copy
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from skills.data import DataError, load_ohlcv
from skills.strategy import (
    DEFAULT_REBALANCE,
    PROBABILITY_LINES,
    TOPK_MIN_TICKERS,
    ProbabilityData,
    TopKStrategy,
    run_backtest,
    topk_defaults,
)

TICKERS = ("AAPL", "GOOG", "NVDA", "ORCL")
CASH, COMMISSION, STAKE = 100_000.0, 0.001, 0.95


@pytest.fixture(scope="module")
def bars(data_dir):
    """Real bars of four tickers over 2013, on the dates all four share."""
    frames = {t: load_ohlcv(data_dir / f"{t}.csv").loc["2013-01-01":"2013-12-31"] for t in TICKERS}
    common = frames[TICKERS[0]].index
    for frame in frames.values():
        common = common.intersection(frame.index)
    assert len(common) > 200
    return {t: f.loc[common, ["open", "high", "low", "close", "volume"]] for t, f in frames.items()}


@pytest.fixture(scope="module")
def tiny_lstm(data_dir):
    """A one-layer LSTM of 2 units fitted for one epoch on 2011-2012 bars of two of the tickers."""
    from skills.data import prepare_dataset
    from skills.models import make_model

    train = {t: load_ohlcv(data_dir / f"{t}.csv").loc["2011-01-01":"2012-12-31"] for t in TICKERS[:2]}
    return make_model("lstm", lstm_units=2, num_layers=1, sequence_length=10).fit(
        prepare_dataset(train, sequence_length=10), epochs=1, batch_size=256, verbose=0)


def _plant(bars, seed=0):
    """Each ticker's bars with probabilities whose score P(up) - P(down) is 0.8 * s, s uniform in (-1, 1)."""
    rng = np.random.default_rng(seed)
    out = {}
    for ticker, frame in bars.items():
        s = rng.uniform(-1, 1, len(frame))
        p = np.column_stack([0.4 * (1 - s), np.full(len(s), 0.2), 0.4 * (1 + s)])
        out[ticker] = frame.join(pd.DataFrame(p, index=frame.index, columns=list(PROBABILITY_LINES)))
    return out


def _scores(frames) -> pd.DataFrame:
    """date x ticker scores of the planted frames."""
    return pd.DataFrame({t: f["p_up"] - f["p_down"] for t, f in frames.items()})


def _positions(orders, dates) -> pd.DataFrame:
    """date x ticker signed position after each date's fills, from the fills alone."""
    signed = orders.assign(size=np.where(orders["side"] == "buy", orders["size"], -orders["size"]))
    table = signed.pivot_table(index="date", columns="ticker", values="size", aggfunc="sum")
    return table.reindex(index=dates, columns=list(TICKERS)).fillna(0).cumsum()


def _next_day(dates, day):
    return dates[dates.get_loc(pd.Timestamp(day)) + 1]


@pytest.mark.parametrize("n_drop", [2, 1])   # 2 = k: every held name that left the top k may go
def test_holdings_after_each_rebalance_follow_the_topk_dropout_rules(bars, n_drop):
    frames, k = _plant(bars), 2
    result = run_backtest(None, frames, strategy="topk", k=k, n_drop=n_drop, rebalance=3, commission=COMMISSION)
    scores, dates = _scores(frames), next(iter(bars.values())).index
    held = _positions(result.orders, dates)
    rebalances = result.strategy.rebalances
    assert [pd.Timestamp(r["date"]) for r in rebalances] == list(dates[::3])
    before = set()
    for r in rebalances[:-1]:  # the last rebalance's fills fall after the data when it is the last bar
        day = pd.Timestamp(r["date"])
        now = {t for t in TICKERS if held.loc[_next_day(dates, day), t] > 0}
        assert now == set(r["long"]) and len(now) == k
        ranked = scores.loc[day].sort_values(ascending=False).index
        top = set(ranked[:k])
        if n_drop >= k:
            assert now == top
        else:
            assert before & top <= now                       # held names still in the top k are kept
            assert len(before - now) <= n_drop                # at most n_drop replaced
            bought = now - before
            not_held = [t for t in ranked if t not in before]
            assert bought == set(not_held[:len(bought)])      # replacements are the best-ranked names not held
        before = now


def test_orders_fill_at_the_next_bars_open_only_after_rebalances(bars):
    frames = _plant(bars)
    result = run_backtest(None, frames, strategy="topk", k=2, rebalance=5, commission=COMMISSION)
    dates = next(iter(bars.values())).index
    fill_days = {_next_day(dates, r["date"]) for r in result.strategy.rebalances if pd.Timestamp(r["date"]) <
                 dates[-1]}
    orders = result.orders
    assert len(orders) > 20 and set(orders["date"]) <= fill_days
    for row in orders.itertuples():
        assert row.price == pytest.approx(bars[row.ticker].loc[row.date, "open"], rel=1e-12)


@pytest.mark.parametrize("n_drop", [2, 1])
def test_long_short_holds_k_long_and_k_short_from_the_two_ends_of_the_ranking(bars, n_drop):
    frames, k = _plant(bars, seed=1), 2
    result = run_backtest(None, frames, strategy="topk", k=k, long_short=True, n_drop=n_drop, rebalance=4)
    scores, dates = _scores(frames), next(iter(bars.values())).index
    held = _positions(result.orders, dates)
    before_long, before_short, limited = set(), set(), 0
    for r in result.strategy.rebalances[:-1]:
        day = pd.Timestamp(r["date"])
        after = held.loc[_next_day(dates, day)]
        longs, shorts = set(after[after > 0].index), set(after[after < 0].index)
        assert longs == set(r["long"]) and shorts == set(r["short"]) and len(longs) == len(shorts) == k
        ranked = scores.loc[day].sort_values(ascending=False).index
        if n_drop >= k:
            assert longs == set(ranked[:k]) and shorts == set(ranked[-k:])
        else:
            assert len(before_long - longs) <= n_drop and len(before_short - shorts) <= n_drop
            limited += longs != set(ranked[:k]) or shorts != set(ranked[-k:])
        before_long, before_short = longs, shorts
    assert n_drop >= k or limited > 0   # the limit did bind


def _pandas_portfolio(bars, weights_on, rebalance, commission=COMMISSION, cash=CASH):
    """The same portfolio computed with pandas and plain arithmetic, not backtrader.

    On each rebalance day t (every ``rebalance``-th bar from the first), ``weights_on(t)`` gives the target weight
    of each ticker; the order is the whole-share difference between that target value (of the equity at t's
    close) and the position's value at t's close, the rule of backtrader's ``order_target_percent``; it fills at
    t+1's open, paying ``commission`` of the traded value. Returns the equity at each close.
    """
    opens = pd.DataFrame({t: f["open"] for t, f in bars.items()})
    closes = pd.DataFrame({t: f["close"] for t, f in bars.items()})
    position = pd.Series(0.0, index=opens.columns)
    pending = pd.Series(0.0, index=opens.columns)
    equity = []
    for i, day in enumerate(opens.index):
        traded = pending * opens.loc[day]
        cash -= traded.sum() + traded.abs().sum() * commission
        position += pending
        pending[:] = 0.0
        value = cash + (position * closes.loc[day]).sum()
        equity.append(value)
        if i % rebalance == 0:
            targets = weights_on(day)
            for ticker in opens.columns:
                w, price = targets.get(ticker, 0.0), closes.loc[day, ticker]
                gap = value * w - position[ticker] * price
                if w == 0:
                    pending[ticker] = -position[ticker]
                else:
                    pending[ticker] = math.copysign(math.floor(abs(gap) / price), gap)
    return pd.Series(equity, index=opens.index)


@pytest.mark.parametrize("long_short", [False, True])
def test_equity_and_benchmark_match_an_independent_pandas_computation(bars, long_short):
    """Tolerance 1e-9 relative: both sides trade the same whole numbers of shares at the same opens and charge
    |size| * price * commission, so only floating-point summation order differs (a wrong share or a wrong fill
    price would move equity by 1e-4 or more)."""
    frames, k, every = _plant(bars, seed=2), 1, 3
    result = run_backtest(None, frames, strategy="topk", k=k, long_short=long_short, rebalance=every,
                          commission=COMMISSION, cash=CASH, stake=STAKE)
    scores = _scores(frames)
    weight = STAKE / (2 * k if long_short else k)

    def topk(day):
        ranked = scores.loc[day].sort_values(ascending=False).index
        out = {t: weight for t in ranked[:k]}
        if long_short:
            out.update({t: -weight for t in ranked[-k:]})
        return out

    expected = _pandas_portfolio(bars, topk, every)
    assert np.allclose(result.equity.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=0)
    assert result.equity.iloc[-1] != pytest.approx(CASH, rel=1e-3)   # it did trade
    bench = _pandas_portfolio(bars, lambda day: {t: STAKE / len(TICKERS) for t in TICKERS}, every)
    assert np.allclose(result.buy_and_hold.to_numpy(), bench.to_numpy(), rtol=1e-9, atol=0)
    assert result.buy_and_hold.name == "equal_weight"


def test_metrics_are_qlibs_figures_computed_from_the_two_curves(bars):
    result = run_backtest(None, _plant(bars), strategy="topk", k=2, n_drop=1, rebalance=5)
    m = result.metrics
    excess = result.equity.pct_change() - result.buy_and_hold.pct_change()
    excess.iloc[0] = result.equity.iloc[0] / CASH - result.buy_and_hold.iloc[0] / CASH
    assert m["excess_annual_return"] == pytest.approx(excess.mean() * 252, rel=1e-9)
    assert m["information_ratio"] == pytest.approx(excess.mean() / excess.std() * np.sqrt(252), rel=1e-9)
    dates = result.equity.index
    traded = result.orders.groupby("date")["value"].sum()
    per_rebalance = [traded.get(dates[dates.get_loc(pd.Timestamp(r["date"])) + 1], 0.0) / r["equity"]
                     if pd.Timestamp(r["date"]) < dates[-1] else 0.0 for r in result.strategy.rebalances]
    assert m["turnover"] == pytest.approx(np.mean(per_rebalance), rel=1e-9)
    assert 0 < m["turnover"] <= 2 * STAKE + 1e-9
    assert m["benchmark_return"] == pytest.approx(result.buy_and_hold.iloc[-1] / CASH - 1, rel=1e-9)
    assert m["n_rebalances"] == len(result.strategy.rebalances) and m["model_calls"] == 0


def _recorded(strategy):
    """``strategy`` recording what it decided on each rebalance: the score it read for each ticker (``seen``), and
    each order with the bar it was decided on and the bar backtrader created it on (``ordered``)."""
    class Recorded(strategy):
        def start(self):
            self.seen, self.ordered = [], []
            super().start()

        def score(self, data):
            value = super().score(data)
            self.seen.append((self.now(), self.names[data], value if np.isfinite(value) else None))
            return value

        def order_target_percent(self, data=None, target=0.0, **kwargs):
            order = super().order_target_percent(data=data, target=target, **kwargs)
            created = None if order is None else bt.num2date(order.created.dt).date()
            self.ordered.append((self.now(), self.names[data], target, created))
            return order

    return Recorded


class _PeekingTopK(TopKStrategy):
    """Ranks bar t on bar t+1's scores: the one-bar look-ahead the check below must catch."""

    def score(self, data):
        bar = len(data)   # the next bar's score
        return float(self.scores[data][bar]) if bar < len(self.scores[data]) else float("nan")


def _decisions(strategy, frames, **params):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    for ticker, frame in frames.items():
        cerebro.adddata(ProbabilityData(dataname=frame, name=ticker))
    cerebro.addstrategy(_recorded(strategy), **params)
    return cerebro.run()[0]


def _agree_up_to(a, b, day) -> bool:
    """Whether two recorded runs read the same scores and placed the same orders on every bar up to ``day``."""
    def upto(rows):
        return [row for row in rows if row[0] <= day.date()]

    return upto(a.seen) == upto(b.seen) and upto(a.ordered) == upto(b.ordered)


def _changed_after(frames, day, seed=9):
    """The frames with every bar after ``day`` changed: prices x1.7 and new random scores."""
    rng = np.random.default_rng(seed)
    changed = {}
    for ticker, frame in frames.items():
        frame = frame.copy()
        later = frame.index > day
        frame.loc[later, ["open", "high", "low", "close"]] *= 1.7
        s = rng.uniform(-1, 1, later.sum())
        frame.loc[later, list(PROBABILITY_LINES)] = np.column_stack([0.4 * (1 - s), np.full(len(s), 0.2),
                                                                     0.4 * (1 + s)])
        changed[ticker] = frame
    return changed


@pytest.mark.parametrize("strategy", [TopKStrategy, _PeekingTopK])
def test_bars_after_d_change_no_decision_made_up_to_d(bars, strategy):
    """Every rebalance decided up to day d reads the same scores and orders the same, whatever comes after d; the
    same check fails for a strategy that ranks on the next bar's scores."""
    frames = _plant(bars, seed=3)
    dates = next(iter(bars.values())).index
    day = dates[150]
    params = dict(k=2, n_drop=1, rebalance=1, long_short=True)
    a = _decisions(strategy, frames, **params)
    b = _decisions(strategy, _changed_after(frames, day), **params)
    assert len([row for row in a.ordered if row[0] <= day.date()]) > 100
    assert all(decided == created for decided, _, _, created in a.ordered if created is not None)
    assert not _agree_up_to(a, b, dates[-1])   # the change did move later decisions
    assert _agree_up_to(a, b, dates[149])      # nothing before the cut differs, even for the peeking one
    assert _agree_up_to(a, b, day) == (strategy is TopKStrategy)


def test_changing_bars_after_d_leaves_every_fill_of_a_decision_up_to_d_unchanged(bars):
    frames = _plant(bars, seed=3)
    dates = next(iter(bars.values())).index
    day, filled = dates[150], dates[151]
    params = dict(strategy="topk", k=2, n_drop=1, rebalance=2, long_short=True)
    a = run_backtest(None, frames, **params)
    b = run_backtest(None, _changed_after(frames, day), **params)
    before_a, before_b = a.orders[a.orders["date"] < filled], b.orders[b.orders["date"] < filled]
    assert len(before_a) > 20
    pd.testing.assert_frame_equal(before_a.reset_index(drop=True), before_b.reset_index(drop=True))
    pd.testing.assert_series_equal(a.equity[a.equity.index <= day], b.equity[b.equity.index <= day])
    assert not a.orders[a.orders["date"] > filled].reset_index(drop=True).equals(
        b.orders[b.orders["date"] > filled].reset_index(drop=True))


@pytest.mark.parametrize("params, error, text", [
    (dict(k=5), ValueError, "k must be"),
    (dict(k=3, long_short=True), ValueError, "k must be"),
    (dict(k=2, n_drop=-1), ValueError, "n_drop"),
    (dict(k=2, rebalance=0), ValueError, "rebalance"),
    (dict(k=2, confidence=0.5), TypeError, "confidence"),
    (dict(strategy="best"), ValueError, "strategy must be"),
])
def test_bad_params_are_named(bars, params, error, text):
    params = {"strategy": "topk", **params}
    with pytest.raises(error, match=text):
        run_backtest(None, _plant(bars), **params)


def test_k_n_drop_and_rebalance_default_to_the_shared_rule(bars):
    result = run_backtest(None, _plant(bars), strategy="topk")
    dates = next(iter(bars.values())).index
    assert (result.strategy.k, result.strategy.n_drop) == topk_defaults(len(TICKERS)) == (1, 1)
    assert (result.metrics["k"], result.metrics["n_drop"]) == (1, 1)
    assert [pd.Timestamp(r["date"]) for r in result.strategy.rebalances] == list(dates[::DEFAULT_REBALANCE])
    assert result.buy_and_hold.name == "equal_weight" and result.metrics["n_rebalances"] > 40


def test_auto_trades_top_k_for_ten_tickers_or_cross_sectional_labels_else_ml(bars, tiny_lstm):
    """Ten names (the four real tickers, and six more planted with other scores on the same bars) are a top-k
    universe; nine are traded by the ML strategy, unless the model's labels ranked the tickers."""
    frames = _plant(bars)
    frames.update({f"{t}{i}": f for i in (1, 2) for t, f in _plant(bars, seed=10 + i).items()})
    ten = dict(list(frames.items())[:TOPK_MIN_TICKERS])
    nine = dict(list(frames.items())[:TOPK_MIN_TICKERS - 1])
    assert "excess_annual_return" in run_backtest(None, ten).metrics
    assert "buy_and_hold_return" in run_backtest(None, nine).metrics
    assert "buy_and_hold_return" in run_backtest(None, ten, strategy="ml").metrics
    assert tiny_lstm.metadata_["label_rule"]["method"] != "cross_section"
    assert "buy_and_hold_return" in run_backtest(tiny_lstm, bars).metrics
    ranked = copy.copy(tiny_lstm)   # the same network, whose stored label rule ranked the tickers
    ranked.metadata_ = {**tiny_lstm.metadata_, "label_rule": {**tiny_lstm.metadata_["label_rule"],
                                                              "method": "cross_section"}}
    result = run_backtest(ranked, bars)
    assert "excess_annual_return" in result.metrics and result.metrics["model_calls"] == len(TICKERS)


def test_no_model_and_no_probabilities_is_a_data_error(bars):
    with pytest.raises(DataError, match="AAPL.*p_down"):
        run_backtest(None, bars, strategy="topk", k=1)


def test_a_model_is_called_once_per_ticker_and_trades_as_its_planted_probabilities(bars, tiny_lstm):
    model = tiny_lstm
    result = run_backtest(model, bars, strategy="topk", k=1, rebalance=5)
    assert result.metrics["model_calls"] == len(TICKERS) and result.metrics["n_rebalances"] > 10
    planted = {t: f.join(model.predict_frame(f).set_axis(list(PROBABILITY_LINES), axis=1)) for t, f in bars.items()}
    again = run_backtest(None, planted, strategy="topk", k=1, rebalance=5)
    pd.testing.assert_frame_equal(result.orders, again.orders)


def test_a_held_ticker_whose_bars_end_keeps_its_position_and_slot_and_is_listed(bars):
    frames = _plant(bars, seed=4)
    dates = next(iter(bars.values())).index
    last = dates[100]
    frames["GOOG"] = frames["GOOG"].loc[:last]
    # GOOG has the best score from bar 90 to its end, so it is held when its data stop
    frames["GOOG"].loc[dates[90]:, ["p_down", "p_flat", "p_up"]] = [0.0, 0.0, 1.0]
    result = run_backtest(None, frames, strategy="topk", k=2, rebalance=3)
    after = [r for r in result.strategy.rebalances if pd.Timestamp(r["date"]) > last]
    assert after and all(r["untraded"] == ["GOOG"] and "GOOG" not in r["long"] and len(r["long"]) == 1
                         for r in after)
    assert not (result.orders["ticker"] == "GOOG").loc[result.orders["date"] > last].any()
    assert result.metrics["unfilled_orders"] == len(result.strategy.unfilled)


def test_cerebro_with_a_model_predicts_once_per_ticker_like_run_backtest(bars, tiny_lstm):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    for ticker, frame in bars.items():
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=ticker)
    cerebro.addstrategy(TopKStrategy, model=tiny_lstm, k=1, rebalance=5)
    cerebro.addanalyzer(bt.analyzers.Transactions, _name="tx")
    strat = cerebro.run()[0]
    assert strat.model_calls == len(TICKERS)
    fills = sorted((pd.Timestamp(d).normalize(), sym, size) for d, rows in strat.analyzers.tx.get_analysis().items()
                   for size, _, _, sym, _ in rows)
    result = run_backtest(tiny_lstm, bars, strategy="topk", k=1, rebalance=5)
    expected = sorted((row.date, row.ticker, row.size if row.side == "buy" else -row.size)
                      for row in result.orders.itertuples())
    assert fills == expected and len(fills) > 5


def test_orders_the_broker_refuses_are_counted_and_logged(bars, caplog):
    """A stake of all the equity leaves no cash for the commission: the broker refuses buys (Margin)."""
    with caplog.at_level("WARNING", logger="skills.strategy"):
        result = run_backtest(None, _plant(bars), strategy="topk", k=1, stake=1.0)
    unfilled = result.strategy.unfilled
    assert result.metrics["unfilled_orders"] == len(unfilled) > 0 and {s for _, _, s in unfilled} == {"Margin"}
    assert f"{len(unfilled)} top-k order(s) did not fill" in caplog.text
    assert run_backtest(None, _plant(bars), strategy="topk", k=1, rebalance=1).metrics["unfilled_orders"] == 0


def test_a_ticker_with_no_bar_in_the_period_is_left_out_and_listed(bars, caplog):
    frames = _plant(bars)
    start = next(iter(bars.values())).index[50]
    frames["ORCL"] = frames["ORCL"].iloc[:40]
    with caplog.at_level("WARNING", logger="skills.strategy"):
        result = run_backtest(None, frames, strategy="topk", k=2, start=start)
    assert list(result.metrics["skipped_tickers"]) == ["ORCL"] and "no bar with a prediction" in caplog.text
    assert "ORCL" not in set(result.orders["ticker"]) and len(result.orders) > 0
    with pytest.raises(DataError, match="k=4 but only 3 ticker.*ORCL"):
        run_backtest(None, frames, strategy="topk", k=4, start=start)
    with pytest.raises(DataError, match="ORCL"):   # the ml strategy still refuses such a ticker, as before
        run_backtest(None, frames, start=start)


def test_creating_the_strategy_outside_a_cerebro_is_one_clear_error():
    with pytest.raises(TypeError, match=r"inside a backtrader Cerebro.*cerebro\.addstrategy\(TopKStrategy"):
        TopKStrategy(model=None, k=2)
