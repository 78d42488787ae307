"""Search spaces: every architecture's default space uses its own parameter names and only values it accepts, and
a JSON or YAML file overrides entries by name, with one clear error for a wrong name or a malformed entry."""

import itertools
import json

import pytest

from skills.data import DataError
from skills.models import MODEL_NAMES, make_model, model_params
from skills.training import TrainConfig
from skills.tuning import DEFAULT_SPACES, TRAINING_KEYS, load_space, search_space, tunable_keys
from skills.tuning.space import default_point, to_ray


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_default_space_builds_valid_models_at_its_corners(name):
    space = search_space(name)
    assert set(space) <= set(model_params(name)) | set(TRAINING_KEYS)
    assert {"learning_rate", "batch_size", "sequence_length", "dropout_rate"} <= set(space)
    params = {key: spec for key, spec in space.items() if key in model_params(name)}
    values = {key: (v if kind in ("choice",) else [v[0], v[1] - (1e-9 if kind == "uniform" else 0)])
              for key, spec in params.items() for kind, v in spec.items()}
    for combination in itertools.product(*values.values()):  # every corner of the model part of the space
        make_model(name, **dict(zip(values, combination)))
    assert set(to_ray(space)) == set(space)


def test_a_file_overrides_entries_by_name_and_null_removes_one(tmp_path):
    json_file = tmp_path / "space.json"
    json_file.write_text(json.dumps({"lstm_units": {"choice": [8, 16]}, "dropout_rate": None, "batch_size": 64}))
    yaml_file = tmp_path / "space.yaml"
    yaml_file.write_text("lstm_units: {choice: [8, 16]}\ndropout_rate: null\nbatch_size: 64\n")
    for path in (json_file, yaml_file):
        space = search_space("lstm", load_space(path))
        assert space["lstm_units"] == {"choice": [8, 16]} and space["batch_size"] == 64
        assert "dropout_rate" not in space
        assert space["learning_rate"] == DEFAULT_SPACES["lstm"]["learning_rate"]


@pytest.mark.parametrize("entries, words", [
    ({"units": {"choice": [8]}}, "units: not a parameter of lstm"),
    ({"d_model": {"choice": [8]}}, "d_model: not a parameter of lstm"),
    ({"lstm_units": [8, 16]}, 'give {"choice": [...]}'),
    ({"learning_rate": {"loguniform": [0, 1e-2]}}, "loguniform needs low > 0"),
    ({"num_layers": {"randint": [3, 1]}}, "low < high"),
    ({"dropout_rate": {"normal": [0, 1]}}, "expected one of choice, uniform, loguniform, randint"),
])
def test_a_bad_entry_is_one_error_naming_it(entries, words):
    with pytest.raises(DataError, match="space") as error:
        search_space("lstm", entries)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_bad_file_is_one_error(tmp_path):
    broken = tmp_path / "space.yaml"
    broken.write_text("lstm_units: {choice: [8, 16\n")
    with pytest.raises(DataError, match="not valid YAML"):
        load_space(broken)
    with pytest.raises(DataError, match="no such space file"):
        load_space(tmp_path / "missing.json")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a mapping"):
        load_space(listed)


def test_tunable_names_leave_out_what_the_name_fixes():
    assert "bidirectional" not in tunable_keys("causal_attention_lstm")
    assert "pretrained" not in tunable_keys("gats")
    assert "attention_units" in tunable_keys("attention_lstm")


def test_the_default_point_is_what_train_fits_when_it_lies_in_the_space():
    point, outside = default_point("lstm", search_space("lstm"), {"learning_rate": 3e-4}, sequence_length=20)
    assert outside == [] and point == {"learning_rate": 3e-4, "batch_size": 32, "sequence_length": 20,
                                       "lstm_units": 64, "num_layers": 2, "dropout_rate": 0.2}
    narrow = search_space("lstm", {"lstm_units": {"choice": [8, 16]}, "dropout_rate": {"uniform": [0.3, 0.5]},
                                   "num_layers": 1})
    assert default_point("lstm", narrow) == (None, ["lstm_units", "dropout_rate"])


def test_the_default_point_of_unset_flags_is_the_architectures_own():
    """The command line passes None for an unset --learning-rate / --class-weight none: the default point takes
    the architecture's rate (the Attention-LSTM's 1.5e-4) and the space's spelling "none", so trial 1 is it."""
    space = search_space("attention_lstm", {"class_weight": {"choice": ["none", "balanced"]}})
    point, outside = default_point("attention_lstm", space, {"learning_rate": None, "class_weight": None})
    assert outside == [] and point["learning_rate"] == 1.5e-4 and point["class_weight"] == "none"
    assert default_point("lstm", search_space("lstm"), {"learning_rate": None})[0]["learning_rate"] == 1e-3


def test_a_class_weight_of_none_in_a_space_trains_unweighted():
    """A space may list class_weight "none" as the command line spells it: the trial fits with no weighting."""
    from skills.tuning.objective import split_config

    for value, expected in (("none", None), ("balanced", "balanced")):
        params, options, length = split_config("lstm", {"class_weight": value, "lstm_units": 8}, {"patience": 2})
        assert options == {"patience": 2, "class_weight": expected} and params == {"lstm_units": 8}
        TrainConfig(**options)  # accepted by the trainer
