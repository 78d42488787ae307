"""Fixtures for the model tests: small real windows, one fitted model per architecture, one quick model."""

import json

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


#: Absolute tolerance every ``np.testing.assert_allclose`` of the model tests allows at least, on a GPU: cuDNN kernels
#: and TF32 matmuls differ from the CPU's float32 at about 1e-4. On a CPU the tests keep their own tight tolerances.
GPU_ATOL = 1e-4


@pytest.fixture(autouse=True)
def _gpu_tolerance(monkeypatch):
    from skills.training import gpu_available

    if not gpu_available():
        return
    strict = np.testing.assert_allclose

    def allowing_gpu_arithmetic(actual, desired, rtol=1e-7, atol=0, **kwargs):
        strict(actual, desired, rtol=rtol, atol=max(atol, GPU_ATOL), **kwargs)

    monkeypatch.setattr(np.testing, "assert_allclose", allowing_gpu_arithmetic)


def edit_metadata(path, **changes):
    """Rewrite keys of the metadata record of the .h5 model file at ``path`` (to make a damaged or foreign file)."""
    import h5py

    with h5py.File(path, "a") as handle:
        meta = json.loads(handle.attrs["skills_metadata"])
        meta.update(changes)
        handle.attrs["skills_metadata"] = json.dumps(meta)


def tiny_model(key, **overrides):
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
    """One model per architecture, fitted 1 epoch (and the object `fit` returned)."""
    models = {}
    for key in ARCHITECTURES:
        model = tiny_model(key)
        returned = model.fit(small_data, epochs=1, batch_size=32, verbose=0)
        models[key] = (model, returned)
    return models


@pytest.fixture(scope="session")
def test_windows(small_data):
    return np.asarray(small_data.test.X)


# What the quick model is trained with (not the defaults, so the file can be checked against them).
QUICK_FIT = dict(epochs=2, batch_size=32, learning_rate=0.005, patience=3, seed=7)


@pytest.fixture(scope="session")
def tiny_data(aapl):
    """62 train / 14 val / 14 test real AAPL windows of 8 bars (two batches of 32)."""
    from skills.data import prepare_dataset

    return prepare_dataset(aapl.iloc[-180:], sequence_length=8)


@pytest.fixture(scope="session")
def quick(tiny_data):
    """A 4-unit LSTMModel trained 2 epochs of 2 batches with `QUICK_FIT`."""
    from skills.models import LSTMModel

    return LSTMModel(sequence_length=8, lstm_units=4, num_layers=1).fit(tiny_data, verbose=0, **QUICK_FIT)
