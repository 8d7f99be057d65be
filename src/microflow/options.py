"""The options of one estimation run, in one object: :class:`EstimateOptions`.

:func:`microflow.api.estimate_files` takes ``(pre, post, out, options=None, **overrides)``; the
overrides are field names of :class:`EstimateOptions` (``tile_window=512``) or, for any other name,
parameters of the method (``window=32`` for a correlator's correlation window, ``model=...``).

>>> opts = EstimateOptions(method="freqcorr", units="meter", bounds=(x0, y0, x1, y1))
>>> estimate_files("pre.tif", "post.tif", "out.tif", opts)
>>> estimate_files("pre.tif", "post.tif", "out.tif", opts, overwrite=True, window=32)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from microflow.errors import ParameterError
from microflow.methods import DEFAULT_METHOD

AOI_HALO = 32  # px of pre's grid read around an area of interest, so its edge windows have context


@dataclass(frozen=True)
class EstimateOptions:
    """Everything :func:`~microflow.api.estimate_files` needs besides the three paths.

    Method: ``method`` and its own ``params`` (a dict). Input: ``band`` (1-based, "luma" for a colour
    rendering, or "auto": luma for RGB renderings, else 1), ``asset`` (STAC asset name, for STAC Item
    inputs), ``align`` ("exact", "resample", "resample:KERNEL"), ``nodata`` (an undeclared no-data value of
    both images; "auto": 0 for zero-filled images, :mod:`microflow.io.fill`; None: none). Area of interest: ``bounds``
    (XMIN,YMIN,XMAX,YMAX as text or a 4-tuple) in pre's CRS or ``bounds_crs``, or ``aoi`` (a vector
    file: its bounding box plus ``aoi_margin`` pre pixels); ``aoi_halo`` px of context read around it.
    Output: ``units`` ("pixel" or "meter"), ``overwrite``, ``plot`` (quicklook PNG path),
    ``progress``. Windows [px]: ``tile_window``, ``tile_overlap``, ``tile_batch`` (windows per batch).
    Regularization: ``regularize`` ("ltv", "tv", "none"; None = the method's default) with
    ``reg_params``. Compute: ``device``, ``threads``; ``dask``, ``dask_scheduler``,
    ``dask_workers``. ``correct``: a stable-ground correction model (``"plane"``, ``"plane+stripes"``, ...)
    fitted on the automatic stable mask and removed before the product is published
    (:func:`microflow.correction.product.correct_product`; GeoTIFF output only).
    """

    method: str = DEFAULT_METHOD
    params: dict = field(default_factory=dict)
    band: int | str = "auto"
    asset: str | None = None
    align: str = "exact"
    nodata: float | str | None = "auto"
    bounds: object = None
    bounds_crs: str | None = None
    aoi: str | None = None
    aoi_margin: int | None = None
    aoi_halo: int = AOI_HALO
    units: str = "pixel"
    overwrite: bool = False
    plot: str | None = None
    progress: bool = False
    tile_window: int | None = None
    tile_overlap: int | None = None
    tile_batch: int | None = None
    regularize: str | None = None
    reg_params: dict | None = None
    device: str = "auto"
    threads: int | None = None
    dask: bool = False
    dask_scheduler: str | None = None
    dask_workers: int | None = None
    correct: str | None = None

    @classmethod
    def build(cls, options: "EstimateOptions | str | None" = None, **overrides) -> "EstimateOptions":
        """``options`` (an EstimateOptions, a method name or None) with ``overrides`` applied.

        Overrides that are not fields become method parameters, merged over ``options.params``.
        """
        if options is None:
            base = cls()
        elif isinstance(options, str):
            base = cls(method=options)
        elif isinstance(options, cls):
            base = options
        else:
            raise ParameterError(f"options must be EstimateOptions or a method name, got {type(options).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        known = {key: value for key, value in overrides.items() if key in names}
        extra = {key: value for key, value in overrides.items() if key not in names}
        params = {**base.params, **known.pop("params", {}), **extra}
        built = dataclasses.replace(base, params=params, **known)
        built.check()
        return built

    def check(self) -> None:
        """Raise ParameterError for values no run accepts (checked before any input is read)."""
        if self.units not in ("pixel", "meter"):
            raise ParameterError(f"units must be 'pixel' or 'meter', got {self.units!r}")
        if self.aoi_halo < 0:
            raise ParameterError(f"aoi_halo must be >= 0 px, got {self.aoi_halo}")
        if self.correct is not None:
            from microflow.correction.models import parse_model

            parse_model(self.correct)  # an unknown model fails before any input is read

    def area(self):
        """The :class:`~microflow.io.aoi.Aoi` of ``bounds``/``bounds_crs``/``aoi`` (None: whole pair)."""
        from microflow.io.aoi import area_of_interest

        return area_of_interest(self.bounds, self.bounds_crs, self.aoi, self.aoi_margin)

    def tiler_settings(self) -> dict:
        """Keywords of :func:`microflow.tiling.scene.estimate_scene` (and its Dask twin) from these options."""
        return dict(band=self.band, units=self.units, window=self.tile_window, overlap=self.tile_overlap,
                    batch_size=self.tile_batch, regularize=self.regularize, reg_params=self.reg_params,
                    device=self.device, threads=self.threads, overwrite=True, progress=self.progress,
                    method_params=dict(self.params), align=self.align, nodata=self.nodata)
