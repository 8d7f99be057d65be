"""The plugin object: registers the microflow-geo Processing provider (GUI and qgis_process)."""

from qgis.core import QgsApplication

from .provider import MicroflowProvider


class MicroflowPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name); qgis_process calls it without a GUI
        if self.provider is None:
            self.provider = MicroflowProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
