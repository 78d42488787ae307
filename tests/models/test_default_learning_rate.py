"""Each architecture trains at its own default learning rate unless the caller names one; the file records it."""

import pytest

from skills.data import prepare_dataset
from skills.models import AttentionLSTMModel, LSTMModel
from skills.training import DEFAULT_LEARNING_RATE, TrainConfig


@pytest.fixture(scope="module")
def small(aapl):
    return prepare_dataset(aapl.iloc[-300:], sequence_length=5)


@pytest.mark.parametrize("make, expected", [
    (lambda: AttentionLSTMModel(lstm_units=4, attention_units=4), 1.5e-4),
    (lambda: LSTMModel(lstm_units=4), DEFAULT_LEARNING_RATE),
])
def test_the_architectures_rate_unless_one_is_named(small, make, expected):
    model = make().fit(small, epochs=1, verbose=0, lr_schedule="constant")
    assert model.metadata_["training"]["learning_rate"] == expected == type(model).default_learning_rate
    assert float(model.network_.optimizer.learning_rate) == pytest.approx(expected)
    named = make().fit(small, epochs=1, verbose=0, lr_schedule="constant", learning_rate=3e-3)
    assert named.metadata_["training"]["learning_rate"] == 3e-3
    assert float(named.network_.optimizer.learning_rate) == pytest.approx(3e-3)
    from_config = make().fit(small, config=TrainConfig(epochs=1, verbose=0, lr_schedule="constant", learning_rate=2e-3))
    assert from_config.metadata_["training"]["learning_rate"] == 2e-3
