"""What a sensor does to the ground's radiance: integration, MTF, noise, quantization, compression.

All functions are pure (they return new float32 arrays) and shift-free: box integration averages
``f x f`` blocks whose centre is the coarse pixel's centre, the MTF is a centred Gaussian, the noise
is zero-mean, quantization and the JPEG2000 round trip act pixel-wise or block-symmetrically.

* :func:`box_integrate`: a coarser ground sampling distance, ``out[i, j] = mean(img[f i : f i + f,
  f j : f j + f])`` (the detector's box PSF; a Landsat 30 m pixel from a 7.5 m one for ``f = 4``);
* :func:`mtf_blur`: a Gaussian MTF of standard deviation ``sigma`` px (MTF at Nyquist
  ``exp(-pi^2 sigma^2 / 2)``: 0.64 for 0.3 px, 0.006 for 1.0 px);
* :func:`quantize`: ``bits``-bit digital numbers with the crop's 1-99 percentile spread filling a
  fraction ``fill`` of the code range (``step = spread / (fill (2^bits - 1))``), clipped at 0 and
  ``2^bits - 1`` (saturation), returned in the input's units;
* :func:`jpeg2000_roundtrip`: a lossy JPEG2000 round trip (OpenCV's OpenJPEG) at a compression
  ``rate`` (OpenCV's ``IMWRITE_JPEG2000_COMPRESSION_X1000``: 1000 = lossless-like, 50 = heavy), on
  12-bit numbers as in Sentinel-2 L1C;
* :func:`jpeg_roundtrip`: an 8-bit baseline JPEG round trip at a ``quality`` (libjpeg's 1-100 scale of
  the standard tables: 90 divides them by 5), the crop's 1-99 percentile spread filling a fraction
  ``fill`` of 0-255 as in :func:`quantize`: true-colour renderings and quick-looks (the GIV example
  series is quality 90; low-contrast ice fills ~10 % of the range).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from microflow.errors import ParameterError


def box_integrate(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor x factor`` blocks (the trailing rows/columns that do not fill a block are dropped)."""
    factor = int(factor)
    if factor < 1:
        raise ParameterError(f"box factor must be >= 1, got {factor}")
    img = np.asarray(img, np.float32)
    if factor == 1:
        return img.copy()
    h, w = img.shape[0] // factor, img.shape[1] // factor
    blocks = img[:h * factor, :w * factor].reshape(h, factor, w, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def mtf_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` px (mirror edges); a copy when sigma <= 0."""
    img = np.asarray(img, np.float32)
    return ndimage.gaussian_filter(img, float(sigma), mode="reflect") if sigma > 0 else img.copy()


def quantize(img: np.ndarray, bits: int, fill: float) -> np.ndarray:
    """``img`` as ``bits``-bit numbers whose 1-99 % spread fills ``fill`` of the range, back in its units."""
    if bits < 1 or not 0 < fill <= 1:
        raise ParameterError(f"bits must be >= 1 and fill in (0, 1], got {bits}, {fill}")
    img = np.asarray(img, np.float32)
    top = float(2 ** bits - 1)
    step, base = code_scale(img, top, fill)
    codes = np.clip(np.round((img - base) / step), 0, top)
    return (codes * step + base).astype(np.float32)


def code_scale(img: np.ndarray, top: float, fill: float) -> tuple[float, float]:
    """(step, base) of codes ``0 .. top`` whose 1-99 percentile spread of ``img`` fills ``fill`` of the
    range, in its middle: ``value = code * step + base``."""
    lo, hi = np.percentile(img, [1, 99])
    step = max(float(hi - lo), 1e-6) / (fill * top)
    return step, float(lo) - step * top * (1 - fill) / 2


def jpeg2000_roundtrip(img: np.ndarray, rate: int) -> np.ndarray:
    """Encode ``img`` as 12-bit JPEG2000 at ``rate`` (x1000 compression setting) and decode it."""
    import cv2

    img = np.asarray(img, np.float32)
    lo, hi = float(img.min()), float(img.max())
    scale = max(hi - lo, 1e-6) / 4095.0
    codes = np.round((img - lo) / scale).astype(np.uint16)
    ok, buffer = cv2.imencode(".jp2", codes, [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, int(rate)])
    if not ok:
        raise ParameterError("OpenCV could not encode JPEG2000")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    return (decoded.astype(np.float32) * np.float32(scale) + np.float32(lo)).astype(np.float32)


def jpeg_roundtrip(img: np.ndarray, quality: int, fill: float) -> np.ndarray:
    """``img`` as 8-bit codes (1-99 % spread filling ``fill`` of 0-255), baseline JPEG at ``quality``,
    decoded and mapped back to its units: 8-bit quantization, saturation and 8x8 DCT block losses."""
    import cv2

    if not 1 <= quality <= 100 or not 0 < fill <= 1:
        raise ParameterError(f"quality must be in [1, 100] and fill in (0, 1], got {quality}, {fill}")
    img = np.asarray(img, np.float32)
    step, base = code_scale(img, 255.0, fill)
    codes = np.clip(np.round((img - base) / step), 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", codes, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ParameterError("OpenCV could not encode JPEG")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    return (decoded.astype(np.float32) * np.float32(step) + np.float32(base)).astype(np.float32)


def add_noise(rng: np.random.Generator, img: np.ndarray, std: float) -> np.ndarray:
    """``img`` plus white Gaussian noise of ``std`` (input units)."""
    img = np.asarray(img, np.float32)
    if std <= 0:
        return img.copy()
    return img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(std)
