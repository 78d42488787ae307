"""Per-feature scaling learned on training rows only: standard, min-max or robust.

``prepare_dataset`` fits a :class:`ScalerStats` on the rows up to the end of its training split and stores it in
``PreparedData.scaler``; a model applies the same map to every window it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SCALERS", "ScalerStats"]

SCALERS = ("standard", "minmax", "robust")
_CHUNK = 65_536  # rows per chunk when summing squares


@dataclass(frozen=True)
class ScalerStats:
    """Per-feature scaling learned on training rows: ``scaled = (x - offset) / scale``.

    ``standard``: mean and standard deviation; ``minmax``: minimum and range; ``robust``: median
    and inter-quartile range. A zero scale becomes 1. ``keras.layers.Normalization(mean=offset,
    variance=scale ** 2)`` applies the same map inside a network.
    """

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray, kind: str = "standard") -> "ScalerStats":
        if kind not in SCALERS:
            raise ValueError(f"scaler must be one of {SCALERS}, got {kind!r}")
        rows = np.asarray(rows)
        if kind == "standard":  # float64 sums over row chunks: no float64 copy of all rows
            offset = rows.mean(axis=0, dtype=np.float64)
            squares = sum((((rows[i:i + _CHUNK] - offset) ** 2).sum(axis=0) for i in range(0, len(rows), _CHUNK)),
                          np.zeros_like(offset))
            scale = np.sqrt(squares / len(rows))
        elif kind == "minmax":
            offset = rows.min(axis=0).astype(np.float64)
            scale = rows.max(axis=0).astype(np.float64) - offset
        else:
            q25, offset, q75 = np.quantile(rows, [0.25, 0.5, 0.75], axis=0).astype(np.float64)
            scale = q75 - q25
        scale = np.where(scale > 1e-12, scale, 1.0)
        return cls(kind, offset.astype(np.float32), scale.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float32) - self.offset) / self.scale).astype(np.float32)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}
