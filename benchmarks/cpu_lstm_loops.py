"""Other ways to run the default Attention-LSTM's recurrent loops on a CPU, against Keras's own, as one JSON object.

    python benchmarks/cpu_lstm_loops.py                         # jax (the default backend), all variants
    python benchmarks/cpu_lstm_loops.py --variants keras hoisted --epochs 5
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false python benchmarks/cpu_lstm_loops.py --variants keras

Under jax on a CPU, Keras runs each LSTM direction as a ``lax.scan`` whose step multiplies that step's
input and the previous state by the kernels. The variants, each the same network with the same weights
(the script checks that their probabilities agree to 1e-5 before timing them):

- ``keras``: the package's layers (``skills.models.recurrent``: under jax, exactly ``keras.layers.LSTM``);
- ``hoisted``: the input projection of all 30 steps done as one matmul before the scan, only the
  recurrent matmul inside it (what PyTorch's fused kernel does);
- ``both_directions``: ``hoisted``, and the two directions of each ``Bidirectional`` in one scan with a
  batched recurrent matmul (half the loop iterations, twice the work per iteration);
- ``unrolled``: ``keras.layers.LSTM(unroll=True)``, 30 steps written out for XLA to fuse.

Each trains through ``model.fit`` on NumPy arrays of real windows (the first ``--windows`` training
windows of ``prepare_dataset("data")``, normalised), batch 32; after a warm-up the variants train one
epoch each in turn, ``--epochs`` rounds, so that a burst of load hits all of them alike, and the figure is
the median epoch. The ratio is to ``keras`` in the same run. Compare within one run only.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
from _common import emit, log, machine, median, real_windows  # noqa: E402

VARIANTS = ("keras", "hoisted", "both_directions", "unrolled")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--windows", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3, help="timed rounds (default 3)")
    return parser.parse_args(argv)


@functools.cache
def layer_classes():
    """The experimental recurrent layers (registered only here, so the network can be rebuilt by Bidirectional)."""
    import keras
    from keras import ops

    def lstm_step(recurrent_kernel):
        def step(carry, z):
            h, c = carry
            i, f, g, o = ops.split(z + ops.matmul(h, recurrent_kernel), 4, axis=-1)
            c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
            h = ops.sigmoid(o) * ops.tanh(c)
            return (h, c), h
        return step

    @keras.saving.register_keras_serializable(package="benchmark")
    class HoistedLSTM(keras.layers.LSTM):
        def inner_loop(self, sequences, initial_state, mask, training=False):
            cell = self.cell
            x = ops.flip(sequences, axis=1) if self.go_backwards else sequences
            z = ops.transpose(ops.matmul(x, cell.kernel) + cell.bias, (1, 0, 2))  # (T, b, 4u), one matmul
            (h, c), hs = ops.scan(lstm_step(cell.recurrent_kernel), (initial_state[0], initial_state[1]), z)
            outputs = ops.transpose(hs, (1, 0, 2)) if self.return_sequences else h[:, None, :]
            return h, outputs, [h, c]

    @keras.saving.register_keras_serializable(package="benchmark")
    class BothDirections(keras.layers.Bidirectional):
        def call(self, sequences, initial_state=None, mask=None, training=None):
            forward, backward = self.forward_layer.cell, self.backward_layer.cell
            z_forward = ops.matmul(sequences, forward.kernel) + forward.bias
            z_backward = ops.matmul(ops.flip(sequences, axis=1), backward.kernel) + backward.bias
            z = ops.transpose(ops.stack([z_forward, z_backward]), (2, 0, 1, 3))  # (T, 2, b, 4u)
            kernels = ops.stack([forward.recurrent_kernel, backward.recurrent_kernel])  # (2, u, 4u)
            state = ops.zeros((2, ops.shape(sequences)[0], forward.units), sequences.dtype)
            _, hs = ops.scan(lstm_step(kernels), (state, state), z)  # (T, 2, b, u)
            ys = ops.transpose(hs[:, 0], (1, 0, 2)), ops.flip(ops.transpose(hs[:, 1], (1, 0, 2)), axis=1)
            return ops.concatenate(ys, axis=-1)

    return HoistedLSTM, BothDirections


def build(variant, n_features):
    """The default Attention-LSTM network with the variant's recurrent layers, compiled as the package does."""
    import keras

    import skills.models.attention_lstm as attention_lstm
    from skills.models import recurrent  # the layers attention_lstm_network builds

    hoisted, both = layer_classes()
    lstm, bidirectional = recurrent.LSTM, recurrent.Bidirectional
    if variant in ("hoisted", "both_directions"):
        recurrent.LSTM = hoisted
    if variant == "both_directions":
        recurrent.Bidirectional = both
    if variant == "unrolled":
        recurrent.LSTM = lambda *args, **kwargs: lstm(*args, unroll=True, **kwargs)
    try:
        keras.utils.set_random_seed(0)
        windows = keras.Input((30, n_features))
        probs = attention_lstm.attention_lstm_network(windows, lstm_units=128, attention_units=64, dropout_rate=0.3,
                                                      bidirectional=True)
    finally:
        recurrent.LSTM, recurrent.Bidirectional = lstm, bidirectional
    network = keras.Model(windows, probs)
    kinds = {type(layer).__name__ for outer in network.layers
             for layer in (outer, getattr(outer, "forward_layer", outer))}
    wanted = {"hoisted": "HoistedLSTM", "both_directions": "BothDirections"}.get(variant)
    if wanted and wanted not in kinds:
        raise SystemExit(f"the {variant} variant did not replace the network's recurrent layers ({sorted(kinds)})")
    network.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return network


def main(argv=None) -> None:
    args = parse_args(argv)
    import keras

    started = machine()
    windows, y, _ = real_windows(n=args.windows)
    X = np.asarray(windows, np.float32)
    X = (X - X.mean((0, 1))) / (X.std((0, 1)) + 1e-6)
    y = np.asarray(y)
    networks, warm_up_s, agreement = {}, {}, {}
    for variant in ["keras", *[v for v in args.variants if v != "keras"]]:
        clock = time.perf_counter()
        networks[variant] = build(variant, X.shape[2])
        if variant != "keras":
            networks[variant].set_weights(networks["keras"].get_weights())
            diff = np.abs(networks[variant].predict(X[:256], verbose=0) - networks["keras"].predict(X[:256], verbose=0))
            agreement[variant] = float(diff.max())
            if agreement[variant] > 1e-5:
                raise SystemExit(f"{variant} does not compute the network Keras computes (max |diff| {diff.max()})")
        networks[variant].fit(X[:64], y[:64], batch_size=32, epochs=1, verbose=0)
        warm_up_s[variant] = round(time.perf_counter() - clock, 1)
        log(f"{variant}: built and compiled in {warm_up_s[variant]} s")
    epochs = {variant: [] for variant in networks}
    for round_ in range(args.epochs):
        for variant, network in networks.items():
            clock = time.perf_counter()
            network.fit(X, y, batch_size=32, epochs=1, verbose=0)
            epochs[variant].append(time.perf_counter() - clock)
        log(f"round {round_ + 1}: " + ", ".join(f"{v} {epochs[v][-1]:.2f} s" for v in networks))
    reference = median(epochs["keras"])
    emit({
        "benchmark": "cpu_lstm_loops",
        "backend": keras.backend.backend(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "machine": started,
        "setup": {"windows": len(X), "batch_size": 32, "timed_rounds": args.epochs},
        "variants": {variant: {"train_samples_per_s": round(len(X) / median(times)),
                               "relative_to_keras": round(reference / median(times), 3),
                               "epoch_s": [round(t, 2) for t in times], "warm_up_s": warm_up_s[variant],
                               "max_abs_diff_to_keras": agreement.get(variant, 0.0)}
                     for variant, times in epochs.items()},
    })


if __name__ == "__main__":
    main()
