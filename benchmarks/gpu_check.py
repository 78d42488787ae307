#!/usr/bin/env python
"""Every GPU check in one go, then a summary: on a machine with a GPU, Python, torch and jax but no TensorFlow and
no package index.

    python benchmarks/gpu_check.py --wheels /path/to/wheels          # the GPU machine (under 8 minutes)
    python benchmarks/gpu_check.py --smoke --no-install                 # a CPU smoke test of the same steps
    XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python benchmarks/gpu_check.py --smoke --multi-device-only      # step 5 alone, on two CPU devices

Steps (about 7 minutes on the H200 the issue measured, by its figures: the default run alone took 58 s on jax and
117 s on torch there. Each step has a time limit: install 120 s, both backends' model tests side by side 150 s,
gpu_train.py 100 s per backend, the default run 90 s on jax and 150 s on torch; a failed or stopped step is
reported and the next one runs):

1. install the package's requirements but TensorFlow, torch and jax (keras, ta, backtrader, lightgbm, ...) from
   a folder of wheels: ``pip install --no-index --find-links WHEELS -r <requirements.txt without them>``;
2. the model tests (``tests/models``) under ``KERAS_BACKEND=torch`` and ``jax``;
3. ``benchmarks/gpu_train.py`` under both backends, every precision (float32, mixed_float16, mixed_bfloat16) at
   batch 32 and 256, and the same network in plain PyTorch (float32 and AMP) beside them;
4. the default run timed: ``train_attention_lstm.py --epochs 10 --precision float32`` under both backends;
5. on a machine with several GPUs, data parallel under jax (``devices="all"``, `skills.training.distribution`): the
   Attention-LSTM trained for a warm-up and one timed epoch on one device at ``--per-device-batch`` windows (256),
   on all devices at that many per device, and on one device at the same global batch (256 x devices); samples/s
   of each, the speed-ups, and how far the weights and probabilities of the two runs of the same global batch are
   apart (float32 sums in another order only). With one device visible it says it skipped this (limit 200 s).

It writes each step's output under ``--out`` (default ``gpu_check_out``) and prints one summary: tests passed /
failed per backend, samples/s per backend, precision and batch size, the ratios to plain PyTorch, the default
run's seconds, and the wall time of every step. ``--smoke`` shrinks every size (128 windows, one epoch, batch 32,
two model test files' worth, a default run of one epoch on one ticker) so the whole script runs on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "jax")
NOT_FROM_WHEELS = {"tensorflow", "tensorboard", "torch", "jax", "jaxlib"}  # there already, or not wanted


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", default=os.environ.get("WHEELS", "wheels"), help="folder of wheels to install")
    parser.add_argument("--no-install", action="store_true", help="skip step 1 (the packages are installed)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a smoke test that runs on a CPU")
    parser.add_argument("--out", default="gpu_check_out", help="folder for each step's output")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--multi-device-only", action="store_true", help="run step 5 alone (no install either)")
    parser.add_argument("--per-device-batch", type=int, default=None,
                        help="step 5: windows per device and step (default 256; 32 with --smoke)")
    parser.add_argument("--multi-device-run", action="store_true", help=argparse.SUPPRESS)  # step 5's own process
    return parser.parse_args(argv)


def start(name, command, out: Path, env=None) -> tuple:
    """Start one step; its stdout and stderr go to ``out/name.log``."""
    (out / f"{name}.log").write_text(f"$ {' '.join(map(str, command))}\n")
    log = (out / f"{name}.log").open("a")  # appending: the step's stderr and, at the end, its stdout
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    return name, process, log, time.perf_counter()


def finish(step, limit_s) -> dict:
    """Wait for a started step up to ``limit_s`` seconds from its start (then stop it) and collect its output."""
    name, process, log, started = step
    try:
        stdout, _ = process.communicate(timeout=max(1.0, limit_s - (time.perf_counter() - started)))
        code = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, _ = process.communicate()
        code = "timeout"
    wall = time.perf_counter() - started
    log.write(f"--- stdout ---\n{stdout}")
    log.close()
    print(f"[{name}] exit {code} in {wall:.0f} s", file=sys.stderr, flush=True)
    return {"step": name, "exit": code, "wall_s": round(wall, 1), "stdout": stdout or ""}


def run(name, command, out: Path, limit_s, env=None) -> dict:
    """One step, waited for."""
    return finish(start(name, command, out, env), limit_s)


def requirements_from_wheels(out: Path) -> Path:
    """requirements.txt without what the GPU machine has already or must not get."""
    kept = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")
            and re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].lower() not in NOT_FROM_WHEELS]
    path = out / "requirements-from-wheels.txt"
    path.write_text("\n".join(kept) + "\n")
    return path


def pytest_counts(text: str) -> str:
    """The last pytest summary line (``N passed, M failed in ...``), or what happened instead."""
    lines = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return lines[-1].strip("= ") if lines else "no pytest summary (see the log)"


def usual_steps(args, out: Path, py: str, steps: list, summary: dict) -> None:
    """Steps 1 to 4, their results appended to ``steps`` and ``summary``."""
    if not args.no_install:
        steps.append(run("install", [py, "-m", "pip", "install", "--no-index", "--find-links", args.wheels,
                                     "-r", str(requirements_from_wheels(out))], out, 300 if args.smoke else 120))

    # the model tests of both backends side by side (they time nothing); the timed steps below run one at a time
    tests = (["tests/models/test_layers.py", "tests/models/test_models.py::test_fit_on_arrays_with_training_options"]
             if args.smoke else ["tests/models"])
    started_tests = [start(f"model_tests_{backend}", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                           out, env={"KERAS_BACKEND": backend}) for backend in BACKENDS]
    for backend, step in zip(BACKENDS, started_tests):
        steps.append(finish(step, 400 if args.smoke else 150))
        summary[f"model_tests_{backend}"] = pytest_counts(steps[-1]["stdout"])

    sizes = (["--windows", "128", "--epochs", "1", "--batch-sizes", "32"] if args.smoke else
             ["--windows", "8192", "--epochs", "1", "--batch-sizes", "32", "256"])  # a warm-up + 1 timed epoch
    speeds = {}
    for backend in BACKENDS:
        side = ["--torch-side"] if backend == "torch" else ["--no-torch-side"]  # one plain-PyTorch run is enough
        step = run(f"gpu_train_{backend}", [py, "benchmarks/gpu_train.py", *sizes, *side, "--precisions",
                                            "float32", "mixed_float16", "mixed_bfloat16"], out,
                   300 if args.smoke else 100, env={"KERAS_BACKEND": backend})
        steps.append(step)
        try:
            result = json.loads(step["stdout"])
        except json.JSONDecodeError:
            summary[f"gpu_train_{backend}"] = "no result (see the log)"
            continue
        (out / f"gpu_train_{backend}.json").write_text(json.dumps(result, indent=2))
        speeds[backend] = result
        summary[f"gpu_train_{backend}"] = {
            "device": result["device"].get("device", "cpu"),
            "samples_per_s": {f"{r['precision']} @ {r['batch_size']}": r["train_samples_per_s"]
                              for r in result["runs"]},
            "cudnn_taken": {f"{r['precision']} @ {r['batch_size']}": r["cudnn_taken"] for r in result["runs"]},
        }
    plain = speeds.get("torch", {}).get("plain_pytorch")
    if isinstance(plain, list):
        summary["plain_pytorch"] = {f"{r['precision']} @ {r['batch_size']}": r["train_samples_per_s"] for r in plain}
        from gpu_train import ratios  # noqa: E402 - benchmarks/ is on sys.path when run as a script

        summary["ratios_to_plain_pytorch"] = {backend: ratios(result["runs"], plain)
                                              for backend, result in speeds.items()}

    default = (["--data-path", "data/AAPL.csv", "--epochs", "1", "--sequence-length", "10", "--quiet"] if args.smoke
               else ["--epochs", "10", "--quiet"])
    for backend in BACKENDS:
        model = out / f"default_{backend}.h5"
        step = run(f"default_run_{backend}", [py, "train_attention_lstm.py", *default, "--precision", "float32",
                                              "--model-path", str(model)], out,
                   300 if args.smoke else {"jax": 90, "torch": 150}[backend], env={"KERAS_BACKEND": backend})
        steps.append(step)
        found = re.search(r"(\d+) epochs in (\d+) s", step["stdout"])
        summary[f"default_run_{backend}"] = (f"{found.group(1)} epochs trained in {found.group(2)} s "
                                             f"({step['wall_s']:.0f} s in all)" if found else
                                             f"exit {step['exit']} (see the log)")


def multi_device_step(args, out: Path, py: str, steps: list, summary: dict) -> None:
    """Step 5 in its own process under jax (`multi_device_run`); its JSON, or what it said instead, in ``summary``."""
    sizes = ["--smoke"] if args.smoke else []
    if args.per_device_batch:
        sizes += ["--per-device-batch", str(args.per_device_batch)]
    step = run("multi_device_jax", [py, "benchmarks/gpu_check.py", "--multi-device-run", *sizes], out,
               300 if args.smoke else 200, env={"KERAS_BACKEND": "jax"})
    steps.append(step)
    try:
        result = json.loads(step["stdout"].strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        summary["multi_device_jax"] = f"exit {step['exit']}: no result (see the log)"
        return
    (out / "multi_device_jax.json").write_text(json.dumps(result, indent=2))
    if "skipped" in result:
        print(f"[multi_device_jax] skipped: {result['skipped']}", file=sys.stderr, flush=True)
    summary["multi_device_jax"] = result


def multi_device_run(args) -> dict:
    """Step 5's measurements, in a process of its own (``--multi-device-run``; the backend is jax)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import numpy as np
    from _common import epoch_clock, median, real_windows

    from skills.models import AttentionLSTMModel
    from skills.training import visible_devices

    devices = visible_devices()
    if len(devices) < 2:
        return {"skipped": f"{len(devices)} device visible to jax ({', '.join(devices)}); data parallel needs several"}
    windows, epochs = (128, 1) if args.smoke else (8192, 1)
    X, y, _ = real_windows(n=windows)
    per_device, n = args.per_device_batch or (32 if args.smoke else 256), len(devices)

    def fit(batch_size, on):
        clock = epoch_clock()
        model = AttentionLSTMModel(sequence_length=X.shape[1])
        model.fit(X, y, epochs=epochs + 1, batch_size=batch_size, devices=on, precision="float32", verbose=0,
                  patience=epochs + 1, lr_schedule="constant", callbacks=[clock])
        timed = clock.wall[1:] or clock.wall
        return model, {"devices": n if on == "all" else on, "batch_size_per_device": batch_size,
                       "global_batch": model.metadata_["training"]["global_batch_size"],
                       "samples_per_s": round(len(X) / median(timed)), "epoch_s": [round(t, 2) for t in clock.wall]}

    (_, single), (spread, every), (whole, same) = fit(per_device, 1), fit(per_device, "all"), fit(per_device * n, 1)
    probe = np.asarray(X[:256], dtype=np.float32)
    pairs = zip(spread.network_.get_weights(), whole.network_.get_weights())
    weights = max(float(np.abs(a - b).max()) for a, b in pairs)
    proba = float(np.abs(spread.predict_proba(probe) - whole.predict_proba(probe)).max())
    ratio = lambda a, b: round(a["samples_per_s"] / b["samples_per_s"], 2)  # noqa: E731
    return {"devices": devices, "windows": len(X), "timed_epochs": epochs, "runs": [single, every, same],
            "speedup_all_devices_vs_one_same_per_device_batch": ratio(every, single),
            "speedup_all_devices_vs_one_same_global_batch": ratio(every, same),
            "same_global_batch_max_abs_weight_gap": weights, "same_global_batch_max_abs_proba_gap": proba}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.multi_device_run:
        print(json.dumps(multi_device_run(args)))
        return 0
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    py, steps, summary = args.python, [], {"smoke": args.smoke}
    started = time.perf_counter()

    if not args.multi_device_only:
        usual_steps(args, out, py, steps, summary)
    multi_device_step(args, out, py, steps, summary)

    summary["steps"] = {s["step"]: {"exit": s["exit"], "wall_s": s["wall_s"]} for s in steps}
    summary["total_s"] = round(time.perf_counter() - started, 1)
    summary["all_ok"] = all(s["exit"] == 0 for s in steps)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0 if summary["all_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
