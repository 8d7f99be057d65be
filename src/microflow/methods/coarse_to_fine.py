"""Coarse-to-fine starting field for MicroFlow: displacements beyond the trained range.

The shipped models were trained on peaks up to ``NATIVE_RANGE_PX`` (4 px). A field of up to
``max_displacement`` px is reached with a pyramid of 2x box-averaged images, coarsest first::

    L      = ceil(log2(max_displacement / NATIVE_RANGE_PX))      (0: no pyramid; coarsest side >= 32 px)
    f_L    = G * MicroFlow(pre_L, post_L)                         # d / 2^L <= 4 px: in range
    f_L    = G * choose(f_L, G * C(pre_L, post_L), by the local match)  # C: chip phase correlation
    f_l    = G * MicroFlow(pre_l, post_l, init = up(f_{l+1}))     # l = L-1 .. 1, a residual each time
    F      = up(f_1)                                              # full-resolution pixels
    f_0    = g(|F|) F,   g = 0 below GATE_LOW_PX, 1 above GATE_HIGH_PX, linear between

and the full-resolution MicroFlow starts from ``f_0`` (its iteration 1 sees post warped by it); the
halo the coarse levels leave around a large rupture is then mended by
:mod:`microflow.methods.discontinuity_repair`. Each
level is renormalized with its own robust statistics (averaging lowers the contrast). ``up`` is a
bilinear resize to the finer level's size, field values doubled; ``G *`` a Gaussian of
``SMOOTH_SIGMA`` level pixels. The smoothing matters: the network removes a smooth residual in one
pass (a uniform 0.5 px error: 0.70 -> 0.05 px) but not the pixel-scale noise of a coarse estimate
magnified by 2 per level (a 10.3 px shift: 0.14 px without smoothing, 0.05 with sigma 2).

Sub-pixel scenes lose nothing. The pyramid stops (and the run is that of a plain MicroFlow, from
zero) for a window whose coarsest field, in full-resolution pixels, stays a margin within the native range
(the 99th percentile of |f_L| 2^L below ``STOP_PX``): on sub-pixel scenes only the coarsest level
(1/4^L of the pixels) runs; on the synthetic test split the EPE is unchanged and the cost x1.06
(benchmarks/model_acceptance.py). ``STOP_PX`` sits a quarter below the native range, not above it: the
coarsest level reads a window moving 4-7 px a little low, and a model that read it at 4.4 instead of 4.6
px lost the whole window's range (a v3 fine-tune on the real Perito Moreno glacier, one window at ~2 px
where the ice moves ~5). Chosen on validation data (``benchmarks/diagnosis/pyramid_stop.py``, realistic
pairs of 2-10 px of the validation area): 4.5 -> 3.0 px takes the EPE of pixels moving 4-8 px from 0.56
to 0.29 px (`world`), leaves the Okada split unchanged, and costs pixels moving 0-2 px inside such
windows 0.069 -> 0.087 px. Where a pyramid did run, the
gate still starts pixels whose coarse field is below ``GATE_LOW_PX`` from zero, as the network was
trained, which is more precise there than a coarse start (0.3 px shift: 0.043 vs 0.054 px).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from microflow.errors import ParameterError
from microflow.methods.coarse_correlator import choose_network_or_candidates, dense_correlation
from microflow.model.normalization import IQR_TO_SIGMA, MIN_SCALE

NATIVE_RANGE_PX = 4.0     # the training range of the shipped models (peak |d|, category "large")
STOP_PX = 3.0             # a window whose coarsest field stays below this (99th percentile) runs plainly
GATE_LOW_PX = 1.0         # below: start from zero at full resolution
GATE_HIGH_PX = 2.0        # above: start from the coarse field
SMOOTH_SIGMA = 2.0        # level px, Gaussian smoothing of each coarse field
STOP_QUANTILE = 0.99
MIN_LEVEL_SIDE = 32       # px, smallest side of the coarsest level
DEFAULT_MAX_DISPLACEMENT = 32.0
USE_CORRELATOR = True     # the coarsest level's correlator candidate (issue 24); benchmarks toggle it for A/B runs


def pyramid_levels(max_displacement: float, shape: tuple[int, int]) -> int:
    """Number L of 2x levels so that ``max_displacement / 2^L <= NATIVE_RANGE_PX`` (coarsest side >= 32)."""
    if not max_displacement > 0:
        raise ParameterError(f"max_displacement must be > 0 px, got {max_displacement}")
    wanted = max(0, math.ceil(math.log2(max_displacement / NATIVE_RANGE_PX)))
    fits = max(0, int(math.floor(math.log2(max(min(shape) / MIN_LEVEL_SIDE, 1.0)))))
    return min(wanted, fits)


def renormalize(images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 1, h, w) images, each mapped to median 0 and IQR / 1.349 = 1: the robust normalization of
    :mod:`microflow.model.normalization`, on tensors.

    ``valid`` (B, 1, h, w) bool: the statistics come from those pixels only and the others are set to 0,
    the fill of no-data at full resolution. Without it a window that is half no-data (its zero fill)
    gets a tiny IQR, the level's contrast is blown up ~100x and the network's field with it."""
    if valid is None:
        median, scale = median_and_scale(images.flatten(1), dim=1)
        return (images - median.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)
    masked = torch.where(valid, images, torch.nan).flatten(1)  # NaN-skipping quantiles: one call per batch
    median, scale = median_and_scale(masked, dim=1)            # (an all-invalid window gets NaN, zeroed below)
    return torch.where(valid, (images - median.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1), 0.0)


def median_and_scale(values: torch.Tensor, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(median, max(IQR / 1.349, MIN_SCALE)) of ``values`` (along ``dim``, or of all of them); NaN
    values are skipped."""
    probabilities = torch.tensor([0.25, 0.5, 0.75], device=values.device, dtype=values.dtype)
    q = torch.nanquantile(values, probabilities, dim=dim)
    return q[1], ((q[2] - q[0]) / IQR_TO_SIGMA).clamp_min(MIN_SCALE)


def clamp_magnitude(field: torch.Tensor, limit: float) -> torch.Tensor:
    """(B, 2, h, w) field with every |f| above ``limit`` scaled down to ``limit`` (direction kept)."""
    magnitude = torch.linalg.vector_norm(field, dim=1, keepdim=True)
    return field * (limit / magnitude.clamp_min(limit))


def gaussian_smooth(field: torch.Tensor, sigma: float = SMOOTH_SIGMA) -> torch.Tensor:
    """(B, C, h, w) convolved with a separable Gaussian of ``sigma`` px (replicated borders)."""
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=field.dtype, device=field.device)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    b, c, h, w = field.shape
    flat = F.pad(field.reshape(b * c, 1, h, w), (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(F.conv2d(flat, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return flat.reshape(b, c, h, w)


def upsample_field(field: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(B, 2, h, w) field in level pixels -> (B, 2, H, W) in pixels of the finer grid ``shape``."""
    scale = torch.tensor([shape[1] / field.shape[-1], shape[0] / field.shape[-2]], device=field.device)
    return F.interpolate(field, size=shape, mode="bilinear", align_corners=False) * scale.view(1, 2, 1, 1)


def gate(field: torch.Tensor) -> torch.Tensor:
    """g(|F|) F: zero within the native range, the field itself beyond ``GATE_HIGH_PX`` (module doc)."""
    magnitude = torch.linalg.vector_norm(field, dim=1, keepdim=True)
    weight = ((magnitude - GATE_LOW_PX) / (GATE_HIGH_PX - GATE_LOW_PX)).clamp(0.0, 1.0)
    return field * weight


@torch.inference_mode()
def initial_field(net, pre: torch.Tensor, post: torch.Tensor, max_displacement: float,
                  iterations: int | None = None, levels_out: list | None = None,
                  correlator: bool | None = None,
                  valid: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor | None:
    """Full-resolution starting field f_0 (B, 2, H, W) px for normalized (B, 1, H, W) images, or
    None when no window of the batch reaches beyond the native range (run MicroFlow from zero).
    ``correlator`` (default :data:`USE_CORRELATOR`): at the coarsest level, a chip phase correlation
    competes with the network's field, pixel by pixel, by the local match after warping
    (:mod:`microflow.methods.coarse_correlator`), before the decision to run the pyramid.
    ``levels_out``, when given, receives ``(level, f_level)`` per level, coarsest first (diagnostics).
    ``valid``: (B, 1, H, W) bool masks of pre's and post's data (no-data filled with 0 in the images); a
    level pixel is valid when all its full-resolution pixels are, and only those set its statistics.
    Each level's field is clamped to the range, ``max_displacement / 2^level`` level px."""
    correlator = USE_CORRELATOR if correlator is None else correlator
    levels = pyramid_levels(max_displacement, tuple(pre.shape[-2:]))
    if levels == 0:
        return None
    pyramid = [(pre, post)]
    masks = [None if valid is None else tuple(m.to(pre.dtype) for m in valid)]
    for _ in range(levels):
        pyramid.append((F.avg_pool2d(pyramid[-1][0], 2), F.avg_pool2d(pyramid[-1][1], 2)))
        masks.append(None if valid is None else tuple(F.avg_pool2d(m, 2) for m in masks[-1]))
    field, active = None, None
    for level in range(levels, 0, -1):
        level_valid = (None, None) if valid is None else tuple(m > 0.999 for m in masks[level])
        a, b = (renormalize(img, m) for img, m in zip(pyramid[level], level_valid))
        init = None if field is None else upsample_field(field, tuple(a.shape[-2:]))
        field = gaussian_smooth(net(a, b, iterations, init=init)[-1])
        field = clamp_magnitude(field, max_displacement / 2 ** level)
        if level == levels and correlator:  # independent evidence: chip phase correlation, chosen by the match
            correlated = gaussian_smooth(dense_correlation(a, b))
            field = gaussian_smooth(choose_network_or_candidates(a, b, field, [correlated]))
            field = clamp_magnitude(field, max_displacement / 2 ** level)
        if levels_out is not None:
            levels_out.append((level, field))
        if active is None:
            magnitude = torch.linalg.vector_norm(field, dim=1).flatten(1) * 2 ** level
            active = torch.quantile(magnitude, STOP_QUANTILE, dim=1) >= STOP_PX
            if not bool(active.any()):
                return None  # within the native range everywhere: the plain full-resolution run
    start = gate(upsample_field(field, tuple(pre.shape[-2:]))) * active.view(-1, 1, 1, 1)
    return start if bool(start.abs().max() > 0) else None
