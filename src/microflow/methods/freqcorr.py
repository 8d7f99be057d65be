"""COSI-Corr-style frequency correlator (Leprince et al. 2007, IEEE TGRS 45(6)).

For every window pair (pre ``a``, post ``b``), after removing the mean and applying an apodization
taper, with spectra ``A = F[a]``, ``B = F[b]`` and frequencies ``f = (fx, fy)`` in cycles/pixel:

* normalized cross-power spectrum ``Q = A conj(B) / |A conj(B)|``; if ``b(x) = a(x - d)`` (content
  moved by ``+d``) then ``Q = exp(+i 2 pi f.d)``, so ``IFFT[Q]`` peaks at ``-d``;
* frequency mask ``M``: no DC, ``|f| <= max_frequency`` and Leprince's log-amplitude mask: keep
  ``N > mask_ratio * mean(N)`` with ``N = L - max L <= 0``, ``L = log|A conj(B)|`` (drops the weak,
  noise-dominated frequencies; a larger ``mask_ratio`` keeps more);
* coarse estimate ``d0 = -argmax IFFT[Q]`` refined by a 1-D parabola through the peak on each axis;
* phase-plane fit: minimise ``phi(d) = sum_f M w |Q - exp(i 2 pi f.d)|^2`` by Gauss-Newton on the
  residual phase ``r = arg(Q exp(-i 2 pi f.d))`` (``d += (sum w f f^T)^-1 sum w f r / 2 pi``), with
  Tukey-biweight re-weighting ``w = (1 - (r / pi)^2)^2`` (iteratively re-weighted least squares).
  The fit uses every masked frequency, so the estimate is continuous in ``d``: no pixel locking.

Large and sub-pixel shifts
    ``recenter`` takes the post window at the integer part of the coarse estimate (shifts of several
    pixels, up to about ``window / 4``, keep most of their common content). A taper fixed on the pre
    grid cuts the moved content differently in the two windows, which biases the fit toward zero
    (about -2 % of the shift, measured). Each ``refine`` pass therefore tapers the post window with
    the taper moved by the current sub-pixel estimate (the taper is analytic, so no image is
    resampled): the tapered post window is then the moved copy of the tapered pre window and the
    fit converges to the shift itself.

Confidence = ``sum M cos(r) / sum M`` clipped to [0, 1] = ``1 - phi / (2 sum M)``: 1 for a perfect
phase plane, 0 for random phases (COSI-Corr's SNR divides by ``4 sum M`` instead, mapping random
phases to 0.5).

Output: dense field on the pre grid (see :mod:`microflow.methods.sliding` for the grid, the
interpolation and the half-window NaN border).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from microflow.methods.base import DisplacementField
from microflow.methods.sliding import (APODIZATIONS, EDGES, INTERPOLATIONS, WindowGrid,
                                       apodization_window, check_pair, choice, clip_corners, densify,
                                       extract_windows, flag, iter_batches, non_negative_int, number_in,
                                       positive_int, window_grid)

_TINY = 1e-20
TaperSpec = tuple[str, float]  # (apodization kind, tukey_alpha)


def rfft_frequencies(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fy`` (size, 1), ``fx`` (1, size//2 + 1) in cycles/pixel, and the half-spectrum weights.

    The weights (0.5 on the ``fx = 0`` and Nyquist columns, 1 elsewhere) make a sum over the rfft
    half-plane proportional to the sum over the full Hermitian spectrum.
    """
    fy = np.fft.fftfreq(size).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(size).astype(np.float32)[None, :]
    half = np.ones((size, fx.shape[1]), np.float32)
    half[:, 0] = 0.5
    if size % 2 == 0:
        half[:, -1] = 0.5
    return fy, fx, half


def cross_power_spectrum(pre_w: np.ndarray, post_w: np.ndarray, pre_taper: np.ndarray,
                         post_taper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q = A conj(B) / |A conj(B)|`` and ``log|A conj(B)|`` of (B, w, w) windows (rfft half-plane).

    Each window loses its taper-weighted mean, then is multiplied by its taper.
    """
    def spectrum(win: np.ndarray, taper: np.ndarray) -> np.ndarray:
        taper = np.broadcast_to(taper, win.shape)
        mean = (win * taper).sum(axis=(1, 2), keepdims=True) / taper.sum(axis=(1, 2), keepdims=True)
        return scipy.fft.rfft2(((win - mean) * taper).astype(np.float32), axes=(1, 2))

    cross = spectrum(pre_w, pre_taper) * np.conj(spectrum(post_w, post_taper))
    amplitude = np.abs(cross)
    return cross / np.maximum(amplitude, _TINY), np.log(np.maximum(amplitude, _TINY))


def frequency_mask(log_amplitude: np.ndarray, fy: np.ndarray, fx: np.ndarray, *,
                   mask_ratio: float, max_frequency: float) -> np.ndarray:
    """Boolean (B, w, w//2+1) mask: no DC, ``|f| <= max_frequency``, Leprince log-amplitude mask."""
    radial = (np.hypot(fx, fy) <= max_frequency) & ~((fx == 0) & (fy == 0))
    normalized = log_amplitude - log_amplitude.max(axis=(1, 2), keepdims=True)
    mean = (normalized * radial).sum(axis=(1, 2), keepdims=True) / radial.sum()
    return radial & (normalized > mask_ratio * mean)


def peak_shift(q_spectrum: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Coarse shift ``-argmax IFFT[Q]`` with a parabola through the peak on each axis, (B,) each."""
    surface = scipy.fft.irfft2(q_spectrum, s=(size, size), axes=(1, 2))
    b = np.arange(len(surface))
    flat = surface.reshape(len(surface), -1).argmax(axis=1)
    iy, ix = np.unravel_index(flat, (size, size))

    def vertex(minus: np.ndarray, centre: np.ndarray, plus: np.ndarray) -> np.ndarray:
        curvature = minus - 2 * centre + plus
        ok = curvature < 0
        offset = np.where(ok, 0.5 * (minus - plus) / np.where(ok, curvature, -1.0), 0.0)
        return np.clip(offset, -0.5, 0.5)

    peak = surface[b, iy, ix]
    oy = vertex(surface[b, (iy - 1) % size, ix], peak, surface[b, (iy + 1) % size, ix])
    ox = vertex(surface[b, iy, (ix - 1) % size], peak, surface[b, iy, (ix + 1) % size])
    wrap = lambda i: (i + size // 2) % size - size // 2  # noqa: E731  index -> signed shift
    return -(wrap(ix) + ox), -(wrap(iy) + oy)


def fit_phase_plane(q_spectrum: np.ndarray, mask: np.ndarray, dx0: np.ndarray, dy0: np.ndarray, *,
                    iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IRLS fit of ``Q ~ exp(i 2 pi f.d)`` from ``(dx0, dy0)``; returns dx, dy, confidence (B,) each.

    Windows whose masked normal matrix is singular (no texture) get NaN and confidence NaN.
    """
    fy, fx, half = rfft_frequencies(q_spectrum.shape[1])
    fx, fy = np.broadcast_arrays(fx, fy)
    base = mask * half
    dx, dy = dx0.astype(np.float64), dy0.astype(np.float64)
    for _ in range(iterations):
        residual = _residual_phase(q_spectrum, fx, fy, dx, dy)
        w = base * (1.0 - (residual / np.pi) ** 2) ** 2
        sxx, sxy, syy, bx, by = (np.einsum("bij,ij->b", weights, freq) for weights, freq in
                                 ((w, fx * fx), (w, fx * fy), (w, fy * fy),
                                  (w * residual, fx), (w * residual, fy)))
        det = sxx * syy - sxy * sxy
        ok = det > 1e-12 * np.maximum(sxx * syy, _TINY)
        safe = np.where(ok, det, 1.0) * (2 * np.pi)
        dx = np.where(ok, dx + (syy * bx - sxy * by) / safe, np.nan)
        dy = np.where(ok, dy + (sxx * by - sxy * bx) / safe, np.nan)
    residual = _residual_phase(q_spectrum, fx, fy, np.nan_to_num(dx), np.nan_to_num(dy))
    total = base.sum(axis=(1, 2))
    coherence = (base * np.cos(residual)).sum(axis=(1, 2)) / np.maximum(total, _TINY)
    confidence = np.where(np.isfinite(dx) & (total > 0), np.clip(coherence, 0.0, 1.0), np.nan)
    return dx, dy, confidence


def _residual_phase(q_spectrum: np.ndarray, fx: np.ndarray, fy: np.ndarray, dx: np.ndarray,
                    dy: np.ndarray) -> np.ndarray:
    """``arg(Q exp(-i 2 pi (fx dx + fy dy)))`` with the ramp built separably (one exp per axis)."""
    ramp_x = np.exp(-2j * np.pi * fx[None, :1, :] * dx[:, None, None]).astype(np.complex64)
    ramp_y = np.exp(-2j * np.pi * fy[None, :, :1] * dy[:, None, None]).astype(np.complex64)
    return np.angle(q_spectrum * ramp_y * ramp_x)


def correlate_windows(pre_w: np.ndarray, post_w: np.ndarray, pre_taper: np.ndarray,
                      post_taper: np.ndarray, *, mask_ratio: float, max_frequency: float,
                      iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift (dx, dy) [px] of the post windows' content relative to the pre windows, and confidence.

    ``post_taper`` is ``pre_taper`` or per-window tapers moved by a prior shift estimate (B, w, w).
    """
    q_spectrum, log_amplitude = cross_power_spectrum(pre_w, post_w, pre_taper, post_taper)
    fy, fx, _ = rfft_frequencies(pre_w.shape[1])
    mask = frequency_mask(log_amplitude, fy, fx, mask_ratio=mask_ratio, max_frequency=max_frequency)
    dx0, dy0 = peak_shift(q_spectrum, pre_w.shape[1])
    return fit_phase_plane(q_spectrum, mask, dx0, dy0, iterations=iterations)


def coarse_shift(pre_w: np.ndarray, post_w: np.ndarray, taper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer-accurate shift (peak of ``IFFT[Q]``, |d| < w/2) of post windows, (B,) each."""
    q_spectrum, _ = cross_power_spectrum(pre_w, post_w, taper, taper)
    return peak_shift(q_spectrum, pre_w.shape[1])


def search_window(window: int, max_displacement: float | None, shape: tuple[int, int]) -> int:
    """Side [px] of the coarse-search windows: ``window``, or the even side >= 4 max_displacement
    (a shift keeps most common content up to a quarter of the window), at most the image's side."""
    if max_displacement is None:
        return window
    wanted = max(window, 2 * int(np.ceil(2 * max_displacement)))
    return max(window, min(wanted, min(shape) - min(shape) % 2))


def coarse_search(pre: np.ndarray, post: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int,
                  search: int, taper: TaperSpec) -> tuple[np.ndarray, np.ndarray]:
    """Integer shifts of the windows at corners (rows, cols), found on concentric ``search`` windows."""
    grow = (search - size) // 2
    r, c = clip_corners(rows - grow, cols - grow, search, pre.shape)
    return coarse_shift(extract_windows(pre, r, c, search), extract_windows(post, r, c, search),
                        apodization_window(search, *taper))


def correlate_grid(pre: np.ndarray, post: np.ndarray, grid: WindowGrid, taper: TaperSpec, *,
                   recenter: bool, refine: int, batch_size: int, progress: bool, search: int | None = None,
                   **fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window dx, dy [px] and confidence, each (grid.size,), in batches of FFTs.

    ``search`` (px, >= the window): side of the concentric windows of the integer re-centring.
    """
    size = grid.window
    search = size if search is None else search
    fixed = apodization_window(size, *taper)
    rows, cols = grid.corners()
    dx, dy, conf = (np.empty(grid.size) for _ in range(3))
    for sl in iter_batches(grid.size, batch_size, progress=progress, desc="freqcorr"):
        r, c = rows[sl], cols[sl]
        pre_w = extract_windows(pre, r, c, size)
        post_r, post_c = r, c
        if recenter:
            cx, cy = coarse_search(pre, post, r, c, size, search, taper) if search > size \
                else coarse_shift(pre_w, extract_windows(post, r, c, size), fixed)
            post_r, post_c = clip_corners(r + np.round(cy).astype(int), c + np.round(cx).astype(int),
                                          size, grid.shape)
        post_w = extract_windows(post, post_r, post_c, size)
        sx, sy, sc = correlate_windows(pre_w, post_w, fixed, fixed, **fit)
        for _ in range(refine):
            moved = apodization_window(size, *taper, np.nan_to_num(sy), np.nan_to_num(sx))
            sx, sy, sc = correlate_windows(pre_w, post_w, fixed, moved, **fit)
        dx[sl], dy[sl], conf[sl] = sx + (post_c - c), sy + (post_r - r), sc
    return dx, dy, conf


def estimate(pre: np.ndarray, post: np.ndarray, *, progress: bool = False, window: int = 32,
             step: int = 4, apodization: str = "hann", tukey_alpha: float = 0.5,
             mask_ratio: float = 1.0, max_frequency: float = 0.45, iterations: int = 4,
             recenter: bool = True, refine: int = 2, interpolation: str = "linear",
             edges: str = "nan", batch_size: int = 2048,
             max_displacement: float | None = None) -> DisplacementField:
    """Dense displacement of ``post`` relative to ``pre`` by the frequency correlator.

    window, step: window side and spacing [px]; apodization: taper (hann, tukey, none) with
    ``tukey_alpha`` the tapered fraction; mask_ratio: log-amplitude mask threshold ``m`` in
    (0, 10] (larger keeps more frequencies; 1 is Leprince's choice); max_frequency: radial cut
    [cycles/px, in (0, 0.5]]; iterations: IRLS phase-fit iterations; recenter: integer re-centring
    of the post windows (shifts up to about window/4); refine: moved-taper passes that remove the
    taper bias (0 disables); interpolation, edges: densification (see :func:`sliding.densify`);
    batch_size: windows per FFT batch (memory: about 40 * window^2 bytes per window);
    max_displacement: search range [px] of the re-centring (None: about window/4): the integer
    shift is then found on concentric windows of side ~4 max_displacement (autoRIFT's nested
    search), and the sub-pixel fit still uses ``window``.
    """
    pre, post = check_pair(pre, post)
    grid = window_grid(pre.shape, window, step)
    taper = (choice("apodization", apodization, APODIZATIONS),
             number_in("tukey_alpha", tukey_alpha, 0.0, 1.0))
    choice("interpolation", interpolation, INTERPOLATIONS)
    choice("edges", edges, EDGES)
    fit = dict(mask_ratio=number_in("mask_ratio", mask_ratio, 0.0, 10.0, low_open=True),
               max_frequency=number_in("max_frequency", max_frequency, 0.0, 0.5, low_open=True),
               iterations=positive_int("iterations", iterations))
    if max_displacement is not None:
        max_displacement = number_in("max_displacement", max_displacement, 0.0, 1e6, low_open=True)
    search = search_window(grid.window, max_displacement, pre.shape)
    dx, dy, conf = correlate_grid(pre, post, grid, taper, recenter=flag("recenter", recenter),
                                  refine=non_negative_int("refine", refine),
                                  batch_size=positive_int("batch_size", batch_size),
                                  progress=progress, search=search, **fit)
    return DisplacementField(*(densify(v, grid, interpolation=interpolation, edges=edges)
                               for v in (dx, dy, conf)))
