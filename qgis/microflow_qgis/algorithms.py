"""Processing algorithms ``microflow:estimate``, ``microflow:correct``, ``microflow:profile``, ``microflow:info``.

Each one builds a ``microflow`` command line and runs it in a subprocess (:mod:`.runner`): the
progress bar's percentage becomes Processing's progress, its other lines the log, and Cancel stops
the process (the CLI writes its products atomically, so a cancelled run leaves no file). Products
(EW, NS [units], confidence, sigma) load with the shipped styles (:mod:`.styles`).
"""

import shlex

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingOutputString,
                       QgsProcessingParameterEnum, QgsProcessingParameterExtent, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterNumber, QgsProcessingParameterPoint,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsProcessingParameterVectorLayer)

from . import runner

SETTING = "MICROFLOW_EXECUTABLE"
METHODS = ["microflow", "freqcorr", "ncc", "farneback", "tvl1"]
REGULARIZERS = ["method default", "ltv", "tv", "none"]
UNITS = ["pixel", "meter"]
ENSEMBLES = ["1 (fastest)", "2", "4"]   # MicroFlow reads per window (flip ensemble): less noise, N x the time
_POST_PROCESSORS = []  # Processing keeps only a pointer: the objects must outlive the algorithm


def executable_setting():
    """The path set in Processing's options (None when unset or outside Processing's config)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return None
    value = ProcessingConfig.getSetting(SETTING)
    return str(value).strip() or None if value else None


class ProductStyler(QgsProcessingLayerPostProcessorInterface):
    """Styles a loaded product (EW layer) and adds its NS and sigma layers beside it."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from .styles import load_product

        try:
            load_product(self.path, context.project(), layer=layer)
        except RuntimeError as exc:
            feedback.reportError(str(exc))


class MicroflowAlgorithm(QgsProcessingAlgorithm):
    """Shared plumbing: names, the subprocess call, product styling."""

    NAME, TITLE, HELP = "", "", ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return self.TITLE

    def group(self):
        return "Displacement"

    def groupId(self):  # noqa: N802
        return "displacement"

    def shortHelpString(self):  # noqa: N802
        return self.HELP

    def createInstance(self):  # noqa: N802
        return type(self)()

    def call(self, args, feedback):
        """Run ``microflow args``; its stdout. Errors become QgsProcessingException (one line)."""
        try:
            executable = runner.find_executable(executable_setting())
        except runner.MicroflowNotFound as exc:
            raise QgsProcessingException(str(exc))
        feedback.pushCommandInfo(" ".join(shlex.quote(a) for a in [executable, *args]))
        try:
            return runner.run(executable, args, progress=feedback.setProgress, log=feedback.pushConsoleInfo,
                              canceled=feedback.isCanceled)
        except runner.MicroflowFailed as exc:
            raise QgsProcessingException(str(exc))
        except InterruptedError:
            raise QgsProcessingException("cancelled: microflow was stopped and wrote no output")

    def style_on_load(self, output, context):
        if context.willLoadLayerOnCompletion(output):
            styler = ProductStyler(output)
            _POST_PROCESSORS.append(styler)
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(styler)

    @staticmethod
    def source(layer):
        """A raster layer's file or GDAL path (``/vsicurl/https://...`` works: microflow passes it to GDAL)."""
        return layer.source().split("|", 1)[0]


class EstimateAlgorithm(MicroflowAlgorithm):
    NAME, TITLE = "estimate", "Estimate displacement (pre/post pair)"
    HELP = ("Displacement of POST relative to PRE (microflow estimate): a 4-band GeoTIFF on pre's grid, EW (+east), "
            "NS (+north), confidence [0, 1] and sigma (68 % error radius), NaN where there is no estimate. "
            "BOUNDS restricts the product to that area (only it is read, from files or COG URLs).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("PRE", "Pre-event image"))
        self.addParameter(QgsProcessingParameterRasterLayer("POST", "Post-event image"))
        self.addParameter(QgsProcessingParameterEnum("METHOD", "Method", METHODS, defaultValue=0))
        self.addParameter(QgsProcessingParameterString("MODEL", "MicroFlow model (name or .safetensors file)",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterEnum("ENSEMBLE", "MicroFlow reads per window (flip ensemble)",
                                                     ENSEMBLES, defaultValue=0, optional=True))
        self.addParameter(QgsProcessingParameterEnum("REGULARIZE", "Regularization", REGULARIZERS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum("UNITS", "Units of EW/NS", UNITS, defaultValue=0))
        self.addParameter(QgsProcessingParameterExtent("BOUNDS", "Area of interest", optional=True))
        self.addParameter(QgsProcessingParameterString(
            "BAND", "Band (auto, a 1-based index, or luma for an RGB rendering such as a JPEG)", defaultValue="auto",
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "NODATA", "No-data value of both images besides the declared one (empty: auto, 0 for zero-filled images)",
            QgsProcessingParameterNumber.Double, optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Displacement product"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        pre = self.parameterAsRasterLayer(parameters, "PRE", context)
        post = self.parameterAsRasterLayer(parameters, "POST", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        bounds = None
        if parameters.get("BOUNDS"):
            rect = self.parameterAsExtent(parameters, "BOUNDS", context, pre.crs())
            bounds = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        regularize = self.parameterAsEnum(parameters, "REGULARIZE", context)
        args = runner.estimate_args(
            self.source(pre), self.source(post), output, method=METHODS[self.parameterAsEnum(parameters, "METHOD", context)],
            model=self.parameterAsString(parameters, "MODEL", context) or None,
            regularize=REGULARIZERS[regularize] if regularize else None,
            units=UNITS[self.parameterAsEnum(parameters, "UNITS", context)], bounds=bounds,
            ensemble=int(ENSEMBLES[self.parameterAsEnum(parameters, "ENSEMBLE", context)].split()[0]),
            band=self.parameterAsString(parameters, "BAND", context) or None,
            nodata=(self.parameterAsDouble(parameters, "NODATA", context)
                    if parameters.get("NODATA") not in (None, "") else None))
        self.call(args, feedback)
        self.style_on_load(output, context)
        return {"OUTPUT": output}


class CorrectAlgorithm(MicroflowAlgorithm):
    NAME, TITLE = "correct", "Correct a product on stable ground"
    HELP = ("Removes a fitted bias (plane, quadratic, along-track stripes, detector steps) estimated on stable "
            "ground from a displacement product (microflow correct).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Displacement product"))
        self.addParameter(QgsProcessingParameterString("MODEL", "Correction model (e.g. plane, quadratic+stripes)",
                                                       defaultValue="plane"))
        self.addParameter(QgsProcessingParameterVectorLayer("STABLE", "Stable ground polygons",
                                                            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer("EXCLUDE", "Polygons to leave out (rupture zone)",
                                                            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterString("OPTIONS", "Other microflow correct options", optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Corrected product"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        product = self.parameterAsRasterLayer(parameters, "INPUT", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        args = ["correct", self.source(product), "-o", output, "--overwrite",
                "--model", self.parameterAsString(parameters, "MODEL", context) or "plane"]
        for name, flag in (("STABLE", "--stable"), ("EXCLUDE", "--exclude")):
            layer = self.parameterAsVectorLayer(parameters, name, context)
            if layer is not None:
                args += [flag, layer.source().split("|", 1)[0]]
        args += shlex.split(self.parameterAsString(parameters, "OPTIONS", context) or "")
        self.call(args, feedback)
        self.style_on_load(output, context)
        return {"OUTPUT": output}


class ProfileAlgorithm(MicroflowAlgorithm):
    NAME, TITLE = "profile", "Fault-perpendicular profile and offset"
    HELP = ("Stacked profile of a product across the fault segment START->END and the offset at the trace "
            "(microflow profile): writes a CSV and a PNG plot; the offsets are in the log and the OFFSETS output.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Displacement product"))
        self.addParameter(QgsProcessingParameterPoint("START", "Start of the fault segment"))
        self.addParameter(QgsProcessingParameterPoint("END", "End of the fault segment"))
        self.addParameter(QgsProcessingParameterNumber("WIDTH", "Swath width [px]", defaultValue=11, minValue=1))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", "Profile table", "CSV files (*.csv)"))
        self.addOutput(QgsProcessingOutputString("OFFSETS", "Offsets at the trace"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        product = self.parameterAsRasterLayer(parameters, "INPUT", context)
        crs = product.crs()
        start = self.parameterAsPoint(parameters, "START", context, crs)
        end = self.parameterAsPoint(parameters, "END", context, crs)
        output = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        prefix = output[:-4] if output.lower().endswith(".csv") else output
        args = ["profile", self.source(product), "--start", f"{start.x()!r},{start.y()!r}",
                "--end", f"{end.x()!r},{end.y()!r}", "--width", str(self.parameterAsInt(parameters, "WIDTH", context)),
                "-o", prefix, "--overwrite"]
        text = self.call(args, feedback)
        for line in text.splitlines():
            feedback.pushInfo(line)
        return {"OUTPUT": prefix + ".csv", "OFFSETS": text.strip()}


class InfoAlgorithm(MicroflowAlgorithm):
    NAME, TITLE = "info", "Describe a product"
    HELP = "Units, method, parameters and band statistics of a displacement product (microflow info)."

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Displacement product"))
        self.addOutput(QgsProcessingOutputString("INFO", "Description"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        product = self.parameterAsRasterLayer(parameters, "INPUT", context)
        text = self.call(["info", self.source(product)], feedback)
        for line in text.splitlines():
            feedback.pushInfo(line)
        return {"INFO": text.strip()}


ALGORITHMS = (EstimateAlgorithm, CorrectAlgorithm, ProfileAlgorithm, InfoAlgorithm)
