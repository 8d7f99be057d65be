"""Per-pixel features of a finished field that predict its error (no images needed).

:func:`sigma_features` gives, per pixel (NaN where dx or dy is NaN):

* ``confidence``: the method's confidence band, NaN read as 0 (no support);
* ``gradient``: the local field gradient |grad d| below [px/px];
* ``gradient_near``: the largest |grad d| within ``NEAR_RADIUS`` px (a (2r+1)² square): a pixel a few
  pixels from a fault trace or an edge of the field has a small gradient of its own, but a large error;
* ``confidence_region``: the mean confidence of the finite pixels within ``REGION_RADIUS`` px: a pair
  that decorrelates over a whole area (radiometric change: season, band, clouds) prints texture
  into the field over tens of pixels, which one pixel's confidence does not tell;
* ``gradient_region``: the mean |grad d| within ``REGION_RADIUS`` px: a field rough over an area
  (printed texture, a wide deformation zone) rather than at one line;
* ``residual_region`` (regularized keys only): the mean of ||d_raw - d|| within ``REGION_RADIUS`` px,
  what the regularizer removed: the pair's own error level, which moves with the sensor, the season and
  the texture where the other features, those of a smooth final field, do not.

``gradient``: the joint Sobel gradient magnitude of the field [px/px]::

    |grad d| = sqrt(sum_{c in dx, dy} (S_col * c / 8)^2 + (S_row * c / 8)^2)

with the 3x3 Sobel kernels S. A NaN neighbour is replaced by the centre pixel's value (so no-data
edges do not print a step) and the array edge is replicated. The result at a pixel depends only
on its 3x3 neighbourhood. Every feature at a pixel depends only on the pixels within
:data:`SIGMA_HALO` px (the neighbourhoods count only pixels inside the array), so a block with a halo
of ``SIGMA_HALO`` px, cropped, equals the whole-field result (the tiler regularizes with at least that
much context).
"""

from __future__ import annotations

import numpy as np

from scipy import ndimage

NEAR_RADIUS = 5         # px, half-side of the gradient_near square (11 x 11)
REGION_RADIUS = 15      # px, half-side of the confidence_region square (31 x 31)
SIGMA_HALO = max(NEAR_RADIUS, REGION_RADIUS) + 1   # px of context the features need on each side of a block
FEATURES = ("confidence", "gradient", "gradient_near", "confidence_region", "gradient_region")
RESIDUAL = "residual_region"   # the regularized keys' sixth feature (issue 23: the pair's own error level)
_SMOOTH = (1.0, 2.0, 1.0)
_DIFF = (-1.0, 0.0, 1.0)


def _sobel_pair(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dcol, d/drow) Sobel responses / 8 of ``c`` (H, W), NaN neighbours -> centre value."""
    h, w = c.shape
    padded = np.pad(c, 1, mode="edge")
    gcol = np.zeros((h, w), np.float64)
    grow = np.zeros((h, w), np.float64)
    for i in range(3):
        for j in range(3):
            kc = _SMOOTH[i] * _DIFF[j]
            kr = _DIFF[i] * _SMOOTH[j]
            if kc == 0.0 and kr == 0.0:
                continue
            n = padded[i:i + h, j:j + w]
            n = np.where(np.isnan(n), c, n)
            if kc:
                gcol += kc * n
            if kr:
                grow += kr * n
    return gcol / 8.0, grow / 8.0


def field_gradient(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Joint Sobel gradient magnitude |grad d| [px/px] (module doc), float32, NaN where d is NaN."""
    dx = np.asarray(dx, np.float64)
    dy = np.asarray(dy, np.float64)
    bad = ~(np.isfinite(dx) & np.isfinite(dy))
    total = np.zeros(dx.shape, np.float64)
    for c in (np.where(bad, np.nan, dx), np.where(bad, np.nan, dy)):
        gc, gr = _sobel_pair(c)
        total += gc * gc + gr * gr
    out = np.sqrt(total).astype(np.float32)
    out[bad] = np.nan
    return out


def neighbourhood_max(values: np.ndarray, radius: int) -> np.ndarray:
    """Largest finite value within ``radius`` px (a (2r+1)² square, in-array pixels only); NaN where
    ``values`` is NaN."""
    v = np.asarray(values, np.float32)
    bad = np.isnan(v)
    out = ndimage.maximum_filter(np.where(bad, -np.inf, v), size=2 * radius + 1, mode="nearest")
    out[bad] = np.nan
    return out


def regional_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean of the finite values within ``radius`` px (a (2r+1)² square, in-array pixels only)."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    size = 2 * radius + 1
    total = ndimage.uniform_filter(np.where(ok, v, 0.0), size=size, mode="constant", cval=0.0)
    count = ndimage.uniform_filter(ok.astype(np.float64), size=size, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0.5 / size ** 2, total / np.maximum(count, 1e-300), np.nan).astype(np.float32)


def residual_region(dx: np.ndarray, dy: np.ndarray, raw: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Mean of ||raw - final|| [px] within ``REGION_RADIUS`` px: what the regularizer removed, the pair's
    own high-frequency error level (0 without a regularizer, ``raw`` None); NaN where dx or dy is NaN."""
    final = np.stack([np.asarray(dx, np.float64), np.asarray(dy, np.float64)])
    if raw is None:
        removed = np.zeros(final.shape[1:])
    else:
        removed = np.hypot(np.asarray(raw[0], np.float64) - final[0], np.asarray(raw[1], np.float64) - final[1])
    removed[~np.isfinite(final).all(axis=0)] = np.nan
    out = regional_mean(removed, REGION_RADIUS)
    out[~np.isfinite(final).all(axis=0)] = np.nan
    return out


def sigma_features(dx: np.ndarray, dy: np.ndarray, confidence: np.ndarray,
                   raw: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """{name: (H, W) float32} of :data:`FEATURES` and :data:`RESIDUAL` (module doc; ``raw``: the field
    before the regularizer, None when there is none); NaN where dx or dy is NaN."""
    grad = field_gradient(dx, dy)
    bad = np.isnan(grad)
    conf = np.where(np.isfinite(confidence), confidence, 0.0).astype(np.float32)
    conf[bad] = np.nan
    region = regional_mean(conf, REGION_RADIUS)
    region[bad] = np.nan
    gregion = regional_mean(grad, REGION_RADIUS)
    gregion[bad] = np.nan
    return {"confidence": conf, "gradient": grad, "gradient_near": neighbourhood_max(grad, NEAR_RADIUS),
            "confidence_region": region, "gradient_region": gregion, RESIDUAL: residual_region(dx, dy, raw)}
