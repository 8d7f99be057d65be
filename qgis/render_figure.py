"""Render a microflow-geo product with the plugin's styles through QGIS's layout renderer (headless).

Usage (QGIS's Python, e.g. Debian's python3-qgis)::

    QT_QPA_PLATFORM=offscreen python3 qgis/render_figure.py PRODUCT.tif docs/figures/qgis.png

Draws the EW and NS layers side by side, each with its legend (diverging ramp, units), as the
plugin loads them into a project (:func:`microflow_qgis.styles.load_product`); the sigma layer is
drawn small beside them. Prints the QGIS version.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

WIDTH_MM, HEIGHT_MM, MAP_MM, LEGEND_MM = 345, 104, 88, 36


def render(product: str, out_png: str, dpi: int = 110, name: str = "example") -> str:
    from qgis.core import (Qgis, QgsApplication, QgsLayerTree, QgsLayoutExporter, QgsLayoutItemLabel,
                           QgsLayoutItemLegend, QgsLayoutItemMap, QgsLegendRenderer, QgsLegendStyle, QgsLayoutPoint, QgsLayoutSize, QgsPrintLayout,
                           QgsProject, QgsUnitTypes)
    from qgis.PyQt.QtGui import QFont

    from microflow_qgis.styles import load_product

    app = QgsApplication([], False)
    app.initQgis()
    try:
        project = QgsProject.instance()
        layers = load_product(os.path.abspath(product), project, name=name)
        layout = QgsPrintLayout(project)
        layout.initializeDefaults()
        layout.pageCollection().page(0).setPageSize(QgsLayoutSize(WIDTH_MM, HEIGHT_MM, QgsUnitTypes.LayoutMillimeters))
        keep = []
        x = 4.0
        for index, layer in enumerate(layers):
            size = MAP_MM if index < 2 else MAP_MM * 0.45
            map_item = QgsLayoutItemMap(layout)
            map_item.attemptMove(QgsLayoutPoint(x, 12, QgsUnitTypes.LayoutMillimeters))
            map_item.attemptResize(QgsLayoutSize(size, size, QgsUnitTypes.LayoutMillimeters))
            map_item.setCrs(layer.crs())
            map_item.setLayers([layer])
            map_item.setExtent(layer.extent())
            map_item.setFrameEnabled(True)
            layout.addLayoutItem(map_item)
            title = QgsLayoutItemLabel(layout)
            title.setText(layer.name())
            title.setFont(QFont("DejaVu Sans", 10))
            title.attemptMove(QgsLayoutPoint(x, 4, QgsUnitTypes.LayoutMillimeters))
            title.attemptResize(QgsLayoutSize(size + 24, 7, QgsUnitTypes.LayoutMillimeters))
            layout.addLayoutItem(title)
            legend = QgsLayoutItemLegend(layout)
            legend.setAutoUpdateModel(False)
            root = QgsLayerTree()
            root.addLayer(layer)
            keep.append(root)
            legend.model().setRootGroup(root)
            legend.setTitle("")
            QgsLegendRenderer.setNodeLegendStyle(root.findLayer(layer.id()), QgsLegendStyle.Hidden)
            legend.setLinkedMap(map_item)
            legend.attemptMove(QgsLayoutPoint(x + size + 1, 12, QgsUnitTypes.LayoutMillimeters))
            layout.addLayoutItem(legend)
            x += size + LEGEND_MM
        exporter = QgsLayoutExporter(layout)
        settings = QgsLayoutExporter.ImageExportSettings()
        settings.dpi = dpi
        settings.exportMetadata = False  # no georeferencing of the PNG (GDAL cannot update a PNG)
        os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
        result = exporter.exportToImage(out_png, settings)
        if result != QgsLayoutExporter.Success:
            raise SystemExit(f"QGIS could not export {out_png} (code {result})")
        print(f"wrote {out_png} with QGIS {Qgis.QGIS_VERSION}")
    finally:
        app.exitQgis()
    return out_png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    render(sys.argv[1], sys.argv[2])
