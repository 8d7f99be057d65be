"""The MicroFlow network (GeoFlowNet + iterative warping), its loss, normalization and weight files.

==================  ====================================================================
module              what
==================  ====================================================================
geoflownet          the correlation-free backbone g (FlowNetS-like, early fusion)
warp                backward warping post(p + f(p)) and padding to multiples of 16
microflow_net       the K-iteration wrapper ``build_microflow``
normalization       robust per-image (or global) normalization of the inputs
loss                gamma-weighted sequence L1 loss and EPE
weights             safetensors files with embedded config, model cards, ``load_model``
reference_import    converter of the authors' checkpoints
==================  ====================================================================
"""

import importlib

#: public name -> submodule; imported on first use (PEP 562), so that the numpy-only
#: ``microflow.model.normalization`` does not import torch (3 s of a correlator's cold start)
_EXPORTS = {"GeoFlowNet": "geoflownet", "build_geoflownet": "geoflownet", "count_parameters": "geoflownet",
            "end_point_error": "loss", "sequence_loss": "loss", "MicroFlowNet": "microflow_net",
            "build_microflow": "microflow_net", "warp_backward": "warp"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"microflow.model.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'microflow.model' has no attribute {name!r}")
