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

from microflow.errors import InputError, ParameterError
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


#: MicroFlow's smallest window and image side [px], and the step of its tiling windows. GeoFlowNet
#: downsamples by 16 (4 stride-2 levels, model/geoflownet.py DOWNSAMPLING): at 64 px its coarsest level
#: has 4 x 4 cells, the least on which its 3x3 convolutions see more than zero padding. Tiling windows
#: are multiples of 16 so no window is padded (padding is context the model never saw in training).
MICROFLOW_STRIDE = 16
MICROFLOW_MIN_SIZE = 4 * MICROFLOW_STRIDE
#: Dense optical flows: below 16 px an image holds about one Farneback averaging window (15 px) and
#: leaves TV-L1 a one-level pyramid.
OPTICAL_FLOW_MIN_SIZE = 16


def min_image_size(method: str, params: dict | None = None) -> tuple[int, str]:
    """Smallest image side [px] ``method`` (with its ``params``) can use, and why (for messages).

    microflow: ``MICROFLOW_MIN_SIZE``; ncc: window + 2 search (the template and its whole search
    area); freqcorr: window + 2 (window // 4) (the window and the recentring of its peak search,
    shifts up to window/4), or window + 2 without recentring; farneback, tvl1: ``OPTICAL_FLOW_MIN_SIZE``.
    Other names (custom predictors): 1.
    """
    params = params or {}
    if method == "microflow":
        return MICROFLOW_MIN_SIZE, "GeoFlowNet downsamples by 16 in 4 stride-2 levels"
    if method in ("farneback", "tvl1"):
        return OPTICAL_FLOW_MIN_SIZE, "about one optical-flow averaging window"
    if method not in ("ncc", "freqcorr"):
        return 1, "any image"
    from microflow.methods.sliding import positive_int

    defaults = inspect.signature(get_method(method)).parameters
    window = positive_int("window", params.get("window", defaults["window"].default))
    if method == "ncc":
        search = positive_int("search", params.get("search", defaults["search"].default))
        return window + 2 * search, f"the {window} px correlation window and its {search} px search radius"
    if params.get("recenter", defaults["recenter"].default):
        return window + 2 * max(window // 4, 1), f"the {window} px correlation window and its peak search (window/4)"
    return window + 2, f"the {window} px correlation window and a sub-pixel peak fit"


def check_image_size(shape: tuple[int, ...], method: str, params: dict | None = None) -> None:
    """InputError when an image of ``shape`` (H, W) is smaller than ``min_image_size`` on either axis."""
    size, why = min_image_size(method, params)
    if min(shape) < size:
        window = "correlation window" if method in ("ncc", "freqcorr") else "smallest window"
        raise InputError(f"image of {shape[0]}x{shape[1]} px is smaller than the {window} {method} can use "
                         f"({size}x{size} px: {why})")


def check_tile_window(method: str, window: int, params: dict | None = None) -> None:
    """ParameterError when a tiling ``window`` [px] cannot hold ``method``: below its
    ``min_image_size``, or for MicroFlow not a multiple of ``MICROFLOW_STRIDE``."""
    size, why = min_image_size(method, params)
    if method == "microflow" and (window < size or window % MICROFLOW_STRIDE):
        raise ParameterError(f"the MicroFlow window must be a multiple of {MICROFLOW_STRIDE} px and at least "
                             f"{size} px ({why}), got {window}")
    if window < size:
        raise ParameterError(f"the tiling window of {window} px is smaller than the {size} px {method} needs ({why})")


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
           "DEFAULT_METHOD", "min_image_size", "check_image_size", "check_tile_window"]
