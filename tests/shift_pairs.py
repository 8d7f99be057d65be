"""Known-shift test pairs shared by the method tests: a texture and its band-limited translation."""

import numpy as np
import skimage.data

from microflow.synth.shift import fourier_shift


def texture_pair(dx, dy, name="gravel", size=128):
    """Central crops of a scikit-image texture and of its Fourier translation by (dx, dy) (no wrap-around)."""
    img = getattr(skimage.data, name)().astype(np.float64)
    moved = fourier_shift(img, dx, dy)
    o = (img.shape[0] - size) // 2
    crop = (slice(o, o + size), slice(o, o + size))
    return img[crop].astype(np.float32), moved[crop].astype(np.float32)


def medians(field):
    """Median (dx, dy) of a DisplacementField, NaN ignored."""
    return float(np.nanmedian(field.dx)), float(np.nanmedian(field.dy))
