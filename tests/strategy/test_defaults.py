"""The trading defaults, defined once in `skills.strategy.defaults`: the top-k size rule, the top-k-or-ML rule, and
the strategies' defaults that come from them."""

import pytest

from skills.strategy import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REBALANCE,
    TOPK_MIN_TICKERS,
    EqualWeight,
    MLStrategy,
    TopKStrategy,
    default_strategy,
    resolve_threshold,
    topk_defaults,
)


@pytest.mark.parametrize("n_tickers, long_short, expected", [
    (1, False, (1, 1)), (9, False, (1, 1)), (10, False, (1, 1)), (50, False, (5, 1)), (99, False, (9, 1)),
    (300, False, (30, 6)), (300, True, (15, 3)), (2, True, (1, 1)), (45, True, (2, 1)),
])
def test_k_is_a_tenth_of_a_side_and_n_drop_a_fifth_of_k(n_tickers, long_short, expected):
    assert topk_defaults(n_tickers, long_short=long_short) == expected


def test_given_values_are_kept_and_n_drop_follows_the_given_k():
    assert topk_defaults(50, k=10) == (10, 2)
    assert topk_defaults(50, k=10, n_drop=0) == (10, 0)
    assert topk_defaults(50, k=3, n_drop=7) == (3, 7)
    assert topk_defaults(4, k=2, long_short=True) == (2, 1)
    assert topk_defaults(4, k=4.0) == (4, 1) and isinstance(topk_defaults(4, k=4.0)[0], int)


@pytest.mark.parametrize("args, kwargs, text", [
    ((4,), dict(k=5), r"k must be .* 1 to the 4 tickers.*got 5"),
    ((5,), dict(k=3, long_short=True), r"k must be .* half the 5 tickers \(at most 2 per side\), got 3"),
    ((1,), dict(long_short=True), r"k must be"),     # one ticker: no side can hold a name
    ((4,), dict(k=0), r"k must be"),
    ((4,), dict(k=1.5), r"k must be"),
    ((4,), dict(k=True), r"k must be"),
    ((4,), dict(k="2"), r"k must be"),
    ((4,), dict(k=2, n_drop=-1), r"n_drop must be .* got -1"),
    ((4,), dict(k=2, n_drop=0.5), r"n_drop must be"),
])
def test_bad_k_or_n_drop_is_a_value_error_naming_it(args, kwargs, text):
    with pytest.raises(ValueError, match=text):
        topk_defaults(*args, **kwargs)


def test_topk_for_cross_sectional_labels_or_a_large_universe_else_ml():
    assert TOPK_MIN_TICKERS == 10
    assert default_strategy(1, "cross_section") == "ml"
    assert default_strategy(2, "cross_section") == "topk"
    for method in ("fixed", "volatility", "quantile", None):
        assert default_strategy(TOPK_MIN_TICKERS - 1, method) == "ml"
        assert default_strategy(TOPK_MIN_TICKERS, method) == "topk"


def test_the_strategies_take_their_defaults_from_here():
    assert TopKStrategy.params.k is None and TopKStrategy.params.n_drop is None   # topk_defaults at run time
    assert TopKStrategy.params.rebalance == EqualWeight.params.rebalance == DEFAULT_REBALANCE == 5
    assert MLStrategy.params.confidence_threshold is None
    assert resolve_threshold(None, None) == (DEFAULT_CONFIDENCE, DEFAULT_CONFIDENCE, "default")
    assert DEFAULT_CONFIDENCE == 0.65
