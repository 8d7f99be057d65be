"""MicroFlow weight files: safetensors with the configuration embedded, model cards, shipped models.

A weights file is a safetensors file whose metadata holds ``format = "microflow-geo/1"`` and
``config`` = JSON ``{"model": build_microflow kwargs, "normalization": "robust"|"minmax",
"window": training crop (px)}``, so it rebuilds its network on its own. Beside ``NAME.safetensors``
sit the model card ``NAME.json`` (config, training data and steps, validation metrics, sha256 of
the weights file) and its readable twin ``NAME.md``.

Shipped models are ``microflow/weights/NAME.safetensors`` inside the package;
``load_model("robust")`` loads one by NAME, ``load_model("/path/file.safetensors")`` any file.
Nothing is ever unpickled: safetensors holds raw tensors only.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from microflow.errors import InputError, MicroflowError, ParameterError
from microflow.model.geoflownet import count_parameters
from microflow.model.microflow_net import MicroFlowNet, build_microflow

# The model a run uses when none is named (issue 22: the best on every independent check, see its card).
DEFAULT_MODEL = "world2"

FORMAT = "microflow-geo/1"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WINDOW = 256


@dataclass
class LoadedModel:
    """A network ready for inference with what it needs to be fed correctly."""

    net: MicroFlowNet
    normalization: str
    window: int
    config: dict
    path: Path
    sha256: str
    card: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda if available, else mps, else cpu; other names are checked and returned."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"device {name!r} requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ParameterError(f"unknown device {name!r} (use auto, cpu, cuda or mps)") from None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_config(net: MicroFlowNet, normalization: str = "robust", window: int = DEFAULT_WINDOW) -> dict:
    """The config embedded in a weights file."""
    return {"model": net.config, "normalization": normalization, "window": int(window)}


def save_weights(path: str | Path, net: MicroFlowNet, *, normalization: str = "robust",
                 window: int = DEFAULT_WINDOW, card: dict | None = None) -> Path:
    """Write ``net`` to ``path`` (atomically) and its model card beside it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = weights_config(net, normalization, window)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "config": json.dumps(config)})
    os.replace(tmp, path)
    write_model_card(path, config, count_parameters(net), card or {})
    return path


def read_weights(path: str | Path) -> tuple[dict, dict]:
    """(state dict, embedded config) of a microflow-geo weights file."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types on bad headers
        raise InputError(f"cannot read weights {path}: {exc}") from None
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise InputError(f"{path} is not a {FORMAT} weights file (convert reference checkpoints "
                         f"with `microflow convert`)")
    return state, json.loads(metadata["config"])


def build_from_config(config: dict) -> MicroFlowNet:
    return build_microflow(**config["model"])


def shipped_models() -> dict[str, Path]:
    """{NAME: path} of the weights shipped in ``microflow/weights``."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Path of a shipped model NAME, or of an existing weights file."""
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix or os.sep in str(name_or_path):
        raise InputError(f"weights file not found: {path}")
    available = ", ".join(shipped) or "none shipped yet: train one with `microflow train` and pass its " \
                                      "best.safetensors"
    raise MicroflowError(f"no MicroFlow model named {str(name_or_path)!r} (available: {available})")


def load_model(name_or_path: str | os.PathLike = DEFAULT_MODEL, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a network from a shipped NAME or a weights file, in eval mode on ``device`` (or "auto")."""
    path = resolve_model(name_or_path)
    device = resolve_device(device)
    state, config = read_weights(path)
    net = build_from_config(config)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(f"weights {path} do not match their embedded config: {exc}") from None
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return LoadedModel(net.to(device).eval(), config["normalization"], int(config.get("window", DEFAULT_WINDOW)),
                       config, path, file_sha256(path), card)


def write_model_card(weights_path: str | Path, config: dict, parameters: int, info: dict) -> tuple[Path, Path]:
    """``NAME.json`` and ``NAME.md`` beside the weights: config, ``info`` (training, metrics), sha256."""
    weights_path = Path(weights_path)
    card = {"name": weights_path.stem, "format": FORMAT, "weights_file": weights_path.name,
            "sha256": file_sha256(weights_path), "parameters": parameters, "config": config,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **info}
    json_path = weights_path.with_suffix(".json")
    json_path.write_text(json.dumps(card, indent=1, default=str))
    md_path = weights_path.with_suffix(".md")
    md_path.write_text(model_card_markdown(card))
    return json_path, md_path


def flatten_keys(values: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested config sections as one list of keys."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten_keys(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def model_card_markdown(card: dict) -> str:
    """Readable model card: identity, architecture, training, validation EPE table."""
    model = card["config"]["model"]
    lines = [f"# MicroFlow model `{card['name']}`", "",
             f"- weights: `{card['weights_file']}` (sha256 `{card['sha256']}`)",
             f"- architecture: GeoFlowNet width {model['width']}, K = {model['iterations']} iterations, "
             f"{'shared' if model['shared_weights'] else 'separate'} weights, {model['interpolation']} warp, "
             f"{card['parameters']:,} parameters",
             f"- input normalization: {card['config']['normalization']}; training window "
             f"{card['config'].get('window')} px", f"- created: {card['created']}"]
    for section, title in (("training", "Training"), ("data_switches", "Data switches"), ("source", "Source")):
        if section in card:
            lines += ["", f"## {title}", ""]
            lines += [f"- {k}: {v}" for k, v in flatten_keys(card[section]).items()]
    metrics = card.get("metrics", {}).get("epe_per_category")
    if metrics:
        lines += ["", "## Validation end-point error (px)", "", "| category | " +
                  " | ".join(f"iteration {k + 1}" for k in range(len(next(iter(metrics.values()))))) + " |",
                  "|---" * (1 + len(next(iter(metrics.values())))) + "|"]
        lines += [f"| {c} | " + " | ".join(f"{v:.4f}" for v in values) + " |" for c, values in metrics.items()]
    test = card.get("test")
    if test:
        lines += ["", "## Test split (microflow evaluate)", "",
                  "| category | n | EPE | EPE near fault | EPE far | zero-field EPE | EPE per iteration |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for c, t in test.items():
            per_iteration = ", ".join(f"{e:.3f}" for e in t.get("epe_iterations") or [])
            lines.append(f"| {c} | {t['count']} | {t['epe']:.3f} | {t['epe_near']:.3f} | {t['epe_far']:.3f} | "
                         f"{t['zero_epe']:.3f} | {per_iteration} |")
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"
