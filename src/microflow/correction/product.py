"""Stable-ground correction of a displacement field or product: :func:`correct_field`, :func:`correct_product`.

The correction ``m = (m_x, m_y)`` [pre pixels] is fitted on stable ground (:mod:`.stable`, :mod:`.fit`)
and removed from every valid pixel: ``d' = d - m``. Its per-axis standard deviation ``σ_m,c`` enters
the product's sigma (a 68 % radius, :mod:`microflow.convention`) in quadrature:
``σ' = sqrt(σ² + R68² (σ_m,x² + σ_m,y²) / 2)`` with ``R68 = sqrt(-2 ln 0.32) ≈ 1.51``, the 68 % radius
of an isotropic Gaussian per unit per-axis deviation. A product without sigma keeps NaN.

Refusals (``ParameterError`` / ``InputError``, one line, nothing written): stable ground with fewer
pixels than the model needs (``max(min_pixels, 50 k)``, ``k`` the polynomial parameters, and at
least ``min_share`` of the valid field), stripes whose stable pixels cover fewer than half of the
image lines, and the mask refusals of :mod:`.stable`.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, replace

import numpy as np
import rasterio

from microflow.correction.fit import FitResult, Track, fit_model
from microflow.correction.models import (STRIPE_BIN_PX, ModelSpec, parse_model, poly_names, step_labels,
                                         track_coordinates)
from microflow.correction.stable import automatic_mask, gradient_outliers, stable_mask
from microflow.correction.track import find_steps, track_azimuth
from microflow.errors import InputError, ParameterError

R68 = float(np.sqrt(-2.0 * np.log(0.32)))
MIN_PIXELS_PER_PARAMETER = 50
MIN_LINE_COVERAGE = 0.5
EVAL_CHUNK_PX = 1 << 20


@dataclass(frozen=True)
class CorrectionOptions:
    """Everything :func:`correct_field` and :func:`correct_product` need besides the field.

    ``model``: terms joined by ``+`` (:mod:`.models`); ``track_azimuth`` [deg from north, None:
    estimated]; ``boundaries``: across-track step boundaries [px, None: found]; one of ``stable``
    (vector), ``exclude`` (vector, grown by ``buffer`` metres), ``stable_mask`` (raster) or none
    (automatic: ``min_confidence``, ``sigma_mad`` and ``gradient_mad`` thresholds); ``min_share`` and
    ``min_pixels`` set the refusal of too little stable ground; at most ``max_fit_pixels`` stable
    pixels (a fixed random subset) enter the fit.
    """

    model: str = "plane"
    track_azimuth: float | None = None
    boundaries: tuple[float, ...] | None = None
    stable: str | None = None
    exclude: str | None = None
    buffer: float = 0.0
    stable_mask: str | None = None
    min_confidence: float = 0.2
    sigma_mad: float = 3.0
    gradient_mad: float = 5.0
    min_share: float = 0.01
    min_pixels: int = 200
    max_fit_pixels: int = 4_000_000
    save_correction: str | None = None
    overwrite: bool = False
    seed: int = 0


@dataclass
class CorrectionResult:
    """Corrected field, the removed correction ``(2, H, W)`` and its per-axis std [pre px], the fit,
    the final stable mask and the ``CORRECTION`` tag content."""

    field: object
    correction: np.ndarray
    correction_std: np.ndarray
    fit: FitResult
    stable: np.ndarray
    info: dict


def _check_share(n_stable: int, n_valid: int, spec: ModelSpec, options: CorrectionOptions, source: str) -> None:
    need = max(options.min_pixels, MIN_PIXELS_PER_PARAMETER * max(spec.n_poly, 1))
    share = n_stable / max(n_valid, 1)
    if n_stable < need or share < options.min_share:
        raise ParameterError(f"stable ground too small to fit {spec.name}: {n_stable} px ({100 * share:.2f}% of the "
                             f"valid field, {source}); need {need} px and {100 * options.min_share:g}%")


def _pixels(mask: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(mask)
    if rows.size > limit:
        keep = np.sort(np.random.default_rng(seed).choice(rows.size, limit, replace=False))
        rows, cols = rows[keep], cols[keep]
    return rows, cols


def _track(spec, options, field_xy, valid, rows, cols, shape, transform) -> Track | None:
    """Track frame: azimuth (given or estimated on the residual of a polynomial fit) and stripe bins."""
    if not spec.needs_track:
        return None
    values = field_xy[:, rows, cols]
    azimuth, estimated = options.track_azimuth, options.track_azimuth is None
    if estimated:
        poly = ModelSpec("constant" if spec.degree < 1 else "plane", max(spec.degree, 0), False, False)
        pre = fit_model(poly, values, rows, cols, shape)
        resid = values - pre.evaluate(rows, cols)[0]
        azimuth = track_azimuth(rows, cols, resid, pre.weights, pre.scale, transform, spec.steps,
                                np.sqrt(pre.inflation))
    vr, vc = np.nonzero(valid)
    t_all, _ = track_coordinates(vr, vc, azimuth, transform)
    t0 = float(np.floor(t_all.min()))
    n_bins = int(np.ceil((t_all.max() - t0) / STRIPE_BIN_PX)) + 1
    boundaries = np.sort(np.asarray(options.boundaries or (), np.float64))
    track = Track(float(azimuth) % 360.0, transform, t0, n_bins, boundaries, estimated, options.boundaries is None)
    if spec.stripes:
        t_stable, _ = track_coordinates(rows, cols, azimuth, transform)
        lines_all = np.unique(np.floor(t_all).astype(np.int64)).size
        lines = np.unique(np.floor(t_stable).astype(np.int64)).size
        if lines < MIN_LINE_COVERAGE * lines_all:
            raise ParameterError(f"stable ground covers {100 * lines / lines_all:.0f}% of the image lines: too few "
                                 f"to fit stripes (need {100 * MIN_LINE_COVERAGE:.0f}%)")
    return track


def _fit(spec, values, rows, cols, shape, track, passes: int = 3) -> FitResult:
    """Fit the model. Steps with unknown boundaries are found on the residual of the fit without them,
    then again on the partial residual (residual plus fitted steps) of the full fit, whose correlation
    inflation no longer holds the steps, until the boundaries stop changing (``passes`` at most)."""
    if not (spec.steps and track.boundaries_found):
        return fit_model(spec, values, rows, cols, shape, track)
    base = replace(spec, steps=False)
    if base.degree < 0 and not base.stripes:
        base = replace(base, degree=0)
    fit = fit_model(base, values, rows, cols, shape, track)
    _, u = track_coordinates(rows, cols, track.azimuth, track.transform)
    for _ in range(passes):
        partial = values - fit.evaluate(rows, cols)[0]
        if fit.spec.steps:
            partial += fit.steps[:, step_labels(u, track.boundaries)]
        found, _ = find_steps(u, partial, fit.weights, fit.scale, np.sqrt(fit.inflation))
        if fit.spec.steps and np.array_equal(found, track.boundaries):
            break
        track.boundaries = found
        fit = fit_model(spec, values, rows, cols, shape, track)
    return fit


def evaluate_grid(fit: FitResult, shape: tuple[int, int], valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correction and its per-axis std (2, H, W) at the valid pixels (NaN elsewhere), in row chunks."""
    corr = np.full((2, *shape), np.nan, np.float64)
    std = np.full((2, *shape), np.nan, np.float64)
    step = max(1, EVAL_CHUNK_PX // max(shape[1], 1))
    for r0 in range(0, shape[0], step):
        rr, cc = np.nonzero(valid[r0:r0 + step])
        rr = rr + r0
        m, v = fit.evaluate(rr, cc)
        corr[:, rr, cc] = m
        std[:, rr, cc] = np.sqrt(np.maximum(v, 0.0))
    return corr, std


def correct_field(field, options: CorrectionOptions = CorrectionOptions(), *, transform=None, crs=None,
                  stable: np.ndarray | None = None, source: str | None = None) -> CorrectionResult:
    """Fit the correction on stable ground and remove it from a
    :class:`~microflow.methods.base.DisplacementField` (module doc).

    ``stable`` (bool (H, W)) overrides the options' mask sources; ``transform``/``crs`` place vectors
    and the track azimuth (north-up unit pixels when None).
    """
    from microflow.methods.base import DisplacementField

    spec = parse_model(options.model)
    shape = field.shape
    valid = field.valid
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise InputError("the field has no valid pixel to correct")
    if stable is None:
        stable, source = stable_mask(options, shape, transform, crs)
    automatic = stable is None
    if automatic:
        stable = automatic_mask(valid, field.confidence, field.sigma, options.min_confidence, options.sigma_mad)
        source = "automatic"
    else:
        stable = np.asarray(stable, bool) & valid
        source = source or "given mask"
    _check_share(int(stable.sum()), n_valid, spec, options, source)
    d = np.stack([field.dx, field.dy]).astype(np.float64)
    rows, cols = _pixels(stable, options.max_fit_pixels, options.seed)
    track = _track(spec, options, d, valid, rows, cols, shape, transform)
    fit = _fit(spec, d[:, rows, cols], rows, cols, shape, track)
    if automatic:
        corr, _ = evaluate_grid(fit, shape, valid)
        stable = stable & ~gradient_outliers(np.nan_to_num(d - corr), stable, options.gradient_mad)
        _check_share(int(stable.sum()), n_valid, spec, options, "automatic, after the gradient test")
        rows, cols = _pixels(stable, options.max_fit_pixels, options.seed)
        if track is not None and track.boundaries_found:
            track.boundaries = np.zeros(0)
        fit = _fit(spec, d[:, rows, cols], rows, cols, shape, track)
    corr, std = evaluate_grid(fit, shape, valid)
    out_dx, out_dy = d[0] - corr[0], d[1] - corr[1]
    sigma = None
    if field.sigma is not None:
        sigma = np.sqrt(field.sigma.astype(np.float64) ** 2 + R68 ** 2 * (std[0] ** 2 + std[1] ** 2) / 2)
    corrected = DisplacementField(out_dx, out_dy, field.confidence, sigma=sigma)
    inliers = int(np.sum(fit.weights > 0)) * (int(stable.sum()) / max(rows.size, 1))
    info = correction_info(fit, source, int(stable.sum()), inliers, n_valid, shape)
    return CorrectionResult(corrected, corr.astype(np.float32), std.astype(np.float32), fit, stable, info)


def _rounded(a, digits: int = 6):
    return np.round(np.asarray(a, np.float64), digits).tolist()


def correction_info(fit: FitResult, source: str, n_stable: int, inliers: float, n_valid: int, shape) -> dict:
    """Content of the ``CORRECTION`` tag: model, parameters and their std, stable share (JSON-ready)."""
    spec = fit.spec
    info = {
        "model": spec.name,
        "frame": "internal field d=(dx +column, dy +row) in pre pixels; polynomial in x=(col-c0)/s, "
                 "y=(row-r0)/s, (r0, c0) the centre, s=max(H,W)/2",
        "shape": list(shape),
        "stable_source": source,
        "stable_share": round(n_stable / n_valid, 6),
        "stable_pixels": n_stable,
        "inlier_share": round(inliers / n_valid, 6),
        "residual_sigma_px": _rounded(fit.scale),
        "correlation_inflation": round(fit.inflation, 3),
        "parameters": {}, "uncertainty": {},
    }
    names = poly_names(spec.degree)
    for c, comp in enumerate(("dx", "dy")):
        info["parameters"][comp] = dict(zip(names, _rounded(fit.poly[c])))
        info["uncertainty"][comp] = dict(zip(names, _rounded(np.sqrt(np.diag(fit.poly_cov[c])))))
    if spec.needs_track:
        info["track_azimuth_deg"] = round(fit.track.azimuth, 3)
        info["track_azimuth_estimated"] = fit.track.azimuth_estimated
    if spec.stripes:
        info["stripes"] = {"bin_px": STRIPE_BIN_PX, "t0_px": fit.track.t0, "rms_px": _rounded(np.sqrt(np.mean(
            fit.stripes ** 2, axis=1))), "max_abs_px": _rounded(np.max(np.abs(fit.stripes), axis=1)),
            "median_std_px": _rounded(np.median(np.sqrt(fit.stripes_var), axis=1))}
    if spec.steps:
        info["steps"] = {"boundaries_u_px": _rounded(fit.track.boundaries, 2), "found": fit.track.boundaries_found,
                         "values_px": _rounded(fit.steps), "std_px": _rounded(np.sqrt(fit.steps_var))}
    return info


def correct_product(in_path, out_path, options: CorrectionOptions = CorrectionOptions()) -> dict:
    """Correct a product file (GeoTIFF or netCDF) and write the result (and ``options.save_correction``)
    atomically as GeoTIFF.

    The output keeps the input's grid, units, method, parameters and tags, and adds ``CORRECTION``
    (JSON, :func:`correction_info`). Returns that dict plus ``output``. Nothing is written on any error.
    """
    from microflow.convention import product_to_field, sigma_from_product
    from microflow.methods.base import DisplacementField
    from microflow.products.geotiff import GEOTIFF_SUFFIXES, check_output_path
    from microflow.products.netcdf import read_product_any

    inputs = [in_path, options.stable, options.exclude, options.stable_mask]
    out = check_output_path(out_path, inputs, options.overwrite, GEOTIFF_SUFFIXES)
    extra = None
    if options.save_correction:
        extra = check_output_path(options.save_correction, inputs + [out_path], options.overwrite, GEOTIFF_SUFFIXES,
                                  kind="the correction file")
        if os.path.abspath(extra) == out:
            raise ParameterError("--save-correction must differ from the output")
    try:
        bands, tags, profile = read_product_any(in_path)
    except Exception as exc:
        raise InputError(f"cannot read product {in_path}: {str(exc).splitlines()[0]}") from None
    transform, units = profile.get("transform"), tags.get("UNITS", "pixel")
    dx, dy = product_to_field(bands[0], bands[1], transform, units)
    sigma = sigma_from_product(bands[3], transform, units) if len(bands) > 3 else None
    if sigma is not None and not np.isfinite(sigma).any():
        sigma = None
    result = correct_field(DisplacementField(dx, dy, bands[2], sigma=sigma), options, transform=transform,
                           crs=profile.get("crs"))
    keep = {k: v for k, v in tags.items() if not k.startswith("_") and k not in
            ("UNITS", "METHOD", "PARAMETERS", "SOFTWARE_VERSION", "CONVENTION", "CORRECTION")}
    keep["CORRECTION"] = json.dumps(result.info)
    params = json.loads(tags.get("PARAMETERS", "{}") or "{}")
    method = tags.get("METHOD", "unknown")
    with warnings.catch_warnings():  # a north-up unit-pixel grid reads as "not georeferenced" to rasterio
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        _write(out, extra, profile, method, units, params, keep, result, options, in_path)
    return {**result.info, "output": out, "correction_output": extra}


def _write(out, extra, profile, method, units, params, keep, result, options, in_path) -> None:
    """The corrected product and, with ``extra``, the removed field (:func:`correct_product`)."""
    from microflow.products.geotiff import ProductWriter

    with ProductWriter(out, profile, method, units, params, keep) as writer:
        f = result.field
        writer.write(f.dx, f.dy, f.confidence, sigma=f.sigma)
        if extra:
            corr_tags = {"CORRECTION": keep["CORRECTION"], "CORRECTION_OF": os.path.basename(os.fspath(in_path))}
            with ProductWriter(extra, profile, f"correction of {method}", units, asdict(options), corr_tags) as cw:
                std = result.correction_std
                cw.write(result.correction[0], result.correction[1], np.ones(f.dx.shape, np.float32),
                         sigma=R68 * np.sqrt((std[0] ** 2 + std[1] ** 2) / 2))
