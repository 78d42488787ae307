"""The trainer's options: defaults, checks, hyperparameters, precision resolution, optimizers, class weights."""

import json

import keras
import numpy as np
import pytest

from skills.training import (
    MEASURED_PRECISION,
    TrainConfig,
    balanced_class_weights,
    fastest_policy,
    make_optimizer,
    precision_reason,
    precision_scope,
    resolve_precision,
    visible_devices,
)


def test_the_defaults_are_the_main_jobs():
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.patience, config.learning_rate) == (100, 32, 5, None)
    assert (config.optimizer, config.lr_schedule, config.clipnorm, config.seed) == ("adam", "plateau", 1.0, 42)


def test_hyperparameters_are_the_learning_options_as_plain_json():
    config = TrainConfig(epochs=np.int64(7), class_weight="balanced", verbose=0, backup_dir="somewhere")
    params = config.hyperparameters()
    assert params == {"epochs": 7, "batch_size": 32, "learning_rate": None, "optimizer": "adam",
                      "lr_schedule": "plateau", "clipnorm": 1.0, "patience": 5, "class_weight": "balanced",
                      "seed": 42, "batch_by": "window", "monitor": "auto", "n_seeds": 1, "global_batch_size": 32}
    assert type(params["epochs"]) is int and json.loads(json.dumps(params)) == params


def test_config_rejects_bad_values_by_name():
    for field, value in [("epochs", 0), ("optimizer", "lbfgs"), ("lr_schedule", "step"), ("precision", "fp8"),
                         ("class_weight", "auto"), ("learning_rate", 0.0),
                         ("batch_by", "ticker"), ("monitor", "val_accuracy"), ("n_seeds", 0), ("devices", 0)]:
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: value})


def test_devices_is_a_positive_integer_or_all():
    assert TrainConfig().devices == 1
    assert TrainConfig(devices="all").devices == "all" and TrainConfig(devices=np.int64(2)).devices == 2
    for value in [0, -1, "two", "2", "ALL", 1.5, True, None]:
        with pytest.raises(ValueError, match=r"`devices` must be a positive integer or 'all'"):
            TrainConfig(devices=value)


def test_the_record_holds_the_global_batch_not_the_devices():
    record = TrainConfig(batch_size=16).hyperparameters()
    assert record["global_batch_size"] == 16 and "devices" not in record
    assert TrainConfig(batch_size=16, devices="all").hyperparameters()["global_batch_size"] == 16 * len(
        visible_devices())
    assert TrainConfig(batch_by="date").hyperparameters()["global_batch_size"] is None  # a batch is one date


def test_config_replace_ignores_none_and_rejects_unknown():
    config = TrainConfig().replace(epochs=3, batch_size=None)
    assert config.epochs == 3 and config.batch_size == TrainConfig().batch_size
    with pytest.raises(TypeError, match="unknown training option"):
        TrainConfig().replace(epoch=3)


def test_auto_precision_follows_the_device():
    # auto never picks a policy that was not measured faster: float32 on a CPU, and on every GPU measured so far
    assert resolve_precision("auto") == "float32"
    assert all(fastest_policy(m.samples_per_s) == "float32" for entries in MEASURED_PRECISION.values()
               for m in entries.values())
    assert precision_reason("auto").startswith("float32")  # and says which measurement, or that there is none
    assert precision_reason("float32") == "asked for"
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


def test_precision_scope_restores_the_policy():
    with precision_scope("mixed_bfloat16") as chosen:
        assert chosen == keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("name, cls", [("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop"), ("sgd", "SGD")])
def test_optimizers_clip(name, cls):
    optimizer = make_optimizer(TrainConfig(optimizer=name, clipnorm=0.5), steps_per_epoch=10)
    assert type(optimizer).__name__ == cls and optimizer.clipnorm == 0.5


def test_cosine_schedule_decays_over_all_steps():
    optimizer = make_optimizer(TrainConfig(lr_schedule="cosine", epochs=4, learning_rate=0.01), steps_per_epoch=5)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay) and schedule.decay_steps == 20


def test_balanced_class_weights():
    weights = balanced_class_weights(np.array([0, 0, 0, 2]))
    np.testing.assert_allclose(weights, [4 / 6, 0.0, 2.0])


def test_tensorboard_logs_on_tensorflow_only(tmp_path, caplog):
    """Under the default backend the run warns and writes nothing; test_backend_branches.py runs this under
    TensorFlow, where the logs are written (tensorboard is a requirement: no skip)."""
    from skills.models import LSTMModel

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 5, 3)).astype("float32"), rng.integers(0, 3, 32)
    model = LSTMModel(sequence_length=5, lstm_units=4)
    with caplog.at_level("WARNING", logger="skills.training"):
        model.fit(X, y, epochs=1, verbose=0, tensorboard_dir=str(tmp_path))
    if keras.backend.backend() != "tensorflow":
        assert "TensorBoard logging needs the TensorFlow backend" in caplog.text and not any(tmp_path.iterdir())
    else:
        assert "TensorBoard" not in caplog.text
        assert any(path.name.startswith("events.out") for path in tmp_path.rglob("*"))
