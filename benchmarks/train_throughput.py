"""Train and predict samples/s of the default networks, against a PyTorch yardstick, as one JSON object.

    python benchmarks/train_throughput.py --torch-python /tmp/torchvenv/bin/python
    python benchmarks/train_throughput.py --models attention_bi --repeats 5
    python benchmarks/train_throughput.py --no-torch --models gru alstm tcn localformer krnn   # the Qlib zoo
    python benchmarks/train_throughput.py --sweep          # the Attention-LSTM under other speed settings
    python benchmarks/train_throughput.py --profile --torch-python /tmp/torchvenv/bin/python  # where time goes
    KERAS_BACKEND=torch python benchmarks/train_throughput.py --models attention_bi

Windows are real: the first ``--windows`` training windows (30 bars × the package's 50 features) that
``prepare_dataset("data")`` gives. Each default network trains through the package's own trainer
(``model.fit``: its optimizer, clipping, callbacks and ``WindowDataset`` input) at batch 32 for one
warm-up epoch plus ``--epochs`` timed ones, ``--repeats`` times; train samples/s is the median over
the timed epochs. Predict samples/s is ``predict_proba`` over the same windows (the package predicts
in batches of 1024), after a warm-up pass.

The yardstick is the same Attention-LSTM written in plain PyTorch (``torch.nn.LSTM``, Adam, batch 32,
the same windows and thread count). It runs in a separate process with its own interpreter
(``--torch-python``, or ``$TORCH_PYTHON``, or this interpreter if it has torch) so the two libraries
never share a thread pool, and it is driven epoch by epoch from the Keras run: after each Keras epoch
the yardstick trains one epoch, so each pair is measured under the same load on this shared machine.
The ratio quoted is the median of the paired ratios (torch epoch seconds / Keras epoch seconds).

``--sweep`` trains the default Attention-LSTM under each speed setting in turn (one epoch each, round
robin, so a burst of load hits every setting alike): the trainer's defaults, ``jit_compile=True``,
``steps_per_execution`` 8 and 32, a ``PyDataset`` with two worker threads, and plain NumPy arrays
(Keras' own batching, static batch shape). Thread counts are set per process: rerun with ``--threads``.

``--profile`` profiles ten training steps of each side: TensorFlow's profiler for the package (executor
dispatches and kernels by op type) and ``torch.profiler`` for the yardstick (ops by self CPU time).

Every figure depends on the CPU, the backend and what else runs: compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA_DIR, emit, epoch_clock, log, machine, median, real_windows

MODELS = {
    "attention_bi": ("AttentionLSTMModel", {}),
    "attention_causal": ("AttentionLSTMModel", {"bidirectional": False}),
    "lstm": ("LSTMModel", {}),
    "transformer": ("TransformerModel", {}),
    # the Qlib zoo at its defaults (Qlib's Alpha360 benchmark configs; see each class's docstring)
    "gru": ("GRUModel", {}),
    "alstm": ("ALSTMModel", {}),
    "tcn": ("TCNModel", {}),
    "localformer": ("LocalformerModel", {}),
    "krnn": ("KRNNModel", {}),
}
PROFILE_STEPS = 10  # training steps under the profilers
TARGET_RATIO = 2.0  # issue 8: the default Attention-LSTM trains at least 2x faster than the torch yardstick


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=2048, help="training windows (default 2048)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per repeat, after a warm-up (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh fits per model (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    parser.add_argument("--sequence-length", type=int, default=30, help="bars per window (default 30)")
    parser.add_argument("--threads", type=int, default=2, help="compute threads for both libraries (default 2)")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--data", default=str(DATA_DIR), help="CSV file or folder (default: the bundled data/)")
    parser.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"),
                        help="interpreter with torch for the yardstick (default: $TORCH_PYTHON, else this one "
                             "if it has torch, else the yardstick is skipped)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch yardstick")
    parser.add_argument("--sweep", action="store_true", help="time the Attention-LSTM under other speed settings")
    parser.add_argument("--profile", action="store_true",
                        help="where a training step's time goes: TensorFlow's profiler, and torch's for the yardstick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-worker", metavar="NPZ", help=argparse.SUPPRESS)  # internal: the yardstick process
    return parser.parse_args(argv)


# --------------------------------------------------------------------------------------------------
# The PyTorch yardstick (runs in its own process; imports torch, never keras)
# --------------------------------------------------------------------------------------------------

def torch_worker(args) -> None:
    """Serve ``train`` / ``predict`` / ``quit`` commands on stdin, one JSON reply per line on stdout.

    The network mirrors ``skills.models.attention_lstm.attention_lstm_network`` with the seed's
    hyperparameters: normalisation by the training statistics, BiLSTM(128) -> dropout 0.3 ->
    BiLSTM(64), plus a linear projection of the first sequence added to the second and layer-normed
    (eps 1e-3 as Keras), additive attention ``v . tanh(W h + b)`` with a softmax over time, then
    Dense(64, relu) -> dropout 0.3 -> Dense(3). Trained with Adam(1e-3) on cross-entropy.
    """
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    arrays = np.load(args.torch_worker)
    X, y = torch.from_numpy(arrays["X"]), torch.from_numpy(arrays["y"])
    n_features = X.shape[2]

    class AttentionLSTM(nn.Module):
        def __init__(self, lstm_units=128, attention_units=64, dropout_rate=0.3):
            super().__init__()
            self.register_buffer("offset", torch.from_numpy(arrays["offset"]))
            self.register_buffer("scale", torch.from_numpy(arrays["scale"]))
            self.lstm_1 = nn.LSTM(n_features, lstm_units, batch_first=True, bidirectional=True)
            self.lstm_1_dropout = nn.Dropout(dropout_rate)
            self.lstm_2 = nn.LSTM(2 * lstm_units, lstm_units // 2, batch_first=True, bidirectional=True)
            self.residual_projection = nn.Linear(2 * lstm_units, lstm_units)
            self.residual_norm = nn.LayerNorm(lstm_units, eps=1e-3)
            self.attention = nn.Linear(lstm_units, attention_units)  # W, b
            self.attention_score = nn.Linear(attention_units, 1, bias=False)  # v
            self.head_dense = nn.Linear(lstm_units, 64)
            self.head_dropout = nn.Dropout(dropout_rate)
            self.probs = nn.Linear(64, 3)  # logits; CrossEntropyLoss applies the softmax

        def forward(self, windows):  # (b, T, F)
            x = (windows - self.offset) / self.scale
            first = self.lstm_1_dropout(self.lstm_1(x)[0])  # (b, T, 256)
            second = self.lstm_2(first)[0]  # (b, T, 128)
            encoded = self.residual_norm(second + self.residual_projection(first))
            scores = self.attention_score(torch.tanh(self.attention(encoded))).squeeze(-1)  # (b, T)
            weights = torch.softmax(scores, dim=1)
            context = (weights.unsqueeze(-1) * encoded).sum(dim=1)  # (b, 128)
            return self.probs(self.head_dropout(torch.relu(self.head_dense(context))))

    network = AttentionLSTM()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)

    def reply(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def timed(step):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}

    def train_epoch(batches=None):
        network.train()
        order = torch.randperm(len(X), generator=generator)
        stop = len(X) if batches is None else batches * args.batch_size
        for start in range(0, stop, args.batch_size):
            index = order[start:start + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(network(X[index]), y[index]).backward()
            optimizer.step()

    def predict():
        network.eval()
        with torch.no_grad():
            for start in range(0, len(X), 1024):
                torch.softmax(network(X[start:start + 1024]), dim=1)

    reply({"params": sum(p.numel() for p in network.parameters()), "torch": torch.__version__,
           "threads": torch.get_num_threads()})
    for line in sys.stdin:
        command = line.strip()
        if command == "train":
            reply(timed(train_epoch))
        elif command == "predict":
            reply(timed(predict))
        elif command == "profile":
            from torch.profiler import ProfilerActivity, profile

            steps = PROFILE_STEPS
            with profile(activities=[ProfilerActivity.CPU]) as profiler:
                train_epoch(batches=steps)
            ops = sorted(profiler.key_averages(), key=lambda op: op.self_cpu_time_total, reverse=True)
            total = sum(op.self_cpu_time_total for op in ops) / 1000 / steps
            reply({"self_cpu_ms_per_step": round(total, 1), "top_ops_self_cpu_ms_per_step": {
                op.key: [round(op.self_cpu_time_total / 1000 / steps, 2), op.count // steps] for op in ops[:10]}})
        else:
            break


class TorchYardstick:
    """The torch worker process, asked for one epoch (or one predict pass) at a time."""

    def __init__(self, python: str, windows_file: str, args):
        command = [python, str(Path(__file__).resolve()), "--torch-worker", windows_file,
                   "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the torch yardstick process stopped (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


def find_torch_python(args):
    """The interpreter for the yardstick, or None (with the reason) when there is none."""
    if args.no_torch:
        return None, "skipped (--no-torch)"
    candidates = [args.torch_python] if args.torch_python else [sys.executable]
    for python in candidates:
        probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
        if probe.returncode == 0:
            return python, None
    return None, (f"skipped: {candidates[0]} cannot import torch; pass --torch-python PATH (a venv with "
                  "torch==2.13.0 CPU and numpy) or set TORCH_PYTHON")


# --------------------------------------------------------------------------------------------------
# Keras side
# --------------------------------------------------------------------------------------------------

def set_threads(threads: int) -> str:
    """Cap the active Keras backend's compute threads; returns what was done."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return f"tensorflow intra-op and inter-op threads = {threads}"
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return f"torch threads = {threads}"
    return f"{backend}: thread count left to the backend (set XLA_FLAGS before starting)"


def measure_models(args, X, y, yardstick):
    import skills.models

    results, pairs = {}, {"train_wall": [], "train_cpu": [], "predict_wall": []}
    torch_train, torch_predict = [], []
    n = len(X)
    for key in args.models:
        name, params = MODELS[key]
        wall, cpu, predict = [], [], []
        use_torch = yardstick is not None and key == "attention_bi"
        for repeat in range(args.repeats):
            log(f"{key}: repeat {repeat + 1}/{args.repeats}")
            clock = epoch_clock((lambda: yardstick.ask("train")) if use_torch else None)
            model = getattr(skills.models, name)(sequence_length=args.sequence_length, **params)
            # patience above the epoch count: early stopping never cuts the timed epochs short
            model.fit(X, y, epochs=args.epochs + 1, batch_size=args.batch_size, verbose=0, seed=args.seed + repeat,
                      patience=args.epochs + 1, lr_schedule="constant", callbacks=[clock])
            wall += clock.wall[1:]
            cpu += clock.cpu[1:]
            if use_torch:
                theirs = clock.paired[1:]
                torch_train += [t["wall_s"] for t in theirs]
                pairs["train_wall"] += [t["wall_s"] / w for t, w in zip(theirs, clock.wall[1:])]
                pairs["train_cpu"] += [t["cpu_s"] / c for t, c in zip(theirs, clock.cpu[1:])]
                yardstick.ask("predict")  # warm-up
            model.predict_proba(X)  # warm-up: traces the predict function
            for _ in range(2):
                start = time.perf_counter()
                model.predict_proba(X)
                predict.append(time.perf_counter() - start)
                if use_torch:
                    theirs = yardstick.ask("predict")["wall_s"]
                    torch_predict.append(theirs)
                    pairs["predict_wall"].append(theirs / predict[-1])
        results[key] = {
            "params": int(model.network_.count_params()),
            "train_samples_per_s": round(n / median(wall)),
            "train_samples_per_cpu_s": round(n / median(cpu)),
            "predict_samples_per_s": round(n / median(predict)),
            "timed_epochs": len(wall),
            "train_samples_per_s_each_epoch": [round(n / t) for t in wall],
        }
    reference = None
    if yardstick is not None and torch_train:
        ratio = median(pairs["train_wall"])
        reference = {
            "what": "the default Attention-LSTM in plain PyTorch (torch.nn.LSTM, Adam), batch "
                    f"{args.batch_size}, same windows, {yardstick.info['threads']} threads, own process",
            "torch": yardstick.info["torch"],
            "params": yardstick.info["params"],
            "params_note": "torch LSTMs carry two bias vectors per gate (b_ih and b_hh), Keras one: "
                           "2 x 4 x 128 + 2 x 4 x 64 = 1,536 more; the Keras count leaves out the "
                           "Normalization statistics, which torch holds as buffers",
            "train_samples_per_s": round(n / median(torch_train)),
            "predict_samples_per_s": round(n / median(torch_predict)),
            "train_ratio_keras_over_torch": round(ratio, 2),
            "train_ratio_cpu_time": round(median(pairs["train_cpu"]), 2),
            "train_ratio_each_epoch": [round(r, 2) for r in pairs["train_wall"]],
            "predict_ratio_keras_over_torch": round(median(pairs["predict_wall"]), 2),
            "target_train_ratio": TARGET_RATIO,
            "target_met": bool(ratio >= TARGET_RATIO),
        }
    return results, reference


def profile_keras(args, X, y) -> dict:
    """Where a training step of the default Attention-LSTM spends its time, from TensorFlow's profiler.

    The package's ``model.fit`` runs two epochs of ``PROFILE_STEPS`` batches; the second is profiled.
    Compute-thread time is split into the executor's work (``ExecutorState::Process``: dispatching
    each graph op, and running the cheap ones, which the profiler does not trace one by one) and the
    traced kernels by op type.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return {"skipped": "the op profile reads TensorFlow's profiler; run under the TensorFlow backend"}
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from skills.models import AttentionLSTMModel

    n = PROFILE_STEPS * args.batch_size
    with tempfile.TemporaryDirectory() as folder:

        class ProfileSecondEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    self.start = time.perf_counter()
                    tf.profiler.experimental.start(folder)

            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    tf.profiler.experimental.stop()
                    self.wall = time.perf_counter() - self.start

        clock = ProfileSecondEpoch()
        AttentionLSTMModel(sequence_length=args.sequence_length).fit(
            X[:n], y[:n], epochs=2, batch_size=args.batch_size, verbose=0, patience=2, lr_schedule="constant",
            callbacks=[clock])
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(folder).rglob("*.xplane.pb")).read_bytes())
    executor_ps = executor_calls = kernel_ps = 0
    by_type = {}
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if name == "ExecutorState::Process":
                    executor_ps += event.duration_ps
                    executor_calls += 1
                elif ":" in name:  # "scope/op_name:OpType", one traced kernel
                    kind = name.rsplit(":", 1)[1]
                    total, calls = by_type.get(kind, (0, 0))
                    by_type[kind] = (total + event.duration_ps, calls + 1)
                    kernel_ps += event.duration_ps
    per_step = 1e9 * PROFILE_STEPS  # picoseconds per millisecond, per step
    top = sorted(by_type.items(), key=lambda item: item[1][0], reverse=True)[:8]
    return {
        "steps": PROFILE_STEPS,
        "wall_ms_per_step_while_profiled": round(clock.wall * 1000 / PROFILE_STEPS, 1),
        "compute_thread_ms_per_step": round(executor_ps / per_step, 1),
        "executor_dispatches_per_step": executor_calls // PROFILE_STEPS,
        "traced_kernels_ms_per_step": round(kernel_ps / per_step, 1),
        "top_kernels_ms_per_step_and_calls": {kind: [round(ps / per_step, 1), calls // PROFILE_STEPS]
                                              for kind, (ps, calls) in top},
    }


def sweep(args, X, y):
    """The default Attention-LSTM under each speed setting, one epoch each in turn."""
    import keras

    from skills.data import WindowDataset
    from skills.models import AttentionLSTMModel
    from skills.training import TrainConfig, make_optimizer

    backend = keras.backend.backend()
    settings = {"trainer defaults": {}}
    if backend == "tensorflow":
        settings["jit_compile=True (XLA)"] = {"jit_compile": True}
    if backend != "torch":  # the torch trainer accepts steps_per_execution=1 only
        settings["steps_per_execution=8"] = {"steps_per_execution": 8}
        settings["steps_per_execution=32"] = {"steps_per_execution": 32}
    settings["PyDataset, workers=2 (threads)"] = {"workers": 2}
    settings["NumPy arrays (static batch shape)"] = {"numpy": True}

    seed_model = AttentionLSTMModel(sequence_length=args.sequence_length)
    seed_model.fit(X[:64], y[:64], epochs=1, verbose=0)  # only to get the network; weights are re-initialised
    dense = np.asarray(X)
    runs = {}
    for name, options in settings.items():
        log(f"sweep: building '{name}'")
        keras.utils.set_random_seed(args.seed)
        network = keras.models.clone_model(seed_model.network_)
        config = TrainConfig(batch_size=args.batch_size, lr_schedule="constant")
        network.compile(optimizer=make_optimizer(config, len(X) // args.batch_size),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                        jit_compile=options.get("jit_compile", "auto"),
                        steps_per_execution=options.get("steps_per_execution", 1))
        callbacks = [keras.callbacks.TerminateOnNaN()]  # the trainer's per-batch callback
        if options.get("numpy"):
            def epoch(network=network, callbacks=callbacks):
                network.fit(dense, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True,
                            callbacks=callbacks)
        else:
            batches = WindowDataset(X, y, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                    workers=options.get("workers", 1))
            def epoch(network=network, batches=batches, callbacks=callbacks):
                network.fit(batches, epochs=1, verbose=0, callbacks=callbacks)
        epoch()  # warm-up: tracing / compiling
        runs[name] = (epoch, [], [])
    for round_ in range(args.repeats * args.epochs):
        log(f"sweep: round {round_ + 1}/{args.repeats * args.epochs}")
        for epoch, wall, cpu in runs.values():
            start, cpu_start = time.perf_counter(), time.process_time()
            epoch()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
    _, base_wall, base_cpu = runs["trainer defaults"]
    n = len(X)
    return {
        name: {
            "train_samples_per_s": round(n / median(wall)),
            "train_samples_per_cpu_s": round(n / median(cpu)),
            "ratio_to_defaults": round(median(np.asarray(base_wall) / np.asarray(wall)), 2),
            "cpu_ratio_to_defaults": round(median(np.asarray(base_cpu) / np.asarray(cpu)), 2),
        }
        for name, (_, wall, cpu) in runs.items()
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.torch_worker:
        torch_worker(args)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import skills  # noqa: F401, I001  (before keras: the package's default backend unless KERAS_BACKEND says otherwise)

    import keras

    threads = set_threads(args.threads)
    result = {"benchmark": "train_throughput", "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
              "machine": machine()}
    X, y, scaler = real_windows(args.data, args.windows, args.sequence_length)
    result["setup"] = {
        "keras": keras.__version__, "backend": keras.backend.backend(), "threads": threads,
        "windows": len(X), "window_shape": list(X.shape[1:]), "batch_size": args.batch_size,
        "timed_epochs_per_repeat": args.epochs, "repeats": args.repeats,
        "data": f"the first {len(X)} training windows of prepare_dataset({args.data!r})",
    }
    if args.sweep:
        result["sweep_attention_bi"] = sweep(args, X, y)
        emit(result)
        return
    if args.profile:
        result["profile_keras"] = profile_keras(args, X, y)
    python, skipped = find_torch_python(args)
    if "attention_bi" not in args.models:
        python, skipped = None, "attention_bi not among --models"
    yardstick = None
    with tempfile.TemporaryDirectory() as folder:
        if python is not None:
            windows_file = os.path.join(folder, "windows.npz")
            np.savez(windows_file, X=np.asarray(X, dtype=np.float32), y=np.asarray(y, dtype=np.int64),
                     offset=scaler.offset, scale=scaler.scale)
            yardstick = TorchYardstick(python, windows_file, args)
        try:
            if args.profile and yardstick is not None:
                yardstick.ask("train")  # warm-up
                result["profile_torch"] = yardstick.ask("profile")
            elif args.profile:
                result["profile_torch"] = {"skipped": skipped}
            else:
                result["models"], reference = measure_models(args, X, y, yardstick)
                result["torch_reference"] = reference or {"skipped": skipped}
        finally:
            if yardstick is not None:
                yardstick.close()
    emit(result)

if __name__ == "__main__":
    main()
