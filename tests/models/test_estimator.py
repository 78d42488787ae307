"""The scikit-learn protocol (clone, get/set_params, score), what predict accepts, make_model, sequence_length."""

import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skills.data import feature_windows, prepare_dataset
from skills.models import (
    MODEL_NAMES,
    AttentionLSTMModel,
    GRUModel,
    LSTMModel,
    TransformerModel,
    load_model,
    make_model,
    model_params,
)
from skills.models.base import check_sequence_length

from .conftest import ARCHITECTURES, tiny_model


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_clone_and_params_round_trip(arch):
    model = tiny_model(arch)
    params = model.get_params()
    assert model.get_params(deep=True) == params and set(vars(model)) == set(params)  # __init__ stores only params
    assert type(model)(**params).get_params() == params
    copy = clone(model)
    assert type(copy) is type(model) and copy is not model and copy.get_params() == params
    assert copy.set_params(dropout_rate=0.05, sequence_length=12) is copy
    assert copy.get_params() == {**params, "dropout_rate": 0.05, "sequence_length": 12}
    assert model.get_params() == params  # the original is untouched
    assert repr(model).startswith(f"{type(model).__name__}(") and "sequence_length=20" in repr(model)


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_score_is_accuracy_and_a_clone_is_unfitted(fitted, arch, small_data):
    model, test = fitted[arch][0], small_data.test
    accuracy = np.mean(model.predict(test.X) == test.y)
    assert model.score(np.asarray(test.X), test.y) == pytest.approx(accuracy)
    assert model.score(test) == pytest.approx(accuracy)  # a Split carries its labels
    check_is_fitted(model)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "network_")
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(RuntimeError, match="not fitted"):
        copy.score(test)


def test_a_whole_prepared_data_is_refused(quick, tiny_data):
    calls = [quick.predict_proba, quick.predict, quick.evaluate, quick.score, quick.get_attention_weights,
             quick.predict_proba_steps]
    for call in calls:
        with pytest.raises(TypeError, match=r"PreparedData.*data\.test"):
            call(tiny_data)
    np.testing.assert_array_equal(quick.predict_proba(tiny_data.test), quick.predict_proba(tiny_data.test.X))
    assert quick.evaluate(tiny_data.test)["n"] == len(tiny_data.test)
    with pytest.raises(ValueError, match="y is required"):
        quick.evaluate(tiny_data.test.X)


def test_fit_checks_the_hyperparameters_before_training(tiny_data):
    with pytest.raises(ValueError, match="d_model=10, num_heads=4"):
        TransformerModel(sequence_length=8, d_model=10, num_heads=4).fit(tiny_data, epochs=1, verbose=0)
    model = LSTMModel(sequence_length=8, lstm_units=0)
    with pytest.raises(ValueError, match="lstm_units=0"):
        model.fit(tiny_data, epochs=1, verbose=0)
    assert not hasattr(model, "network_")


# -- make_model ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls, bidirectional",
    [("attention_lstm", AttentionLSTMModel, True), ("causal_attention_lstm", AttentionLSTMModel, False),
     ("lstm", LSTMModel, None), ("transformer", TransformerModel, None)],
)
def test_make_model_each_name(name, cls, bidirectional):
    assert name in MODEL_NAMES
    default = make_model(name)
    assert type(default) is cls and not hasattr(default, "network_")
    assert default.get_params() == model_params(name)
    fixed = {} if bidirectional is None else {"bidirectional": bidirectional}
    assert model_params(name) == {**cls().get_params(), **fixed}
    assert getattr(default, "bidirectional", None) is bidirectional
    model = make_model(name, sequence_length=12, dropout_rate=0.0)
    assert model.get_params() == {**model_params(name), "sequence_length": 12, "dropout_rate": 0.0}


def test_model_names():
    """The seed's four networks first, then Qlib's zoo (tests/models/test_zoo.py tests those networks)."""
    assert MODEL_NAMES[:4] == ("attention_lstm", "causal_attention_lstm", "lstm", "transformer")
    assert {"gru", "alstm", "tcn", "localformer", "krnn"} <= set(MODEL_NAMES)


def test_make_model_unknown_name_and_param():
    with pytest.raises(ValueError, match="unknown model 'grux'; choose one of attention_lstm, causal_attention_lstm"):
        make_model("grux")
    with pytest.raises(ValueError, match="unknown model 'grux'"):
        model_params("grux")
    with pytest.raises(TypeError, match="d_model"):
        make_model("lstm", d_model=8)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("transformer", dict(d_model=10, num_heads=4), "d_model=10, num_heads=4"),
        ("transformer", dict(ff_dim=0), "ff_dim=0"),
        ("transformer", dict(num_layers=0), "num_layers=0"),
        ("lstm", dict(sequence_length=1), "sequence_length=1"),
        ("lstm", dict(num_layers=2.5), "num_layers=2.5"),
        ("lstm", dict(dropout_rate=1.0), "dropout_rate=1.0"),
        ("attention_lstm", dict(lstm_units=1), "lstm_units=1"),
        ("attention_lstm", dict(attention_units=0), "attention_units=0"),
        ("attention_lstm", dict(bidirectional="yes"), "bidirectional='yes'"),
        ("causal_attention_lstm", dict(bidirectional=True), "bidirectional"),
    ],
)
def test_make_model_rejects_a_bad_value_at_once(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_model(name, **params)


# -- sequence_length -------------------------------------------------------------------------------


def test_sequence_length_is_none_or_an_int_of_at_least_two():
    assert check_sequence_length(None) is None and check_sequence_length(2) == 2 and check_sequence_length(60) == 60
    for bad in (1, 0, -5, 2.5, True, "30", np.int64(30)):
        with pytest.raises(ValueError, match=re.escape(f"sequence_length={bad!r}")):
            check_sequence_length(bad)
    assert all(model_params(name)["sequence_length"] is None for name in MODEL_NAMES)  # the data's, by default
    with pytest.raises(ValueError, match="sequence_length=1"):
        make_model("gru", sequence_length=1)


def test_a_model_built_without_sequence_length_takes_the_datas_and_reports_it(tiny_data, aapl, tmp_path):
    model = LSTMModel(lstm_units=4, num_layers=1)
    with pytest.raises(ValueError, match="sequence_length=None"):  # no network before the data says how long
        model._build_network(3, np.zeros(3), np.ones(3))
    model.fit(tiny_data, epochs=1, verbose=0)
    assert model.sequence_length_ == tiny_data.sequence_length == 8
    assert model.get_params()["sequence_length"] is None and clone(model).sequence_length is None  # params untouched
    assert model.metadata_["params"]["sequence_length"] == 8  # the file records the length the network reads
    assert tuple(model.network_.inputs[0].shape) == (None, 8, tiny_data.n_features)
    windows = np.asarray(tiny_data.test.X)
    with pytest.raises(ValueError, match="9 steps but sequence_length=8"):
        model.predict_proba(np.concatenate([windows[:, :1], windows], axis=1))
    bars = aapl.iloc[-120:]
    frame = model.predict_frame(bars)
    expected, dates = feature_windows(bars, model.feature_names_, 8)
    assert list(frame.index) == list(dates)
    np.testing.assert_array_equal(frame.to_numpy(), model.predict_proba(expected))
    longer = prepare_dataset(aapl.iloc[-180:], sequence_length=9)
    with pytest.raises(ValueError, match="sequence_length=9 but the model was fitted with sequence_length=8"):
        model.fit(longer, epochs=1, verbose=0, warm_start=True)
    loaded = load_model(model.save(tmp_path / "taken.h5"))
    assert loaded.sequence_length == loaded.sequence_length_ == 8
    np.testing.assert_array_equal(loaded.predict_proba(windows), model.predict_proba(windows))


def test_a_model_built_without_sequence_length_takes_the_windows_length(tiny_data):
    X, y = np.asarray(tiny_data.train.X[:32])[:, -5:], tiny_data.train.y[:32]  # the last 5 bars of each window
    model = GRUModel(hidden_size=4, num_layers=1).fit(X, y, epochs=1, batch_size=32, verbose=0)
    assert model.sequence_length_ == 5 and model.sequence_length is None
    assert model.predict_proba(X).shape == (32, 3)
    with pytest.raises(ValueError, match="X has windows of sequence_length=5 but the model has sequence_length=8"):
        LSTMModel(sequence_length=8, lstm_units=4).fit(X, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="sequence_length=1"):  # the data's length passes the same check
        LSTMModel(lstm_units=4).fit(X[:, -1:], y, epochs=1, verbose=0)
