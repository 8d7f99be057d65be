"""Import the authors' MicroFlow checkpoints (PyTorch state dicts) into microflow-geo weight files.

Their iterative model stores one FlowNetS-named GeoFlowNet per iteration under
``iteration_models.{k}.`` (e.g. ``iteration_models.0.conv1.0.weight``, ``...deconv5.0.weight``,
``...predict_flow2.weight``, ``...upsampled_flow6_to_5.weight``); a single GeoFlowNet has the bare
FlowNetS keys. Our :class:`~microflow.model.microflow_net.MicroFlowNet` keeps those names under
``backbones.{k}.``, so the import is a prefix rename checked key by key and shape by shape. The width
is read from ``conv1.0.weight`` and K from the iteration indices.

Input normalization their checkpoints expect: each image min-max scaled to [0, 1] before
iteration 1 (method.md §3). Converted files therefore carry ``normalization: "minmax"`` and our
inference reproduces it. Two differences remain and are by design: their later iterations re-normalize
the warped image (a batch z-score), while we warp the normalized post as it is; and their warp
normalizes rows with the width, which only matters for non-square windows (we use square ones).
Files are read with ``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from microflow.errors import InputError
from microflow.model.microflow_net import build_microflow
from microflow.model.weights import DEFAULT_WINDOW, file_sha256, save_weights

ITERATION_KEY = re.compile(r"^iteration_models\.(\d+)\.(.+)$")
WRAPPERS = ("state_dict", "model", "model_state_dict")


def load_reference_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a reference checkpoint: unwraps {"state_dict"|"model": ...}, strips "module." prefixes."""
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"reference checkpoint not found: {path}") from None
    except Exception as exc:  # unpickling errors come in many types
        raise InputError(f"cannot read {path} as a weights-only PyTorch checkpoint: {exc}") from None
    for key in WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise InputError(f"{path} holds no state dict")
    state = {k.removeprefix("module."): v for k, v in obj.items() if torch.is_tensor(v)}
    if not state:
        raise InputError(f"{path} holds no tensors")
    return state


def split_iterations(state: dict[str, torch.Tensor]) -> dict[int, dict[str, torch.Tensor]]:
    """{k: FlowNetS-keyed state of iteration k}; a bare GeoFlowNet is iteration 0."""
    if not any(ITERATION_KEY.match(k) for k in state):
        return {0: dict(state)}
    out: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = ITERATION_KEY.match(key)
        if match is None:
            raise InputError(f"unexpected key {key!r} beside iteration_models.* keys")
        out.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if sorted(out) != list(range(len(out))):
        raise InputError(f"iteration indices are not 0..K-1: {sorted(out)}")
    return out


def convert_state_dict(state: dict[str, torch.Tensor], iterations: int | None = None) -> tuple[dict, dict]:
    """(our state dict, build_microflow kwargs) for a reference state dict.

    ``iterations`` > 1 with a single backbone builds a shared-weights model run that many times.
    """
    per_iteration = split_iterations(state)
    first = per_iteration[0]
    if "conv1.0.weight" not in first:
        raise InputError("not a GeoFlowNet state dict: no conv1.0.weight")
    width = int(first["conv1.0.weight"].shape[0])
    count = len(per_iteration)
    shared = count == 1 and (iterations or 1) > 1
    config = {"width": width, "iterations": iterations or count, "shared_weights": shared,
              "interpolation": "bicubic"}
    if not shared and config["iterations"] != count:
        raise InputError(f"checkpoint has {count} iteration backbones, cannot run {iterations}")
    ours = {f"backbones.{k}.{key}": v.float() for k, sub in per_iteration.items() for key, v in sub.items()}
    expected = build_microflow(**config).state_dict()
    missing, unexpected = sorted(set(expected) - set(ours)), sorted(set(ours) - set(expected))
    if missing or unexpected:
        raise InputError(f"reference keys do not match GeoFlowNet width {width}: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    for key, value in expected.items():
        if ours[key].shape != value.shape:
            raise InputError(f"{key}: shape {tuple(ours[key].shape)} in the checkpoint, {tuple(value.shape)} expected")
    return ours, config


def convert_reference(src: str | Path, dst: str | Path, iterations: int | None = None,
                      window: int = DEFAULT_WINDOW) -> Path:
    """Convert the authors' checkpoint ``src`` into a microflow-geo weights file ``dst`` (+ model card)."""
    state, config = convert_state_dict(load_reference_state_dict(src), iterations)
    net = build_microflow(**config)
    net.load_state_dict(state, strict=True)
    source = {"reference_checkpoint": Path(src).name, "reference_sha256": file_sha256(src),
              "note": "converted from the authors' state dict; inputs min-max normalized to [0, 1]"}
    return save_weights(dst, net, normalization="minmax", window=window, card={"source": source})
