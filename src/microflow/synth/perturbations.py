"""Temporal perturbations between the pre and post acquisitions; none of them moves content.

Each is drawn independently per sample, uniformly within its range (``s`` = robust standard
deviation of the pre image, half the 2-98 percentile spread / 2.054):

=======================  ======================================  ===============================
perturbation             range                                   applied to
=======================  ======================================  ===============================
sensor noise             Gaussian, std 0.005 - 0.05 s            pre and post, independent
radiometric gain         0.8 - 1.25                              post
radiometric offset       -0.1 s - 0.1 s                          post
gamma                    0.85 - 1.15 on x / mean(x)              post
PSF difference           Gaussian blur, sigma 0 - 0.8 px         pre or post (one, at random)
illumination             x (1 + a f), a 0 - 0.15, f = smooth     post
                         unit field (3 random plane waves of
                         wavelength 0.5 - 4 image sizes)
surface changes          0 - 4 patches w.p. 0.5, each 4 - 40 px  post
                         (rotated rectangle): new uniform
                         "field" + noise, brightness x 0.6 - 1.4
                         ("crop change"), or bright/dark
                         "building" (1.5 - 3 s)
=======================  ======================================  ===============================

Shift-free by construction: the blur kernel is a centred symmetric Gaussian, gain/offset/gamma
and illumination act pixel-wise, and patches replace content in place. With a zero field the
pair therefore differs only by these changes (the null check of ``microflow evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class PerturbationRanges:
    """Ranges of the random perturbations (see the module table); set a range to (0, 0) to disable."""

    noise_rel: tuple[float, float] = (0.005, 0.05)
    gain: tuple[float, float] = (0.8, 1.25)
    offset_rel: tuple[float, float] = (-0.1, 0.1)
    gamma: tuple[float, float] = (0.85, 1.15)
    blur_sigma: tuple[float, float] = (0.0, 0.8)
    illumination: tuple[float, float] = (0.0, 0.15)
    illumination_wavelength_rel: tuple[float, float] = (0.5, 4.0)
    p_patches: float = 0.5
    max_patches: int = 4
    patch_size_px: tuple[float, float] = (4.0, 40.0)


NO_PERTURBATIONS = PerturbationRanges((0, 0), (1, 1), (0, 0), (1, 1), (0, 0), (0, 0), (1, 1), 0.0, 0, (4, 4))


def robust_std(img: np.ndarray) -> float:
    """Half the 2-98 percentile spread over 2.054 (the std for a Gaussian), from a subsample."""
    lo, hi = np.percentile(img[::4, ::4], [2, 98])
    return float(max(hi - lo, 1e-6) / (2 * 2.054))


def radiometric(img: np.ndarray, gain: float, offset: float, gamma: float) -> np.ndarray:
    """``gain * mean * (x / mean) ** gamma + offset`` (x clipped at a tiny positive value)."""
    mean = float(img.mean())
    scaled = np.maximum(img / np.float32(mean), np.float32(1e-6)) ** np.float32(gamma)
    return (scaled * np.float32(gain * mean) + np.float32(offset)).astype(np.float32)


def illumination_field(rng: np.random.Generator, shape: tuple[int, int], wavelength: tuple[float, float],
                       n_waves: int = 3) -> np.ndarray:
    """Smooth zero-mean field of unit max amplitude: sum of random plane waves (wavelength x image size)."""
    h, w = shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]
    out = np.zeros(shape, np.float32)
    for _ in range(n_waves):
        angle = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / (rng.uniform(*wavelength) * max(h, w))
        phase = rng.uniform(0, 2 * np.pi)
        out += np.cos(np.float32(k * np.cos(angle)) * cols + np.float32(k * np.sin(angle)) * rows + np.float32(phase))
    return out / np.float32(n_waves)


def add_patches(rng: np.random.Generator, img: np.ndarray, n: int, size_px: tuple[float, float],
                scale: float) -> list[dict]:
    """Replace or alter ``n`` rotated rectangles of ``img`` in place; returns their descriptions."""
    h, w = img.shape
    patches = []
    for _ in range(n):
        ph, pw = rng.uniform(*size_px, size=2)
        r0, c0 = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, np.pi)
        half = int(np.ceil(np.hypot(ph, pw) / 2)) + 1
        i0, i1 = max(0, int(r0) - half), min(h, int(r0) + half + 1)
        j0, j1 = max(0, int(c0) - half), min(w, int(c0) + half + 1)
        if i0 >= i1 or j0 >= j1:
            continue
        rr, cc = np.mgrid[i0:i1, j0:j1]
        u = (rr - r0) * np.cos(angle) + (cc - c0) * np.sin(angle)
        v = -(rr - r0) * np.sin(angle) + (cc - c0) * np.cos(angle)
        inside = (np.abs(u) <= ph / 2) & (np.abs(v) <= pw / 2)
        view = img[i0:i1, j0:j1]
        kind = ("field", "crop", "building")[int(rng.integers(3))]
        if kind == "field":
            level = float(view.mean()) + rng.uniform(-1.5, 1.5) * scale
            view[inside] = level + rng.normal(0, 0.1 * scale, int(inside.sum()))
        elif kind == "crop":
            view[inside] *= np.float32(rng.uniform(0.6, 1.4))
        else:
            view[inside] = float(view.mean()) + rng.choice([-1, 1]) * rng.uniform(1.5, 3.0) * scale
        patches.append({"kind": kind, "row": float(r0), "col": float(c0), "size": [float(ph), float(pw)],
                        "angle_deg": float(np.degrees(angle))})
    return patches


def perturb_pair(rng: np.random.Generator, pre: np.ndarray, post: np.ndarray,
                 ranges: PerturbationRanges = PerturbationRanges()) -> tuple[np.ndarray, np.ndarray, dict]:
    """Apply the temporal perturbations to copies of (pre, post); returns them and the draws."""
    scale = robust_std(pre)
    pre, post = np.array(pre, np.float32), np.array(post, np.float32)
    params = {"scale": scale}
    gain, offset, gamma = rng.uniform(*ranges.gain), rng.uniform(*ranges.offset_rel) * scale, rng.uniform(*ranges.gamma)
    post = radiometric(post, gain, offset, gamma)
    params.update(gain=gain, offset=offset, gamma=gamma)
    amplitude = rng.uniform(*ranges.illumination)
    if amplitude > 0:
        post *= 1 + np.float32(amplitude) * illumination_field(rng, post.shape, ranges.illumination_wavelength_rel)
    params["illumination"] = amplitude
    sigma = rng.uniform(*ranges.blur_sigma)
    blurred = "post" if rng.random() < 0.5 else "pre"
    if sigma > 0.05:
        if blurred == "post":
            post = ndimage.gaussian_filter(post, sigma, mode="reflect")
        else:
            pre = ndimage.gaussian_filter(pre, sigma, mode="reflect")
    params.update(blur_sigma=sigma, blurred=blurred)
    n_patches = int(rng.integers(1, ranges.max_patches + 1)) if rng.random() < ranges.p_patches else 0
    params["patches"] = add_patches(rng, post, n_patches, ranges.patch_size_px, scale) if n_patches else []
    noise = rng.uniform(*ranges.noise_rel) * scale
    if noise > 0:
        pre += rng.standard_normal(pre.shape, dtype=np.float32) * np.float32(noise)
        post += rng.standard_normal(post.shape, dtype=np.float32) * np.float32(noise)
    params["noise_std"] = noise
    return pre, post, params
