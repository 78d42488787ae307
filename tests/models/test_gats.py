"""GATs: Qlib's graph attention across the stocks of a date, daily batches, files and the pretrained encoder.

Data: 20 real tickers of the bundled universe (2017-07 on, price-volume features, cross-sectional labels,
8-bar windows): 98 training dates of 20 stocks. Models are tiny and trained one epoch.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from skills.data import feature_windows, load_universe, prepare_dataset
from skills.models import GATsModel, GraphAttention, GRUModel, LSTMModel, ModelFileError, make_model, model_params

REPO = Path(__file__).resolve().parents[2]
L = 8
TICKERS = ("A", "AAL", "ABBV", "ABC", "ADI", "ADM", "ADS", "ADSK", "AEE", "AES", "AIG", "AIZ", "ALGN", "ALL", "ALXN",
           "AMAT", "AME", "AMGN", "AMP", "ANDV")  # the first 20 of the bundled universe
numpy = keras.ops.convert_to_numpy


@pytest.fixture(scope="module")
def universe(data_dir):
    frames = load_universe(data_dir / "universe", tickers=TICKERS, on_bad_rows="drop", on_bad_files="skip")
    return {t: bars.loc["2017-07":] for t, bars in frames.items()}


@pytest.fixture(scope="module")
def data(universe):
    return prepare_dataset(universe, sequence_length=L, features="price_volume", label="cross_section")


@pytest.fixture(scope="module")
def gats(data):
    keras.utils.set_random_seed(0)
    return make_model("gats", sequence_length=L, hidden_size=8, dropout_rate=0.0).fit(data, epochs=1, verbose=0)


@pytest.fixture(scope="module")
def day(data):
    """The windows of the test split's first date (20 stocks, ticker order) and that date."""
    split = data.test
    date = split.dates.min()
    idx = np.flatnonzero(split.dates == date)
    return np.asarray(split.X[idx], dtype=np.float32), date


def qlib_graph_attention(h, kernel, bias, score, slope=0.01):
    """Qlib's cal_attention + residual in NumPy: e_ij = LeakyReLU(a . [t_j, t_i]), softmax over j."""
    t = h @ kernel + bias
    n, units = t.shape
    pairs = np.concatenate([np.broadcast_to(t[None, :, :], (n, n, units)),  # e_x[i, j] = t_j
                            np.broadcast_to(t[:, None, :], (n, n, units))], axis=-1)  # e_y[i, j] = t_i
    e = (pairs @ score)[..., 0]
    e = np.where(e > 0, e, slope * e)
    w = np.exp(e - e.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return h + w @ h, w


def test_registry_defaults_are_qlibs_alpha360():
    assert model_params("gats") == dict(sequence_length=None, hidden_size=64, num_layers=2, dropout_rate=0.7,
                                        base_model="lstm", pretrained=None)
    with pytest.raises(ValueError, match="rnn_type"):
        make_model("gats", base_model="transformer")
    with pytest.raises(ValueError, match="negative_slope"):
        GraphAttention(negative_slope=-1)


def test_graph_attention_is_qlibs_and_its_config_round_trips():
    h = np.random.default_rng(0).normal(size=(7, 5)).astype("float32")
    layer = GraphAttention(name="g")
    out, weights = layer(h, return_attention_scores=True)
    kernel, bias, score = (np.asarray(w) for w in layer.get_weights())
    expected, expected_weights = qlib_graph_attention(h.astype(np.float64), kernel, bias, score)
    np.testing.assert_allclose(numpy(weights), expected_weights, atol=1e-5)
    np.testing.assert_allclose(numpy(out), expected, atol=1e-5)
    np.testing.assert_allclose(numpy(weights).sum(axis=1), 1.0, atol=1e-5)

    config = layer.get_config()
    rebuilt = GraphAttention.from_config(config)
    rebuilt.build(h.shape)
    rebuilt.set_weights(layer.get_weights())
    assert rebuilt.get_config() == config and config["negative_slope"] == 0.01
    np.testing.assert_allclose(numpy(rebuilt(h)), numpy(out), atol=1e-6)
    one = numpy(layer(h[:1]))  # a one-stock graph attends to itself: 2 h
    np.testing.assert_allclose(one, 2 * h[:1], atol=1e-6)


def test_softmax_stays_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        network = make_model("gats", sequence_length=L, hidden_size=8)._build_network(3, np.zeros(3), np.ones(3))
    finally:
        keras.config.set_dtype_policy(previous)
    assert network.get_layer("graph_attention").compute_dtype == "float16"
    assert network.get_layer("probs").compute_dtype == "float32" and network.outputs[0].dtype == "float32"
    proba = numpy(network(np.random.default_rng(0).normal(size=(5, L, 3)).astype("float32")))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-3)


@pytest.mark.slow
def test_fit_on_daily_batches_gives_probabilities(gats, data):
    assert isinstance(gats, GATsModel)
    proba = gats.predict_proba(data.test)
    assert proba.shape == (len(data.test), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(gats.predict(data.test), proba.argmax(axis=1))
    assert np.isfinite(gats.history_["loss"][0]) and np.isfinite(gats.history_["val_loss"][0])
    assert gats.metadata_["training"]["batch_by"] == "date"
    assert gats.metadata_["trading"]["n_val"] == len(data.val)
    assert gats.evaluate(data.test)["n"] == len(data.test)


@pytest.mark.slow
def test_shuffling_the_days_stocks_permutes_the_outputs(gats, day):
    """Permutation equivariance on a batch = one day; and the graph really mixes the stocks."""
    X, date = day
    network = gats.network_
    base = numpy(network(X))
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(X))
        np.testing.assert_allclose(numpy(network(X[perm])), base[perm], atol=1e-6)
        proba = gats.predict_proba(X[perm], dates=[date] * len(X))
        np.testing.assert_allclose(proba, base[perm], atol=1e-6)  # each stock keeps its probabilities
    changed = X.copy()
    changed[0] = np.random.default_rng(9).normal(size=X[0].shape) * 3
    after = numpy(network(changed))
    assert not np.allclose(after[1:], base[1:], atol=1e-7)  # stock 0's window moves the other stocks


@pytest.mark.slow
def test_predict_proba_on_a_split_is_one_batch_per_date(gats, data):
    split = data.test
    proba = gats.predict_proba(split)
    for date in np.unique(split.dates)[::5]:  # every fifth date: each is one network call
        idx = np.flatnonzero(split.dates == date)
        np.testing.assert_allclose(proba[idx], numpy(gats.network_(np.asarray(split.X[idx], "float32"))), atol=1e-6)
    X = np.asarray(split.X)
    np.testing.assert_allclose(gats.predict_proba(X, dates=split.dates), proba, atol=1e-6)
    one_graph = gats.predict_proba(X, dates=[split.dates[0]] * len(X))  # every window one day: another graph
    assert not np.allclose(one_graph, proba, atol=1e-6)
    attention = gats.get_graph_attention(split)
    assert len(attention) == len(np.unique(split.dates))
    weights = attention[split.dates[0]]
    assert weights.shape == (20, 20)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_windows_without_dates_and_window_batches_are_refused(gats, data):
    with pytest.raises(ValueError, match="pass a Split"):
        gats.predict_proba(np.asarray(data.test.X))
    with pytest.raises(ValueError, match="dates has 3 entries"):
        gats.predict_proba(np.asarray(data.test.X), dates=data.test.dates[:3])
    model = make_model("gats", sequence_length=L, hidden_size=4)
    with pytest.raises(ValueError, match="PreparedData"):
        model.fit(np.asarray(data.train.X), data.train.y)
    with pytest.raises(ValueError, match="batch_by='date' only"):
        model.fit(data, batch_by="window")


@pytest.mark.slow
def test_predict_frame_on_one_ticker_is_a_one_stock_graph(gats, universe):
    bars = universe["AMGN"]
    frame = gats.predict_frame(bars)
    windows, dates = feature_windows(bars, gats.feature_names_, L)
    assert len(frame) == len(windows) and (frame.index == dates).all()
    for row in (0, len(windows) // 2, len(windows) - 1):
        alone = numpy(gats.network_(np.asarray(windows[row:row + 1], "float32")))
        np.testing.assert_allclose(frame.iloc[row].to_numpy(), alone[0], atol=1e-6)


FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np
    import keras
    import skills
    from skills.models import load_model
    X, dates = np.load(sys.argv[1]), np.load(sys.argv[2])
    out = {}
    for path in sys.argv[3:]:
        model = load_model(path)
        out[path + ":class"] = np.array(type(model).__name__)
        out[path + ":proba"] = model.predict_proba(X, dates=dates)
        if path.endswith(".keras"):  # a plain Keras load, safe_mode, on the first date's stocks
            day = dates == dates.min()
            out[path + ":day"] = keras.ops.convert_to_numpy(keras.models.load_model(path, safe_mode=True)(X[day]))
    np.savez(sys.argv[1].replace("windows.npy", "result.npz"), **out)
    """
)


@pytest.mark.slow
@pytest.mark.integration
def test_files_round_trip_in_a_fresh_process(gats, data, tmp_path):
    paths = [gats.save(tmp_path / f"gats{suffix}") for suffix in (".keras", ".h5")]
    X, dates = np.asarray(data.test.X, dtype=np.float32), np.asarray(data.test.dates, dtype="datetime64[ns]")
    np.save(tmp_path / "windows.npy", X)
    np.save(tmp_path / "dates.npy", dates)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "windows.npy"),
                           str(tmp_path / "dates.npy"), *map(str, paths)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = dict(np.load(tmp_path / "result.npz"))
    expected = gats.predict_proba(data.test)
    for path in paths:
        assert str(result[f"{path}:class"]) == "GATsModel"
        np.testing.assert_allclose(result[f"{path}:proba"], expected, rtol=1e-5, atol=1e-6)
    day = data.test.dates == data.test.dates.min()
    np.testing.assert_allclose(result[f"{paths[0]}:day"], expected[day], rtol=1e-5, atol=1e-6)


class _WeightsAtStart(keras.callbacks.Callback):
    """The encoder's weights when training begins (after the pretrained copy, before any step)."""

    def on_train_begin(self, logs=None):
        self.weights = [[np.asarray(w) for w in self.model.get_layer(f"encoder_{i}").get_weights()] for i in (1, 2)]


@pytest.mark.integration
@pytest.mark.parametrize("source_class, base_model, width", [(LSTMModel, "lstm", "lstm_units"),
                                                              (GRUModel, "gru", "hidden_size")])
def test_pretrained_encoder_starts_from_the_recurrent_weights(data, tmp_path, source_class, base_model, width):
    source = source_class(sequence_length=L, num_layers=2, **{width: 8}).fit(data, epochs=1, verbose=0)
    path = source.save(tmp_path / f"{base_model}.keras")
    start = _WeightsAtStart()
    model = make_model("gats", sequence_length=L, hidden_size=8, base_model=base_model, pretrained=str(path))
    model.fit(data, epochs=1, verbose=0, callbacks=[start])
    recurrent = [layer for layer in source.network_.layers if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]
    assert len(recurrent) == 2
    for copied, layer in zip(start.weights, recurrent):
        for mine, theirs in zip(copied, layer.get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    fresh = make_model("gats", sequence_length=L, hidden_size=8, base_model=base_model)._build_network(
        len(data.feature_names), np.zeros(len(data.feature_names)), np.ones(len(data.feature_names)))
    assert not np.allclose(fresh.get_layer("encoder_1").get_weights()[0], start.weights[0][0])  # Keras' initialisers


def test_pretrained_encoder_accepts_plain_keras_lstms():
    """A source built with ``keras.layers.LSTM`` (files saved before `skills.models.recurrent`) seeds the encoder."""
    from types import SimpleNamespace

    from skills.models import recurrent

    inputs = keras.Input((L, 5))
    hidden = keras.layers.LSTM(8, return_sequences=True, name="lstm_1")(inputs)
    source = keras.Model(inputs, keras.layers.LSTM(8, name="lstm_2")(hidden))
    model = make_model("gats", sequence_length=L, hidden_size=8, pretrained="source.keras")
    network = model._build_network(5, np.zeros(5), np.ones(5))
    encoder = [network.get_layer(f"encoder_{i}") for i in (1, 2)]
    assert all(type(layer) is recurrent.LSTM for layer in encoder)
    model._pretrained_source = SimpleNamespace(network_=source)
    model._initialise(network)
    for mine, theirs in zip(encoder, [source.get_layer("lstm_1"), source.get_layer("lstm_2")]):
        for got, want in zip(mine.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.integration
def test_a_mismatched_pretrained_file_names_the_file_and_the_shapes(data, tmp_path):
    path = LSTMModel(sequence_length=L, lstm_units=8).fit(data, epochs=1, verbose=0).save(tmp_path / "lstm8.h5")
    for params, match in [(dict(hidden_size=16), r"\(6, 32\).*do not match.*\(6, 64\)"),
                          (dict(hidden_size=8, base_model="gru"), r"'LSTM'.*do not match.*'GRU'"),
                          (dict(hidden_size=8, num_layers=1), "do not match.*num_layers=1")]:
        model = make_model("gats", sequence_length=L, pretrained=str(path), **params)
        with pytest.raises(ModelFileError, match=match) as error:
            model.fit(data, epochs=1, verbose=0)
        assert str(path) in str(error.value)
    with pytest.raises(ModelFileError, match="missing.keras"):
        make_model("gats", sequence_length=L, pretrained=str(tmp_path / "missing.keras")).fit(data, verbose=0)


TORCH_SCRIPT = textwrap.dedent(
    """
    import numpy as np, keras
    from skills.data import load_universe, prepare_dataset
    from skills.models import load_model, make_model
    assert keras.backend.backend() == "torch"
    frames = load_universe("data/universe", tickers=%r, on_bad_rows="drop", on_bad_files="skip")
    data = prepare_dataset({t: b.loc["2017-07":] for t, b in frames.items()}, sequence_length=8,
                           features="price_volume", label="cross_section")
    model = make_model("gats", sequence_length=8, hidden_size=8).fit(data, epochs=1, verbose=0)
    proba = model.predict_proba(data.test)
    day = np.flatnonzero(data.test.dates == data.test.dates.min())
    X = np.asarray(data.test.X[day], "float32")
    perm = np.random.default_rng(0).permutation(len(X))
    out = keras.ops.convert_to_numpy(model.network_(X))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.network_(X[perm])), out[perm], atol=1e-6)
    np.testing.assert_allclose(proba[day], out, atol=1e-6)
    np.testing.assert_allclose(load_model(model.save("%s")).predict_proba(data.test), proba, atol=1e-6)
    print("ok")
    """
)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch, an optional backend, is not installed")
def test_gats_trains_and_predicts_under_the_torch_backend(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "torch",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    script = TORCH_SCRIPT % (TICKERS, tmp_path / "gats.keras")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
