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

Computation
    Windows go in batches of FFTs. The pre spectrum ``A`` (fixed taper) is computed once per batch
    and serves the integer re-centring and every pass; a window that the re-centring does not move
    reuses the re-centring's ``Q`` and peak in its first pass; only the post spectrum is recomputed
    per ``refine`` pass. The phase-plane fit lives in :mod:`microflow.methods.phase_plane`.
    ``workers`` threads run batches concurrently (numpy and the FFTs release the GIL); results do not
    depend on ``workers`` or ``batch_size``.

Output: dense field on the pre grid (see :mod:`microflow.methods.sliding` for the grid, the
interpolation and the half-window NaN border).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft
from tqdm.auto import tqdm

from microflow.methods.base import DisplacementField
from microflow.methods.phase_plane import fit_phase_plane, rfft_frequencies
from microflow.methods.sliding import (APODIZATIONS, EDGES, INTERPOLATIONS, WindowGrid,
                                       apodization_window, check_pair, choice, clip_corners, densify,
                                       extract_windows, flag, iter_batches, non_negative_int, number_in,
                                       positive_int, window_grid)

__all__ = ["coarse_search", "coarse_shift", "correlate_grid", "estimate", "fit_phase_plane", "frequency_mask", "normalized_cross", "peak_shift",
           "rfft_frequencies", "search_window", "spectrum"]

_TINY = 1e-20
TaperSpec = tuple[str, float]  # (apodization kind, tukey_alpha)


def spectrum(win: np.ndarray, taper: np.ndarray) -> np.ndarray:
    """rfft2 of (B, w, w) windows less their taper-weighted mean, times the taper ((w, w) or (B, w, w))."""
    taper_sum = taper.sum(axis=(-2, -1), keepdims=True)
    mean = (win * taper).sum(axis=(1, 2), keepdims=True) / taper_sum
    return scipy.fft.rfft2(((win - mean) * taper).astype(np.float32, copy=False), axes=(1, 2))


def normalized_cross(pre_spectrum: np.ndarray, post_spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q = A conj(B) / |A conj(B)|`` and ``|A conj(B)|`` of two spectra."""
    cross = pre_spectrum * np.conj(post_spectrum)
    amplitude = np.abs(cross)
    cross /= np.maximum(amplitude, _TINY)
    return cross, amplitude


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


def _fit(q_spectrum: np.ndarray, amplitude: np.ndarray, peak: tuple[np.ndarray, np.ndarray] | None, *,
         mask_ratio: float, max_frequency: float, iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask, coarse peak (unless given) and phase-plane fit of one pass."""
    size = q_spectrum.shape[1]
    fy, fx, _ = rfft_frequencies(size)
    mask = frequency_mask(np.log(np.maximum(amplitude, _TINY)), fy, fx, mask_ratio=mask_ratio,
                          max_frequency=max_frequency)
    dx0, dy0 = peak_shift(q_spectrum, size) if peak is None else peak
    return fit_phase_plane(q_spectrum, mask, dx0, dy0, iterations=iterations)


def coarse_shift(pre_w: np.ndarray, post_w: np.ndarray, taper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer-accurate shift (peak of ``IFFT[Q]``, |d| < w/2) of post windows, (B,) each."""
    q_spectrum, _ = normalized_cross(spectrum(pre_w, taper), spectrum(post_w, taper))
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


def _correlate_batch(pre: np.ndarray, post: np.ndarray, r: np.ndarray, c: np.ndarray, size: int,
                     taper: TaperSpec, fixed: np.ndarray, *, recenter: bool, refine: int, search: int,
                     **fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dy, confidence of the windows at corners (r, c); see :func:`correlate_grid`."""
    pre_spectrum = spectrum(extract_windows(pre, r, c, size), fixed)
    post_r, post_c, first = r, c, None
    if recenter and search > size:
        cx, cy = coarse_search(pre, post, r, c, size, search, taper)
    elif recenter:  # the re-centring's Q and peak are the first pass's for the windows it leaves put
        q_spectrum, amplitude = normalized_cross(pre_spectrum, spectrum(extract_windows(post, r, c, size), fixed))
        cx, cy = peak_shift(q_spectrum, size)
        first = q_spectrum, amplitude, (cx, cy)
    if recenter:
        post_r, post_c = clip_corners(r + np.round(cy).astype(int), c + np.round(cx).astype(int),
                                      size, pre.shape)
    post_w = extract_windows(post, post_r, post_c, size)
    if first is None:
        first = *normalized_cross(pre_spectrum, spectrum(post_w, fixed)), None
    else:
        moved = np.flatnonzero((post_r != r) | (post_c != c))
        if moved.size:
            q_spectrum, amplitude, (px, py) = first
            q_spectrum[moved], amplitude[moved] = normalized_cross(pre_spectrum[moved],
                                                                   spectrum(post_w[moved], fixed))
            px, py = px.copy(), py.copy()
            px[moved], py[moved] = peak_shift(q_spectrum[moved], size)
            first = q_spectrum, amplitude, (px, py)
    sx, sy, sc = _fit(*first, **fit)
    for _ in range(refine):
        moved_taper = apodization_window(size, *taper, np.nan_to_num(sy), np.nan_to_num(sx))
        q_spectrum, amplitude = normalized_cross(pre_spectrum, spectrum(post_w, moved_taper))
        sx, sy, sc = _fit(q_spectrum, amplitude, None, **fit)
    return sx + (post_c - c), sy + (post_r - r), sc


def correlate_grid(pre: np.ndarray, post: np.ndarray, grid: WindowGrid, taper: TaperSpec, *,
                   recenter: bool, refine: int, batch_size: int, progress: bool, search: int | None = None,
                   workers: int = 1, **fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window dx, dy [px] and confidence, each (grid.size,), in batches of FFTs.

    ``search`` (px, >= the window): side of the concentric windows of the integer re-centring.
    ``workers``: threads running batches concurrently.
    """
    size = grid.window
    search = size if search is None else search
    fixed = apodization_window(size, *taper)
    rows, cols = grid.corners()
    dx, dy, conf = (np.empty(grid.size) for _ in range(3))

    def run(sl: slice) -> None:
        dx[sl], dy[sl], conf[sl] = _correlate_batch(pre, post, rows[sl], cols[sl], size, taper, fixed,
                                                    recenter=recenter, refine=refine, search=search, **fit)

    if workers == 1:
        for sl in iter_batches(grid.size, batch_size, progress=progress, desc="freqcorr"):
            run(sl)
    else:
        slices = list(iter_batches(grid.size, batch_size))
        with ThreadPoolExecutor(workers) as pool:
            for _ in tqdm(pool.map(run, slices), total=len(slices), desc="freqcorr", unit="batch",
                          disable=not progress, leave=False):
                pass
    return dx, dy, conf


def estimate(pre: np.ndarray, post: np.ndarray, *, progress: bool = False, window: int = 32,
             step: int = 4, apodization: str = "hann", tukey_alpha: float = 0.5,
             mask_ratio: float = 1.0, max_frequency: float = 0.45, iterations: int = 4,
             recenter: bool = True, refine: int = 2, interpolation: str = "linear",
             edges: str = "nan", batch_size: int = 2048,
             max_displacement: float | None = None, workers: int = 1) -> DisplacementField:
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
    search), and the sub-pixel fit still uses ``window``; workers: threads running batches
    concurrently (same results; memory per thread as ``batch_size``).
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
                                  progress=progress, search=search,
                                  workers=positive_int("workers", workers), **fit)
    return DisplacementField(*(densify(v, grid, interpolation=interpolation, edges=edges)
                               for v in (dx, dy, conf)))
