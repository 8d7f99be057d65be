"""The ``microflow`` Processing provider and its one setting: the path of the microflow executable."""

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHMS, SETTING


class MicroflowProvider(QgsProcessingProvider):
    def id(self):
        return "microflow"

    def name(self):
        return "microflow-geo"

    def longName(self):  # noqa: N802
        return "microflow-geo: sub-pixel ground displacement from optical image pairs"

    def icon(self):
        path = os.path.join(os.path.dirname(__file__), "icon.svg")
        return QIcon(path) if os.path.exists(path) else QgsProcessingProvider.icon(self)

    def load(self):
        try:
            from processing.core.ProcessingConfig import ProcessingConfig, Setting
        except ImportError:
            return super().load()
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(Setting(
            self.name(), SETTING, "microflow executable (e.g. /path/to/venv/bin/microflow; empty: "
                                  "$MICROFLOW_EXECUTABLE, then the PATH)", "", valuetype=Setting.FILE))
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self):
        try:
            from processing.core.ProcessingConfig import ProcessingConfig
        except ImportError:
            return
        ProcessingConfig.removeSetting(SETTING)

    def loadAlgorithms(self):  # noqa: N802
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
