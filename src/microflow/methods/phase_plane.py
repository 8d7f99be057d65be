"""IRLS fit of a phase plane ``Q ~ exp(i 2 pi f.d)`` to normalized cross-power spectra (freqcorr).

See :mod:`microflow.methods.freqcorr` for the model. The fit only ever needs the residual phase
``r = arg(Q exp(-i 2 pi f.d))`` on the masked frequencies, so it works on the bins that some window of
the batch keeps (the union of the masks, about 2/3 of the rfft half-plane with the default radial
cut), in units of half turns (``rho = r / pi`` in [-1, 1]):

* ``arg Q`` is taken once (a float32 polynomial ``atan2``, error < 2e-7 rad; ``np.angle`` is about
  five times slower) and the ramp of the start point subtracted;
* each Gauss-Newton step ``delta`` then updates the residual in place, ``rho -= 2 f.delta`` wrapped
  back to [-1, 1], which is ``arg(Q exp(-i 2 pi f.d))`` for the new ``d`` without another ``arg``;
* the weighted sums are products with small frequency matrices (BLAS) on chunks of windows that
  stay in cache.
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-20
_EPS = np.float32(1e-30)
_SIGN = np.int32(-2 ** 31)
#: windows per chunk of the fit: the (chunk, bins) float32 work arrays stay in the L2/L3 caches
CHUNK = 256
#: atan(t) / (2 pi) ~ t P(t^2) on [0, 1]: least-squares fit in the minimax sense (Lawson's iteration,
#: 8 terms), max error 6e-9 turns (4e-8 rad) in float64, 2.5e-8 turns (1.6e-7 rad) in float32
_ATAN_COEFFICIENTS = np.array([0.31830967471156923, -0.10609224278639663, 0.06349190097997703,
                               -0.04427259920249199, 0.03069221957248678, -0.01779766453583412,
                               0.0069593535407077994, -0.0012906542314269978], np.float32) / 2


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


def turns(im: np.ndarray, re: np.ndarray) -> np.ndarray:
    """``arctan2(im, re) / (2 pi)`` of float32 arrays, in [-1/2, 1/2], as float32 (error < 3e-8).

    The angle of ``(|re|, |im|)`` is ``1/8 + atan(t) / (2 pi)`` with ``t = (|im| - |re|) / (|im| + |re|)``
    in [-1, 1]; the signs then pick the quadrant, with arctan2's conventions for signed zeros.
    """
    sign_re = np.bitwise_and(re.view(np.int32), _SIGN)
    sign_im = np.bitwise_and(im.view(np.int32), _SIGN)
    ax, ay = np.abs(re), np.abs(im)
    t = ay - ax
    t -= _EPS                                    # both zero: t = -1, angle 0 or 1/2 as arctan2
    ay += ax
    ay += _EPS
    t /= ay
    s = np.multiply(t, t, out=ax)
    poly = np.full_like(s, _ATAN_COEFFICIENTS[-1])
    for c in _ATAN_COEFFICIENTS[-2::-1]:
        poly *= s
        poly += c
    poly *= t
    np.subtract(np.float32(0.125), poly, out=poly)        # 1/4 - angle of (|re|, |im|), >= 0
    bits = poly.view(np.int32)
    bits ^= sign_re
    np.subtract(np.float32(0.25), poly, out=poly)         # angle of (re, |im|) in [0, 1/2]
    bits ^= sign_im
    return poly


def fit_phase_plane(q_spectrum: np.ndarray, mask: np.ndarray, dx0: np.ndarray, dy0: np.ndarray, *,
                    iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IRLS fit of ``Q ~ exp(i 2 pi f.d)`` from ``(dx0, dy0)``; returns dx, dy, confidence (B,) each.

    ``q_spectrum`` (B, w, w//2+1) rfft half-plane, ``mask`` boolean of that shape. Gauss-Newton on the
    residual phase with Tukey-biweight weights, ``iterations`` steps; confidence ``sum M cos r / sum M``
    at the final estimate, clipped to [0, 1]. Windows whose masked normal matrix is singular (no
    texture) get NaN and confidence NaN.
    """
    n, size, width = q_spectrum.shape
    fy, fx, half = rfft_frequencies(size)
    fx, fy = (np.ascontiguousarray(v).ravel() for v in np.broadcast_arrays(fx, fy))
    mask = np.asarray(mask).reshape(n, -1)
    keep = np.flatnonzero(mask.any(axis=0))
    fx, fy, half = fx[keep], fy[keep], half.ravel()[keep]
    normal = [fx * fx, fx * fy, fy * fy]                     # sums w fx^2, w fx fy, w fy^2
    slope = np.stack([fx, fy])                               # (2, K): sums w tau f; phase of d
    q = q_spectrum.reshape(n, -1)
    chunks = [slice(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]
    # residual phase tau = r / (2 pi) in turns, and the weights 16 M half (so that w = base (1 - 4 tau^2)^2)
    tau = np.empty((n, len(keep)), np.float32)
    base = np.empty_like(tau)
    d = np.stack([np.asarray(dx0, np.float64), np.asarray(dy0, np.float64)], axis=1)
    for sl in chunks:
        tau[sl] = turns(q.imag[sl][:, keep], q.real[sl][:, keep])
        np.multiply(mask[sl][:, keep], 16 * half, out=base[sl])
    step = d.astype(np.float32)
    sums = np.empty((5, n), np.float32)
    w = np.empty((min(CHUNK, n), len(keep)), np.float32)
    scratch = np.empty_like(w)
    for k in range(iterations + 1):  # the last round only brings tau to the final estimate
        for sl in chunks:
            t, wc, sc = tau[sl], w[:sl.stop - sl.start], scratch[:sl.stop - sl.start]
            t -= step[sl] @ slope
            np.rint(t, out=sc)
            t -= sc                                          # wrapped into [-1/2, 1/2]
            if k == iterations:
                continue
            np.multiply(t, t, out=wc)
            wc -= np.float32(0.25)
            wc *= wc
            wc *= base[sl]                                   # Tukey biweight of r = 2 pi tau
            np.multiply(wc, t, out=sc)
            for j, freq in enumerate(normal):
                np.dot(wc, freq, out=sums[j, sl])
            np.dot(sc, fx, out=sums[3, sl])
            np.dot(sc, fy, out=sums[4, sl])
        if k == iterations:
            break
        sxx, sxy, syy, bx, by = sums
        det = sxx * syy - sxy * sxy
        ok = det > 1e-12 * np.maximum(sxx * syy, _TINY)
        safe = np.where(ok, det, 1.0)
        step = np.stack([np.where(ok, (syy * bx - sxy * by) / safe, np.nan),
                         np.where(ok, (sxx * by - sxy * bx) / safe, np.nan)], axis=1)
        d += step
    coherence = np.empty(n, np.float32)
    total = np.empty(n, np.float32)
    for sl in chunks:
        sc = scratch[:sl.stop - sl.start]
        np.multiply(tau[sl], np.float32(2 * np.pi), out=sc)
        np.cos(sc, out=sc)
        sc *= base[sl]
        coherence[sl] = sc.sum(axis=1)
        total[sl] = base[sl].sum(axis=1)
    coherence /= np.maximum(total, _TINY)
    dx, dy = d.T
    confidence = np.where(np.isfinite(dx) & (total > 0), np.clip(coherence, 0.0, 1.0), np.nan)
    return dx, dy, confidence
