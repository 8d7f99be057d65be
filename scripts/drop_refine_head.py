"""Write a weights file's backbones without its refinement head (``model.refine``), card kept.

    python scripts/drop_refine_head.py IN.safetensors OUT.safetensors

For a run whose head learned nothing that counts (v3r: validation near-fault ratios equal to the third
decimal with and without it): the backbones alone are the paper's architecture at the paper's cost. The
card keeps IN's training record and says the head was removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microflow.errors import MicroflowError, run_tool
from microflow.model.weights import load_model, save_weights


def drop_refine_head(source: str | Path, out: str | Path) -> Path:
    """Copy ``source``'s backbones into a headless network and save it to ``out``."""
    loaded = load_model(source)
    if loaded.net.refine is None:
        raise MicroflowError(f"{source} has no refinement head")
    net = loaded.net.without_refine()
    card = {key: loaded.card[key] for key in ("training", "metrics") if key in loaded.card}
    card.setdefault("training", {})["refine_head"] = (f"trained with a {loaded.net.refine.width}-channel head, "
                                                      f"removed from {Path(source).name} ({loaded.sha256[:12]})")
    return save_weights(out, net, normalization=loaded.normalization, window=loaded.window, card=card)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    return run_tool("drop_refine_head", lambda: print(f"wrote {drop_refine_head(args.source, args.out)}"))


if __name__ == "__main__":
    sys.exit(main())
