"""Training loss and error metrics of MicroFlow.

Sequence loss (paper §4): ``L = sum_k gamma^(K-k) * mean |f_gt - f_k|``, an L1 over both components
and all (valid) pixels, gamma = 0.8 (weights 0.64, 0.8, 1.0 for K = 3).
End-point error: ``EPE = mean sqrt((dx - dx_gt)^2 + (dy - dy_gt)^2)`` in pixels.
"""

from __future__ import annotations

import torch


def _masked_mean(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, C, H, W) ``values`` over pixels where the (B, H, W) mask ``valid`` is True."""
    if valid is None:
        return values.mean()
    weights = valid.unsqueeze(1).to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def iteration_weights(iterations: int, gamma: float = 0.8) -> list[float]:
    """[gamma^(K-1), ..., gamma, 1]: the weight of each iteration's L1 term."""
    return [gamma ** (iterations - 1 - k) for k in range(iterations)]


def sequence_loss(flows: list[torch.Tensor], target: torch.Tensor, gamma: float = 0.8,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """sum_k gamma^(K-k) mean|target - f_k| for fields (B, 2, H, W) in pixels; ``valid`` (B, H, W) bool."""
    weights = iteration_weights(len(flows), gamma)
    return sum(w * _masked_mean((target - f.float()).abs(), valid) for w, f in zip(weights, flows))


def end_point_error(flow: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean error (pixels) of a (B, 2, H, W) field against ``target``."""
    error = torch.linalg.vector_norm(flow.float() - target, dim=1, keepdim=True)
    return _masked_mean(error, valid)
