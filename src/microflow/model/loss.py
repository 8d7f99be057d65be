"""Training loss and error metrics of MicroFlow.

Sequence loss (paper §4): ``L = sum_k gamma^(K-k) * mean |f_gt - f_k|``, an L1 over both components
and all (valid) pixels, gamma = 0.8 (weights 0.64, 0.8, 1.0 for K = 3).
End-point error: ``EPE = mean sqrt((dx - dx_gt)^2 + (dy - dy_gt)^2)`` in pixels.
Optional pixel weights ``1 + w_near`` within 5 px of a fault trace make the mean a weighted mean
(:func:`pixel_weights`), putting more of the loss where the field is discontinuous.
"""

from __future__ import annotations

import torch


def _masked_mean(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, C, H, W) ``values`` over pixels where the (B, H, W) mask ``valid`` is True
    (a float ``valid`` is a per-pixel weight: the weighted mean)."""
    if valid is None:
        return values.mean()
    weights = valid.unsqueeze(1).to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def pixel_weights(valid: torch.Tensor, near: torch.Tensor | None, near_weight: float) -> torch.Tensor:
    """(B, H, W) loss weights: 0 where invalid, ``1 + near_weight`` near a trace, 1 elsewhere
    (the bool ``valid`` itself when there is no extra weight)."""
    if near is None or near_weight == 0:
        return valid
    return valid.float() * (1.0 + near_weight * near.to(valid.device).float())


def iteration_weights(iterations: int, gamma: float = 0.8) -> list[float]:
    """[gamma^(K-1), ..., gamma, 1]: the weight of each iteration's L1 term."""
    return [gamma ** (iterations - 1 - k) for k in range(iterations)]


def sequence_loss(flows: list[torch.Tensor], target: torch.Tensor, gamma: float = 0.8,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """sum_k gamma^(K-k) mean|target - f_k| for fields (B, 2, H, W) in pixels; ``valid`` (B, H, W) bool
    or float weights (:func:`pixel_weights`)."""
    weights = iteration_weights(len(flows), gamma)
    return sum(w * _masked_mean((target - f.float()).abs(), valid) for w, f in zip(weights, flows))


def end_point_error(flow: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean error (pixels) of a (B, 2, H, W) field against ``target``."""
    error = torch.linalg.vector_norm(flow.float() - target, dim=1, keepdim=True)
    return _masked_mean(error, valid)
