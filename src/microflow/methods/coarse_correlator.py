"""Independent evidence for the coarse-to-fine start: chip phase correlation at the coarsest level.

The network's coarsest level sees box-averaged imagery it was not trained on (low texture, real
change); on a real tidewater glacier it returned 0.2-0.4 level px where the ice moved 1.2-4.4, so the
pyramid never started (issue 24). A correlator does not learn what imagery looks like: at the coarsest
level ``L`` each ``CHIP`` x ``CHIP`` chip (every ``STEP`` level px) of pre and post gives the peak of its
normalized cross-power spectrum::

    Q(k)  = P(k) conj(A(k)) / |P(k) conj(A(k))|,   A, P = FFT(Hann * (chip - mean)) of pre, post
    q     = IFFT(Q),   d_chip = argmax q  (sub-pixel: a parabola through the peak and its neighbours
                                           on each axis; indices beyond CHIP/2 wrap to negative)

``post(p + d) = pre(p)`` gives a peak at ``+d``: the internal convention. The chip grid is interpolated
bilinearly to every level pixel and smoothed like the network's coarse field.

:func:`choose_network_or_candidates` then keeps, per level pixel, the candidate (network, correlator, zero) whose warp
gives the best local ZNCC over ``WINDOW`` level px, where the pre image is textured (local std >=
``MIN_STD``) and the gain over the network's own match exceeds ``MARGIN``; elsewhere the network's
field stays. The choice is made on the images, not on the network's word alone, so a correlator can
trigger the pyramid that the network's coarsest level would not have started.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from microflow.methods.local_stats import zncc_stats
from microflow.methods.match_choice import choose_by_match, textured_mask

CHIP = 32          # level px, correlation chip (a peak is found within +-CHIP/2 - 2)
STEP = 8           # level px between chip centres
WINDOW = 7         # level px, ZNCC window of the choice
MIN_STD = 0.3      # normalized intensity: flatter windows keep the network's field
MARGIN = 0.05      # ZNCC gain a candidate needs over the network's field
MIN_PEAK = 0.08    # normalized correlation peak height below which a chip has no estimate (zero)


def _hann(size: int, device, dtype) -> torch.Tensor:
    w = torch.hann_window(size, periodic=False, device=device, dtype=dtype)
    return (w[:, None] * w[None, :]).reshape(1, size * size, 1)


def _subpixel(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex offset in [-0.5, 0.5] of the parabola through three samples."""
    denom = left - 2 * centre + right
    offset = 0.5 * (left - right) / torch.where(denom.abs() > 1e-9, denom, torch.ones_like(denom))
    return offset.clamp(-0.5, 0.5)


def chip_correlation(pre: torch.Tensor, post: torch.Tensor, chip: int = CHIP,
                     step: int = STEP) -> tuple[torch.Tensor, torch.Tensor]:
    """Chip-grid displacements (B, 2, nh, nw) [level px] and peak heights (B, 1, nh, nw) of (B, 1, H, W) images."""
    b = pre.shape[0]
    window = _hann(chip, pre.device, pre.dtype)
    pa = F.unfold(pre, chip, stride=step)                  # (B, chip^2, N)
    pb = F.unfold(post, chip, stride=step)
    pa = (pa - pa.mean(1, keepdim=True)) * window
    pb = (pb - pb.mean(1, keepdim=True)) * window
    n = pa.shape[-1]
    fa = torch.fft.fft2(pa.transpose(1, 2).reshape(b, n, chip, chip))
    fb = torch.fft.fft2(pb.transpose(1, 2).reshape(b, n, chip, chip))
    cross = fb * fa.conj()
    q = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12)).real   # (B, N, chip, chip)
    flat = q.reshape(b, n, -1)
    peak, index = flat.max(-1)
    row, col = index // chip, index % chip

    def at(r, c):
        return torch.gather(flat, 2, ((r % chip) * chip + (c % chip)).unsqueeze(-1)).squeeze(-1)

    dy = row + _subpixel(at(row - 1, col), peak, at(row + 1, col))
    dx = col + _subpixel(at(row, col - 1), peak, at(row, col + 1))
    dy = torch.where(dy > chip / 2, dy - chip, dy)
    dx = torch.where(dx > chip / 2, dx - chip, dx)
    nh = (pre.shape[-2] - chip) // step + 1
    nw = (pre.shape[-1] - chip) // step + 1
    field = torch.stack([dx, dy], 1).reshape(b, 2, nh, nw)
    field = torch.where(peak.reshape(b, 1, nh, nw) >= MIN_PEAK, field, torch.zeros_like(field))
    return field, peak.reshape(b, 1, nh, nw)


def dense_correlation(pre: torch.Tensor, post: torch.Tensor, chip: int = CHIP, step: int = STEP) -> torch.Tensor:
    """(B, 2, H, W) [level px]: the chip grid interpolated to every pixel (edges replicated); zeros when
    the image is smaller than a chip."""
    h, w = pre.shape[-2:]
    if min(h, w) < chip:
        return torch.zeros(pre.shape[0], 2, h, w, device=pre.device, dtype=pre.dtype)
    grid, _ = chip_correlation(pre, post, chip, step)
    nh, nw = grid.shape[-2:]
    dense = F.interpolate(grid, size=((nh - 1) * step + 1, (nw - 1) * step + 1), mode="bilinear",
                          align_corners=True) if min(nh, nw) > 1 else grid.expand(-1, -1, 1, 1)
    top = left = chip // 2
    bottom, right = h - top - dense.shape[-2], w - left - dense.shape[-1]
    return F.pad(dense, (left, max(right, 0), top, max(bottom, 0)), mode="replicate")[..., :h, :w]


def choose_network_or_candidates(pre: torch.Tensor, post: torch.Tensor, network: torch.Tensor,
                                 candidates: list[torch.Tensor], window: int = WINDOW, min_std: float = MIN_STD,
                                 margin: float = MARGIN) -> torch.Tensor:
    """Per pixel, the candidate (B, 2, H, W) whose warp matches best, over the network's field (module doc;
    :func:`microflow.methods.match_choice.choose_by_match` with this module's window, texture and margin)."""
    stats = zncc_stats(pre, window)
    return choose_by_match(pre, post, network, candidates, window, margin, textured_mask(pre, window, min_std, stats),
                           stats)
