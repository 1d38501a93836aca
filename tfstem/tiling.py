"""The tiles :func:`tfstem.restore` cuts a large frame into, and the window that blends them back.

Tiles of ``tile_size`` overlap by at least ``tile_overlap`` pixels, the last one flush with the far edge
(:func:`tile_starts`); they are blended with a smooth separable Butterworth window (the r_em authors'
``predict_patch_based`` window: cutoff 0.33 of the tile, order 4, :func:`blending_window`), so that no seam
is visible. :mod:`tfstem.lazy` uses the same grid and window for frames split across dask chunks.
"""

from __future__ import annotations

import math

import numpy as np

from tfstem.options import integer_option

__all__ = ["tile_starts", "tile_count", "blending_window", "check_overlap"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap`` overlap.

    The last tile is flush with the far edge. ``tile >= length`` gives ``[0]``.
    """
    if tile >= length:
        return [0]
    step = tile - overlap
    count = math.ceil((length - tile) / step) + 1
    starts = [min(i * step, length - tile) for i in range(count)]
    return sorted(set(starts))


def blending_window(tile_h: int, tile_w: int, *, cutoff: float = 0.33, order: int = 4) -> np.ndarray:
    """Separable Butterworth window ``[tile_h, tile_w]`` float32, 1 at the centre, ~0.04 at the edges.

    ``w(n) = 1 / (1 + (n / (cutoff * L))^(2 order))`` for ``n`` measured from the tile centre, as in the
    r_em authors' patch-based prediction; never zero, so borders of the image keep a defined weight.
    """

    def one_d(length):
        n = np.arange(length, dtype=np.float64) - (length - 1) / 2
        return 1.0 / (1.0 + (n / (cutoff * length)) ** (2 * order))

    return np.outer(one_d(tile_h), one_d(tile_w)).astype(np.float32)


def _tiles_along(length: int, tile: int, overlap: int) -> int:
    return 1 if tile >= length else math.ceil((length - tile) / (tile - overlap)) + 1


def tile_count(height: int, width: int, tile_size: int, tile_overlap: int) -> int:
    """Number of tiles :func:`restore` cuts one ``height x width`` frame into (1: the frame is restored whole)."""
    return (_tiles_along(height, min(tile_size, height), tile_overlap)
            * _tiles_along(width, min(tile_size, width), tile_overlap))


def check_overlap(tile_overlap, tile_size: int, height: int, width: int) -> int:
    """At most half a tile: beyond it every pixel is in more than 4 tiles and the cost grows without bound
    (overlap ``tile_size - 1`` means one tile per pixel) while the blending window, flat over the central
    third of a tile, hides the seams from an overlap of about a quarter."""
    overlap = integer_option("tile_overlap", tile_overlap, 0)
    if overlap > tile_size // 2:
        tiles = tile_count(height, width, tile_size, overlap) if overlap < tile_size else "unboundedly many"
        usual = tile_count(height, width, tile_size, tile_size // 4)
        raise ValueError(
            f"tile_overlap must be an integer from 0 to tile_size // 2 = {tile_size // 2}; received "
            f"tile_overlap={overlap}, which would cut each {height} x {width} frame into {tiles} tiles of "
            f"{tile_size} (the default overlap {tile_size // 4} makes {usual})."
        )
    return overlap
