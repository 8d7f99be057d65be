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
import inspect
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

#: The default method of the API and of every command: the shipped MicroFlow model, which beats the
#: correlators on the synthetic test split (docs/SYNTHETIC_BASELINES.md). Whole scenes add log-TV.
DEFAULT_METHOD = "microflow"


def available_methods() -> list[str]:
    return list(_REGISTRY)


def get_method(name: str) -> Callable[..., DisplacementField]:
    """The estimate function of method ``name`` (see the module table)."""
    if name not in _REGISTRY:
        raise ParameterError(f"unknown method {name!r}; choose from {', '.join(_REGISTRY)}")
    module, attr = _REGISTRY[name]
    return getattr(importlib.import_module(module), attr)


def check_method_params(function: Callable[..., DisplacementField], method: str, params: dict) -> None:
    """Reject keyword parameters that the method's ``estimate`` function does not take."""
    signature = inspect.signature(function)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = [name for name, p in list(signature.parameters.items())[2:]  # after pre, post
                if p.kind in kinds and name != "progress"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for method {method}; "
                             f"it accepts: {', '.join(accepted) or 'none'}")


__all__ = ["DisplacementField", "available_methods", "get_method", "check_method_params", "CLASSICAL",
           "DEFAULT_METHOD"]
