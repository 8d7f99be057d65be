"""Repair of the blurred step a coarse-to-fine start leaves at a large rupture.

The coarse levels of :mod:`microflow.methods.coarse_to_fine` see a surface rupture a few coarse
pixels wide, so the start they hand to the full-resolution network mixes the two sides of the fault
over tens of pixels (10-20 px from a 30 px rupture: 10 px wrong). The network, trained on residuals
of a few pixels, keeps that halo. Away from it the field is right to a few hundredths of a pixel,
and on each side of the fault it varies smoothly, so the right value for a halo pixel is nearby on
its own side. Candidate propagation (PatchMatch-like, a fixed ring of offsets) finds it::

    c_o(p)  = f(p + o)                          o in RADII x DIRECTIONS (px)
    s_o(p)  = ZNCC_w(pre, post(. + c_o(.)))(p)  w = WINDOW px
    f'(p)   = c_o*(p),  o* = argmax_o s_o(p),   where s_o* > s_0(p) + MARGIN and std_w(pre) >= MIN_STD

(``s_0`` scores the current field; flat windows, where ZNCC is noise, keep it). ``ROUNDS`` rounds
carry a good value further than the largest radius; the network then refines from ``f'`` (its
residuals are in range again), and the whole is repeated ``CYCLES`` times. On the VALIDATION
ruptures of ``benchmarks/large_displacement.py``'s generator (network alone, peaks 6-32 px) the
far-field EPE (> 10 px from the trace) falls from 0.65 to 0.33 px and smooth glacier flows keep theirs
(0.127 -> 0.122 px). With MIN_STD = 0.1 a third cycle gives 0.32 and 0.14 px (no gain); candidates
extrapolated linearly with the source's field gradient, c_o(p) = f(p + o) - J(p + o) o, did worse
(instead of the constant ones: 0.45 rupture, 0.19 glacier; beside them: 0.32, 0.16).
``benchmarks/diagnosis/discontinuity_repair_validation.py`` reproduces the constant-candidate rows.

Only near steps (``STEEP``, since 2026-12-07). Until then every textured pixel could switch, and with `world2`
and real temporal change the repair swapped pixels of smooth flows on ZNCC noise. Now a pixel may change only
within ``WINDOW // 2`` px of one where the field changes by more than ``STEEP`` px per px (a blurred step; a
glacier's strain is a few hundredths). VALIDATION pairs only (docs/DISCONTINUITY_REPAIR_VALIDATION.md):

    large-displacement pairs, far EPE [px]     glacier  rupture    realistic pairs, EPE 0-2 / 2-4 / 4-8 / 8-40 px
    no repair                                  0.059    0.471      0.062 / 0.086 / 0.250 / 0.176
    every pixel (before)                       0.083    0.202      0.089 / 0.125 / 0.299 / 0.194
    STEEP 0.1                                  0.071    0.188      0.069 / 0.092 / 0.236 / 0.156
    STEEP 0.2                                  0.064    0.185      0.067 / 0.088 / 0.211 / 0.158

Only runs where the coarse-to-fine pyramid ran; sub-pixel scenes never reach it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from microflow.methods.local_stats import zncc_stats
from microflow.methods.match_choice import choose_by_match, textured_mask

RADII = (8, 16, 24, 32, 48)      # px, candidate offsets
DIRECTIONS = 8                   # evenly spaced directions per radius
WINDOW = 15                      # px, ZNCC window (about the halo's width: the window stays on one side)
MARGIN = 0.0                     # ZNCC gain a candidate needs over the current field
MIN_STD = 0.3                    # normalized intensity: flatter windows keep their field (0.1: glaciers
                                 # 0.130 px instead of 0.122, ruptures unchanged; validation)
ROUNDS = 2                       # propagation rounds per cycle
STEEP = 0.2                      # px/px: only pixels near a slope of the field steeper than this may change
CYCLES = 2                       # propagate -> refine cycles


def ring_offsets(radii: tuple[int, ...] = RADII, directions: int = DIRECTIONS) -> list[tuple[int, int]]:
    """Integer (row, column) offsets: ``directions`` evenly spaced directions at each radius."""
    offsets = []
    for radius in radii:
        for k in range(directions):
            angle = 2 * math.pi * k / directions
            offsets.append((int(round(radius * math.sin(angle))), int(round(radius * math.cos(angle)))))
    return list(dict.fromkeys(offsets))


def shift_field(field: torch.Tensor, offset: tuple[int, int]) -> torch.Tensor:
    """(B, 2, H, W) field read at p + offset (row, column), replicated beyond the borders."""
    dy, dx = offset
    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return field
    height, width = field.shape[-2:]
    padded = F.pad(field, (pad, pad, pad, pad), mode="replicate")
    return padded[..., pad + dy:pad + dy + height, pad + dx:pad + dx + width]


def steep_mask(field: torch.Tensor, slope: float, radius: int) -> torch.Tensor:
    """(B, 1, H, W) bool: pixels within ``radius`` px of one where the (B, 2, H, W) field changes by more
    than ``slope`` px per px (the largest central-difference slope of either component): the halo of a
    step, not a smooth flow."""
    gy, gx = torch.gradient(field, dim=(-2, -1))
    steep = (torch.maximum(gx.abs(), gy.abs()).amax(dim=1, keepdim=True) > slope).to(field.dtype)
    return F.max_pool2d(steep, 2 * radius + 1, stride=1, padding=radius) > 0


def propagate(pre: torch.Tensor, post: torch.Tensor, field: torch.Tensor, rounds: int = ROUNDS,
              window: int = WINDOW, margin: float = MARGIN, min_std: float = MIN_STD,
              offsets: list[tuple[int, int]] | None = None, steep: float | None = None) -> torch.Tensor:
    """f' of the module doc for normalized (B, 1, H, W) images and a (B, 2, H, W) field [px]; only pixels near
    a slope of the starting field steeper than ``steep`` px/px (default ``STEEP``; 0: every pixel) may change."""
    offsets = ring_offsets() if offsets is None else offsets
    steep = STEEP if steep is None else steep
    stats = zncc_stats(pre, window)
    textured = textured_mask(pre, window, min_std, stats)
    if steep > 0:
        textured = textured & steep_mask(field, steep, window // 2)
    for _ in range(rounds):
        start = field
        field = choose_by_match(pre, post, start, (shift_field(start, o) for o in offsets), window, margin,
                                textured, stats)
    return field


def repair(net, pre: torch.Tensor, post: torch.Tensor, flows: list[torch.Tensor], iterations: int | None = None,
           started: torch.Tensor | None = None, cycles: int = CYCLES, **propagate_options) -> list[torch.Tensor]:
    """Fields f_1 .. f_K of the last of ``cycles`` propagate -> refine cycles, from the network's
    ``flows`` of a coarse-to-fine start (module doc). ``started`` (B,) bool selects the windows whose
    start was not zero; the others keep ``flows``, so a window's field does not depend on its batch."""
    chosen = torch.arange(len(pre), device=pre.device) if started is None else started.nonzero().flatten()
    if len(chosen) == 0:
        return flows
    a, b, part = pre[chosen], post[chosen], [f[chosen] for f in flows]
    for _ in range(cycles):
        part = net(a, b, iterations, init=propagate(a, b, part[-1], **propagate_options))
    merged = [f.clone() for f in flows]
    for whole, mended in zip(merged, part):
        whole[chosen] = mended
    return merged
