"""The shift set (issue 22): pairs and real series that no model or calibration was fitted on.

Groups of semi-synthetic pairs (Okada ruptures of the three categories, the usual temporal
perturbations, :func:`microflow.synth.generator.generate_sample`), each outside training:

* ``skimage``: scikit-image's CC0 ``grass``, ``gravel`` and ``brick`` pictures (whole pictures; they are
  never used in training or tuning);
* ``landsat_x4``: the Landsat-8 TEST area box-integrated by 4 (a 120 m sensor with a box PSF).

Each group also has zero-motion pairs (``displacement=False``: the same perturbations, no field), scored
by the null deviation ``mean ||d - median(d)||`` (:func:`microflow.analysis.null_pairs.null_deviation`).

The real series (``../shared/realdata-dev/perito_moreno_s2_rgb_2020``, read at benchmark time only) gives
the triplet closure (:mod:`microflow.analysis.closure`) on the glacier mask, 48 px from the border.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microflow.analysis import metrics as M
from microflow.analysis.closure import border_region, closure_residual, closure_summary
from microflow.analysis.null_pairs import null_deviation
from microflow.analysis.sigma_eval import final_field, split_key
from microflow.synth.faultdeform import Sample
from microflow.synth.generator import generate_sample
from microflow.synth.textures import TextureBank, load_skimage_pictures

GROUPS = ("skimage", "landsat_x4")
SKIMAGE_SHIFT_NAMES = ("grass", "gravel", "brick")
LANDSAT_FACTOR = 4
REALDATA = Path(os.environ.get("MICROFLOW_REALDATA_DEV", Path(__file__).resolve().parents[4] / "shared" / "realdata-dev"))
PERITO = REALDATA / "perito_moreno_s2_rgb_2020"   # a checkout's ../shared/realdata-dev, or $MICROFLOW_REALDATA_DEV
SHORT_TRIPLETS = (("20200207", "20200210", "20200220"), ("20200210", "20200220", "20200222"),
                  ("20200131", "20200207", "20200210"))
LONG_TRIPLET = ("20200101", "20200131", "20200220")
CLOSURE_MARGIN = 48


class PictureBank(TextureBank):
    """A :class:`TextureBank` over whole pictures chosen by name (no split rectangle)."""

    def __init__(self, names=SKIMAGE_SHIFT_NAMES):
        super().__init__("test", "skimage")
        self._areas = [p for p in load_skimage_pictures() if p.name in names]


def shift_bank(group: str) -> TextureBank:
    """The texture bank of a shift-set group."""
    if group == "skimage":
        return PictureBank()
    if group == "landsat_x4":
        return TextureBank("test", "landsat").integrated(LANDSAT_FACTOR)
    raise ValueError(f"unknown shift-set group {group!r}; choose from {GROUPS}")


@dataclass(frozen=True)
class ShiftSpec:
    """How many pairs: ``per_category`` Okada pairs per category and ``nulls`` zero-motion pairs per group."""

    per_category: int = 6
    nulls: int = 3
    size: int = 192
    seed: int = 2222


def shift_pairs(group: str, spec: ShiftSpec = ShiftSpec()) -> list[Sample]:
    """The group's samples: ``per_category`` of each category, then ``nulls`` zero-motion ones (category -1)."""
    bank = shift_bank(group)
    samples = []
    for index in range(3 * spec.per_category + spec.nulls):
        rng = np.random.default_rng(np.random.SeedSequence([spec.seed, GROUPS.index(group), index]))
        moving = index < 3 * spec.per_category
        sample = generate_sample(rng, spec.size, index % 3 if moving else 1, bank, sample_id=index,
                                 displacement=moving)
        if not moving:
            sample = Sample(sample.pre, sample.post, sample.flow, -1, sample.fault_mask, sample.params, index)
        samples.append(sample)
    return samples


def score_pairs(samples: list[Sample], key: str, params: dict | None = None,
                border: int = M.DEFAULT_BORDER) -> dict:
    """{category: {"epe", "epe_near"} mean over pairs, "null": mean deviation} of method ``key``."""
    per = {c: {"epe": [], "epe_near": []} for c in ("0", "1", "2")}
    nulls = []
    for s in samples:
        dx, dy, _ = final_field(s.pre, s.post, key, params)
        if s.category < 0:
            nulls.append(null_deviation(dx, dy, border))
            continue
        pred = np.stack([dx, dy])
        interior = M.interior_mask(s.flow.shape[1:], border)
        near = interior & M.fault_zone(s.fault_mask)
        per[str(s.category)]["epe"].append(M.epe(pred, s.flow, interior))
        if near.any():
            per[str(s.category)]["epe_near"].append(M.epe(pred, s.flow, near))
    out = {c: {k: float(np.mean(v)) if v else float("nan") for k, v in d.items()} for c, d in per.items()}
    out["null"] = float(np.mean(nulls)) if nulls else float("nan")
    return out


def perito_band(date: str, band: int = 2) -> np.ndarray:
    """One band of a Perito Moreno date (float32; 0 = outside the glacier's frame, no data)."""
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(PERITO / f"{date}.jpg") as ds:
            return ds.read(band).astype(np.float32)


def perito_mask() -> np.ndarray:
    return perito_band("mask", 1) > 128


def product(pre_path: str, post_path: str, key: str, params: dict | None, band: int | str = 2, nodata=0):
    """The :class:`~microflow.methods.base.DisplacementField` (sigma included) of the product that
    ``microflow estimate PRE POST --band B --nodata N`` writes for ``key``, in pixels."""
    from microflow.api import estimate_files
    from microflow.products.geotiff import read_product

    method, reg = split_key(key)
    with tempfile.TemporaryDirectory(prefix="microflow-shift-") as tmp:
        out = os.path.join(tmp, "field.tif")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimate_files(pre_path, post_path, out, method, band=band, nodata=nodata, regularize=reg,
                           progress=False, **(params or {}))
        field, _, _ = read_product(out, as_field=True)
    return field


def product_field(pre_path: str, post_path: str, key: str, params: dict | None, band: int | str = 2):
    """(dx, dy) of :func:`product`."""
    field = product(pre_path, post_path, key, params, band)
    return field.dx, field.dy


def perito_product(a: str, b: str, key: str, params: dict | None = None, series: Path = PERITO,
                   band: int | str = 2):
    """The product of ``key`` from date ``a`` to date ``b`` of the real series (green, or ``band``)."""
    return product(str(series / f"{a}.jpg"), str(series / f"{b}.jpg"), key, params, band)


def perito_field(a: str, b: str, key: str, params: dict | None = None, series: Path = PERITO,
                 band: int | str = 2):
    """(dx, dy) [px] of ``key`` from date ``a`` to date ``b`` of the real series (product path; green, or
    ``band``)."""
    field = perito_product(a, b, key, params, series, band)
    return field.dx, field.dy


def triplet_pairs(triplet: tuple[str, str, str]) -> tuple[tuple[str, str], ...]:
    """The pairs (A, B), (B, C), (A, C) of a triplet, in the order of ``closure_residual``."""
    a, b, c = triplet
    return (a, b), (b, c), (a, c)


def once_per_pair(compute):
    """``compute(a, b)`` memoized per pair, so that a pair shared by two triplets runs once."""
    cache: dict[tuple[str, str], tuple] = {}

    def field(a: str, b: str):
        if (a, b) not in cache:
            cache[a, b] = compute(a, b)
        return cache[a, b]
    return field


def triplet_residual(field, triplet: tuple[str, str, str]) -> np.ndarray:
    """r(p) [px] of a triplet whose pair fields come from ``field(a, b)``."""
    return closure_residual(*(field(*pair) for pair in triplet_pairs(triplet)))


def closure_scores(key: str, params: dict | None = None, triplets=SHORT_TRIPLETS + (LONG_TRIPLET,),
                   series: Path = PERITO, band: int | str = 2) -> dict:
    """{"A/B/C": closure summary} of ``key`` on the real series (fields of repeated pairs are reused)."""
    field = once_per_pair(lambda a, b: perito_field(a, b, key, params, series, band))
    region = border_region(perito_mask(), CLOSURE_MARGIN)
    return {"/".join(t): closure_summary(triplet_residual(field, t), region) for t in triplets}


def perito_available(series: Path = PERITO) -> bool:
    return (series / "mask.jpg").is_file()
