"""Local window statistics of (B, 1, H, W) tensors: box mean and zero-normalized cross-correlation.

Windows are ``size`` x ``size`` px centred on each pixel, with replicated borders::

    box_w(x)(p)  = mean of x over the window at p
    ZNCC_w(a, b) = cov_w(a, b) / sqrt(var_w(a) var_w(b) + eps)       in [-1, 1]

ZNCC is blind to a local gain and offset between the images (illumination, band, season), so it
compares texture in form, not in brightness.

The box is separable: a ``size`` x 1 mean, then a 1 x ``size`` mean, 2 ``size`` operations per pixel
instead of ``size``² (on 2 CPU cores the 2-D pool of a 15 px window cost ~85 % of a real glacier
pair's run). A caller that scores many candidates against one image passes that image's
:func:`zncc_stats` once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ZNCC_EPS = 1e-6      # (normalized intensity)^4: keeps flat windows finite (their ZNCC tends to 0)


def box_mean(values: torch.Tensor, size: int) -> torch.Tensor:
    """Local mean of (B, C, H, W) over a ``size`` x ``size`` window (replicated borders), separably."""
    half = size // 2
    padded = F.pad(values, (half, half, half, half), mode="replicate")
    return F.avg_pool2d(F.avg_pool2d(padded, (size, 1), stride=1), (1, size), stride=1)


def local_std(values: torch.Tensor, size: int) -> torch.Tensor:
    """Local standard deviation of (B, C, H, W) over a ``size`` window."""
    return zncc_stats(values, size)[1].sqrt()


def zncc_stats(values: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(box_w(x), var_w(x)) of (B, C, H, W): what :func:`local_zncc` needs of one image."""
    mean = box_mean(values, size)
    return mean, (box_mean(values * values, size) - mean * mean).clamp_min(0.0)


def local_zncc(a: torch.Tensor, b: torch.Tensor, size: int,
               a_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(B, 1, H, W) zero-normalized cross-correlation of ``a`` and ``b`` over ``size`` windows;
    ``a_stats``: ``zncc_stats(a, size)`` when already computed."""
    mean_a, var_a = zncc_stats(a, size) if a_stats is None else a_stats
    mean_b, var_b = zncc_stats(b, size)
    cov = box_mean(a * b, size) - mean_a * mean_b
    return cov / torch.sqrt(var_a * var_b + ZNCC_EPS)
