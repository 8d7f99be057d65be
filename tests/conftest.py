"""Shared fixtures: tiny georeferenced GeoTIFF pairs with a known shift, and tiny FaultDeform datasets.

Texture: a crop of scikit-image's CC0 ``grass``. The post image is the whole 512² texture moved
with :func:`microflow.synth.shift.fourier_shift` and cropped at the centre, so the crop holds no
wrap-around ringing. Grid: north-up UTM zone 11N, 30 m pixels.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from microflow.cli.main import main
from microflow.synth.faultdeform import Sample, write_sample
from microflow.synth.shift import fourier_shift

PIXEL_SIZE = 30.0
CRS = "EPSG:32611"
TRANSFORM = Affine(PIXEL_SIZE, 0.0, 500_000.0, 0.0, -PIXEL_SIZE, 4_200_000.0)
TEXTURE_GAIN = 50.0  # grass is 0..255; x50 uses the uint16 range while keeping sub-pixel detail


@lru_cache(maxsize=1)
def _grass() -> np.ndarray:
    from skimage import data

    return data.grass().astype(np.float64) * TEXTURE_GAIN


def shifted_texture(size: int, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre crops ``(pre, post)`` of grass (float64) with post = pre moved by (dx, dy) px."""
    full = _grass()
    top = (full.shape[0] - size) // 2
    left = (full.shape[1] - size) // 2
    crop = (slice(top, top + size), slice(left, left + size))
    return full[crop].copy(), fourier_shift(full, dx, dy)[crop]


def write_geotiff(path, array: np.ndarray, *, transform=TRANSFORM, crs=CRS, nodata=None,
                  dtype: str = "uint16", colorinterp=None) -> str:
    """Write a 2-D (one band) or 3-D (bands first) array as a GeoTIFF (bands declared ``colorinterp``, a
    sequence of rasterio ``ColorInterp``, when given); return the path as str."""
    array = np.asarray(array)
    bands = array[None] if array.ndim == 2 else array
    if np.dtype(dtype).kind in "ui":
        bands = np.clip(np.rint(bands), np.iinfo(dtype).min, np.iinfo(dtype).max)
    profile = {"driver": "GTiff", "height": bands.shape[1], "width": bands.shape[2], "count": bands.shape[0],
               "dtype": dtype, "crs": crs, "transform": transform, "nodata": nodata}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands.astype(dtype))
        if colorinterp is not None:
            ds.colorinterp = list(colorinterp)
    return str(path)


@pytest.fixture
def make_pair(tmp_path):
    """Factory ``make_pair(dx=0.3, dy=0.2, size=128, nodata=None, pre_nodata_block=None, ...)``.

    Writes ``<name>_pre.tif`` and ``<name>_post.tif`` (uint16) and returns their paths.
    ``pre_nodata_block`` / ``post_nodata_block`` are ``(row_slice, col_slice)`` set to ``nodata``.
    """

    def make(dx: float = 0.3, dy: float = 0.2, size: int = 128, nodata: float | None = None,
             pre_nodata_block: tuple[slice, slice] | None = None,
             post_nodata_block: tuple[slice, slice] | None = None, name: str = "pair") -> tuple[str, str]:
        pre, post = shifted_texture(size, dx, dy)
        for image, block in ((pre, pre_nodata_block), (post, post_nodata_block)):
            if block is not None:
                if nodata is None:
                    raise ValueError("a nodata block needs a nodata value")
                image[block] = nodata
        pre_path = write_geotiff(tmp_path / f"{name}_pre.tif", pre, nodata=nodata)
        post_path = write_geotiff(tmp_path / f"{name}_post.tif", post, nodata=nodata)
        return pre_path, post_path

    return make


def fault_sample(sample_id: int, category: int, size: int, offset: tuple[float, float]) -> Sample:
    """A vertical "fault" at the middle column: the left block moves by ``+offset``, the right by ``-offset``.

    ``flow`` is [dx, dy] on the pre grid; the trace is one column wide.
    """
    dx, dy = offset
    half = size // 2
    pre, post_left = shifted_texture(size, dx, dy)
    _, post_right = shifted_texture(size, -dx, -dy)
    left = np.arange(size)[None, :] < half
    post = np.where(left, post_left, post_right)
    flow = np.stack([np.where(left, dx, -dx), np.where(left, dy, -dy)]).astype(np.float32)
    flow = np.broadcast_to(flow, (2, size, size)).copy()
    trace = np.zeros((size, size), bool)
    trace[:, half] = True
    return Sample(pre, post, flow, category, trace, {"offset": [dx, dy]}, sample_id)


CATEGORY_OFFSETS = {0: (0.05, 0.02), 1: (0.3, -0.2), 2: (1.5, 1.0)}


@pytest.fixture
def faultdeform_root(tmp_path):
    """Factory ``faultdeform_root(size=64, per_category=2, split="test")`` -> dataset root folder.

    Sample ``i`` of category ``c`` uses offset ``CATEGORY_OFFSETS[c]`` scaled by ``1 + i/2``.
    """

    def make(size: int = 64, per_category: int = 2, split: str = "test", categories=(0, 1, 2)):
        root = tmp_path / "faultdeform"
        for i in range(per_category):
            for c in categories:
                dx, dy = CATEGORY_OFFSETS[c]
                scale = 1 + i / 2
                write_sample(root, split, fault_sample(i, c, size, (dx * scale, dy * scale)))
        return root

    return make


@pytest.fixture
def cli(capsys):
    """``cli(*args) -> (exit status, stdout, stderr)`` of the real ``microflow`` entry point."""

    def run(*args) -> tuple[int, str, str]:
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def assert_clean_failure(result: tuple[int, str, str], *fragments: str, output=None) -> None:
    """Exit status 2, one ``microflow: error:`` line naming every fragment, no (partial) output left."""
    rc, _, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("microflow: error: "), err
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in {lines[0]!r}"
    if output is not None:
        output = Path(output)
        assert not output.exists()
        if output.parent.is_dir():
            assert not list(output.parent.glob(".microflow-*")), "temporary file left behind"


@pytest.fixture
def clean_failure():
    """The :func:`assert_clean_failure` checker, as a fixture."""
    return assert_clean_failure


def load_repo_module(folder: str, name: str):
    """The module ``FOLDER/NAME.py`` of the repository, loaded by path (benchmarks/ and scripts/ are no
    packages)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
    if str(path.parent) not in sys.path:   # the scripts import their siblings (benchmarks/_threads.py)
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def benchmark_script():
    """``benchmark_script(NAME)``: the module ``benchmarks/NAME.py``."""
    return lambda name: load_repo_module("benchmarks", name)


@pytest.fixture
def repo_script():
    """``repo_script(NAME)``: the module ``scripts/NAME.py``."""
    return lambda name: load_repo_module("scripts", name)
