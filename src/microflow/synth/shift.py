"""Band-limited (Fourier) translation of an image, the exact reference for sub-pixel tests.

``fourier_shift(img, dx, dy)`` moves the content by ``+dx`` columns and ``+dy`` rows, so a feature
at pre pixel p is at ``p + (dx, dy)`` in the result: the internal convention of
:mod:`microflow.convention`. The image is treated as periodic; crop the borders for tests.
"""

from __future__ import annotations

import numpy as np


def fourier_shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate ``img`` by (dx, dy) pixels with the Fourier shift theorem; returns float64."""
    img = np.asarray(img, np.float64)
    h, w = img.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    return np.fft.irfft2(np.fft.rfft2(img) * phase, s=(h, w))
