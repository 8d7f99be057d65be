"""Full-resolution refinement head: a last residual correction of MicroFlow's K-th field.

GeoFlowNet predicts its field at full resolution from one 3x3 convolution over the finest decoder
features, so a sub-pixel rupture's step comes out spread over 1-3 px on each side of the trace. The
head looks at the images and the field together and corrects the field where the two disagree::

    f_K' = f_K + h([pre, warp(post, f_K), f_K / FLOW_SCALE])

``h`` = four 3x3 convolutions (4 -> c -> c -> c -> 2, dilations 1, 2, 4, 1, so a 17 px receptive
field; LeakyReLU(0.1) between them; ``c = width``). The last convolution starts at zero, so a head
added to trained weights leaves their fields unchanged until it is trained. Fields in pixels of the
pre grid, (B, 2, H, W) = (dx = +column, dy = +row).
"""

from __future__ import annotations

import torch
from torch import nn

from microflow.errors import ParameterError
from microflow.model.geoflownet import LEAKY_SLOPE, init_weights

FLOW_SCALE = 4.0          # the field enters the head divided by this (pixels -> order-one inputs)
DILATIONS = (1, 2, 4, 1)  # one per convolution; the receptive field is 1 + 2 * sum = 17 px


class RefineHead(nn.Module):
    """``forward(pre, warped, flow)`` -> the residual (B, 2, H, W) in pixels."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if int(width) < 1:
            raise ParameterError(f"the refinement head's width must be a positive integer, got {width}")
        self.width = int(width)
        channels = [4, self.width, self.width, self.width, 2]
        layers: list[nn.Module] = []
        for i, dilation in enumerate(DILATIONS):
            layers.append(nn.Conv2d(channels[i], channels[i + 1], 3, 1, dilation, dilation, bias=True))
            if i < len(DILATIONS) - 1:
                layers.append(nn.LeakyReLU(LEAKY_SLOPE, inplace=True))
        self.layers = nn.Sequential(*layers)
        init_weights(self)
        nn.init.zeros_(self.layers[-1].weight)  # starts as the identity on the field

    def forward(self, pre: torch.Tensor, warped: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([pre, warped, (flow / FLOW_SCALE).to(pre.dtype)], 1)
        return self.layers(inputs).float()


def build_refine_head(width: int) -> RefineHead | None:
    """The head of ``width`` channels, or None for ``width = 0`` (no head, the paper's model)."""
    if int(width) < 0:
        raise ParameterError(f"refine must be >= 0 (0 = no head), got {width}")
    return RefineHead(int(width)) if int(width) > 0 else None
