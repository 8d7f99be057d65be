"""Displacement methods behind one interface: the MicroFlow model and classical baselines.

Methods are imported lazily so that the correlators never import torch.

=============  ==========================================================================
name           what
=============  ==========================================================================
microflow      GeoFlowNet + iterative warping (the default once a model is shipped)
freqcorr       COSI-Corr-style frequency correlator (Leprince et al. 2007)
ncc            normalized cross-correlation with sub-pixel peak fit (MicMac/autoRIFT-like)
farneback      OpenCV Farneback dense optical flow
tvl1           scikit-image TV-L1 dense optical flow
=============  ==========================================================================
"""

from __future__ import annotations

import importlib
from typing import Callable

from microflow.errors import ParameterError
from microflow.methods.base import DisplacementField

_REGISTRY: dict[str, tuple[str, str]] = {
    "microflow": ("microflow.methods.microflow", "estimate"),
    "freqcorr": ("microflow.methods.freqcorr", "estimate"),
    "ncc": ("microflow.methods.ncc", "estimate"),
    "farneback": ("microflow.methods.optical_flow", "estimate_farneback"),
    "tvl1": ("microflow.methods.optical_flow", "estimate_tvl1"),
}

CLASSICAL = ("freqcorr", "ncc", "farneback", "tvl1")


def available_methods() -> list[str]:
    return list(_REGISTRY)


def get_method(name: str) -> Callable[..., DisplacementField]:
    """The estimate function of method ``name`` (see the module table)."""
    if name not in _REGISTRY:
        raise ParameterError(f"unknown method {name!r}; choose from {', '.join(_REGISTRY)}")
    module, attr = _REGISTRY[name]
    return getattr(importlib.import_module(module), attr)


__all__ = ["DisplacementField", "available_methods", "get_method", "CLASSICAL"]
