"""Quicklook figures: colour limits, units, NaN, scale bar, underlay and the ``plot`` sub-command."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from microflow.analysis.plot import nice_length, plot_components, plot_field, plot_product, robust_limit
from microflow.cli.main import main
from microflow.convention import product_to_field
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import write_product

UTM_30M = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _product(path, units="meter", shape=(48, 64)):
    rng = np.random.default_rng(0)
    ew = rng.normal(0, 2.0, shape).astype(np.float32)
    ns = rng.normal(0, 1.0, shape).astype(np.float32)
    ew[:5, :5] = np.nan
    dx, dy = product_to_field(ew, ns, UTM_30M, units)
    profile = {"crs": CRS.from_epsg(32611), "transform": UTM_30M, "height": shape[0], "width": shape[1]}
    write_product(path, DisplacementField(dx, dy, np.ones(shape)), profile, "test", units)
    return ew, ns, profile


def _image_arrays(fig):
    return [ax.images[-1] for ax in fig.axes if ax.images]


def test_robust_limit_ignores_outliers_and_nan():
    values = np.concatenate([np.linspace(-1, 1, 1000), [1e6, np.nan]])
    assert 0.9 < robust_limit(values) < 1.01
    assert robust_limit(np.full(4, np.nan)) == 1.0


def test_nice_length_is_one_two_five():
    assert nice_length(384.0) == 200.0
    assert nice_length(7.5e3) == 5e3
    assert nice_length(1.0) == 1.0


def test_components_have_symmetric_limits_units_and_scale_bar():
    rng = np.random.default_rng(1)
    ew, ns = rng.normal(0, 1, (40, 50)), rng.normal(0, 3, (40, 50))
    fig = plot_components(ew, ns, units="meter", transform=UTM_30M, crs=CRS.from_epsg(32611))
    ew_img, ns_img, mag_img = _image_arrays(fig)
    lo, hi = ew_img.get_clim()
    assert lo == -hi and hi == pytest.approx(np.percentile(np.abs(np.r_[ew.ravel(), ns.ravel()]), 99))
    assert mag_img.get_clim()[0] == 0.0
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert any("EW [m]" in label for label in labels) and any("magnitude [m]" in label for label in labels)
    texts = [t.get_text() for ax in fig.axes for a in ax.artists for t in a.findobj(lambda o: hasattr(o, "get_text"))]
    assert "200 m" in texts  # 50 px x 30 m = 1.5 km -> a fifth is 300 m -> 200 m


def test_plot_field_converts_internal_field_and_masks_nan():
    dx = np.full((30, 30), 0.5)
    dy = np.full((30, 30), 0.25)
    dy[0, 0] = np.nan
    fig = plot_field(dx, dy, vmax=1.0)
    ew_img, ns_img, _ = _image_arrays(fig)
    assert ew_img.get_array()[5, 5] == pytest.approx(0.5)
    assert ns_img.get_array()[5, 5] == pytest.approx(-0.25)  # north-up: NS = -dy
    assert np.ma.is_masked(ns_img.get_array()[0, 0])
    assert ew_img.get_clim() == (-1.0, 1.0)


def test_plot_product_with_underlay_writes_png(tmp_path):
    _, _, profile = _product(tmp_path / "out.tif")
    pre = tmp_path / "pre.tif"
    with rasterio.open(pre, "w", driver="GTiff", height=48, width=64, count=1, dtype="float32",
                       crs=profile["crs"], transform=UTM_30M) as ds:
        ds.write(np.random.default_rng(2).random((48, 64)).astype(np.float32), 1)
    png = plot_product(tmp_path / "out.tif", tmp_path / "q.png", pre_path=pre)
    assert open(png, "rb").read(8) == PNG_MAGIC
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".microflow-")]


def test_the_underlay_is_read_from_the_products_band(tmp_path, monkeypatch):
    from microflow.analysis import plot as plot_module

    assert plot_module.product_band({"PARAMETERS": '{"band": "luma", "align": "exact"}'}) == "luma"
    assert plot_module.product_band({"PARAMETERS": '{"band": 2}'}) == 2
    assert plot_module.product_band({}) == 1 and plot_module.product_band({"PARAMETERS": "not json"}) == 1
    seen = []
    monkeypatch.setattr(plot_module, "read_underlay", lambda path, shape, band=1: seen.append(band) or None)
    monkeypatch.setattr(plot_module, "product_band", lambda tags: 3)
    _product(tmp_path / "out.tif")
    plot_module.plot_product(tmp_path / "out.tif", tmp_path / "q.png", pre_path=tmp_path / "pre.tif")
    assert seen == [3]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_cli_plot_and_errors(tmp_path, capsys):
    _product(tmp_path / "out.tif", units="pixel")
    assert main(["plot", str(tmp_path / "out.tif"), "-o", str(tmp_path / "q.png"), "--vmax", "3"]) == 0
    assert (tmp_path / "q.png").read_bytes()[:8] == PNG_MAGIC
    assert main(["plot", str(tmp_path / "out.tif"), "-o", str(tmp_path / "q.png")]) == 2  # exists
    small = tmp_path / "small.tif"
    with rasterio.open(small, "w", driver="GTiff", height=8, width=8, count=1, dtype="float32") as ds:
        ds.write(np.ones((8, 8), np.float32), 1)
    assert main(["plot", str(tmp_path / "out.tif"), "-o", str(tmp_path / "r.png"), "--pre", str(small)]) == 2
    assert "not the product's grid" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "s.png")]) == 2


def test_a_product_with_sigma_gets_a_sigma_panel(tmp_path):
    from microflow.analysis.plot import plot_components

    rng = np.random.default_rng(4)
    ew, ns = rng.normal(0, 1, (2, 40, 50))
    sigma = rng.uniform(0.05, 0.3, (40, 50))
    fig = plot_components(ew, ns, sigma=sigma)
    images = _image_arrays(fig)
    assert len(images) == 4 and images[3].get_clim() == (0.0, pytest.approx(np.percentile(sigma, 99)))
    assert any("sigma [px]" in ax.get_xlabel() for ax in fig.axes)
    assert len(_image_arrays(plot_components(ew, ns, sigma=np.full((40, 50), np.nan)))) == 3  # no sigma: no panel
    with pytest.raises(Exception, match="sigma shape"):
        plot_components(ew, ns, sigma=sigma[:10])
