"""Probes: the default Attention-LSTM learns a move planted in the past, and finds nothing in a random walk.

The first shows the pipeline can learn (features, windows, labels and model line up); the second that nothing
leaks (a random walk's next move is unknowable, so any edge over the majority class would come from the future).
Both use purpose-built bars and a small network so that they run in seconds.
"""

import keras
import numpy as np
import pandas as pd
import pytest

from skills.data import prepare_dataset
from skills.evaluation import classification_metrics, majority_baseline
from skills.models import AttentionLSTMModel

SEQUENCE_LENGTH = 5
FIT = dict(epochs=8, batch_size=32, learning_rate=3e-3, verbose=0)

pytestmark = pytest.mark.slow  # each test trains a network for 8 epochs


def _bars(returns, seed):
    """Daily bars whose close follows `returns`; open at the previous close, a small random high/low range."""
    rng = np.random.default_rng(seed)
    close = 100 * np.cumprod(1 + returns)
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, len(close)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, len(close)))
    index = pd.bdate_range("2000-01-03", periods=len(close), name="date")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.lognormal(13, 0.3, len(close))}, index=index)


def _planted(n, seed, lag=3, renew=0.05, size=0.02):
    """Returns of ±`size` whose sign repeats the sign of the return `lag` bars before (a fresh coin flip with
    probability `renew`): from the bars up to t, the move t → t+1 is known except for the renewals."""
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0], n)
    keep = rng.random(n) > renew
    for t in range(lag, n):
        if keep[t]:
            sign[t] = sign[t - lag]
    return sign * size


def _fit_and_score(bars, test_fraction, label="fixed"):
    keras.utils.set_random_seed(0)
    data = prepare_dataset(bars, sequence_length=SEQUENCE_LENGTH, test_fraction=test_fraction, label=label)
    model = AttentionLSTMModel(sequence_length=SEQUENCE_LENGTH, lstm_units=16, attention_units=8)
    proba = model.fit(data, **FIT).predict_proba(data.test.X)
    accuracy = classification_metrics(data.test.y, proba)["accuracy"]
    majority = classification_metrics(data.test.y, majority_baseline(data.train.y, len(data.test)))["accuracy"]
    return data, accuracy, majority


@pytest.mark.integration
def test_planted_past_move_is_learned():
    """The next move is the sign of the return three bars back (95 % of bars): >= 90 % test accuracy.

    The ceiling is about 97.5 % (a renewal is a coin flip); every |return| is 2 %, beyond the 0.5 % flat band,
    so the labels are down / up only.
    """
    data, accuracy, majority = _fit_and_score(_bars(_planted(2000, seed=0), seed=1), test_fraction=0.2)
    assert data.test.class_counts["flat"] == 0 and len(data.test) > 350
    assert accuracy >= 0.90, f"planted signal learned to only {accuracy:.3f} (majority {majority:.3f})"


def test_random_walk_scores_like_the_majority_class():
    """I.i.d. returns: test accuracy within 5 points of always saying the training split's majority class.

    Tercile labels (learned on the training split) make every class about a third, so a model that knows nothing
    scores about the majority's third whatever it predicts. About 870 test windows give an accuracy a standard
    error of ~1.6 points, so 5 points is ~3 standard errors: room for noise, while a leak of the next bar's
    return (the label itself) would lift accuracy far above it.
    """
    returns = np.random.default_rng(2).normal(0, 0.01, 3000)
    data, accuracy, majority = _fit_and_score(_bars(returns, seed=3), test_fraction=0.3, label="quantile")
    assert len(data.test) > 850
    assert accuracy == pytest.approx(majority, abs=0.05), f"random walk: {accuracy:.3f} vs majority {majority:.3f}"
