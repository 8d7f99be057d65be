"""Per-pixel choice among candidate fields by how well each one's warp matches the images.

Used by the coarse-to-fine start (network, correlator or zero at the coarsest level,
:mod:`microflow.methods.coarse_correlator`) and by the rupture repair (neighbours' values,
:mod:`microflow.methods.discontinuity_repair`)::

    s_c(p) = ZNCC_w(pre, post(. + c(.)))(p)           for the current field f and each candidate c
    f'(p)  = c*(p),  c* = argmax_c s_c(p)   where s_c* > s_f(p) + margin and p is textured

Ties keep the earlier field (the current one first). ZNCC is blind to local gain and offset, so the
choice holds across radiometric change; on flat windows (local std below a threshold) it is noise, so
they keep ``current``. Fields are (B, 2, H, W) in px of the images' grid, images (B, 1, H, W) normalized.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from microflow.methods.local_stats import local_zncc, zncc_stats
from microflow.model.warp import warp_backward


def textured_mask(pre: torch.Tensor, window: int, min_std: float,
                  stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(B, 1, H, W) bool: windows of ``pre`` whose local std reaches ``min_std`` (normalized intensity);
    ``stats`` = :func:`zncc_stats` of ``pre`` when the caller already has them."""
    stats = zncc_stats(pre, window) if stats is None else stats
    return stats[1].sqrt() >= min_std


def choose_by_match(pre: torch.Tensor, post: torch.Tensor, current: torch.Tensor, candidates: Iterable[torch.Tensor],
                    window: int, margin: float, textured: torch.Tensor,
                    stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """f' of the module doc. ``stats`` = :func:`zncc_stats` of ``pre`` when the caller already has them."""
    stats = zncc_stats(pre, window) if stats is None else stats
    best = current
    score = local_zncc(pre, warp_backward(post, current, "bilinear"), window, stats) + margin
    for candidate in candidates:
        candidate_score = local_zncc(pre, warp_backward(post, candidate, "bilinear"), window, stats)
        take = (candidate_score > score) & textured
        best = torch.where(take, candidate, best)
        score = torch.where(take, candidate_score, score)
    return best
