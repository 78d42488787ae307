"""The default Attention-LSTM on a GPU: samples/s per precision and batch size, the cuDNN path, and
whether a file trained there predicts the same here (one JSON object).

On the GPU machine (any Keras backend; torch and jax are the ones the issue asks for):

    KERAS_BACKEND=torch python benchmarks/gpu_train.py --out gpu_run_torch
    KERAS_BACKEND=jax   python benchmarks/gpu_train.py --out gpu_run_jax

Back on a CPU machine, with the folder copied over:

    python benchmarks/gpu_train.py --check gpu_run_torch

A smoke run that works on a CPU (it says ``"gpu": false`` and times the CPU):

    KERAS_BACKEND=torch python benchmarks/gpu_train.py --windows 128 --epochs 1 --batch-sizes 32 --out /tmp/gpu_smoke

For each precision (``float32``, ``mixed_float16``) and batch size (32, 256) the package's own
``model.fit`` trains on the first ``--windows`` real training windows for a warm-up epoch plus
``--epochs`` timed ones; samples/s is the median timed epoch. While it trains, the LSTM entry points
of the Keras backend are watched: ``recurrent_path`` counts the calls served by the backend's fused
cuDNN kernels (``backend.lstm`` / ``backend.bidirectional_lstm``) and those that fell back to the
generic per-step loop (on a GPU every call should be cuDNN; on a CPU none can be).

``--torch-side`` (on by default when torch imports; ``--no-torch-side`` skips it) trains the same network written
in plain PyTorch (`_torch_attention_lstm`) on the same windows and device, in float32 and AMP, at each batch
size, and ``ratios_to_plain_pytorch`` sets each Keras run beside it (Keras samples/s over PyTorch's; a mixed
policy is set beside AMP, float32 beside float32).

``--out DIR`` keeps, for each precision, the model trained at the largest batch size as ``.keras``
and ``.h5``, the first 256 windows, and the probabilities of both the trained network and the files
loaded back on that machine. ``--check DIR`` loads each file here and compares.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np
from _common import DATA_DIR, emit, epoch_clock, log, machine, median, real_windows

CHECK_WINDOWS = 256
GENERIC = "generic per-step loop"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=8192, help="training windows (default 8192)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after a warm-up one (default 3)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_float16"],
                        choices=["float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--sequence-length", type=int, default=30)
    parser.add_argument("--data", default=str(DATA_DIR))
    parser.add_argument("--out", help="folder for the trained model files and their expected probabilities")
    parser.add_argument("--check", metavar="DIR", help="load the files of an --out folder here and compare")
    parser.add_argument("--torch-side", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the plain-PyTorch Attention-LSTM (default: on, when torch imports)")
    return parser.parse_args(argv)


def device() -> dict:
    """The device the active backend computes on."""
    import keras

    from skills.training import gpu_available

    backend = keras.backend.backend()
    info = {"backend": backend, "keras": keras.__version__, "gpu": gpu_available()}
    if backend == "torch":
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
            info["cudnn"] = torch.backends.cudnn.version()
    elif backend == "jax":
        import jax

        info["jax"] = jax.__version__
        info["device"] = str(jax.devices()[0])
    elif backend == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            info["device"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return info


def watch_recurrent_paths() -> collections.Counter:
    """Count which LSTM implementation the Keras layers get: cuDNN, or the generic per-step loop.

    Keras' LSTM and Bidirectional layers call ``keras.src.backend.lstm`` / ``bidirectional_lstm``;
    each backend answers with its cuDNN kernel or raises ``NotImplementedError`` (then the layer runs
    the generic loop). The torch backend's ``lstm`` instead runs its own per-step loop
    (``_fallback_lstm``) when cuDNN cannot be used. These are Keras internals: if they move, the
    counter stays empty and the report says the path is unknown.
    """
    import keras
    from keras.src import backend as backend_module

    counts = collections.Counter()

    def watched(label, function, on_refusal, fused=True):
        def wrapper(*args, **kwargs):
            try:
                out = function(*args, **kwargs)
            except NotImplementedError:
                counts[f"{label}: {on_refusal}"] += 1
                raise
            if fused:
                counts[f"{label}: cuDNN"] += 1
            return out

        return wrapper

    name = keras.backend.backend()
    if hasattr(backend_module, "bidirectional_lstm"):
        backend_module.bidirectional_lstm = watched(
            "bidirectional_lstm", backend_module.bidirectional_lstm, "not fused, one call per direction")
    if name == "torch":
        rnn = importlib.import_module("keras.src.backend.torch.rnn")  # the module, not its rnn()

        backend_module.lstm = watched("lstm", backend_module.lstm, GENERIC, fused=False)
        rnn._cudnn_lstm = watched("lstm", rnn._cudnn_lstm, GENERIC)
        fallback = rnn._fallback_lstm

        def counted_fallback(*args, **kwargs):
            counts[f"lstm: {GENERIC} (torch)"] += 1
            return fallback(*args, **kwargs)

        rnn._fallback_lstm = counted_fallback
    else:
        backend_module.lstm = watched("lstm", backend_module.lstm, GENERIC)
    return counts


def train_runs(args, X, y):
    """Every precision × batch size; returns the figures and, per precision, the last trained model."""
    from skills.models import AttentionLSTMModel

    counts = watch_recurrent_paths()
    runs, trained = [], {}
    for precision in args.precisions:
        for batch_size in sorted(args.batch_sizes):
            log(f"{precision}, batch {batch_size}")
            counts.clear()
            clock = epoch_clock()
            model = AttentionLSTMModel(sequence_length=args.sequence_length)
            model.fit(X, y, epochs=args.epochs + 1, batch_size=batch_size, precision=precision, verbose=0,
                      patience=args.epochs + 1, lr_schedule="constant", callbacks=[clock])
            timed = clock.wall[1:] or clock.wall
            cudnn = sum(v for k, v in counts.items() if k.endswith("cuDNN"))
            runs.append({
                "precision": model.precision_,
                "batch_size": batch_size,
                "train_samples_per_s": round(len(X) / median(timed)),
                "epoch_s": [round(t, 2) for t in clock.wall],
                "recurrent_path": dict(counts) or "unknown (Keras internals moved)",
                # cuDNN served every LSTM call: some cuDNN calls and none in the generic loop
                "cudnn_taken": bool(cudnn) and not any(GENERIC in key for key in counts),
                "final_loss": round(float(model.history_["loss"][-1]), 4),
            })
            trained[precision] = model
    return runs, trained


def torch_side(args, X, y, scaler) -> list | str:
    """The plain-PyTorch Attention-LSTM at each batch size, float32 and AMP; or why it was skipped."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        return f"skipped: {error}"
    from _torch_attention_lstm import train_speed

    runs = []
    for amp in (False, True):
        for batch_size in sorted(args.batch_sizes):
            log(f"plain PyTorch, {'AMP' if amp else 'float32'}, batch {batch_size}")
            runs.append(train_speed(X, y, scaler.offset, scaler.scale, batch_size, amp, args.epochs))
    return runs


def ratios(keras_runs, torch_runs) -> dict:
    """``"{policy} @ {batch}"``: Keras samples/s over plain PyTorch's (mixed beside AMP, float32 beside float32)."""
    plain = {(r["precision"] != "float32", r["batch_size"]): r["train_samples_per_s"] for r in torch_runs}
    out = {}
    for run in keras_runs:
        reference = plain.get((run["precision"] != "float32", run["batch_size"]))
        if reference:
            out[f"{run['precision']} @ {run['batch_size']}"] = round(run["train_samples_per_s"] / reference, 3)
    return out


def save_runs(trained, X, out: Path) -> dict:
    """Model files plus the windows and probabilities a later ``--check`` compares against."""
    from skills.models import load_model

    out.mkdir(parents=True, exist_ok=True)
    windows = np.asarray(X[:CHECK_WINDOWS], dtype=np.float32)
    saved = {"windows": windows}
    files = {}
    for precision, model in trained.items():
        saved[f"{precision}/trained"] = model.predict_proba(windows)
        for suffix in (".keras", ".h5"):  # .keras first: writing .h5 drops the optimizer in place
            path = out / f"attention_lstm_{precision}{suffix}"
            model.save(path)
            saved[f"{precision}/loaded{suffix}"] = load_model(path).predict_proba(windows)
            files[path.name] = precision
    np.savez(out / "expected.npz", **saved)
    (out / "files.json").write_text(json.dumps(files, indent=2))
    return {"folder": str(out), "files": sorted(files)}


def check(folder: Path) -> dict:
    """Load each saved file on this machine and compare with what the training machine computed."""
    from skills.models import load_model

    files = json.loads((folder / "files.json").read_text())
    expected = np.load(folder / "expected.npz")
    windows = expected["windows"]
    report = {}
    for name, precision in sorted(files.items()):
        here = load_model(folder / name).predict_proba(windows)
        there = expected[f"{precision}/loaded{Path(name).suffix}"]
        trained = expected[f"{precision}/trained"]
        report[name] = {
            "max_abs_diff_vs_file_loaded_there": float(np.max(np.abs(here - there))),
            "same_classes_as_loaded_there": float(np.mean(here.argmax(1) == there.argmax(1))),
            "max_abs_diff_vs_trained_network_there": float(np.max(np.abs(here - trained))),
            "same_classes_as_trained_network_there": float(np.mean(here.argmax(1) == trained.argmax(1))),
            "identical": bool(np.allclose(here, there, atol=1e-5)),
        }
    return report


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = {"benchmark": "gpu_train", "command": "python " + " ".join(sys.argv), "machine": machine()}
    result["device"] = device()
    if args.check:
        result["check"] = check(Path(args.check))
        emit(result)
        return
    if not result["device"]["gpu"]:
        result["note"] = "no GPU visible to this backend: these are CPU figures (a smoke run)"
    X, y, scaler = real_windows(args.data, args.windows, args.sequence_length)
    result["setup"] = {"windows": len(X), "window_shape": list(X.shape[1:]), "timed_epochs": args.epochs}
    result["runs"], trained = train_runs(args, X, y)
    if args.torch_side:
        result["plain_pytorch"] = torch_side(args, X, y, scaler)
        if isinstance(result["plain_pytorch"], list):
            result["ratios_to_plain_pytorch"] = ratios(result["runs"], result["plain_pytorch"])
    if args.out:
        result["saved"] = save_runs(trained, X, Path(args.out))
    emit(result)


if __name__ == "__main__":
    main()
