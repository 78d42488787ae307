"""The Qlib zoo (GRU, ALSTM, TCN, Localformer, KRNN): shapes, files, configs, causality and attention.

Each architecture is fitted once, tiny, for one epoch of two batches on the training windows of real
AAPL bars (`tiny_data`, 8 bars per window; arrays, so no validation pass); everything else reads those
fitted models.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import skills.models
from skills.models import MODEL_NAMES, TemporalAttention, load_model, make_model, model_params

REPO = Path(__file__).resolve().parents[2]
STEPS = 8  # tiny_data's sequence length

# registry name -> tiny hyperparameters (seconds to fit on 2 CPU cores)
ZOO = {
    "gru": dict(hidden_size=8),
    "alstm": dict(hidden_size=8),
    "tcn": dict(channels=8, num_layers=3, dropout_rate=0.1),
    "localformer": dict(d_model=8, num_heads=2, num_layers=1, ff_dim=16),
    "krnn": dict(cnn_filters=4, hidden_size=4, num_branches=3),
}
CAUSAL = ["gru", "tcn", "krnn"]
numpy = keras.ops.convert_to_numpy  # an eager call's output on every backend (torch tensors carry grad)


def tiny(name, **overrides):
    return make_model(name, **{"sequence_length": STEPS, **ZOO[name], **overrides})


@pytest.fixture(scope="module")
def zoo(tiny_data):
    """name -> (model, the object `fit` returned), one epoch of two batches each."""
    keras.utils.set_random_seed(0)
    X, y = np.asarray(tiny_data.train.X), tiny_data.train.y
    return {name: (model := tiny(name), model.fit(X, y, epochs=1, batch_size=32, verbose=0)) for name in ZOO}


@pytest.fixture(scope="module")
def windows(tiny_data):
    return np.asarray(tiny_data.test.X)


@pytest.fixture(params=list(ZOO))
def name(request):
    return request.param


def test_registry_knows_the_zoo():
    assert set(ZOO) <= set(MODEL_NAMES)
    # defaults from Qlib's Alpha360 benchmark configs
    assert model_params("gru") == dict(sequence_length=None, hidden_size=64, num_layers=2, dropout_rate=0.0)
    assert model_params("alstm")["rnn_type"] == "gru" and model_params("alstm")["hidden_size"] == 64
    assert {k: model_params("tcn")[k] for k in ("channels", "kernel_size", "num_layers", "dropout_rate")} == dict(
        channels=128, kernel_size=3, num_layers=5, dropout_rate=0.5)
    assert model_params("krnn")["num_branches"] == 2 and model_params("localformer")["num_heads"] == 2


@pytest.mark.parametrize("name, params, match", [
    ("alstm", dict(rnn_type="transformer"), "rnn_type"),
    ("tcn", dict(channels=0), "channels"),
    ("krnn", dict(num_branches=1.5), "num_branches"),
    ("localformer", dict(d_model=10, num_heads=4), "multiple of `num_heads`"),
    ("gru", dict(dropout_rate=1.0), "dropout_rate"),
])
def test_bad_hyperparameters_are_named(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_model(name, **params)


def test_fit_shapes_and_probabilities(zoo, name, tiny_data, windows):
    model, returned = zoo[name]
    assert returned is model and isinstance(model, skills.models.SequenceClassifier)
    proba = model.predict_proba(windows)
    assert proba.shape == (len(tiny_data.test), 3) and proba.dtype == np.float32
    assert model.history_["loss"] and np.isfinite(model.history_["loss"][0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(model.predict(windows), proba.argmax(axis=1))
    assert model.network_.outputs[0].dtype == "float32"


def test_network_config_round_trips(zoo, name, windows):
    """Every layer's get_config (Keras' own and the package's registered ones) rebuilds the same network."""
    network = zoo[name][0].network_
    rebuilt = keras.Model.from_config(network.get_config())
    rebuilt.set_weights(network.get_weights())
    assert [layer.get_config() for layer in rebuilt.layers] == [layer.get_config() for layer in network.layers]
    np.testing.assert_allclose(numpy(rebuilt(windows)), numpy(network(windows)), atol=1e-6)


@pytest.mark.parametrize("name", CAUSAL)
def test_causal_networks_ignore_later_steps(zoo, windows, name):
    """Causality, two ways, for s in 2, T/2, T-1.

    1. Per step: ``predict_proba_steps`` (the head on every step of the last sequence layer) at steps
       < s is unchanged when steps >= s are replaced by noise, and its last step is `predict_proba`.
    2. As a classifier: the same weights built with ``sequence_length=s`` (the networks do not depend
       on the length) and fed the prefix ``X[:, :s]`` give exactly step s - 1 of the full window, so
       the window's prediction at step s - 1 is what a model that never saw later bars predicts.
    """
    model = zoo[name][0]
    before = model.predict_proba_steps(windows)
    assert before.shape == (len(windows), STEPS, 3)
    np.testing.assert_allclose(before[:, -1], model.predict_proba(windows), atol=1e-6)
    for s in (2, STEPS // 2, STEPS - 1):
        changed = windows.copy()
        changed[:, s:] = np.random.default_rng(s).normal(size=changed[:, s:].shape) * 3
        after = model.predict_proba_steps(changed)
        np.testing.assert_allclose(after[:, :s], before[:, :s], atol=1e-6)
        assert not np.allclose(after[:, s:], before[:, s:], atol=1e-6)  # the change did reach later steps

        short = tiny(name, sequence_length=s)
        network = short._build_network(model.n_features_, model.scaler_["offset"], model.scaler_["scale"])
        network.set_weights(model.network_.get_weights())
        np.testing.assert_allclose(numpy(network(windows[:, :s])), before[:, s - 1], atol=1e-5)


@pytest.mark.parametrize("name", ["alstm", "localformer"])
def test_whole_window_networks_have_no_step_outputs(zoo, windows, name):
    with pytest.raises(AttributeError, match="per-step"):
        zoo[name][0].predict_proba_steps(windows)


def test_alstm_attention_is_qlibs_att_net(zoo, windows):
    """get_attention_weights = softmax_t(v . tanh(W h_t + b)) over the last recurrent layer's outputs."""
    model = zoo["alstm"][0]
    weights = model.get_attention_weights(windows)
    assert weights.shape == (len(windows), STEPS)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    network = model.network_
    hidden = numpy(keras.Model(network.inputs, network.get_layer("rnn_2").output)(windows))
    kernel, bias, score = (np.asarray(w) for w in network.get_layer("attention").get_weights())
    scores = (np.tanh(hidden @ kernel + bias) @ score)[..., 0]
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(weights, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    with pytest.raises(AttributeError, match="no temporal attention"):
        zoo["gru"][0].get_attention_weights(windows)


def test_alstm_rnn_type_lstm_builds_lstms():
    model = make_model("alstm", sequence_length=STEPS, hidden_size=4, rnn_type="LSTM")
    network = model._build_network(3, np.zeros(3), np.ones(3))
    assert any(isinstance(layer, keras.layers.LSTM) for layer in network.layers)
    assert not any(isinstance(layer, keras.layers.GRU) for layer in network.layers)
    assert any(isinstance(layer, TemporalAttention) for layer in network.layers)


def test_tcn_blocks_double_their_dilation():
    network = make_model("tcn", sequence_length=STEPS, channels=4, num_layers=4)._build_network(
        3, np.zeros(3), np.ones(3))
    convs = [layer for layer in network.layers if layer.name.endswith("_conv_1")]
    assert [layer.dilation_rate for layer in convs] == [(1,), (2,), (4,), (8,)]
    assert all(layer.padding == "causal" for layer in convs)


def test_softmax_stays_float32_under_mixed_precision(name):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        network = tiny(name)._build_network(3, np.zeros(3), np.ones(3))
    finally:
        keras.config.set_dtype_policy(previous)
    assert network.get_layer("probs").compute_dtype == "float32" and network.outputs[0].dtype == "float32"
    proba = numpy(network(np.random.default_rng(0).normal(size=(4, STEPS, 3)).astype("float32")))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-3)


FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np
    import keras
    import skills
    from skills.models import load_model
    X = np.load(sys.argv[1])
    out = {}
    for path in sys.argv[2:]:
        if path.endswith(".keras"):  # a plain Keras load, safe_mode
            out[path + ":proba"] = keras.ops.convert_to_numpy(keras.models.load_model(path, safe_mode=True)(X))
            continue
        model = load_model(path)
        out[path + ":class"] = np.array(type(model).__name__)
        out[path + ":proba"] = model.predict_proba(X)
        if type(model).__name__ == "ALSTMModel":
            out[path + ":attention"] = model.get_attention_weights(X)
    np.savez(sys.argv[1].replace("windows.npy", "result.npz"), **out)
    """
)


@pytest.mark.integration
def test_files_round_trip_in_a_fresh_process(zoo, tmp_path, windows):
    """.h5 and .keras of every zoo model, loaded where only `skills` was imported: the .h5 by
    `load_model` (the right class, `predict_proba`, ALSTM's attention), the .keras by a plain
    ``keras.models.load_model(..., safe_mode=True)`` (the registered layers suffice)."""
    paths = [zoo[name][0].save(tmp_path / f"{name}{suffix}") for name in ZOO for suffix in (".h5", ".keras")]
    np.save(tmp_path / "windows.npy", windows)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "windows.npy"), *map(str, paths)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = dict(np.load(tmp_path / "result.npz"))
    for path in paths:
        model = zoo[path.stem][0]
        if path.suffix == ".h5":
            assert str(result[f"{path}:class"]) == type(model).__name__
        np.testing.assert_allclose(result[f"{path}:proba"], model.predict_proba(windows), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result[f"{tmp_path / 'alstm.h5'}:attention"],
                               zoo["alstm"][0].get_attention_weights(windows), rtol=1e-5, atol=1e-6)


def test_keras_file_loads_in_process_with_its_class(zoo, tmp_path, windows):
    model = zoo["krnn"][0]
    loaded = load_model(model.save(tmp_path / "krnn.keras"))
    assert type(loaded).__name__ == "KRNNModel" and loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.predict_proba_steps(windows), model.predict_proba_steps(windows), atol=1e-6)
