"""Bars in, leak-free windows out: loading, features, labels, splits and datasets."""

from .dataset import SCALERS, PreparedData, ScalerStats, Split, prepare_dataset, prepare_walk_forward
from .features import FEATURE_NAMES, WARMUP_BARS, compute_features
from .io import DataError, load_ohlcv
from .labels import CLASS_NAMES, LABEL_METHODS, LabelRule, forward_return, make_labels
from .splits import WALK_FORWARD_MODES, SplitBounds, chronological_bounds, walk_forward_bounds
from .universe import LoadReport, Universe, load_universe
from .windows import WindowArray, WindowDataset, feature_windows

__all__ = [
    "CLASS_NAMES", "DataError", "FEATURE_NAMES", "LABEL_METHODS", "LabelRule", "LoadReport", "PreparedData",
    "SCALERS", "ScalerStats", "Split", "SplitBounds", "Universe", "WALK_FORWARD_MODES", "WARMUP_BARS", "WindowArray",
    "WindowDataset", "chronological_bounds", "compute_features", "feature_windows", "forward_return", "load_ohlcv",
    "load_universe", "make_labels", "prepare_dataset", "prepare_walk_forward", "walk_forward_bounds",
]
