"""Bars in, leak-free windows out: loading, features, labels, splits and datasets."""

from .alpha158 import ALPHA158_NAMES, compute_alpha158
from .bundled import default_data_path
from .dataset import BATCH_BY, PreparedData, Split, prepare_dataset, prepare_walk_forward
from .features import (
    CROSS_SECTION_MODES,
    FEATURE_NAMES,
    FEATURE_SETS,
    PRICE_VOLUME_FEATURES,
    WARMUP_BARS,
    compute_features,
    compute_price_volume,
    cross_section_normalise,
)
from .io import DataError, load_ohlcv
from .labels import (
    CLASS_NAMES,
    LABEL_BASES,
    LABEL_METHODS,
    LabelRule,
    cross_section_labels,
    forward_return,
    make_labels,
)
from .scaling import SCALERS, ScalerStats
from .splits import WALK_FORWARD_MODES, SplitBounds, chronological_bounds, walk_forward_bounds
from .universe import LoadReport, Universe, load_universe
from .windows import DateBatchDataset, WindowArray, WindowDataset, feature_windows, universe_windows

__all__ = [
    "ALPHA158_NAMES", "compute_alpha158",
    "BATCH_BY", "CLASS_NAMES", "CROSS_SECTION_MODES", "DataError", "DateBatchDataset", "FEATURE_NAMES",
    "FEATURE_SETS", "LABEL_BASES", "LABEL_METHODS", "PRICE_VOLUME_FEATURES", "compute_price_volume", "LabelRule",
    "LoadReport",
    "PreparedData", "SCALERS", "ScalerStats", "Split", "SplitBounds", "Universe", "WALK_FORWARD_MODES", "WARMUP_BARS",
    "WindowArray", "WindowDataset", "chronological_bounds", "compute_features", "cross_section_labels",
    "cross_section_normalise", "default_data_path", "feature_windows", "forward_return", "load_ohlcv",
    "load_universe", "make_labels", "prepare_dataset", "universe_windows", "prepare_walk_forward",
    "walk_forward_bounds",
]
