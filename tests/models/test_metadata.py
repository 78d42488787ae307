"""Model-file metadata, format 2: each fact once, the training run, checks on what a file holds."""

from collections import Counter

import keras
import pytest

from skills._version import __version__
from skills.data import CLASS_NAMES
from skills.models import LSTMModel, ModelFileError, load_model, read_metadata
from skills.training import TrainConfig

from .conftest import QUICK_FIT, edit_metadata

LAYOUT = {"format", "format_version", "model_class", "params", "feature_names", "scaler", "class_names",
          "label_rule", "data", "training", "versions", "trading"}


def _keys(record):
    """Every key of a nested record, once per place it occurs."""
    if isinstance(record, dict):
        for key, value in record.items():
            yield key
            yield from _keys(value)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_a_file_states_each_fact_once_and_its_training_run(quick, tiny_data, tmp_path, suffix):
    path = quick.save(tmp_path / f"quick{suffix}")
    meta = read_metadata(path)
    assert meta == quick.metadata_ == load_model(path).metadata_
    assert set(meta) == LAYOUT and meta["format_version"] == 2
    repeated = {key: n for key, n in Counter(_keys(meta)).items() if n > 1}
    assert repeated == {"train": 2, "val": 2, "test": 2}  # the split names of date_ranges and split_sizes
    assert meta["params"] == quick.get_params() == {"sequence_length": 8, "lstm_units": 4, "num_layers": 1,
                                                    "dropout_rate": 0.2}
    assert meta["feature_names"] == list(tiny_data.feature_names) and meta["class_names"] == list(CLASS_NAMES)
    assert meta["scaler"] == tiny_data.scaler.to_dict() and meta["label_rule"] == tiny_data.label_rule.to_dict()
    assert meta["data"] == {
        "tickers": ["AAPL"],
        "gap": tiny_data.gap,
        "date_ranges": tiny_data.bounds.to_dict(),
        "split_sizes": {"train": len(tiny_data.train), "val": len(tiny_data.val), "test": len(tiny_data.test)},
        "cross_section": "none",
    }
    training, defaults = meta["training"], TrainConfig()
    assert {key: training[key] for key in QUICK_FIT} == QUICK_FIT  # what fit used
    for key in ("optimizer", "lr_schedule", "clipnorm", "class_weight"):
        assert training[key] == getattr(defaults, key)
    assert training["precision"] == quick.precision_ == "float32"
    assert training["epochs_run"] == len(quick.history_["loss"]) == 2
    assert meta["versions"] == {"skills": __version__, "keras": keras.__version__, "backend": keras.backend.backend()}
    val = tiny_data.val.dates
    assert meta["trading"]["chosen_on"] == "val" and meta["trading"]["n_val"] == len(tiny_data.val)
    assert meta["trading"]["val_dates"] == [str(val.min().date()), str(val.max().date())]


def test_a_model_fitted_on_arrays_has_no_data_block(tiny_data):
    from skills.models import LSTMModel

    model = LSTMModel(sequence_length=8, lstm_units=4, num_layers=1)
    model.fit(tiny_data.train.X[:32], tiny_data.train.y[:32], epochs=1, batch_size=32, verbose=0)
    assert model.metadata_["data"] is None and model.metadata_["label_rule"] is None
    assert model.metadata_["trading"] is None  # no validation data: no "auto" threshold
    assert model.metadata_["training"]["batch_size"] == 32 and model.metadata_["training"]["epochs_run"] == 1


def test_what_a_file_holds_is_checked(quick, tmp_path):
    path = quick.save(tmp_path / "quick.h5")
    cases = {
        "newer": (dict(format_version=3, versions={"skills": "9.0.0"}), "skills 9.0.0 .*upgrade the skills package"),
        "bad_value": (dict(params={**quick.get_params(), "lstm_units": 0}), "lstm_units=0"),
        "foreign_param": (dict(params={**quick.get_params(), "d_model": 8}), r"\['d_model'\]"),
        "no_length": (dict(params={"lstm_units": 4}), "lacks params.sequence_length"),
        "classes": (dict(class_names=["up", "down"]), "classes"),
        "seeds": (dict(training={**quick.metadata_["training"], "n_seeds": 0}), "training.n_seeds must be .* got 0"),
    }
    for name, (changes, message) in cases.items():
        edited = tmp_path / f"{name}.h5"
        edited.write_bytes(path.read_bytes())
        edit_metadata(edited, **changes)
        with pytest.raises(ModelFileError, match=f"{name}.h5: .*{message}"):
            load_model(edited)


def test_a_model_of_cross_section_features_says_so_and_refuses_one_tickers_bars(data_dir, tmp_path):
    """Features normalised across each date's tickers cannot be computed from one ticker's bars."""
    from skills.data import load_ohlcv, prepare_dataset

    bars = {t: load_ohlcv(data_dir / f"{t}.csv").loc["2016":] for t in ("AAPL", "GOOG", "NVDA")}
    bars["NVDA"] = load_ohlcv(data_dir / "NVDA.csv").loc["2012":]
    data = prepare_dataset(bars, sequence_length=8, cross_section="rank")
    model = LSTMModel(sequence_length=8, lstm_units=2, num_layers=1).fit(data, epochs=1, batch_size=256, verbose=0)
    path = model.save(tmp_path / "universe.h5")
    assert read_metadata(path)["data"]["cross_section"] == "rank"
    with pytest.raises(ModelFileError, match="normalised across the tickers of each date"):
        load_model(path).predict_frame(bars["AAPL"])
    assert load_model(path).predict_proba(data.test.X).shape == (len(data.test), 3)
