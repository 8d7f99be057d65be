"""Radiometric change of the world between two dates, none of it a motion.

* :func:`fractal_noise`: a zero-mean, unit-std random field with power spectrum ``|k|^-beta``
  (``beta`` 2-3 for relief and clouds), made by spectral synthesis on the FFT grid;
* :func:`regional_tone`: two tone curves ``x -> x^g1`` and ``x -> x^g2`` (on ``x`` normalized to the
  1-99 % spread) blended by a smooth map ``w`` in [0, 1], ``out = (1 - w) c1(x) + w c2(x)``: a
  non-linear change of contrast that differs by region (phenology, soil moisture);
* :func:`haze_and_clouds`: a uniform haze ``h`` and thin clouds of opacity ``a(p)`` (thresholded
  fractal noise), ``out = (1 - h)((1 - a) x + a B) + h B_h`` with ``B`` the cloud brightness, and the
  clouds' shadows, the opacity map shifted by ``s`` px, ``out *= 1 - k a(p - s)``;
* :func:`snow_cover`: flat, bright, saturated areas with sparse weak texture: inside a fractal mask
  ``out = B + t (x - smooth(x))`` with ``t`` 0.03-0.2 (crevasse-like detail), clipped at ``B``;
* :func:`relief_shading`: the Lambertian shading ``S = cos z cos s + sin z sin s cos(a - aspect)``
  of a fractal relief (slope ``s``, aspect) under a sun of zenith ``z`` and azimuth ``a``: applied to
  the ground texture with one sun for pre and another for post (season), ``x (1 - m + m S / mean S)``.

Every function returns a new float32 array and draws from the ``rng`` it is given.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float = 2.5) -> np.ndarray:
    """Zero-mean unit-std field with spectrum ``|k|^-beta`` (the DC term removed)."""
    h, w = shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = 1.0
    amplitude = k ** (-beta / 2)
    amplitude[0, 0] = 0.0
    spectrum = amplitude * (rng.standard_normal(amplitude.shape) + 1j * rng.standard_normal(amplitude.shape))
    field = np.fft.irfft2(spectrum, s=(h, w))
    return ((field - field.mean()) / max(field.std(), 1e-12)).astype(np.float32)


def _normalized(img: np.ndarray) -> tuple[np.ndarray, float, float]:
    lo, hi = np.percentile(img, [1, 99])
    spread = max(float(hi - lo), 1e-6)
    return np.clip((img - lo) / spread, 0, None), float(lo), spread


def smooth_weight(rng: np.random.Generator, shape: tuple[int, int], sharpness: float = 3.0) -> np.ndarray:
    """A smooth map in [0, 1]: the logistic of a fractal field (beta 3.5, large regions)."""
    return (1.0 / (1.0 + np.exp(-sharpness * fractal_noise(rng, shape, 3.5)))).astype(np.float32)


def regional_tone(rng: np.random.Generator, img: np.ndarray, gammas: tuple[float, float] = (0.6, 1.6)) -> np.ndarray:
    """Two power-law tone curves blended by a smooth regional map (output in the input's units)."""
    x, lo, spread = _normalized(np.asarray(img, np.float32))
    g1, g2 = rng.uniform(*gammas, size=2)
    weight = smooth_weight(rng, x.shape)
    out = (1 - weight) * x ** np.float32(g1) + weight * x ** np.float32(g2)
    return (out * spread + lo).astype(np.float32)


def haze_and_clouds(rng: np.random.Generator, img: np.ndarray, max_opacity: tuple[float, float] = (0.15, 0.7),
                    haze: tuple[float, float] = (0.0, 0.3), shadow_px: tuple[float, float] = (4.0, 30.0)) -> np.ndarray:
    """Uniform haze, thin clouds (fractal opacity) and their shifted shadows over ``img``."""
    img = np.asarray(img, np.float32)
    lo, hi = np.percentile(img, [1, 99])
    spread = max(float(hi - lo), 1e-6)
    cover = rng.uniform(0.5, 0.95)                         # threshold quantile: 5-50 % of the scene cloudy
    noise = fractal_noise(rng, img.shape, 2.8)
    threshold = np.quantile(noise, cover)
    opacity = np.clip((noise - threshold) / 0.8, 0, 1) * np.float32(rng.uniform(*max_opacity))
    bright = np.float32(hi + rng.uniform(0.0, 0.5) * spread)
    out = (1 - opacity) * img + opacity * bright
    angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(*shadow_px)
    shadow = ndimage.shift(opacity, (distance * np.sin(angle), distance * np.cos(angle)), order=1, mode="nearest")
    out *= 1 - np.float32(rng.uniform(0.3, 0.7)) * shadow
    h = np.float32(rng.uniform(*haze))
    return ((1 - h) * out + h * np.float32(hi)).astype(np.float32)


def snow_cover(rng: np.random.Generator, img: np.ndarray, share: tuple[float, float] = (0.1, 0.6),
               detail: tuple[float, float] = (0.03, 0.2)) -> tuple[np.ndarray, np.ndarray]:
    """(img with flat saturated snow or ice areas, their mask); the areas keep weak sparse detail."""
    img = np.asarray(img, np.float32)
    lo, hi = np.percentile(img, [1, 99])
    noise = fractal_noise(rng, img.shape, 3.0)
    mask = noise > np.quantile(noise, 1 - rng.uniform(*share))
    level = np.float32(hi + rng.uniform(0.0, 0.3) * (hi - lo))
    high_pass = img - ndimage.gaussian_filter(img, 2.0)
    snow = np.minimum(level + np.float32(rng.uniform(*detail)) * high_pass, level)
    edge = ndimage.gaussian_filter(mask.astype(np.float32), 1.0)   # a soft snow line
    return ((1 - edge) * img + edge * snow).astype(np.float32), mask


def hillshade(dem: np.ndarray, zenith_deg: float, azimuth_deg: float) -> np.ndarray:
    """Lambertian shading in [0, 1] of ``dem`` (heights in px units) under the given sun (azimuth
    clockwise from north = up)."""
    gy, gx = np.gradient(dem.astype(np.float64))
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)              # downslope direction, clockwise from north
    z, a = np.radians(zenith_deg), np.radians(azimuth_deg)
    shade = np.cos(z) * np.cos(slope) + np.sin(z) * np.sin(slope) * np.cos(a - aspect)
    return np.clip(shade, 0, 1).astype(np.float32)


def relief_shading(rng: np.random.Generator, shape: tuple[int, int], relief_px: tuple[float, float] = (2.0, 20.0),
                   change_deg: tuple[float, float] = (5.0, 40.0)) -> tuple[np.ndarray, np.ndarray, dict]:
    """Two shading maps (mean 1) of one fractal relief under two suns, and the draws."""
    dem = fractal_noise(rng, shape, 3.0) * np.float32(rng.uniform(*relief_px))
    zenith, azimuth = rng.uniform(25, 65), rng.uniform(0, 360)
    dz, da = rng.uniform(-1, 1) * rng.uniform(*change_deg) / 2, rng.uniform(-1, 1) * rng.uniform(*change_deg)
    first, second = hillshade(dem, zenith, azimuth), hillshade(dem, np.clip(zenith + dz, 10, 80), azimuth + da)
    first, second = first / max(float(first.mean()), 1e-3), second / max(float(second.mean()), 1e-3)
    return first, second, {"zenith": float(zenith), "azimuth": float(azimuth), "d_zenith": float(dz),
                           "d_azimuth": float(da)}


def surface_change(rng: np.random.Generator, img: np.ndarray, mix: float) -> np.ndarray:
    """``img`` whose surface partly renewed between the dates (melt, new snow, debris, crops).

    With w = ``mix`` and an independent pattern P of the same spectrum (``img`` itself flipped,
    transposed and rolled by a random offset):
    ``out = m + sqrt(1 - w²)·(img - m) + w·(P - m_P)·s/s_P``, so the mean m and the spread s are kept
    and the correlation of the texture with ``img`` falls to sqrt(1 - w²) (w = 0.3: 0.95)."""
    img = np.asarray(img, np.float32)
    other = np.flip(img, axis=int(rng.integers(0, 2)))
    if other.shape[0] == other.shape[1] and rng.random() < 0.5:
        other = other.T
    other = np.roll(other, (int(rng.integers(0, img.shape[0])), int(rng.integers(0, img.shape[1]))), (0, 1))
    m, s = float(img.mean()), float(img.std())
    m_o, s_o = float(other.mean()), max(float(other.std()), 1e-6)
    keep = np.float32(np.sqrt(max(0.0, 1.0 - mix * mix)))
    return (m + keep * (img - m) + np.float32(mix * s / s_o) * (other - m_o)).astype(np.float32)
