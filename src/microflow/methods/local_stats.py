"""Local window statistics of (B, 1, H, W) tensors: box mean and zero-normalized cross-correlation.

Windows are ``size`` x ``size`` px centred on each pixel, with replicated borders::

    box_w(x)(p)  = mean of x over the window at p
    ZNCC_w(a, b) = cov_w(a, b) / sqrt(var_w(a) var_w(b) + eps)       in [-1, 1]

ZNCC is blind to a local gain and offset between the images (illumination, band, season), so it
compares texture in form, not in brightness.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ZNCC_EPS = 1e-6      # (normalized intensity)^4: keeps flat windows finite (their ZNCC tends to 0)


def box_mean(values: torch.Tensor, size: int) -> torch.Tensor:
    """Local mean of (B, C, H, W) over a ``size`` x ``size`` window (replicated borders)."""
    half = size // 2
    padded = F.pad(values, (half, half, half, half), mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)


def local_std(values: torch.Tensor, size: int) -> torch.Tensor:
    """Local standard deviation of (B, C, H, W) over a ``size`` window."""
    mean = box_mean(values, size)
    return (box_mean(values * values, size) - mean * mean).clamp_min(0.0).sqrt()


def local_zncc(a: torch.Tensor, b: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, H, W) zero-normalized cross-correlation of ``a`` and ``b`` over ``size`` windows."""
    mean_a, mean_b = box_mean(a, size), box_mean(b, size)
    cov = box_mean(a * b, size) - mean_a * mean_b
    var_a = (box_mean(a * a, size) - mean_a * mean_a).clamp_min(0.0)
    var_b = (box_mean(b * b, size) - mean_b * mean_b).clamp_min(0.0)
    return cov / torch.sqrt(var_a * var_b + ZNCC_EPS)
