"""Fixtures for the model tests: small real windows and one fitted model per architecture."""

import numpy as np
import pytest

SEQUENCE_LENGTH = 20

# Tiny versions of the four default architectures (fit in seconds on 2 CPU cores).
ARCHITECTURES = {
    "attention_bi": ("AttentionLSTMModel", dict(lstm_units=8, attention_units=4, bidirectional=True)),
    "attention_causal": ("AttentionLSTMModel", dict(lstm_units=8, attention_units=4, bidirectional=False)),
    "lstm": ("LSTMModel", dict(lstm_units=8)),
    "transformer": ("TransformerModel", dict(d_model=16, num_heads=2, num_layers=1)),
}


def make_model(key, **overrides):
    import skills.models

    name, params = ARCHITECTURES[key]
    return getattr(skills.models, name)(sequence_length=SEQUENCE_LENGTH, **{**params, **overrides})


@pytest.fixture(scope="session")
def small_data(aapl):
    """~200 train / 45 val / 45 test real AAPL windows of 20 bars."""
    from skills.data import prepare_dataset

    return prepare_dataset(aapl.iloc[-420:], sequence_length=SEQUENCE_LENGTH)


@pytest.fixture(scope="session")
def fitted(small_data):
    """One model per architecture, fitted 2 epochs (and the object `fit` returned)."""
    models = {}
    for key in ARCHITECTURES:
        model = make_model(key)
        returned = model.fit(small_data, epochs=2, batch_size=32, verbose=0)
        models[key] = (model, returned)
    return models


@pytest.fixture(scope="session")
def test_windows(small_data):
    return np.asarray(small_data.test.X)
