"""Training loss and error metrics of MicroFlow.

Sequence loss (paper §4): ``L = sum_k gamma^(K-k) * mean |f_gt - f_k|``, an L1 over both components
and all (valid) pixels, gamma = 0.8 (weights 0.64, 0.8, 1.0 for K = 3).
End-point error: ``EPE = mean sqrt((dx - dx_gt)^2 + (dy - dy_gt)^2)`` in pixels.
Optional pixel weights make the mean a weighted mean (:func:`pixel_weights`), putting more of the loss
where the field is discontinuous: with ``d`` the Euclidean distance (px) to the fault trace,
``w(d) = 1 + w_near [d <= 5] + w_core [d <= r_core]`` (the 5 px band of the near-fault metric, and the
trace's own 1-2 px, where the error of a sub-pixel rupture concentrates).
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


NEAR_FAULT_PX = 5.0  # "near the fault": within this distance of the trace (the near-fault metric's band)


def pixel_weights(valid: torch.Tensor, distance: torch.Tensor | None, near_weight: float,
                  core_weight: float = 0.0, core_radius: float = 1.5) -> torch.Tensor:
    """(B, H, W) loss weights ``valid * (1 + near_weight [d <= 5] + core_weight [d <= core_radius])``
    from the (B, H, W) distance ``d`` (px) to the trace (inf where there is none); the bool ``valid``
    itself when there is no extra weight."""
    if distance is None or (near_weight == 0 and core_weight == 0):
        return valid
    distance = distance.to(valid.device)
    extra = near_weight * (distance <= NEAR_FAULT_PX).float() + core_weight * (distance <= core_radius).float()
    return valid.float() * (1.0 + extra)


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
