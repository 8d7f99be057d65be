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

from microflow.model.geoflownet import GeoFlowNet, build_geoflownet, count_parameters
from microflow.model.loss import end_point_error, sequence_loss
from microflow.model.microflow_net import MicroFlowNet, build_microflow
from microflow.model.warp import warp_backward

__all__ = ["GeoFlowNet", "MicroFlowNet", "build_geoflownet", "build_microflow", "count_parameters",
           "end_point_error", "sequence_loss", "warp_backward"]
