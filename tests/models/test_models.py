"""Every architecture: fit, shapes, probabilities, attention, causality, files and their errors."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from skills.data import CLASS_NAMES
from skills.models import AttentionLSTMModel, LSTMModel, ModelFileError, TransformerModel, load_model
from skills.models.base import read_metadata

from .conftest import ARCHITECTURES, SEQUENCE_LENGTH, edit_metadata, tiny_model

REPO = Path(__file__).resolve().parents[2]
ATTENTION = ["attention_bi", "attention_causal"]


@pytest.fixture(params=list(ARCHITECTURES))
def arch(request):
    return request.param


@pytest.mark.slow
def test_fit_returns_self(fitted, arch):
    model, returned = fitted[arch]
    assert returned is model
    assert set(model.history_) >= {"loss", "val_loss", "accuracy"}
    assert model.precision_ in ("float32", "mixed_float16")
    assert model.feature_names_ and model.n_features_ == len(model.feature_names_)


@pytest.mark.slow
def test_probabilities(fitted, arch, small_data, test_windows):
    model = fitted[arch][0]
    proba = model.predict_proba(test_windows)
    assert proba.shape == (len(small_data.test), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(model.predict(test_windows), proba.argmax(axis=1))
    # the lazy WindowArray and a Split give the same numbers as the materialised array
    np.testing.assert_allclose(model.predict_proba(small_data.test.X), proba, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(small_data.test), proba, atol=1e-6)


@pytest.mark.slow
def test_evaluate_and_predict_frame(fitted, small_data, aapl):
    model = fitted["attention_bi"][0]
    scores = model.evaluate(small_data.test)
    assert scores["n"] == len(small_data.test) and 0.0 <= scores["accuracy"] <= 1.0 and scores["loss"] > 0
    proba = model.predict_proba(small_data.test.X)
    assert scores["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == small_data.test.y))
    picked = proba[np.arange(len(proba)), small_data.test.y]
    assert scores["loss"] == pytest.approx(-np.mean(np.log(picked)), rel=1e-4)
    frame = model.predict_frame(aapl.iloc[-150:])
    assert list(frame.columns) == list(CLASS_NAMES) and frame.index.name == "date"
    assert frame.index[-1] == aapl.index[-1]
    np.testing.assert_allclose(frame.to_numpy().sum(axis=1), 1.0, atol=1e-5)


def test_unfitted_model_raises(arch, test_windows):
    model = tiny_model(arch)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(test_windows)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.save("never.keras")


def test_init_only_stores_hyperparameters():
    model = AttentionLSTMModel(sequence_length=12, lstm_units=-5)  # checks happen in fit
    assert model.get_params() == dict(sequence_length=12, lstm_units=-5, attention_units=32,
                                      dropout_rate=0.26, bidirectional=True)
    assert not [name for name in vars(model) if name.endswith("_")]
    assert model.set_params(lstm_units=16).lstm_units == 16
    with pytest.raises(ValueError, match="d_model"):
        model.set_params(d_model=3)


def test_fit_checks_its_inputs(small_data):
    with pytest.raises(ValueError, match="sequence_length=1"):
        LSTMModel(sequence_length=1).fit(small_data, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="sequence_length"):
        LSTMModel(sequence_length=SEQUENCE_LENGTH + 1, lstm_units=4).fit(small_data, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="y is required"):
        LSTMModel(sequence_length=SEQUENCE_LENGTH).fit(np.zeros((4, SEQUENCE_LENGTH, 3)), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="unknown training option"):
        LSTMModel(sequence_length=SEQUENCE_LENGTH).fit(small_data, epochs=1, verbose=0, learning_rat=1.0)


def test_fit_on_arrays_with_training_options(small_data):
    X, y = np.asarray(small_data.train.X[:64]), small_data.train.y[:64]
    model = TransformerModel(sequence_length=SEQUENCE_LENGTH, d_model=8, num_heads=2, num_layers=1)
    model.fit(X, y, epochs=1, batch_size=16, verbose=0, optimizer="adamw", lr_schedule="cosine",
              class_weight="balanced", validation_data=(np.asarray(small_data.val.X), small_data.val.y))
    assert model.predict_proba(X).shape == (64, 3)
    assert model.feature_names_ == [f"feature_{i}" for i in range(X.shape[-1])]
    # the network's Normalization holds the training statistics
    norm = model.network_.get_layer("normalization")
    np.testing.assert_allclose(np.ravel(keras.ops.convert_to_numpy(norm.mean)), X.reshape(-1, X.shape[-1]).mean(axis=0),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("arch_key", ATTENTION)
def test_attention_weights(fitted, arch_key, test_windows):
    weights = fitted[arch_key][0].get_attention_weights(test_windows)
    assert weights.shape == (len(test_windows), SEQUENCE_LENGTH)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch_key", ["lstm", "transformer"])
def test_models_without_attention_say_so(fitted, arch_key, test_windows):
    with pytest.raises(AttributeError, match="no temporal attention"):
        fitted[arch_key][0].get_attention_weights(test_windows)


@pytest.mark.slow
def test_causal_steps_end_with_predict_proba(fitted, test_windows):
    model = fitted["attention_causal"][0]
    steps = model.predict_proba_steps(test_windows)
    assert steps.shape == (len(test_windows), SEQUENCE_LENGTH, 3)
    np.testing.assert_allclose(steps[:, -1], model.predict_proba(test_windows), atol=1e-6)
    np.testing.assert_allclose(steps.sum(axis=-1), 1.0, atol=1e-5)
    with pytest.raises(AttributeError, match="per-step"):
        fitted["attention_bi"][0].predict_proba_steps(test_windows)


@pytest.mark.slow
@pytest.mark.parametrize("s", [1, SEQUENCE_LENGTH // 2, SEQUENCE_LENGTH - 1])
def test_causal_model_ignores_later_steps(fitted, test_windows, s):
    model = fitted["attention_causal"][0]
    changed = test_windows.copy()
    changed[:, s:] = np.random.default_rng(s).normal(size=changed[:, s:].shape) * 3
    before, after = model.predict_proba_steps(test_windows), model.predict_proba_steps(changed)
    np.testing.assert_allclose(after[:, :s], before[:, :s], atol=1e-6)
    assert not np.allclose(after[:, s:], before[:, s:], atol=1e-6)
    w_before = model.get_attention_weights(test_windows, all_steps=True)
    w_after = model.get_attention_weights(changed, all_steps=True)
    np.testing.assert_allclose(w_after[:, :s], w_before[:, :s], atol=1e-6)


FRESH_PROCESS = textwrap.dedent(
    """
    import sys, json, numpy as np
    import keras
    import skills
    from skills.models import load_model
    X = np.load(sys.argv[1])
    out = {}
    for path in sys.argv[2:]:
        model = load_model(path)
        out[path + ":proba"] = model.predict_proba(X)
        out[path + ":plain"] = np.asarray(keras.models.load_model(path, safe_mode=True).predict(X, verbose=0))
        if type(model).__name__ == "AttentionLSTMModel":
            out[path + ":attention"] = model.get_attention_weights(X)
        out[path + ":dtypes"] = np.array(sorted({l.dtype_policy.name for l in model.network_.layers}))
    np.savez(sys.argv[1].replace("windows.npy", "result.npz"), **out)
    """
)


def _load_in_fresh_process(tmp_path, windows, paths):
    np.save(tmp_path / "windows.npy", windows)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "windows.npy"), *map(str, paths)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(tmp_path / "result.npz"))


@pytest.mark.slow
@pytest.mark.integration
def test_round_trips_in_a_fresh_process(fitted, tmp_path, test_windows):
    paths, expected = [], {}
    for key, (model, _) in fitted.items():
        for suffix in (".keras", ".h5"):
            path = tmp_path / f"{key}{suffix}"
            assert model.save(path) == path
            paths.append(path)
            expected[str(path)] = model
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left
    result = _load_in_fresh_process(tmp_path, test_windows, paths)
    for path, model in expected.items():
        proba = model.predict_proba(test_windows)
        np.testing.assert_allclose(result[path + ":proba"], proba, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result[path + ":plain"], proba, rtol=1e-5, atol=1e-6)
        if path + ":attention" in result:
            np.testing.assert_allclose(result[path + ":attention"], model.get_attention_weights(test_windows),
                                       rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_load_in_place_and_metadata(fitted, small_data, tmp_path, test_windows, suffix):
    model = fitted["attention_causal"][0]
    path = model.save(tmp_path / f"model{suffix}")
    loaded = AttentionLSTMModel().load(path)  # default hyperparameters are replaced by the file's
    assert loaded.get_params() == model.get_params()
    weights = loaded.get_attention_weights(test_windows)  # works right after load
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(loaded.predict_proba_steps(test_windows), model.predict_proba_steps(test_windows),
                               rtol=1e-5, atol=1e-6)
    meta = read_metadata(path)
    assert loaded.metadata_ == meta == model.metadata_
    assert meta["model_class"] == "AttentionLSTMModel" and meta["params"]["bidirectional"] is False
    assert meta["feature_names"] == list(small_data.feature_names)
    assert meta["class_names"] == list(CLASS_NAMES) and meta["params"]["sequence_length"] == SEQUENCE_LENGTH
    assert meta["label_rule"]["horizon"] == small_data.horizon and meta["label_rule"] == small_data.label_rule.to_dict()
    assert meta["scaler"] == small_data.scaler.to_dict()
    assert meta["data"]["date_ranges"]["train"][1] == str(small_data.train.dates.max().date())
    assert meta["data"]["tickers"] == ["AAPL"]
    assert meta["versions"]["skills"] and meta["versions"]["keras"] == keras.__version__
    with pytest.raises(ModelFileError, match="holds a AttentionLSTMModel"):
        LSTMModel().load(path)


@pytest.mark.integration
def test_mixed_float16_file_loads_under_float32(small_data, tmp_path, test_windows):
    model = tiny_model("attention_bi").fit(small_data, epochs=1, batch_size=32, verbose=0, precision="mixed_float16")
    assert model.precision_ == "mixed_float16"
    recurrent = "float32" if keras.backend.backend() == "jax" else "mixed_float16"  # jax: cuDNN takes no float16
    assert model.network_.get_layer("bi_lstm_1").dtype_policy.name == recurrent
    assert model.network_.get_layer("head_dense").dtype_policy.name == "mixed_float16"
    assert model.network_.get_layer("probs").compute_dtype == "float32"  # the softmax stays float32
    assert model.network_.outputs[0].dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the trainer restored the global policy
    reference = model.predict_proba(test_windows)
    paths = [model.save(tmp_path / "mixed.keras"), model.save(tmp_path / "mixed.h5")]
    for path in paths:
        loaded = load_model(path)
        assert {layer.dtype_policy.name for layer in loaded.network_.layers} == {"float32"}
        proba = loaded.predict_proba(test_windows)
        assert proba.dtype == np.float32 and np.isfinite(proba).all()
        # float16 rounds each activation by at most its unit roundoff 2**-11; measured at most 2.2e-4 (TensorFlow)
        np.testing.assert_allclose(proba, reference, rtol=0, atol=2.0 ** -11)
    assert read_metadata(paths[0])["training"]["precision"] == "mixed_float16"


@pytest.mark.integration
def test_trainer_leaves_global_policy_alone(small_data):
    LSTMModel(sequence_length=SEQUENCE_LENGTH, lstm_units=4).fit(small_data, epochs=1, verbose=0, precision="float32")
    assert keras.config.dtype_policy().name == "float32"


# -- ModelFileError ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_h5(quick, tmp_path_factory):
    return quick.save(tmp_path_factory.mktemp("saved") / "lstm.h5")


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file") as info:
        load_model(tmp_path / "absent.keras")
    assert "absent.keras" in str(info.value)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_truncated_file(quick, tmp_path, suffix):
    path = quick.save(tmp_path / f"whole{suffix}")
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=f"cut{suffix}"):
        load_model(cut)


def test_foreign_files(tmp_path):
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.h5")
    plain.save(tmp_path / "plain.keras")
    with h5py.File(tmp_path / "data.h5", "w") as handle:
        handle["x"] = np.arange(3)
    (tmp_path / "notes.keras").write_text("hello")
    for name in ("plain.h5", "plain.keras", "data.h5", "notes.keras"):
        with pytest.raises(ModelFileError, match=name):
            load_model(tmp_path / name)


def test_unknown_class(saved_h5, tmp_path):
    path = tmp_path / "unknown.h5"
    path.write_bytes(saved_h5.read_bytes())
    edit_metadata(path, model_class="NoSuchModel")
    with pytest.raises(ModelFileError, match="unknown model class 'NoSuchModel'"):
        load_model(path)


def test_data_lacking_the_models_features(saved_h5, tmp_path, aapl, tiny_data):
    path = tmp_path / "odd.h5"
    path.write_bytes(saved_h5.read_bytes())
    names = read_metadata(path)["feature_names"]
    edit_metadata(path, feature_names=names[:-1] + ["feature_nobody_computes"])
    model = load_model(path)
    with pytest.raises(ModelFileError, match="odd.h5.*feature_nobody_computes"):
        model.predict_frame(aapl.iloc[-150:])
    with pytest.raises(ModelFileError, match="odd.h5"):
        model.predict_proba(np.asarray(tiny_data.test.X)[:, :, :-2])


def test_bad_suffix(quick, tmp_path):
    with pytest.raises(ValueError, match=r"\.h5 or \.keras"):
        quick.save(tmp_path / "model.pkl")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_warm_start_continues_the_loaded_network(fitted, small_data, tmp_path, test_windows):
    path = fitted["lstm"][0].save(tmp_path / "lstm.keras")
    model = load_model(path)
    before = model.predict_proba(test_windows)
    network = model.network_
    model.fit(small_data, epochs=1, verbose=0, warm_start=True, learning_rate=0.05)
    assert model.network_ is network and model.scaler_ == read_metadata(path)["scaler"]
    assert not np.allclose(model.predict_proba(test_windows), before)
    arrays = LSTMModel(sequence_length=SEQUENCE_LENGTH, lstm_units=4)
    arrays.fit(np.asarray(small_data.train.X[:32]), small_data.train.y[:32], epochs=1, verbose=0)
    with pytest.raises(ModelFileError, match="warm_start needs"):
        arrays.fit(small_data, epochs=1, verbose=0, warm_start=True)
