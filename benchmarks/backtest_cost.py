"""What a model backtest costs beside plain backtrader, and the per-bar cost of the live path.

    python benchmarks/backtest_cost.py                    # 5,000 real ORCL bars, a tiny and the default model
    python benchmarks/backtest_cost.py --sizes default --repeats 7
    python benchmarks/backtest_cost.py --model models/attention_lstm.h5

Target (issues 15 and 24): ``run_backtest`` over 5,000 bars costs at most 1.3x the time of a backtrader
SMA-crossover run over the same bars plus one batched ``predict_frame``, with a tiny model (``lstm_units=8,
attention_units=8``: the backtest's own cost shows) as well as the default one (the prediction's cost dominates).
``run_backtest`` is one backtrader run: the buy-and-hold benchmark trades in the same Cerebro, on a broker of its
own, and both portfolios are measured by the same backtrader analyzers. Both sides run in this process,
interleaved, ``--repeats`` times; the figures are medians and the ratio is of the medians, because the machine is
shared and noisy. ``ratio`` is of wall-clock times; ``cpu_ratio`` is of this process's CPU times
(``time.process_time``), which a loaded machine disturbs less (the prediction may use several cores, so its CPU
time can exceed its wall time). It runs under the package's default Keras backend (jax) unless ``KERAS_BACKEND``
names another; ``backend`` in the output says which.

The live path (a feed that is not preloaded) computes features over the last ``live_bars`` bars and makes one
compiled ``predict_on_batch`` call per bar; its per-bar cost is timed on ``--live-bars-run`` bars and set beside
one ``model.predict`` call on one window, the slow way it avoids.

Without ``--model`` each AttentionLSTMModel of ``--sizes`` is fitted for one epoch on a small slice, only so that
it has weights: the cost of a forward pass does not depend on their values. Prints one JSON object (one entry
per model under ``"models"``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "data" / "ORCL.csv"), help="CSV of daily bars (ORCL: 5,036)")
    parser.add_argument("--bars", type=int, default=5000, help="the last N bars are backtested (default 5000)")
    parser.add_argument("--model", default=None, help="a model file (instead of --sizes)")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["tiny", "default"],
                        help="AttentionLSTMModel sizes fitted here when no --model (default: tiny default)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of each side (default 5)")
    parser.add_argument("--live-bars-run", type=int, default=300, help="bars run through the live path (300)")
    return parser.parse_args(argv)


SIZES = {"tiny": {"lstm_units": 8, "attention_units": 8}, "default": {}}


def fitted_model(bars, size):
    from skills.data import prepare_dataset
    from skills.models import AttentionLSTMModel

    data = prepare_dataset(bars.iloc[:600], sequence_length=30)
    return AttentionLSTMModel(**SIZES[size]).fit(data, epochs=1, verbose=0)


class SmaCross:
    """The reference: backtrader's canonical 10/30 SMA crossover, long only, all in."""

    @staticmethod
    def strategy():
        import backtrader as bt

        class Strategy(bt.Strategy):
            params = (("fast", 10), ("slow", 30))

            def __init__(self):
                self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))

            def next(self):
                if not self.position and self.cross > 0:
                    self.order_target_percent(target=0.95)
                elif self.position and self.cross < 0:
                    self.close()

        return Strategy


def run_sma(bars, strategy):
    import backtrader as bt

    cerebro = bt.Cerebro()
    cerebro.broker.setcash(100_000)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars, name="ORCL"))
    cerebro.addstrategy(strategy)
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe")
    return cerebro.run()[0]


def live_cost(model, bars, n):
    """Seconds per bar of MLStrategy on a feed that is not preloaded, and of one model.predict on one window."""
    import backtrader as bt
    import numpy as np

    from skills.data import feature_windows
    from skills.strategy import MLStrategy

    frame = bars.iloc[-n:]
    cerebro = bt.Cerebro(stdstats=False, preload=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, name="live"))
    cerebro.addstrategy(MLStrategy, model=model, confidence_threshold=0.5)
    started = time.perf_counter()
    strat = cerebro.run()[0]
    elapsed = time.perf_counter() - started
    length = getattr(model, "sequence_length_", None) or model.sequence_length
    windows, _ = feature_windows(frame, model.feature_names_, length)
    one = np.asarray(windows[len(windows) - 1:len(windows)])
    model.network_.predict(one, verbose=0)
    predict_times = []
    for _ in range(5):
        t = time.perf_counter()
        model.network_.predict(one, verbose=0)
        predict_times.append(time.perf_counter() - t)
    step_times = []
    for _ in range(20):
        t = time.perf_counter()
        model.network_.predict_on_batch(one)
        step_times.append(time.perf_counter() - t)
    return {
        "bars": n,
        "bars_predicted": strat.model_calls,
        "ms_per_bar": round(1000 * elapsed / n, 2),
        "ms_per_predicted_bar": round(1000 * elapsed / max(strat.model_calls, 1), 2),
        "ms_predict_on_batch_one_window": round(1000 * statistics.median(step_times), 2),
        "ms_model_predict_one_window": round(1000 * statistics.median(predict_times), 2),
    }


def measure(model, bars, args) -> dict:
    """Medians of ``--repeats`` interleaved runs of both sides, their ratio, and the live path's cost."""
    from skills.strategy import run_backtest

    sma = SmaCross.strategy()
    run_backtest(model, bars)  # warm up: tracing and compiling for these shapes, first-call costs
    run_sma(bars, sma)
    model.predict_frame(bars)
    ours, sma_s, predict_s = [], [], []
    cpu = {"run_backtest": [], "sma_crossover": [], "predict_frame": []}

    def timed(wall, name, call):
        t, c = time.perf_counter(), time.process_time()
        out = call()
        wall.append(time.perf_counter() - t)
        cpu[name].append(time.process_time() - c)
        return out

    for _ in range(args.repeats):
        result = timed(ours, "run_backtest", lambda: run_backtest(model, bars))
        timed(sma_s, "sma_crossover", lambda: run_sma(bars, sma))
        timed(predict_s, "predict_frame", lambda: model.predict_frame(bars))
    median = statistics.median
    reference = median(sma_s) + median(predict_s)
    cpu_median = {name: median(times) for name, times in cpu.items()}
    return {
        "params": int(model.network_.count_params()),
        "bars_traded": result.metrics["bars"],
        "run_backtest_s": round(median(ours), 3),
        "sma_crossover_s": round(median(sma_s), 3),
        "predict_frame_s": round(median(predict_s), 3),
        "reference_s": round(reference, 3),
        "ratio": round(median(ours) / reference, 3),
        "target_ratio": 1.3,
        "cpu_s": {name: round(value, 3) for name, value in cpu_median.items()},
        "cpu_ratio": round(cpu_median["run_backtest"] / (cpu_median["sma_crossover"] + cpu_median["predict_frame"]),
                           3),
        "all_runs_s": {"run_backtest": [round(x, 3) for x in ours], "sma_crossover": [round(x, 3) for x in sma_s],
                       "predict_frame": [round(x, 3) for x in predict_s]},
        "live": live_cost(model, bars, args.live_bars_run),
    }


def main(argv=None):
    args = parse_args(argv)
    from skills.data import load_ohlcv  # skills before Keras: its default backend (jax) unless KERAS_BACKEND says
    from skills.models import load_model

    bars = load_ohlcv(args.data).iloc[-args.bars:]
    import keras

    models = ({args.model: load_model(args.model)} if args.model else
              {f"AttentionLSTMModel({', '.join(f'{k}={v}' for k, v in SIZES[size].items())})": fitted_model(bars, size)
               for size in args.sizes})
    out = {
        "benchmark": "backtest_cost",
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "backend": keras.backend.backend(),
        "data": args.data,
        "bars": len(bars),
        "repeats": args.repeats,
        "models": {name: measure(model, bars, args) for name, model in models.items()},
    }
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
