"""Each architecture trains at its own default learning rate unless the caller names one; the file records it."""

import pytest

from skills.data import prepare_dataset
from skills.models import AttentionLSTMModel, LSTMModel
from skills.training import DEFAULT_LEARNING_RATE


def test_the_architectures_rate_unless_one_is_named(aapl):
    small = prepare_dataset(aapl.iloc[-300:], sequence_length=5)
    assert (AttentionLSTMModel.default_learning_rate, LSTMModel.default_learning_rate) == (1.5e-4,
                                                                                           DEFAULT_LEARNING_RATE)
    own = AttentionLSTMModel(lstm_units=4, attention_units=4).fit(small, epochs=1, verbose=0, lr_schedule="constant")
    assert own.metadata_["training"]["learning_rate"] == 1.5e-4
    assert float(own.network_.optimizer.learning_rate) == pytest.approx(1.5e-4)
    named = LSTMModel(lstm_units=4).fit(small, epochs=1, verbose=0, lr_schedule="constant", learning_rate=3e-3)
    assert named.metadata_["training"]["learning_rate"] == 3e-3
    assert float(named.network_.optimizer.learning_rate) == pytest.approx(3e-3)
