"""The registered layers: config round trips, attention that sums to 1, causality."""

import keras
import numpy as np
import pytest

from skills.models.layers import PositionalEncoding, TemporalAttention, TransformerEncoderBlock

LAYERS = [
    TemporalAttention(6, name="att"),
    TemporalAttention(6, causal=True, name="catt"),
    PositionalEncoding(max_wavelength=500.0, name="pos"),
    TransformerEncoderBlock(num_heads=2, key_dim=4, ff_dim=12, dropout_rate=0.2, causal=True, name="enc"),
]


def _windows(n=3, steps=7, features=5, seed=1):
    return np.random.default_rng(seed).normal(size=(n, steps, features)).astype("float32")


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__ + "_" + layer.name)
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = _windows(features=8)
    layer(x), clone(x)  # build both
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x)[0] if isinstance(clone(x), tuple) else clone(x)),
        keras.ops.convert_to_numpy(layer(x)[0] if isinstance(layer(x), tuple) else layer(x)),
        rtol=1e-6, atol=1e-6,
    )


def test_registered_under_skills_package():
    for cls in (TemporalAttention, PositionalEncoding, TransformerEncoderBlock):
        assert keras.saving.get_registered_name(cls) == f"skills>{cls.__name__}"


@pytest.mark.parametrize("causal", [False, True])
def test_attention_shapes_and_rows_sum_to_one(causal):
    x = _windows()
    context, weights = TemporalAttention(4, causal=causal)(x, return_attention_scores=True)
    context, weights = keras.ops.convert_to_numpy(context), keras.ops.convert_to_numpy(weights)
    assert context.shape == ((3, 7, 5) if causal else (3, 5))
    assert weights.shape == ((3, 7, 7) if causal else (3, 7))
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert (weights >= 0).all()
    if causal:  # step t puts no weight on later steps; step 0 attends only to itself
        assert np.allclose(np.triu(weights, k=1), 0.0)
        np.testing.assert_allclose(weights[:, 0, 0], 1.0, atol=1e-6)
    else:  # the context is the weighted sum of the steps
        np.testing.assert_allclose(context, np.einsum("nt,ntf->nf", weights, x), rtol=1e-5, atol=1e-5)


def test_causal_attention_ignores_later_steps():
    layer = TemporalAttention(4, causal=True)
    x = _windows()
    changed = x.copy()
    changed[:, 4:] += 10.0
    (c1, w1), (c2, w2) = (layer(v, return_attention_scores=True) for v in (x, changed))
    c1, w1, c2, w2 = map(keras.ops.convert_to_numpy, (c1, w1, c2, w2))
    np.testing.assert_allclose(c1[:, :4], c2[:, :4], atol=1e-6)
    np.testing.assert_allclose(w1[:, :4], w2[:, :4], atol=1e-6)
    assert not np.allclose(c1[:, 4:], c2[:, 4:])


def test_positional_encoding_adds_a_fixed_code():
    x = np.zeros((2, 6, 5), "float32")
    code = keras.ops.convert_to_numpy(PositionalEncoding()(x))
    assert code.shape == (2, 6, 5)
    np.testing.assert_allclose(code[0], code[1])
    np.testing.assert_allclose(code[0, 0], [0, 1, 0, 1, 0], atol=1e-6)  # sin(0), cos(0), ...
    assert len({tuple(row) for row in np.round(code[0], 5)}) == 6  # each step is distinct


def test_encoder_block_shape_and_weights_built():
    block = TransformerEncoderBlock(num_heads=2, key_dim=4, ff_dim=12)
    out = block(_windows(features=8))
    assert tuple(out.shape) == (3, 7, 8)
    assert len(block.trainable_weights) == 16  # q,k,v,o kernels+biases, 2 norms, 2 dense


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TemporalAttention(0), "units=0"),
        (lambda: TransformerEncoderBlock(0, 4, 8), "num_heads=0"),
        (lambda: TransformerEncoderBlock(2, 4, 8, dropout_rate=1.5), "dropout_rate=1.5"),
        (lambda: PositionalEncoding(max_wavelength=0.5), "max_wavelength=0.5"),
    ],
)
def test_invalid_arguments_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()
