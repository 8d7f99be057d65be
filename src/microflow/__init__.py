"""microflow-geo: sub-pixel ground displacement from pre/post optical satellite images.

Pipeline, one sub-package per stage::

    io  ->  methods (model, correlators)  ->  tiling  ->  regularization  ->  products  ->  analysis

Internal convention (see :mod:`microflow.convention`): a field ``d = (dx, dy)`` in pixels of the PRE
grid, x = column (right), y = row (down); a ground feature at pre pixel p appears at p + d in post.
"""

__version__ = "0.1.0"

from microflow.hugepages import enable_torch_huge_pages  # noqa: E402

enable_torch_huge_pages()  # before torch's first allocation: see microflow.hugepages

from microflow.errors import MicroflowError  # noqa: E402
from microflow.methods.base import DisplacementField  # noqa: E402

__all__ = ["__version__", "MicroflowError", "DisplacementField", "estimate_dataarrays"]


def __getattr__(name: str):
    if name == "estimate_dataarrays":  # imported on first use: xarray, rasterio, the tiler
        from microflow.dataarrays import estimate_dataarrays

        return estimate_dataarrays
    raise AttributeError(f"module 'microflow' has no attribute {name!r}")
