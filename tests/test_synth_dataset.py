"""On-the-fly and folder datasets, and the ``microflow synth`` command."""

import os

import numpy as np
import pytest
import torch

from microflow.cli.main import main
from microflow.synth.dataset import FaultDeformFolder, SyntheticPairs
from microflow.synth.generator import generate_sample, sample_rng
from microflow.synth.textures import TextureBank


def test_synthetic_pairs_items():
    ds = SyntheticPairs("validation", size=48, length=5, seed=3, categories=(0, 2), texture="skimage")
    assert len(ds) == 5
    item = ds[1]
    assert set(item) == {"pre", "post", "flow", "category", "fault_mask"}
    assert item["pre"].shape == item["post"].shape == (48, 48) and item["pre"].dtype == torch.float32
    assert item["flow"].shape == (2, 48, 48) and item["flow"].dtype == torch.float32
    assert item["fault_mask"].shape == (48, 48) and item["fault_mask"].dtype == torch.bool
    assert [ds[i]["category"] for i in range(4)] == [0, 2, 0, 2]
    assert 1.2 - 1e-4 <= item["flow"].norm(dim=0).max() <= 4.0 + 1e-4
    with pytest.raises(IndexError):
        ds[5]


def test_synthetic_pairs_is_a_function_of_seed_and_index():
    ds = SyntheticPairs("train", size=32, length=4, seed=1, texture="skimage")
    again = SyntheticPairs("train", size=32, length=4, seed=1, texture="skimage")
    other = SyntheticPairs("train", size=32, length=4, seed=2, texture="skimage")
    a, b = ds[2], again[2]
    for key in ("pre", "post", "flow", "fault_mask"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["post"], other[2]["post"])
    ref = generate_sample(sample_rng(1, "train", 2), 32, 2, TextureBank("train", "skimage"))
    assert torch.equal(a["flow"], torch.from_numpy(ref.flow))
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["post"], a["post"])


def test_synth_cli_writes_and_resumes(tmp_path, capsys):
    args = ["synth", str(tmp_path), "--split", "test", "--count", "4", "--size", "32", "--seed", "5",
            "--texture", "skimage", "--quiet"]
    assert main(args) == 0
    files = sorted(os.listdir(tmp_path / "test"))
    assert [f for f in files if f.endswith("_sample.npy.npz")] == [
        "000000_0_sample.npy.npz", "000001_1_sample.npy.npz", "000002_2_sample.npy.npz", "000003_0_sample.npy.npz"]
    first = tmp_path / "test" / "000000_0_sample.npy.npz"
    stamp = first.stat().st_mtime_ns
    assert main(args[:5] + ["6"] + args[6:]) == 0
    assert "wrote 2 samples, skipped 4" in capsys.readouterr().err
    assert first.stat().st_mtime_ns == stamp
    assert len([f for f in os.listdir(tmp_path / "test") if f.endswith("_sample.npy.npz")]) == 6


def test_folder_round_trip_matches_on_the_fly_items(tmp_path):
    """Files keep the signs: FaultDeformFolder items equal SyntheticPairs items (images rounded)."""
    assert main(["synth", str(tmp_path), "--split", "validation", "--count", "3", "--size", "40", "--seed", "9",
                 "--texture", "skimage", "--quiet", "--workers", "2"]) == 0
    folder = FaultDeformFolder(tmp_path, "validation")
    live = SyntheticPairs("validation", size=40, length=3, seed=9, texture="skimage")
    assert len(folder) == 3
    for i in range(3):
        a, b = folder[i], live[i]
        assert a["category"] == b["category"] == i
        np.testing.assert_allclose(a["flow"].numpy(), b["flow"].numpy(), atol=1e-6)
        np.testing.assert_allclose(a["post"].numpy(), np.clip(np.rint(b["post"].numpy()), 0, 65535), atol=0)
        assert torch.equal(a["fault_mask"], b["fault_mask"])


def test_folder_random_crop_is_deterministic(tmp_path):
    assert main(["synth", str(tmp_path), "--split", "train", "--count", "2", "--size", "48", "--texture",
                 "skimage", "--quiet", "--categories", "1"]) == 0
    ds = FaultDeformFolder(tmp_path, "train", categories=(1,), crop=24)
    a, b = ds[1], ds[1]
    assert a["pre"].shape == (24, 24) and a["flow"].shape == (2, 24, 24) and a["fault_mask"].shape == (24, 24)
    assert torch.equal(a["post"], b["post"])
    full = FaultDeformFolder(tmp_path, "train", categories=(1,))[1]["pre"].numpy()
    crop = a["pre"].numpy()
    hits = [(r, c) for r in range(25) for c in range(25) if np.array_equal(full[r:r + 24, c:c + 24], crop)]
    assert hits
    ds.set_epoch(3)
    assert [ds[i]["pre"].shape for i in range(2)] == [(24, 24)] * 2


def test_synth_scene_cli_writes_a_georeferenced_pair(tmp_path):
    import rasterio

    from microflow.products.geotiff import read_product

    out = tmp_path / "scene"
    assert main(["synth-scene", str(out), "--size", "64", "--seed", "2", "--category", "2", "--texture", "skimage"]) == 0
    with rasterio.open(out / "pre.tif") as pre, rasterio.open(out / "post.tif") as post:
        assert pre.dtypes[0] == post.dtypes[0] == "uint16"
        assert pre.crs is not None and pre.crs.to_epsg() == 32633 and pre.transform.a == 30.0
        assert pre.transform == post.transform and pre.shape == (64, 64)
        assert not np.array_equal(pre.read(1), post.read(1))
    field, tags, _ = read_product(out / "truth.tif", as_field=True)
    assert tags["METHOD"] == "truth"
    assert 1.2 - 1e-3 <= field.magnitude.max() <= 4.0 + 1e-3
    with rasterio.open(out / "fault_trace.tif") as trace:
        assert trace.read(1).max() == 255  # the scene's rupture breaks the surface
    assert main(["synth-scene", str(out), "--size", "64", "--texture", "skimage"]) == 2  # exists, no overwrite
