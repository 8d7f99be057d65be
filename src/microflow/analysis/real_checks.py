"""The sigma band and the confidence on real series with no reference field (read at benchmark time only).

Three checks on ``../shared/realdata-dev`` (never trained or fitted on):

1. **Closure coverage** (Perito Moreno, clear triplets A < B < C): the closure residual ``r(p)``
   (:func:`microflow.analysis.closure.closure_residual`) against the radius ``R(p)`` that the three
   products' sigma bands predict for it (:func:`~microflow.analysis.closure.closure_sigma`). With
   calibrated bands and independent errors ``P(r <= R)`` is 0.68; the pairs share dates, so read it as the
   level of sigma on real data (well below 0.68: sigma too small).
2. **Clouds** (Perito Moreno): pairs with one fully clouded date against clear pairs of a similar
   interval. A product over cloud should not look fine: its median confidence should fall and its sigma
   rise. Reported over the glacier region, with the share of pixels whose confidence is below 0.5.
3. **Stable ground** (Kaiserberg orthophotos): outside the rock glacier the ground does not move, so
   ``e = ||d - median_stable(d)||`` (a constant misregistration removed, as for the null pairs) is the
   error; reported with ``P(e <= sigma)`` and the median confidence inside the rock glacier (decades of
   change, where a method that cannot match should say so) against the stable ground's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microflow.analysis.closure import border_region, closure_residual, closure_sigma
from microflow.analysis.shift_set import (CLOSURE_MARGIN, LONG_TRIPLET, PERITO, REALDATA, SHORT_TRIPLETS,
                                          once_per_pair, perito_mask, perito_product, product, triplet_pairs)
from microflow.uncertainty import coverage_of

KAISERBERG = REALDATA / "kaiserberg_rockglacier_orthophotos"
CLEAR_PAIRS = (("20200207", "20200210"), ("20200131", "20200207"))
CLOUDY_PAIRS = (("20200101", "20200106"), ("20200108", "20200131"))   # 20200106 and 20200108 fully clouded
KAISERBERG_PAIRS = (("1953", "1970"), ("1970", "2003"), ("2003", "2023"))
LOW_CONFIDENCE = 0.5


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def closure_coverage(product_of, triplets, region: np.ndarray) -> dict:
    """{"A/B/C": {median_r, median_R, coverage}} for the products ``product_of(a, b)`` of each triplet."""
    out = {}
    for triplet in triplets:
        ab, bc, ac = (product_of(*pair) for pair in triplet_pairs(triplet))
        r = closure_residual((ab.dx, ab.dy), (bc.dx, bc.dy), (ac.dx, ac.dy))
        radius = closure_sigma(ab.sigma, bc.sigma, ac.sigma, (ab.dx, ab.dy))
        inside = region & np.isfinite(r) & np.isfinite(radius)
        out["/".join(triplet)] = {"median_r": _median(r[inside]), "median_R": _median(radius[inside]),
                                  "coverage": coverage_of(radius, r, inside.astype(float))}
    return out


def pair_summary(field, region: np.ndarray) -> dict:
    """Median confidence and sigma, share of confidence < LOW_CONFIDENCE and of finite pixels over ``region``."""
    finite = region & np.isfinite(field.dx) & np.isfinite(field.dy)
    confidence = np.where(np.isfinite(field.confidence), field.confidence, 0.0)[region]
    return {"median_confidence": float(np.median(confidence)) if confidence.size else float("nan"),
            "median_sigma": _median(field.sigma[finite]),
            "low_confidence_share": float(np.mean(confidence < LOW_CONFIDENCE)) if confidence.size else float("nan"),
            "finite_share": float(finite.sum() / max(region.sum(), 1))}


def stable_summary(field, stable: np.ndarray, inside: np.ndarray) -> dict:
    """Error on stable ground ``||d - median_stable(d)||``: its median, the sigma coverage, and the median
    confidence on stable ground and inside the moving area."""
    ok = stable & np.isfinite(field.dx) & np.isfinite(field.dy)
    error = np.hypot(field.dx - np.median(field.dx[ok]), field.dy - np.median(field.dy[ok]))
    confidence = np.where(np.isfinite(field.confidence), field.confidence, 0.0)
    return {"median_error": _median(error[ok]), "median_sigma": _median(field.sigma[ok]),
            "coverage": coverage_of(field.sigma, error, ok.astype(float)),
            "confidence_stable": float(np.median(confidence[stable])),
            "confidence_inside": float(np.median(confidence[inside]))}


def perito_checks(key: str, params: dict | None = None, series: Path = PERITO,
                  triplets=SHORT_TRIPLETS + (LONG_TRIPLET,)) -> dict:
    """Checks 1 and 2 on the Perito Moreno series (module doc)."""
    product_of = once_per_pair(lambda a, b: perito_product(a, b, key, params, series))
    region = border_region(perito_mask(), CLOSURE_MARGIN)
    pairs = {"/".join(p): dict(pair_summary(product_of(*p), region), kind=kind)
             for kind, chosen in (("clear", CLEAR_PAIRS), ("cloudy", CLOUDY_PAIRS)) for p in chosen}
    return {"closure": closure_coverage(product_of, triplets, region), "pairs": pairs}


def kaiserberg_checks(key: str, params: dict | None = None, folder: Path = KAISERBERG) -> dict:
    """Check 3 on the Kaiserberg orthophotos (module doc)."""
    import rasterio

    from microflow.correction.stable import vector_mask

    out = {}
    for a, b in KAISERBERG_PAIRS:
        pre = folder / f"{a}_ortho_1m_RG_rend_bw.tif"
        field = product(str(pre), str(folder / f"{b}_ortho_1m_RG_rend_bw.tif"), key, params, band=1, nodata=None)
        with rasterio.open(pre) as src:
            shape, transform, crs = (src.height, src.width), src.transform, src.crs
        stable = vector_mask(folder / "Area_outside_rock_glacier_adjusted.shp", shape, transform, crs)
        inside = vector_mask(folder / "Area_inside_rock_glacier.shp", shape, transform, crs)
        out[f"{a}/{b}"] = stable_summary(field, stable, inside)
    return out


def kaiserberg_available(folder: Path = KAISERBERG) -> bool:
    return (folder / "Area_inside_rock_glacier.shp").is_file()
