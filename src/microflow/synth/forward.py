"""Forward model: the post image is the pre image displaced by a field, resampled without bias.

Convention (:mod:`microflow.convention`): a feature at pre pixel ``p`` appears at ``p + d(p)`` in
post, and the truth is ``d`` on the PRE grid. Post is built by backward mapping,

    post(q) = T(q - d_inv(q)),   d_inv(q) = d(q - d_inv(q)),

with ``T`` the band-limited interpolant of the pre texture and ``d_inv`` the inverse field found
by fixed-point iteration (:func:`inverse_field`; it converges when |grad d| < 1, i.e. away
from fault traces; on a trace's gap or overlap it returns one side's value).

``T`` is evaluated with a cubic B-spline (``scipy.ndimage.map_coordinates``, order 3, the
prefilter applied in the Fourier domain) on a x2 band-limited (Fourier zero-padding) upsampling
of the texture: on an oversampled image the spline is a near-exact band-limited interpolator.
Measured against :func:`~microflow.synth.shift.fourier_shift` on periodic band-limited
textures (``tests/test_synth.py``): relative rms error ~1e-2 (white spectrum) / ~5e-3 (1/f
spectrum), least-squares shift bias below 1e-3 px; ``spline_order=5`` gives ~10x less for ~2x
the sampling time. Samples are point samples at pixel centres, like the truth (``d`` at pixel
centres), so the pair and its truth agree pixel by pixel (no 2x2 sensor integration; a pixel on a
trace shows one side) and for d = 0 post equals pre exactly. The texture must carry a margin of at least
``max|d| + 3`` pixels around the output area (periodic-boundary effects of the FFT stay there).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import scipy.fft
from scipy import ndimage

FieldFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
INVERSE_ITERATIONS = 4
SPLINE_ORDER = 3  # 5 is ~10x more accurate and ~2x slower to sample


def _bspline_symbol(freq: np.ndarray, order: int) -> np.ndarray:
    """Fourier symbol sum_k beta_n(k) exp(-2 pi i f k) of the sampled B-spline (order 3 or 5)."""
    w = 2 * np.pi * freq
    if order == 3:
        return 2 / 3 + np.cos(w) / 3
    if order == 5:
        return 11 / 20 + 13 / 30 * np.cos(w) + np.cos(2 * w) / 60
    raise ValueError(f"spline order must be 3 or 5, got {order}")


@lru_cache(maxsize=8)
def _inverse_symbol(h: int, w: int, order: int) -> np.ndarray:
    """1 / B-spline symbol on the (2h, w + 1) half spectrum of the x2 grid, float32 (cached)."""
    fy = scipy.fft.fftfreq(2 * h)[:, None]
    fx = scipy.fft.rfftfreq(2 * w)[: w + 1][None, :]
    return (1.0 / (_bspline_symbol(fy, order) * _bspline_symbol(fx, order))).astype(np.float32)


def fourier_upsample2(img: np.ndarray, spline_order: int | None = None) -> np.ndarray:
    """Band-limited x2 upsampling: ``out[k, l] = T(k / 2, l / 2)``; float32 (2H, 2W).

    Even-size Nyquist bins are split half/half between +/- frequencies (real, symmetric
    interpolant). The image is treated as periodic. With ``spline_order`` the result is instead
    the B-spline coefficients of that upsampled image (the spline prefilter, applied as a
    periodic filter in the Fourier domain).
    """
    img = np.asarray(img, np.float32)
    h, w = img.shape
    spec = scipy.fft.rfft2(img, workers=1)
    big = np.zeros((2 * h, w + 1), spec.dtype)
    n_pos = (h + 1) // 2  # rows 0 .. n_pos - 1 hold frequencies 0 .. n_pos - 1
    n_neg = h // 2  # the last n_neg rows hold negative frequencies (the Nyquist row first, for even h)
    big[:n_pos, :spec.shape[1]] = spec[:n_pos]
    big[2 * h - n_neg:, :spec.shape[1]] = spec[n_pos:]
    if h % 2 == 0:  # split the Nyquist row between +h/2 and -h/2
        big[2 * h - n_neg] *= 0.5
        big[h // 2] = big[2 * h - n_neg]
    if w % 2 == 0:  # the Nyquist column becomes an ordinary frequency of the bigger grid: halve it
        big[:, w // 2] *= 0.5
    if spline_order:
        big *= _inverse_symbol(h, w, spline_order)
    return (scipy.fft.irfft2(big, s=(2 * h, 2 * w), workers=1) * 4.0).astype(np.float32)


def inverse_field(field: FieldFunction, rows: np.ndarray, cols: np.ndarray,
                  iterations: int = INVERSE_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """``d_inv(q)`` at points q = (rows, cols) by the fixed point ``d_inv = d(q - d_inv)``."""
    dx, dy = field(rows, cols)
    for _ in range(iterations - 1):
        dx, dy = field(rows - dy, cols - dx)
    return dx, dy


class SplineImage:
    """Band-limited image evaluable at any (row, col): B-spline on its x2 Fourier upsampling.

    The spline coefficients come from a periodic prefilter in the Fourier domain; points must stay
    inside the image (the margin), where the periodic and mirror extensions agree with the data.
    """

    def __init__(self, img: np.ndarray, order: int = SPLINE_ORDER):
        self.shape, self.order = img.shape, order
        self.coeffs = fourier_upsample2(img, spline_order=order)

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values at (rows, cols) in pixels of the original image; float32, shape of ``rows``."""
        coords = np.stack([2.0 * np.asarray(rows, np.float32), 2.0 * np.asarray(cols, np.float32)])
        return ndimage.map_coordinates(self.coeffs, coords, order=self.order, prefilter=False, mode="mirror",
                                       output=np.float32)


def source_positions(field: FieldFunction, margin: int, shape: tuple[int, int],
                     iterations: int = INVERSE_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """Texture-frame positions ``q - d_inv(q)`` whose content lands on each output pixel ``q``."""
    h, w = shape
    rows, cols = np.meshgrid(np.arange(margin, margin + h, dtype=np.float32),
                             np.arange(margin, margin + w, dtype=np.float32), indexing="ij")
    dx, dy = inverse_field(field, rows, cols, iterations)
    return rows - dy, cols - dx


def warp_by_field(texture: np.ndarray, field: FieldFunction, margin: int, iterations: int = INVERSE_ITERATIONS,
                  spline_order: int = SPLINE_ORDER, return_sources: bool = False):
    """(pre, post) of shape ``texture.shape - 2 * margin``: the texture's centre and its warp.

    ``field(rows, cols) -> (dx, dy)`` is in pixels of the texture frame (row 0 = texture row 0).
    With ``return_sources`` the source positions (:func:`source_positions`) are returned too.
    """
    h, w = texture.shape[0] - 2 * margin, texture.shape[1] - 2 * margin
    src_rows, src_cols = source_positions(field, margin, (h, w), iterations)
    post = SplineImage(texture, spline_order)(src_rows, src_cols)
    pre = np.array(texture[margin:margin + h, margin:margin + w], np.float32)
    return (pre, post, (src_rows, src_cols)) if return_sources else (pre, post)


def constant_field(dx: float, dy: float) -> FieldFunction:
    """A uniform field (for tests and null checks)."""
    return lambda rows, cols: (np.full(np.shape(rows), dx, np.float32), np.full(np.shape(rows), dy, np.float32))
