"""skills.models.recurrent: LSTM, GRU and Bidirectional give the numbers and gradients of the Keras layers they
subclass, on every backend, and keep the weight layout of Keras' model files.

Under ``KERAS_BACKEND=torch`` on a CPU they run ``torch._VF.lstm`` / ``gru``; the spy tests prove that path is
taken (and skipped where Keras's conditions say no), the others that it changes nothing a user can see.
"""

import keras
import numpy as np
import pytest

from skills.models import recurrent

PAIRS = {"lstm": (recurrent.LSTM, keras.layers.LSTM), "gru": (recurrent.GRU, keras.layers.GRU)}
STATES = {"lstm": 2, "gru": 1}  # (h, c) and h
UNITS = 4


def _windows(n=3, steps=6, features=5, seed=1):
    return np.random.default_rng(seed).normal(size=(n, steps, features)).astype("float32")


def _twins(kind, wrapper=None, **options):
    """The fused layer and the Keras layer with ``options``, built on `_windows` and sharing random weights.

    ``wrapper`` (``keras.layers.Bidirectional`` or `recurrent.Bidirectional`) wraps the fused layer; the Keras layer
    is then wrapped in ``keras.layers.Bidirectional``.
    """
    fused_class, keras_class = PAIRS[kind]
    fused, plain = fused_class(UNITS, **options), keras_class(UNITS, **options)
    if wrapper is not None:
        fused, plain = wrapper(fused), keras.layers.Bidirectional(plain)
    x = _windows()
    fused(x), plain(x)  # build both
    rng = np.random.default_rng(2)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in plain.get_weights()]
    fused.set_weights(weights)
    plain.set_weights(weights)
    return fused, plain


def _output_and_gradients(layer, x, probe):
    """``layer(x)`` and the gradients of ``sum(layer(x) * probe)`` with respect to ``x`` and every trainable weight."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        inputs = torch.tensor(x, requires_grad=True)
        out = layer(inputs)
        grads = torch.autograd.grad((out * torch.tensor(probe)).sum(),
                                    [inputs] + [w.value for w in layer.trainable_weights])
    elif backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = layer(inputs)
            loss = tf.reduce_sum(out * probe)
        grads = tape.gradient(loss, [inputs] + layer.trainable_weights)
    else:
        import jax

        def loss(values, inputs):
            out, _ = layer.stateless_call(values, [w.value for w in layer.non_trainable_variables], inputs)
            return (out * probe).sum(), out

        values = [w.value for w in layer.trainable_variables]
        (_, out), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(values, x)
        grads = [grads[1], *grads[0]]
    return keras.ops.convert_to_numpy(out), [keras.ops.convert_to_numpy(g) for g in grads]


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("layout", ["forward", "go_backwards", "bidirectional", "fused_bidirectional"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
def test_same_outputs_and_gradients_as_keras(kind, layout, return_sequences):
    wrapper = {"bidirectional": keras.layers.Bidirectional, "fused_bidirectional": recurrent.Bidirectional}.get(layout)
    fused, plain = _twins(kind, wrapper, go_backwards=layout == "go_backwards", return_sequences=return_sequences)
    x = _windows(seed=3)
    probe = np.random.default_rng(4).normal(size=keras.ops.shape(plain(x))).astype("float32")
    got, got_grads = _output_and_gradients(fused, x, probe)
    want, want_grads = _output_and_gradients(plain, x, probe)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len(got_grads) == len(want_grads) == 1 + len(plain.trainable_weights)
    for got_grad, want_grad in zip(got_grads, want_grads):
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", PAIRS)
def test_initial_state_and_returned_states_match_keras(kind):
    fused, plain = _twins(kind, return_state=True)
    x = _windows(seed=5)
    states = [np.random.default_rng(6 + i).normal(size=(3, UNITS)).astype("float32") for i in range(STATES[kind])]
    for got, want in zip(fused(x, initial_state=states), plain(x, initial_state=states), strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("wrapper", [None, recurrent.Bidirectional], ids=["plain", "bidirectional"])
def test_mixed_precision_matches_keras(kind, wrapper):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        fused, plain = _twins(kind, wrapper, return_sequences=True)
        x = _windows(seed=7)
        got, want = fused(x), plain(x)
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(got.dtype) == keras.backend.standardize_dtype(want.dtype) == "float16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got).astype("float32"),
                               keras.ops.convert_to_numpy(want).astype("float32"), atol=2e-3)


@pytest.mark.parametrize("kind", PAIRS)
def test_config_round_trip_and_registration(kind):
    fused_class, keras_class = PAIRS[kind]
    layer = fused_class(UNITS, go_backwards=True, return_sequences=True, name="rnn")
    assert keras.saving.get_registered_name(fused_class) == f"skills>{fused_class.__name__}"
    assert fused_class.from_config(layer.get_config()).get_config() == layer.get_config()
    assert layer.get_config() == keras_class(UNITS, go_backwards=True, return_sequences=True, name="rnn").get_config()


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_file_loads_in_safe_mode_and_predicts_the_same(tmp_path, suffix):
    inputs = keras.Input((6, 5))
    x = recurrent.Bidirectional(recurrent.LSTM(UNITS, return_sequences=True))(inputs)
    x = recurrent.GRU(UNITS)(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    path = tmp_path / f"fused{suffix}"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    kinds = {type(layer) for layer in loaded.layers} | {type(loaded.layers[1].forward_layer)}
    assert {recurrent.Bidirectional, recurrent.LSTM, recurrent.GRU} <= kinds
    x = _windows(n=4, seed=8)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


def _network(layers):
    """Bidirectional LSTM -> GRU -> LSTM -> Dense built from ``layers`` (this module or ``keras.layers``)."""
    inputs = keras.Input((6, 5))
    x = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True))(inputs)
    x = layers.LSTM(UNITS)(layers.GRU(UNITS, return_sequences=True)(x))
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.mark.parametrize("direction", ["keras_to_skills", "skills_to_keras"])
def test_keras_weight_files_load_into_the_networks_and_back(tmp_path, direction):
    """A ``.keras`` file keys weights by class name: files of Keras' own layers (older files) still load."""
    source, target = (_network(keras.layers), _network(recurrent))[:: 1 if direction == "keras_to_skills" else -1]
    path = tmp_path / "weights.keras"
    source.save(path)
    target.load_weights(path)
    for got, want in zip(target.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = _windows(seed=12)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target(x)), keras.ops.convert_to_numpy(source(x)),
                               rtol=1e-5, atol=1e-6)


def test_networks_use_the_fused_layers():
    from skills.models.attention_lstm import attention_lstm_network
    from skills.models.lstm import lstm_network
    from skills.models.zoo_layers import recurrent_stack

    builders = {
        "attention_lstm": lambda x: attention_lstm_network(x, lstm_units=4, attention_units=2, dropout_rate=0.1,
                                                           bidirectional=True),
        "lstm": lambda x: lstm_network(x, lstm_units=4, num_layers=2, dropout_rate=0.1),
        "gru_stack": lambda x: recurrent_stack(x, units=4, num_layers=1, dropout_rate=0.0, name="gru"),
        "lstm_stack": lambda x: recurrent_stack(x, units=4, num_layers=1, dropout_rate=0.0, name="lstm",
                                                rnn_type="lstm"),
    }
    found = {}
    for key, build in builders.items():
        inputs = keras.Input((6, 5))
        layers = keras.Model(inputs, build(inputs)).layers
        found[key] = [type(layer) for layer in layers if isinstance(layer, keras.layers.Bidirectional)]
        layers = [getattr(layer, "forward_layer", layer) for layer in layers]
        found[key] += [type(layer) for layer in layers if isinstance(layer, keras.layers.RNN)]
    assert found == {"attention_lstm": [recurrent.Bidirectional] * 2 + [recurrent.LSTM] * 2,
                     "lstm": [recurrent.LSTM] * 2, "gru_stack": [recurrent.GRU], "lstm_stack": [recurrent.LSTM]}


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the calls of ``torch._VF.lstm`` / ``gru`` (a spy: the real kernels still run)."""
    if keras.backend.backend() != "torch":
        pytest.skip("the fused CPU kernels are a torch-backend path")
    import torch

    calls = {"lstm": 0, "gru": 0}
    for kind in calls:
        real = getattr(torch._VF, kind)

        def counting(*args, _kind=kind, _real=real):
            calls[_kind] += 1
            return _real(*args)

        monkeypatch.setattr(torch._VF, kind, counting)
    return calls


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("wrapper", [keras.layers.Bidirectional, recurrent.Bidirectional], ids=["keras", "skills"])
def test_torch_cpu_runs_the_fused_kernel(kind, wrapper, kernel_calls):
    fused, plain = _twins(kind, wrapper, return_sequences=True)
    before = kernel_calls[kind]
    fused(_windows())
    # recurrent.Bidirectional runs both directions of an LSTM in one call; otherwise one call per direction
    calls = 1 if wrapper is recurrent.Bidirectional and kind == "lstm" else 2
    assert kernel_calls[kind] == before + calls
    plain(_windows())
    assert kernel_calls[kind] == before + calls  # Keras's own layer on a CPU steps through time in Python


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("options", [dict(dropout=0.2), dict(recurrent_dropout=0.2), dict(activation="relu"),
                                     dict(use_bias=False), dict(unroll=True), dict(use_cudnn=False)],
                         ids=lambda options: next(iter(options)))
def test_torch_ineligible_settings_take_the_keras_path(kind, options, kernel_calls):
    fused, plain = _twins(kind, **options)
    x = _windows(seed=9)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x)), keras.ops.convert_to_numpy(plain(x)),
                               rtol=1e-6, atol=1e-7)
    assert kernel_calls == {"lstm": 0, "gru": 0}


@pytest.mark.parametrize("merge_mode", ["sum", None])
def test_torch_fused_bidirectional_needs_concat(merge_mode, kernel_calls):
    fused = recurrent.Bidirectional(recurrent.LSTM(UNITS, return_sequences=True), merge_mode=merge_mode)
    plain = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True), merge_mode=merge_mode)
    x = _windows(seed=11)
    fused(x), plain(x)
    plain.set_weights(fused.get_weights())
    got, want = keras.tree.flatten(fused(x)), keras.tree.flatten(plain(x))
    for got_part, want_part in zip(got, want, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got_part), keras.ops.convert_to_numpy(want_part),
                                   rtol=1e-5, atol=1e-6)
    assert kernel_calls == {"lstm": 4, "gru": 0}  # two per call, one call per direction


def test_torch_masked_inputs_take_the_keras_path(kernel_calls):
    fused, plain = _twins("lstm")  # built unmasked: one fused call
    assert kernel_calls == {"lstm": 1, "gru": 0}
    x = _windows(seed=10)
    mask = np.ones(x.shape[:2], dtype=bool)
    mask[0, -2:] = False
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x, mask=mask)),
                               keras.ops.convert_to_numpy(plain(x, mask=mask)), rtol=1e-6, atol=1e-7)
    assert kernel_calls == {"lstm": 1, "gru": 0}
