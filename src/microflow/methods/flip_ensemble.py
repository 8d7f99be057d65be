"""Flip ensembles: one network read on mirrored copies of a pair, mapped back and averaged.

A member m flips both images along some axes, runs the network, and maps the field back to the
original grid. For a flip of the columns (W px), a feature at column c lies at c' = W - 1 - c, so a
motion +dx becomes -dx there::

    d(p) = s_m * flip_m(d_m(flip_m(p)))        s = (-1 if columns flipped, -1 if rows flipped)

The mean over members removes the share of the error that depends on how the network reads the
texture's orientation (not the error the images share: change, compression, noise). Members, in the
order an ensemble of ``count`` uses them: identity, 180° rotation, columns, rows. A 2-member ensemble
(identity + 180°) keeps handedness; 4 adds both mirrors. Cost: ``count`` x one read.
"""

from __future__ import annotations

import torch

from microflow.errors import ParameterError

MEMBERS = ((), (-2, -1), (-1,), (-2,))   # flipped tensor dims of (B, C, H, W): none, both, columns, rows
COUNTS = (1, 2, 4)


def members(count: int) -> tuple[tuple[int, ...], ...]:
    """The flipped dims of the first ``count`` members (``count`` in :data:`COUNTS`)."""
    if count not in COUNTS:
        raise ParameterError(f"ensemble must be one of {', '.join(map(str, COUNTS))}, got {count}")
    return MEMBERS[:count]


def flip(tensor: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``tensor`` (..., H, W) flipped along ``dims``."""
    return torch.flip(tensor, dims) if dims else tensor


def unflip_field(field: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """A (B, 2, H, W) [dx, dy] field read on flipped images, back on the original grid and axes."""
    if not dims:
        return field
    sign = torch.tensor([-1.0 if -1 in dims else 1.0, -1.0 if -2 in dims else 1.0],
                        dtype=field.dtype, device=field.device)
    return torch.flip(field, dims) * sign.view(1, 2, 1, 1)


def ensemble_mean(read, pre: torch.Tensor, post: torch.Tensor, count: int, valid=None) -> list[torch.Tensor]:
    """Mean over the members of ``read(pre, post, valid) -> [field per iteration]``, per iteration.

    ``valid``: None or a tuple of (B, 1, H, W) masks, flipped with the images."""
    total = None
    for dims in members(count):
        flipped_valid = None if valid is None else tuple(flip(m, dims) for m in valid)
        fields = [unflip_field(f, dims) for f in read(flip(pre, dims), flip(post, dims), flipped_valid)]
        total = fields if total is None else [t + f for t, f in zip(total, fields)]
    return [t / count for t in total]
