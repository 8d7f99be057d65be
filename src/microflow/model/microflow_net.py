"""MicroFlow: GeoFlowNet applied K times with explicit warping (Bertrand et al. 2025).

Algorithm (inputs already normalized, see :mod:`microflow.model.normalization`)::

    f_1 = g_1([pre, post])                                   # or f_0 + g_1([pre, warp(post, f_0)])
    for k = 2 .. K:
        f_k = f_{k-1} + g_k([pre, warp(post, f_{k-1})])     # warp(post, f)(p) = post(p + f(p))
    f_K = f_K + h([pre, warp(post, f_K), f_K / 4])         # optional full-resolution head (refine > 0)

All fields are (B, 2, H, W) = (dx = +column, dy = +row) in pixels at full resolution, accumulated
in float32 even under fp16 autocast (sub-pixel increments must not be rounded away). The paper's
model has separate weights per iteration (``shared_weights=False``); shared weights is its ablation.
``refine > 0`` adds :mod:`microflow.model.refine`'s head after the K-th iteration (not in the paper).
Inputs whose size is not a multiple of 16 are reflect-padded and the fields cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from microflow.errors import ParameterError
from microflow.model.geoflownet import DOWNSAMPLING, GeoFlowNet, build_geoflownet
from microflow.model.refine import build_refine_head
from microflow.model.warp import INTERPOLATIONS, crop_padding, pad_to_multiple, warp_backward


class MicroFlowNet(nn.Module):
    """K GeoFlowNet refinements with warping; ``forward(pre, post)`` -> list of K fields."""

    def __init__(self, width: int = 64, iterations: int = 3, shared_weights: bool = False,
                 interpolation: str = "bicubic", refine: int = 0) -> None:
        super().__init__()
        if int(iterations) < 1:
            raise ParameterError(f"iterations must be >= 1, got {iterations}")
        if interpolation not in INTERPOLATIONS:
            raise ParameterError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.iterations = int(iterations)
        self.shared_weights = bool(shared_weights)
        self.interpolation = interpolation
        count = 1 if self.shared_weights else self.iterations
        self.backbones = nn.ModuleList([build_geoflownet(width) for _ in range(count)])
        self.refine = build_refine_head(refine)

    @property
    def width(self) -> int:
        return self.backbones[0].width

    @property
    def config(self) -> dict:
        """The keyword arguments of :func:`build_microflow` that rebuild this network (``refine`` only
        when there is a head, so the paper's models keep their configuration)."""
        config = {"width": self.width, "iterations": self.iterations,
                  "shared_weights": self.shared_weights, "interpolation": self.interpolation}
        if self.refine is not None:
            config["refine"] = self.refine.width
        return config

    def without_refine(self) -> "MicroFlowNet":
        """A copy of this network without its refinement head: the same backbones, the paper's
        architecture (the head's parameters, ``refine.*``, are left out)."""
        net = build_microflow(**headless_config(self.config))
        net.load_state_dict({k: v for k, v in self.state_dict().items() if not k.startswith("refine.")})
        return net.to(next(self.parameters()).device).train(self.training)

    def backbone(self, k: int) -> GeoFlowNet:
        """g_k, the network of iteration ``k`` (0-based)."""
        return self.backbones[0] if self.shared_weights else self.backbones[k]

    def forward(self, pre: torch.Tensor, post: torch.Tensor, iterations: int | None = None,
                init: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Fields f_1 .. f_K (each (B, 2, H, W), pixels) for normalized (B, 1, H, W) pre and post.

        ``init`` (B, 2, H, W) px is a starting field f_0 (coarse-to-fine): iteration 1 then already
        sees post warped by it, ``f_1 = f_0 + g_1([pre, warp(post, f_0)])``. The refinement head, when
        there is one, corrects the K-th field only (a run of fewer iterations returns them unrefined).
        """
        steps = self.iterations if iterations is None else int(iterations)
        if steps < 1 or (steps > self.iterations and not self.shared_weights):
            raise ParameterError(f"this model runs 1 to {self.iterations} iterations, got {steps}")
        if pre.shape != post.shape or pre.ndim != 4 or pre.shape[1] != 1:
            raise ParameterError(f"pre and post must be (B, 1, H, W) of one shape, got "
                                 f"{tuple(pre.shape)} and {tuple(post.shape)}")
        if init is not None and init.shape != (pre.shape[0], 2) + tuple(pre.shape[2:]):
            raise ParameterError(f"init must be (B, 2, H, W) like the images, got {tuple(init.shape)}")
        pair, pads = pad_to_multiple(torch.cat([pre, post], 1), DOWNSAMPLING)
        pre, post = pair[:, :1], pair[:, 1:]

        flow = None if init is None else F.pad(init.float(), pads, mode="replicate")
        flows = []
        for k in range(steps):
            moving = post if flow is None else warp_backward(post, flow, self.interpolation).to(pre.dtype)
            delta = self.backbone(k)(torch.cat([pre, moving], 1)).float()
            flow = delta if flow is None else flow + delta
            flows.append(flow)
        if self.refine is not None and steps == self.iterations:
            warped = warp_backward(post, flow, self.interpolation).to(pre.dtype)
            flows[-1] = flow + self.refine(pre, warped, flow)
        return [crop_padding(f, pads) for f in flows]


def headless_config(config: dict) -> dict:
    """A :attr:`MicroFlowNet.config` without its refinement head (``refine`` dropped)."""
    return {k: v for k, v in config.items() if k != "refine"}


def build_microflow(width: int = 64, iterations: int = 3, shared_weights: bool = False,
                    interpolation: str = "bicubic", refine: int = 0) -> MicroFlowNet:
    """MicroFlow network.

    Args:
        width: GeoFlowNet width (conv1 channels); 64 is the paper, smaller is a compact variant.
        iterations: K, the number of refinements (3 in the paper).
        shared_weights: one backbone reused at every iteration (the paper's ablation) instead of K.
        interpolation: "bicubic" (paper) or "bilinear" sampling of the warp.
        refine: channels of the full-resolution refinement head after iteration K (0 = none, the paper).
    """
    return MicroFlowNet(width, iterations, shared_weights, interpolation, refine)
