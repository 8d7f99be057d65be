"""microflow-geo QGIS plugin: a Processing provider whose algorithms run the ``microflow`` command."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """QGIS entry point: the plugin object (also used by ``qgis_process plugins enable``)."""
    from .plugin import MicroflowPlugin

    return MicroflowPlugin(iface)
