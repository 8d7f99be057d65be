"""Reading and validating pre/post raster pairs (grid comparison and overlap windows: :mod:`microflow.io.grid`)."""

from microflow.io.raster import RasterPair, open_pair, read_pair

__all__ = ["RasterPair", "open_pair", "read_pair"]
