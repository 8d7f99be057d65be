"""A georeferenced semi-synthetic scene: pre/post GeoTIFF pair crossed by a whole rupture, and its truth.

:func:`make_scene` takes a window of one Landsat band (UTM, 30 m) from a split's area (default
the TEST area; ``"all"`` = the whole two-scene mosaic; mirror-tiled when the window is larger
than the area, see :func:`~microflow.synth.textures.geo_window`), lays a surface-breaking 2-3
segment rupture across it (:data:`SCENE_RUPTURE`: segments 0.5-1 x the scene size long, 8-20 km
wide, ground pixel = the texture's 30 m), scales its field to the category's peak, warps and
perturbs as :func:`~microflow.synth.generator.generate_sample` does (surface-change patches
scaled with the area). No-data pixels of the texture are filled by their nearest valid value
before warping and are no-data (0) in pre and post and NaN in the truth.

:func:`write_scene` writes ``pre.tif``, ``post.tif`` (uint16, deflate), ``truth.tif`` (the product
format of :mod:`microflow.products.geotiff`, method ``truth``, pixel units),
``fault_trace.tif`` (uint8, 255 on the trace) and ``scene.json`` (all draws). The truth is
rounded to multiples of :data:`TRUTH_QUANTUM_PX` (error <= 4e-6 px), which lets it compress.

The bundled ``examples/`` (512 x 512, test area, category 1) are regenerated with
``microflow synth-scene examples --size 512 --seed 1 --overwrite``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from microflow.synth.field import sample_rupture
from microflow.synth.forward import warp_by_field
from microflow.synth.generator import MARGIN_PX, NEAR_TRACE_EXTRA_PX
from microflow.synth.perturbations import PerturbationRanges, perturb_pair
from microflow.synth.ruptures import RuptureRanges, random_peak, random_rupture, trace_mask
from microflow.synth.textures import geo_window

SCENE_PIXEL_M = 30.0
SCENE_WIDTH_M = (8_000.0, 20_000.0)
SCENE_RUPTURE = RuptureRanges(segment_probabilities=(0.0, 0.5, 0.5), length_rel=(0.5, 1.0),
                              p_surface_breaking=1.0)
PATCHES_PER_256_TILE = 2
TRUTH_QUANTUM_PX = 2.0 ** -17  # truth.tif values are multiples of this (~7.6e-6 px): 3x smaller files


@dataclass
class Scene:
    """Images float32 (H, W), flow (2, H, W) [dx, dy] px, masks bool, georeference, draws."""

    pre: np.ndarray
    post: np.ndarray
    flow: np.ndarray
    fault_mask: np.ndarray
    valid: np.ndarray
    transform: object
    crs: object
    params: dict


def fill_nodata(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``img`` with invalid pixels replaced by their nearest valid pixel's value."""
    if valid.all():
        return img
    idx = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return img[tuple(idx)]


def make_scene(rng: np.random.Generator, size: int, category: int = 1, split: str = "test",
               source: str = "landsat", peak_px: float | None = None) -> Scene:
    """A ``size`` x ``size`` scene; see the module docstring. ``peak_px`` sets the peak |d| instead of
    the category's random draw (large-displacement scenes; the texture margin grows with it)."""
    m = MARGIN_PX if peak_px is None else max(MARGIN_PX, int(np.ceil(peak_px)) + 4)
    padded = (size + 2 * m, size + 2 * m)
    window = geo_window(rng, split, source, *padded)
    g = SCENE_PIXEL_M
    ranges = replace(SCENE_RUPTURE, pixel_size_m=(g, g),
                     width_rel=(SCENE_WIDTH_M[0] / (size * g), SCENE_WIDTH_M[1] / (size * g)))
    rupture = random_rupture(rng, padded, ranges)
    peak = random_peak(rng, category) if peak_px is None else float(peak_px)
    field = sample_rupture(rupture.segments, rupture.pixel_size, padded, rupture.poisson)
    field = field.scaled(peak / float(np.hypot(*field.total[:, m:m + size, m:m + size]).max()))
    near = field.near_traces_grid((m, m), (size, size), peak + NEAR_TRACE_EXTRA_PX)
    texture = fill_nodata(window.data, window.valid)
    pre, post, (src_r, src_c) = warp_by_field(texture, lambda r, c: field(r, c, near), m, return_sources=True)
    tiles = max(1, (size // 256) ** 2)
    perturbations = PerturbationRanges(p_patches=1.0, max_patches=PATCHES_PER_256_TILE * tiles)
    pre, post, drawn = perturb_pair(rng, pre, post, perturbations)
    post_valid = ndimage.map_coordinates(window.valid.astype(np.uint8), [src_r, src_c], order=0, mode="nearest") > 0
    valid = window.valid[m:m + size, m:m + size] & post_valid
    pre[~valid], post[~valid] = 0.0, 0.0
    flow = field.total[:, m:m + size, m:m + size].copy()
    flow[:, ~valid] = np.nan
    from affine import Affine

    params = {"category": category, "peak_px": peak, "size": size, "split_area": split, "texture": window.name,
              "texture_mirrored": window.mirrored, "rupture": {**rupture.to_dict(), "frame": "padded by margin"},
              "margin_px": m, "perturbations": drawn}
    return Scene(pre, post, flow, trace_mask(rupture, padded)[m:m + size, m:m + size], valid,
                 window.transform @ Affine.translation(m, m), window.crs, params)


def _image_profile(scene: Scene, dtype: str, nodata) -> dict:
    h, w = scene.pre.shape
    profile = {"driver": "GTiff", "height": h, "width": w, "count": 1, "dtype": dtype, "crs": scene.crs,
               "transform": scene.transform, "compress": "deflate", "predictor": 2, "nodata": nodata}
    if h >= 256 and w >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def write_scene(out_dir: str | os.PathLike, scene: Scene, overwrite: bool = False) -> dict[str, str]:
    """Write the scene's files into ``out_dir`` (created); returns their paths by name."""
    import rasterio

    from microflow.methods.base import DisplacementField
    from microflow.products.geotiff import check_output_path, write_product

    os.makedirs(out_dir, exist_ok=True)
    names = ("pre", "post", "truth", "fault_trace")
    paths = {n: check_output_path(os.path.join(out_dir, f"{n}.tif"), overwrite=overwrite) for n in names}
    nodata = 0 if not scene.valid.all() else None
    for name in ("pre", "post"):
        img = np.clip(np.rint(getattr(scene, name)), 0, 65535).astype(np.uint16)
        with rasterio.open(paths[name], "w", **_image_profile(scene, "uint16", nodata)) as ds:
            ds.write(img, 1)
    with rasterio.open(paths["fault_trace"], "w", **_image_profile(scene, "uint8", None)) as ds:
        ds.write(scene.fault_mask.astype(np.uint8) * 255, 1)
    confidence = np.where(scene.valid, 1.0, np.nan).astype(np.float32)
    flow = np.round(scene.flow / TRUTH_QUANTUM_PX) * TRUTH_QUANTUM_PX
    truth = DisplacementField(flow[0], flow[1], confidence)
    profile = _image_profile(scene, "float32", None)
    summary = {k: scene.params[k] for k in ("category", "peak_px", "split_area", "texture")}
    write_product(paths["truth"], truth, profile, method="truth", units="pixel", parameters=summary)
    paths["scene"] = os.path.join(out_dir, "scene.json")
    with open(paths["scene"], "w") as f:
        json.dump(scene.params, f, indent=1, default=float)
    return paths
