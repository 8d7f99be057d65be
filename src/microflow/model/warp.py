"""Differentiable backward warping and padding helpers (pure functions on tensors).

Backward warp of ``post`` onto the pre grid with the field ``f`` (internal convention, pixels):

    warped(p) = post(p + f(p)),  p = (x = column, y = row),

because a feature at pre pixel p is at p + f(p) in post. Sampling uses ``grid_sample`` with
``align_corners=True`` (pixel centres at -1 ... +1) and border padding; the column coordinate is
normalized by (W - 1) and the row coordinate by (H - 1), separately, so non-square inputs are exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from microflow.errors import ParameterError

INTERPOLATIONS = ("bicubic", "bilinear")


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(2, H, W) pixel coordinates ``[x = column, y = row]``."""
    rows = torch.arange(height, device=device, dtype=dtype)
    cols = torch.arange(width, device=device, dtype=dtype)
    y, x = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([x, y])


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 2) grid_sample grid of the points p + f(p) for a (B, 2, H, W) flow in pixels.

    Normalized coordinates: x_n = 2 x / (W - 1) - 1, y_n = 2 y / (H - 1) - 1 (align_corners=True).
    """
    _, _, height, width = flow.shape
    points = pixel_grid(height, width, flow.device, flow.dtype).unsqueeze(0) + flow
    x_n = 2.0 * points[:, 0] / max(width - 1, 1) - 1.0
    y_n = 2.0 * points[:, 1] / max(height - 1, 1) - 1.0
    return torch.stack([x_n, y_n], dim=-1)


def warp_backward(image: torch.Tensor, flow: torch.Tensor, interpolation: str = "bicubic") -> torch.Tensor:
    """``image`` (B, C, H, W) sampled at p + flow(p): post pulled onto the pre grid.

    Always computed in float32 (sub-pixel fields must not be quantized by fp16 autocast).
    """
    if interpolation not in INTERPOLATIONS:
        raise ParameterError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:] or flow.shape[1] != 2:
        raise ParameterError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} do not match")
    with torch.autocast(device_type=image.device.type, enabled=False):
        grid = sampling_grid(flow.float())
        return F.grid_sample(image.float(), grid, mode=interpolation, padding_mode="border",
                             align_corners=True)


def padding_to_multiple(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding making H and W multiples of ``multiple``, split evenly."""
    pad_h = -height % multiple
    pad_w = -width % multiple
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad (B, C, H, W) to multiples of ``multiple``: reflect, or replicate when too small to reflect."""
    pads = padding_to_multiple(images.shape[-2], images.shape[-1], multiple)
    if not any(pads):
        return images, pads
    left, right, top, bottom = pads
    can_reflect = max(left, right) < images.shape[-1] and max(top, bottom) < images.shape[-2]
    return F.pad(images, pads, mode="reflect" if can_reflect else "replicate"), pads


def crop_padding(images: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on (B, C, H, W)."""
    left, right, top, bottom = pads
    height, width = images.shape[-2:]
    return images[..., top:height - bottom, left:width - right]
