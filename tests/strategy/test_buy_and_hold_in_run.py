"""The benchmark traded inside the strategy's run, on a broker of its own (`OwnBroker`), gives the figures a separate
backtrader run of the same benchmark strategy gives, on real tickers, with commission and slippage, one feed or
several; and it leaves the strategy's own figures untouched."""

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from skills.data import load_ohlcv
from skills.strategy import (
    PROBABILITY_LINES,
    BuyAndHold,
    EqualWeight,
    MLStrategy,
    on_own_broker,
    run_backtest,
)
from skills.strategy.benchmark import analyze, run_with_benchmark

# the benchmark's metric in run_backtest's result, and the same figure of a separate run
KEYS = {"buy_and_hold_return": "total_return", "buy_and_hold_annual_return": "annual_return",
        "buy_and_hold_sharpe": "sharpe", "buy_and_hold_max_drawdown": "max_drawdown"}


def _with_probabilities(bars, first):
    """Real bars with probability columns from bar ``first`` on (NaN before, so the feed starts there): P(up) high
    after an up day, P(down) high after a down day, so the strategy trades."""
    up = (bars["close"].diff() > 0).to_numpy()
    p = np.where(up[:, None], [0.1, 0.2, 0.7], [0.7, 0.2, 0.1]).astype(float)
    p[:first] = np.nan
    return bars.join(pd.DataFrame(p, index=bars.index, columns=list(PROBABILITY_LINES)))


def _separate_run(feeds, strategy, cash, commission, slippage, **params):
    """The benchmark strategy alone in a Cerebro of its own, on the Cerebro's broker, through the same analyzers."""
    [strat] = run_with_benchmark(feeds, strategy, None, cash, commission, slippage, params=params)
    assert strat.broker is strat.cerebro.broker and strat.broker.getvalue() != cash  # traded on the Cerebro's broker
    metrics, equity, orders, _ = analyze(strat, cash)
    return metrics, equity, orders


def _feeds_of(frames):
    return {ticker: frame.dropna(subset=list(PROBABILITY_LINES)).copy() for ticker, frame in frames.items()}


@pytest.mark.parametrize("commission, slippage, stake", [(0.001, 0.0, None), (0.002, 0.001, 0.5)])
def test_one_real_ticker_same_figures_as_a_separate_run(data_dir, commission, slippage, stake):
    bars = load_ohlcv(data_dir / "ORCL.csv").iloc[-800:]
    frame = _with_probabilities(bars, first=40)
    params = {} if stake is None else {"stake": stake}
    result = run_backtest(None, frame, commission=commission, slippage=slippage, cash=50_000, **params)
    old, old_equity, _ = _separate_run(_feeds_of({"ORCL": frame}), BuyAndHold, 50_000, commission, slippage,
                                       stake=stake)
    for key, figure in KEYS.items():
        assert result.metrics[key] == pytest.approx(old[figure], rel=1e-12, abs=1e-15), key
    assert result.buy_and_hold.index.equals(old_equity.index) and result.buy_and_hold.index.equals(result.equity.index)
    np.testing.assert_allclose(result.buy_and_hold.to_numpy(), old_equity.to_numpy(), rtol=1e-12)
    assert result.metrics["n_trades"] > 0  # the strategy traded in the same run


def test_several_real_tickers_starting_and_ending_on_different_bars(data_dir):
    # ORCL's file ends on 2014-12-31: its position is held at its last close for the last year
    frames = {ticker: _with_probabilities(load_ohlcv(data_dir / f"{ticker}.csv").loc["2012":"2015-12"], first=first)
              for ticker, first in (("AAPL", 30), ("ORCL", 75), ("YHOO", 140))}
    result = run_backtest(None, frames, commission=0.001, slippage=0.0005, strategy="ml")
    old, old_equity, old_orders = _separate_run(_feeds_of(frames), BuyAndHold, 100_000, 0.001, 0.0005)
    for key, figure in KEYS.items():
        assert result.metrics[key] == pytest.approx(old[figure], rel=1e-12, abs=1e-15), key
    np.testing.assert_allclose(result.buy_and_hold.to_numpy(), old_equity.to_numpy(), rtol=1e-12)
    # it ordered once every feed had started (YHOO's first bar with probabilities) and filled at the next open
    last_flat = frames["YHOO"].index[140]
    assert (result.buy_and_hold.loc[:last_flat] == 100_000).all()
    assert result.buy_and_hold.loc[last_flat:].iloc[1] != 100_000
    assert len(old_orders) == 3 and (old_orders["date"] == result.buy_and_hold.index[
        result.buy_and_hold.index.get_loc(last_flat) + 1]).all()


def test_the_equal_weight_benchmark_is_the_same_as_a_separate_run(data_dir):
    frames = {ticker: _with_probabilities(load_ohlcv(data_dir / f"{ticker}.csv").loc["2013":"2014"], first=20)
              for ticker in ("AAPL", "GOOG", "NVDA", "ORCL")}
    result = run_backtest(None, frames, strategy="topk", k=1, rebalance=3, commission=0.001, slippage=0.0005)
    old, old_equity, old_orders = _separate_run(_feeds_of(frames), EqualWeight, 100_000, 0.001, 0.0005, rebalance=3)
    assert len(old_orders) > 100
    np.testing.assert_allclose(result.buy_and_hold.to_numpy(), old_equity.to_numpy(), rtol=1e-12)
    for key in ("return", "annual_return", "sharpe", "max_drawdown"):
        figure = "total_return" if key == "return" else key
        assert result.metrics[f"benchmark_{key}"] == pytest.approx(old[figure], rel=1e-12, abs=1e-15), key


def test_the_benchmark_leaves_the_strategys_cash_positions_and_figures_alone(data_dir):
    bars = load_ohlcv(data_dir / "AAPL.csv").iloc[-600:]
    feeds = _feeds_of({"AAPL": _with_probabilities(bars, first=30)})
    costs = dict(cash=100_000, commission=0.001, slippage=0.0)
    with_benchmark, benchmark = run_with_benchmark(feeds, MLStrategy, BuyAndHold, **costs)
    (alone,) = run_with_benchmark(feeds, MLStrategy, None, **costs)
    assert with_benchmark.broker is not benchmark.broker
    assert with_benchmark.broker.getvalue() == alone.broker.getvalue() != 100_000
    a, a_equity, a_orders, _ = analyze(with_benchmark, 100_000)
    b, b_equity, b_orders, _ = analyze(alone, 100_000)
    assert a == b and len(a_orders) > 50
    pd.testing.assert_series_equal(a_equity, b_equity)
    pd.testing.assert_frame_equal(a_orders, b_orders)
    # the benchmark's own broker holds its position and cash; its fills are its own
    bench, _, bench_orders, _ = analyze(benchmark, 100_000)
    assert len(bench_orders) == 1 and benchmark.broker.getposition(benchmark.datas[0]).size > 0
    assert bench["total_return"] != a["total_return"]


def test_exposure_is_the_share_of_bars_ending_with_a_position(data_dir):
    """P(up) clears the threshold on bars 10..59 and P(down) from bar 60: a long from bar 11's open to bar 61's."""
    bars = load_ohlcv(data_dir / "AAPL.csv").iloc[-200:]
    p = np.tile([0.3, 0.4, 0.3], (len(bars), 1))
    p[10:60], p[60:] = [0.05, 0.05, 0.9], [0.9, 0.05, 0.05]
    frame = bars.join(pd.DataFrame(p, index=bars.index, columns=list(PROBABILITY_LINES)))
    result = run_backtest(None, frame, confidence_threshold=0.65, strategy="ml")
    assert list(result.orders["date"]) == [bars.index[11], bars.index[61]]
    assert result.metrics["exposure"] == pytest.approx((61 - 11) / len(bars), rel=1e-12)
    assert result.metrics["n_trades"] == 1 and result.metrics["win_rate"] in (0.0, 1.0)


@pytest.mark.parametrize("mode", [{}, {"runonce": False}, {"preload": False}, {"quicknotify": True}])
@pytest.mark.parametrize("benchmark, params", [(BuyAndHold, {}), (EqualWeight, {"rebalance": 3})])
def test_a_strategy_on_its_own_broker_trades_as_alone_in_every_cerebro_mode(data_dir, mode, benchmark, params):
    """`on_own_broker` steps its broker at each bar however the Cerebro runs (vectorised or bar by bar, preloaded
    or not, notifications queued or immediate), beside a strategy that trades on the Cerebro's broker."""
    frames = {t: load_ohlcv(data_dir / f"{t}.csv").loc["2013"] for t in ("AAPL", "GOOG", "NVDA")}

    def run(strategies, **options):
        cerebro = bt.Cerebro(stdstats=False, **options)
        cerebro.broker.setcash(100_000)
        cerebro.broker.setcommission(commission=0.001)
        for ticker, frame in frames.items():
            cerebro.adddata(bt.feeds.PandasData(dataname=frame, name=ticker))
        for strategy, kwargs in strategies:
            cerebro.addstrategy(strategy, **kwargs)
        cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Days, _name="daily")
        return [pd.Series(s.analyzers.daily.get_analysis()) for s in cerebro.run()], cerebro.broker.getvalue()

    (alone,), alone_value = run([(benchmark, params)])
    (first, beside), value = run([(BuyAndHold, {"stake": 0.3}), (on_own_broker(benchmark), params)], **mode)
    assert len(beside) == len(alone) == 252 and alone_value != 100_000
    np.testing.assert_array_equal(beside.to_numpy(), alone.to_numpy())
    (only,), only_value = run([(BuyAndHold, {"stake": 0.3})], **mode)
    np.testing.assert_array_equal(first.to_numpy(), only.to_numpy())   # the Cerebro's broker: the first's alone
    assert value == only_value
