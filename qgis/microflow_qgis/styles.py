"""Styles of a microflow-geo product in QGIS, from the shipped QML templates in ``styles/``.

A product has four float32 bands: EW (+east), NS (+north), confidence [0, 1] and sigma, in the units
of its UNITS tag (pixel or meter), NaN where there is no estimate (transparent). EW and NS get a
diverging ramp symmetric about zero, labelled with the units and the direction (W/E, S/N); sigma a
sequential ramp from 0. :func:`style_qml` is pure text (tested without QGIS); :func:`load_product`
adds the three styled layers of a product to a QGIS project.
"""

from __future__ import annotations

import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DIVERGING = ("#2166ac", "#67a9cf", "#f7f7f7", "#ef8a62", "#b2182b")   # west/south ... east/north
SEQUENTIAL = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")  # 0 ... large sigma
BANDS = {"EW": (1, "W", "E"), "NS": (2, "S", "N"), "sigma": (4, "", "")}
UNIT_SYMBOL = {"pixel": "px", "meter": "m"}


def nice_limit(value: float) -> float:
    """A round number >= ``value`` (1, 2 or 5 times a power of ten; 1 for 0 or non-finite)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def _label(value: float, unit: str, negative: str, positive: str) -> str:
    if value == 0:
        return f"0 {unit}"
    side = positive if value > 0 else negative
    text = f"{value:+.3g} {unit}"
    return f"{text} ({side})" if side else text


def style_qml(kind: str, limit: float, units: str) -> str:
    """QML of band ``kind`` ("EW", "NS" or "sigma"): ramp over [-limit, limit] (sigma: [0, limit])
    with legend labels in ``units`` ("pixel" or "meter")."""
    band, negative, positive = BANDS[kind]
    unit = UNIT_SYMBOL.get(units, units)
    if kind == "sigma":
        template, colors, low = "sigma.qml", SEQUENTIAL, 0.0
    else:
        template, colors, low = "displacement.qml", DIVERGING, -limit
    values = [low + (limit - low) * i / (len(colors) - 1) for i in range(len(colors))]
    items = "\n".join(f'          <item alpha="255" value="{v:.9g}" label="{_label(v, unit, negative, positive)}" '
                      f'color="{c}"/>' for v, c in zip(values, colors))
    with open(os.path.join(HERE, "styles", template), encoding="utf-8") as f:
        text = f.read()
    return (text.replace("{band}", str(band)).replace("{min}", f"{low:.9g}").replace("{max}", f"{limit:.9g}")
            .replace("{items}", items).replace("{min_label}", _label(low, unit, negative, positive))
            .replace("{max_label}", _label(limit, unit, negative, positive)))


def product_units(path: str) -> str:
    """The UNITS tag of a product (GDAL metadata), "pixel" when absent."""
    try:
        from osgeo import gdal

        ds = gdal.Open(path)
        units = ds.GetMetadataItem("UNITS") if ds is not None else None
    except ImportError:
        units = None
    return units or "pixel"


def band_limit(layer, kind: str) -> float:
    """Round symmetric limit of a band: the larger |2nd|, |98th| percentile (sigma: the 98th)."""
    band = BANDS[kind][0]
    low, high = layer.dataProvider().cumulativeCut(band, 0.02, 0.98)
    return nice_limit(high if kind == "sigma" else max(abs(low), abs(high)))


def apply_style(layer, kind: str, units: str) -> None:
    """Give a QgsRasterLayer of a product the style of band ``kind``."""
    import tempfile

    qml = style_qml(kind, band_limit(layer, kind), units)
    fd, path = tempfile.mkstemp(suffix=".qml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(qml)
        message, ok = layer.loadNamedStyle(path)
        if not ok:
            raise RuntimeError(f"cannot apply the microflow style: {message}")
    finally:
        os.unlink(path)
    layer.triggerRepaint()


def load_product(path: str, project=None, name: str | None = None, layer=None) -> list:
    """Add the EW, NS and sigma layers of the product at ``path`` to ``project`` (default: the current
    one) in a group; EW and NS shown, sigma listed but hidden. ``layer``: an already loaded layer of
    the product to use as the EW layer. Returns the layers."""
    from qgis.core import QgsProject, QgsRasterLayer

    project = project or QgsProject.instance()
    units = product_units(path)
    base = name or os.path.splitext(os.path.basename(path))[0]
    unit = UNIT_SYMBOL.get(units, units)
    layers = []
    for kind in ("EW", "NS", "sigma"):
        title = f"{base} {kind} [{unit}]"
        if kind == "EW" and layer is not None:
            current = layer
            current.setName(title)
        else:
            current = QgsRasterLayer(path, title, "gdal")
            if not current.isValid():
                raise RuntimeError(f"QGIS cannot open {path}")
        apply_style(current, kind, units)
        layers.append(current)
    root = project.layerTreeRoot()
    group = root.insertGroup(0, base)
    for current in layers:
        if current is not layer:
            project.addMapLayer(current, False)
            node = group.addLayer(current)
        else:  # loaded by Processing: move it into the group
            node = root.findLayer(current.id())
            if node is None:
                node = group.addLayer(current)
            else:
                moved = node.clone()
                group.insertChildNode(0, moved)
                node.parent().removeChildNode(node)
                node = moved
        if current is layers[-1]:
            node.setItemVisibilityChecked(False)  # sigma: shown on demand
    return layers
