"""Buy-and-hold traded inside the strategy's run (`BuyAndHoldValue`) gives the figures a separate backtrader run of
the `BuyAndHold` strategy gives, on real tickers, with commission and slippage, one feed or several."""

import numpy as np
import pandas as pd
import pytest

from skills.data import load_ohlcv
from skills.strategy import PROBABILITY_LINES, run_backtest
from skills.strategy.backtest import BuyAndHold, _analyze, _run

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


def _separate_run(feeds, cash, commission, slippage, stake=None):
    """The old way: buy-and-hold as a second backtrader run over the same feeds, through the same analyzers."""
    metrics, equity, _, _ = _analyze(_run(feeds, BuyAndHold, cash, commission, slippage, stake=stake), cash)
    return metrics, equity


def _feeds_of(frames):
    return {ticker: frame.dropna(subset=list(PROBABILITY_LINES)).copy() for ticker, frame in frames.items()}


@pytest.mark.parametrize("commission, slippage, stake", [(0.001, 0.0, None), (0.002, 0.001, 0.5)])
def test_one_real_ticker_same_figures_as_a_separate_run(data_dir, commission, slippage, stake):
    bars = load_ohlcv(data_dir / "ORCL.csv").iloc[-800:]
    frame = _with_probabilities(bars, first=40)
    params = {} if stake is None else {"stake": stake}
    result = run_backtest(None, frame, commission=commission, slippage=slippage, cash=50_000, **params)
    old, old_equity = _separate_run(_feeds_of({"ORCL": frame}), 50_000, commission, slippage, stake)
    for key, figure in KEYS.items():
        assert result.metrics[key] == pytest.approx(old[figure], rel=1e-9, abs=1e-12), key
    assert result.buy_and_hold.index.equals(old_equity.index)
    np.testing.assert_allclose(result.buy_and_hold.to_numpy(), old_equity.to_numpy(), rtol=1e-9)
    assert result.metrics["n_trades"] > 0  # the strategy traded in the same run
    assert "buy_and_hold" not in result.analyzers


def test_several_real_tickers_starting_and_ending_on_different_bars(data_dir):
    # ORCL's file ends on 2014-12-31: its position is held at its last close for the last year
    frames = {ticker: _with_probabilities(load_ohlcv(data_dir / f"{ticker}.csv").loc["2012":"2015-12"], first=first)
              for ticker, first in (("AAPL", 30), ("ORCL", 75), ("YHOO", 140))}
    result = run_backtest(None, frames, commission=0.001, slippage=0.0005)
    old, old_equity = _separate_run(_feeds_of(frames), 100_000, 0.001, 0.0005)
    for key, figure in KEYS.items():
        assert result.metrics[key] == pytest.approx(old[figure], rel=1e-9, abs=1e-12), key
    np.testing.assert_allclose(result.buy_and_hold.to_numpy(), old_equity.to_numpy(), rtol=1e-9)
    # it ordered once every feed had started (YHOO's first bar with probabilities) and filled at the next open
    last_flat = frames["YHOO"].index[140]
    assert (result.buy_and_hold.loc[:last_flat] == 100_000).all()
    assert result.buy_and_hold.loc[last_flat:].iloc[1] != 100_000
