"""Reading and validating pre/post raster pairs."""

from microflow.io.raster import RasterPair, open_pair, read_pair

__all__ = ["RasterPair", "open_pair", "read_pair"]
