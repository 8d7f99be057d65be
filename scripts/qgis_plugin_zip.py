"""Zip the QGIS plugin (qgis/microflow_qgis) for QGIS's Plugins > Manage and Install > Install from ZIP.

Usage: ``python scripts/qgis_plugin_zip.py [OUT.zip]`` (default ``dist/microflow_qgis-VERSION.zip``, the
version from metadata.txt). The archive holds the ``microflow_qgis/`` folder at its top, without
``__pycache__``; it is written atomically.
"""

from __future__ import annotations

import configparser
import os
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = os.path.join(ROOT, "qgis", "microflow_qgis")


def plugin_version() -> str:
    meta = configparser.ConfigParser()
    meta.read(os.path.join(PLUGIN, "metadata.txt"), encoding="utf-8")
    return meta["general"]["version"]


def build(out: str | None = None) -> str:
    """Write the zip; return its path."""
    out = os.path.abspath(out or os.path.join(ROOT, "dist", f"microflow_qgis-{plugin_version()}.zip"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".zip.tmp", dir=os.path.dirname(out))
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for folder, dirs, files in os.walk(PLUGIN):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if name.endswith((".pyc", ".pyo")):
                        continue
                    path = os.path.join(folder, name)
                    archive.write(path, os.path.relpath(path, os.path.dirname(PLUGIN)))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else None))
