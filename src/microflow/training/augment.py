"""Geometric augmentation of training pairs: random crop and flips that keep the truth consistent.

Samples are dicts ``{"pre": (H, W), "post": (H, W), "flow": (2, H, W) = [dx, dy] px, "category": int,
"fault_mask": (H, W) bool or None}`` (the layout of :mod:`microflow.synth.dataset`).

Flipping the columns (x -> W-1-x) of both images maps a feature at pre x, seen at post x + dx, to
pre x' = W-1-x and post x' - dx: the flipped field is ``dx'(x') = -dx(W-1-x')``. Likewise flipping
the rows negates ``dy``. The other component is only re-indexed.
"""

from __future__ import annotations

import numpy as np

IMAGE_KEYS = ("pre", "post", "fault_mask")


def _apply(sample: dict, image_fn, flow_fn) -> dict:
    out = dict(sample)
    for key in IMAGE_KEYS:
        if sample.get(key) is not None:
            out[key] = np.ascontiguousarray(image_fn(sample[key]))
    out["flow"] = np.ascontiguousarray(flow_fn(sample["flow"]))
    return out


def crop(sample: dict, top: int, left: int, size: int) -> dict:
    """The ``size`` x ``size`` window at (top, left) of every array of the sample."""
    rows, cols = slice(top, top + size), slice(left, left + size)
    return _apply(sample, lambda a: a[rows, cols], lambda f: f[:, rows, cols])


def random_crop(sample: dict, size: int, rng: np.random.Generator) -> dict:
    """Uniformly placed square crop (the whole sample when it is not larger than ``size``)."""
    height, width = sample["pre"].shape
    size = min(size, height, width)
    return crop(sample, int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1)), size)


def center_crop(sample: dict, size: int) -> dict:
    height, width = sample["pre"].shape
    size = min(size, height, width)
    return crop(sample, (height - size) // 2, (width - size) // 2, size)


def flip_columns(sample: dict) -> dict:
    """Mirror left-right; dx changes sign."""
    return _apply(sample, lambda a: a[:, ::-1], lambda f: f[:, :, ::-1] * np.array([-1, 1], f.dtype)[:, None, None])


def flip_rows(sample: dict) -> dict:
    """Mirror top-bottom; dy changes sign."""
    return _apply(sample, lambda a: a[::-1], lambda f: f[:, ::-1] * np.array([1, -1], f.dtype)[:, None, None])


def random_flips(sample: dict, rng: np.random.Generator, probability: float = 0.5) -> dict:
    """Each flip applied independently with ``probability``."""
    if rng.random() < probability:
        sample = flip_columns(sample)
    if rng.random() < probability:
        sample = flip_rows(sample)
    return sample


def augment(sample: dict, crop_size: int, rng: np.random.Generator, flip_probability: float = 0.5) -> dict:
    """Random crop then random flips."""
    return random_flips(random_crop(sample, crop_size, rng), rng, flip_probability)
