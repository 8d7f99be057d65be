"""``microflow convert REF.pth OUT.safetensors``: import the authors' MicroFlow checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert an authors' MicroFlow checkpoint to a weights file",
                       description="Convert a reference MicroFlow/GeoFlowNet PyTorch state dict (read with "
                                   "weights_only=True) into a microflow-geo safetensors file with its model "
                                   "card. Converted models use min-max input normalization, as trained.")
    p.add_argument("reference", help="the authors' .pth/.pt checkpoint")
    p.add_argument("output", help="output .safetensors file")
    p.add_argument("--iterations", type=int, help="run a single (shared) backbone this many times")
    p.add_argument("--window", type=int, default=256, help="preferred inference window (px, default 256)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args) -> int:
    from microflow.errors import OutputError
    from microflow.model.geoflownet import count_parameters
    from microflow.model.reference_import import convert_reference
    from microflow.model.weights import load_model

    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise OutputError(f"output must end in .safetensors, got {out.name}")
    if out.exists() and not args.overwrite:
        raise OutputError(f"{out} exists; pass --overwrite to replace it")
    convert_reference(args.reference, out, args.iterations, args.window)
    loaded = load_model(out)
    model = loaded.config["model"]
    print(f"wrote {out}: width {model['width']}, K = {model['iterations']}, "
          f"{count_parameters(loaded.net):,} parameters, sha256 {loaded.sha256[:12]}", file=sys.stderr)
    return 0
