"""Real radiometric change between pre and post: other spectral bands, and pasted real texture.

Two acquisitions of different dates do not differ by a gain and a gamma: vegetation, soil
moisture, shadows and water change contrast unevenly across the image. Two spectral bands of one
date reproduce much of that with no motion at all, so a sample can take

* **cross-band** sources: pre from band ``i`` and post from band ``j != i`` of the same ground
  window (Landsat B2, B3, B4 of one date), post then warped by the synthetic field;
* **real-texture patches**: regions of post replaced by texture from elsewhere in the same split
  area (a field ploughed, a building built), matched to the local mean and spread of what they
  replace, with a soft edge::

      post <- (1 - a) post + a (mu + s (donor - mu_d) / s_d),   a in [0, 1] a feathered ellipse

  where (mu, s) and (mu_d, s_d) are the robust mean and spread of post and of the donor under the
  patch. The truth field is unchanged (the ground did not move; the surface changed).

Both draw only from the texture bank of the sample's split, so train, validation and test areas stay
disjoint. :class:`RealChange` holds the probabilities; ``None`` (the default of the generator)
draws nothing, so samples without it are bit-identical to those made before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from microflow.errors import ParameterError


@dataclass(frozen=True)
class RealChange:
    """Probabilities and sizes of the real-change draws of one sample."""

    p_cross_band: float = 0.5            # pre and post from two different bands
    p_real_patches: float = 0.3          # paste real texture into post
    max_real_patches: int = 3
    patch_size_px: tuple[float, float] = (8.0, 48.0)   # ellipse axes
    feather_px: float = 2.0              # Gaussian softening of the patch edge

    def __post_init__(self) -> None:
        for name in ("p_cross_band", "p_real_patches"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_real_patches < 1 or not 0 < self.patch_size_px[0] <= self.patch_size_px[1]:
            raise ParameterError("max_real_patches must be >= 1 and patch_size_px an increasing positive range")


def draw_bands(rng: np.random.Generator, n_bands: int) -> tuple[int, int]:
    """Two different band indices (pre band, post band), uniformly among ordered pairs."""
    first = int(rng.integers(n_bands))
    second = int(rng.integers(n_bands - 1))
    return first, second + (second >= first)


def _robust_mean_spread(values: np.ndarray) -> tuple[float, float]:
    lo, mid, hi = np.percentile(values, [10, 50, 90])
    return float(mid), float(max(hi - lo, 1e-6))


def feathered_ellipse(shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float],
                      angle: float, feather: float) -> np.ndarray:
    """Alpha map in [0, 1]: 1 inside the rotated ellipse, a Gaussian-softened edge of ``feather`` px."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    u = (rows - centre[0]) * np.cos(angle) + (cols - centre[1]) * np.sin(angle)
    v = -(rows - centre[0]) * np.sin(angle) + (cols - centre[1]) * np.cos(angle)
    inside = ((u / (axes[0] / 2)) ** 2 + (v / (axes[1] / 2)) ** 2 <= 1).astype(np.float32)
    return np.clip(ndimage.gaussian_filter(inside, feather), 0, 1) if feather > 0 else inside


def paste_real_patches(rng: np.random.Generator, post: np.ndarray, donors: list[np.ndarray],
                       change: RealChange) -> list[dict]:
    """Blend each donor crop (the shape of ``post``) into ``post`` in place under a random ellipse."""
    h, w = post.shape
    patches = []
    for donor in donors:
        axes = tuple(float(a) for a in rng.uniform(*change.patch_size_px, size=2))
        centre = (float(rng.uniform(0, h)), float(rng.uniform(0, w)))
        angle = float(rng.uniform(0, np.pi))
        alpha = feathered_ellipse((h, w), centre, axes, angle, change.feather_px)
        under = alpha > 0.5
        if not under.any():
            continue
        mu, s = _robust_mean_spread(post[under])
        mu_d, s_d = _robust_mean_spread(donor[under])
        matched = mu + (donor - mu_d) * np.float32(s / s_d * rng.uniform(0.7, 1.4))
        post[:] = (1 - alpha) * post + alpha * matched.astype(np.float32)
        patches.append({"kind": "real", "row": centre[0], "col": centre[1], "size": list(axes),
                        "angle_deg": float(np.degrees(angle))})
    return patches
