"""Every network of the package on each Keras backend, beside the plain-PyTorch yardstick; the default chosen.

    python benchmarks/backends.py                                   # tensorflow, jax, torch; all networks
    python benchmarks/backends.py --backends jax tensorflow --networks attention_lstm lstm gats

Each backend runs in its own process (``KERAS_BACKEND`` is read once, when Keras is imported):
``train_throughput.py`` for the networks trained in batches of windows, with the plain-PyTorch
Attention-LSTM driven epoch by epoch beside the package's Attention-LSTM (the paired ratio), and
``daily_batches.py`` for GATs, which trains one date per batch. Backends run one after another, or all
at once with ``--parallel`` (a burst of load on a shared machine then hits every backend alike); the
yardstick is paired epoch by epoch inside each backend's run, so its ratio is the fairest figure.
Train samples/s is the median of the timed epochs (the first epoch, which traces or compiles, is not
timed); predict samples/s the median of two passes after a warm-up.

The default backend is the one with the highest geometric mean, over the networks, of its train
samples/s relative to TensorFlow's (the package is built on TensorFlow + Keras, which stays supported).
The backend needs its library installed: torch is optional (``pip install torch``); a backend that
cannot be imported is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import emit, log, machine

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax", "torch")
# the package's architecture names (skills.models.MODEL_NAMES) -> train_throughput.py's keys; GATs trains by date
WINDOW_NETWORKS = {"attention_lstm": "attention_bi", "causal_attention_lstm": "attention_causal", "lstm": "lstm",
                   "transformer": "transformer", "gru": "gru", "alstm": "alstm", "tcn": "tcn",
                   "localformer": "localformer", "krnn": "krnn"}
DATE_NETWORKS = ("gats",)
YARDSTICK_NETWORK = "attention_lstm"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--networks", nargs="+", default=None, help="architecture names (default: all MODEL_NAMES)")
    parser.add_argument("--windows", type=int, default=1024, help="training windows per network (default 1024)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the first (default 2)")
    parser.add_argument("--tickers", type=int, default=10, help="universe tickers for GATs (default 10)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", action="store_true",
                        help="run the backends at the same time (each still in its own processes), so that the "
                             "load of a shared machine falls on all of them alike; slower per backend")
    parser.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"),
                        help="interpreter with torch for the yardstick (default: $TORCH_PYTHON, else this one)")
    return parser.parse_args(argv)


def all_networks() -> tuple:
    """``skills.models.MODEL_NAMES`` read in a child process (importing Keras here would fix a backend)."""
    code = "import skills.models, json; print(json.dumps(list(skills.models.MODEL_NAMES)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=HERE.parent, env={**os.environ, "KERAS_BACKEND": "jax"})
    names = tuple(json.loads(out.stdout.strip().splitlines()[-1]))
    unknown = [n for n in names if n not in WINDOW_NETWORKS and n not in DATE_NETWORKS]
    if unknown:
        raise SystemExit(f"benchmarks/backends.py does not know how to train {', '.join(unknown)}")
    return names


def run_script(script: str, arguments: list, backend: str) -> dict | str:
    """One benchmark script under ``KERAS_BACKEND=backend``: its JSON, or why it failed."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(HERE / script), *arguments]
    log(f"{backend}: {' '.join(command[1:])}")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE.parent)  # progress: stderr
    if done.returncode != 0:
        return f"failed (exit {done.returncode}); its error is above on stderr"
    return json.loads(done.stdout)


def measure_backend(backend: str, networks, args) -> dict:
    """Train/predict samples/s of each network under one backend, and the yardstick's paired ratio."""
    probe = subprocess.run([sys.executable, "-c", "import keras"], capture_output=True, text=True,
                           env={**os.environ, "KERAS_BACKEND": backend})
    if probe.returncode != 0:
        return {"skipped": f"KERAS_BACKEND={backend}: keras cannot import it ({probe.stderr.strip()[-200:]})"}
    out = {"networks": {}}
    window_keys = [WINDOW_NETWORKS[n] for n in networks if n in WINDOW_NETWORKS]
    if window_keys:
        arguments = ["--models", *window_keys, "--windows", str(args.windows), "--epochs", str(args.epochs),
                     "--repeats", "1", "--threads", str(args.threads)]
        if args.torch_python:
            arguments += ["--torch-python", args.torch_python]
        result = run_script("train_throughput.py", arguments, backend)
        if isinstance(result, str):
            out["train_throughput"] = result
        else:
            keys = {v: k for k, v in WINDOW_NETWORKS.items()}
            for key, figures in result["models"].items():
                out["networks"][keys[key]] = {"train_samples_per_s": figures["train_samples_per_s"],
                                              "predict_samples_per_s": figures["predict_samples_per_s"]}
            out["torch_reference"] = result["torch_reference"]
            out["load_average_1_5_15"] = [result["machine"]["load_average_1_5_15"],
                                          result["machine_at_end"]["load_average_1_5_15"]]
    if "gats" in networks:
        result = run_script("daily_batches.py", ["--models", "gats", "--tickers", str(args.tickers),
                                                 "--epochs", str(args.epochs)], backend)
        if isinstance(result, str):
            out["daily_batches"] = result
        else:
            gats = result["results"]["gats"]
            out["networks"]["gats"] = {"train_samples_per_s": gats["train_windows_per_s"],
                                       "predict_samples_per_s": gats["predict_windows_per_s"],
                                       "note": f"one date per batch, {result['setup']['tickers']} tickers"}
    log(f"{backend}: {json.dumps(out)}")
    return out


def choose(measured: dict, networks) -> tuple:
    """The backend with the best geometric mean of train samples/s relative to TensorFlow (else the first backend
    measured), and those means."""
    ran = [b for b in measured if measured[b].get("networks")]
    base = measured["tensorflow" if "tensorflow" in ran else ran[0]]["networks"] if ran else {}
    means = {}
    for backend, result in measured.items():
        ratios = [result["networks"][n]["train_samples_per_s"] / base[n]["train_samples_per_s"]
                  for n in networks if n in base and n in result.get("networks", {})]
        if ratios:
            means[backend] = round(math.exp(sum(math.log(r) for r in ratios) / len(ratios)), 2)
    return (max(means, key=means.get) if means else None), means


def table(measured: dict, networks) -> list:
    """Markdown lines: one row per network, train / predict samples/s per backend."""
    backends = [b for b in measured if "networks" in measured[b]]
    lines = ["| network | " + " | ".join(f"{b} train / predict" for b in backends) + " |",
             "|---|" + "---|" * len(backends)]
    for name in networks:
        cells = []
        for b in backends:
            figures = measured[b]["networks"].get(name)
            cells.append(f"{figures['train_samples_per_s']:,} / {figures['predict_samples_per_s']:,}" if figures
                         else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for b in backends:
        ref = measured[b].get("torch_reference", {})
        cells.append(f"{ref['train_ratio_keras_over_torch']} (PyTorch {ref['train_samples_per_s']:,} / "
                     f"{ref['predict_samples_per_s']:,})" if "train_ratio_keras_over_torch" in ref else "—")
    lines.append(f"| {YARDSTICK_NETWORK}: ratio to plain PyTorch, paired epochs | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    args = parse_args(argv)
    networks = tuple(args.networks) if args.networks else all_networks()
    with ThreadPoolExecutor(max_workers=len(args.backends) if args.parallel else 1) as pool:
        results = pool.map(lambda backend: measure_backend(backend, networks, args), args.backends)
        measured = dict(zip(args.backends, results))
    default, means = choose(measured, networks)
    lines = table(measured, networks)
    for line in lines:
        log(line)
    reference = measured.get(default, {}).get("torch_reference", {})
    log(f"default backend: {default} (geometric mean of train speed relative to tensorflow: {means.get(default)}); "
        f"Attention-LSTM train ratio to plain PyTorch: {reference.get('train_ratio_keras_over_torch')}")
    emit({"benchmark": "backends", "command": "python " + " ".join(sys.argv), "machine": machine(),
          "setup": {"windows": args.windows, "timed_epochs": args.epochs, "threads": args.threads,
                    "gats_tickers": args.tickers, "batch_size": 32},
          "backends": measured, "train_speed_relative_to_tensorflow_geomean": means, "default": default,
          "default_attention_lstm_ratio_to_pytorch": reference.get("train_ratio_keras_over_torch"),
          "table": lines})


if __name__ == "__main__":
    main()
