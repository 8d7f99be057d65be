"""The world generator (issue 22): sensor, radiometry and motion switches, one test per function."""

from __future__ import annotations

import numpy as np
import pytest

from microflow.errors import ParameterError
from microflow.synth import motion, radiometry, sensor
from microflow.synth.generator import generate_sample, sample_rng
from microflow.synth.textures import TextureBank
from microflow.synth.world import WorldRanges, draw_motion, ground_change, sample_texture, sky_and_sensor

RNG = np.random.default_rng


def texture(size=96, seed=0):
    rng = RNG(seed)
    base = radiometry.fractal_noise(rng, (size, size), 2.0)
    return (1000 + 200 * base).astype(np.float32)


# ---------------------------------------------------------------- sensor
def test_box_integrate_is_the_block_mean():
    img = np.arange(36, dtype=np.float32).reshape(6, 6)
    out = sensor.box_integrate(img, 3)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(img[:3, :3].mean()) and out[1, 1] == pytest.approx(img[3:, 3:].mean())
    assert sensor.box_integrate(img, 1) is not img and np.array_equal(sensor.box_integrate(img, 1), img)
    with pytest.raises(ParameterError):
        sensor.box_integrate(img, 0)


def test_mtf_blur_keeps_the_mean_and_lowers_the_gradient():
    img = texture()
    out = sensor.mtf_blur(img, 1.0)
    assert out.mean() == pytest.approx(img.mean(), rel=1e-3)
    assert np.abs(np.diff(out, axis=1)).mean() < 0.8 * np.abs(np.diff(img, axis=1)).mean()


def test_quantize_has_the_asked_number_of_levels_and_step():
    img = texture()
    out = sensor.quantize(img, 8, 0.2)
    levels = np.unique(out)
    assert len(levels) <= 256 and len(levels) > 20
    step = np.diff(levels).min()
    lo, hi = np.percentile(img, [1, 99])
    assert step == pytest.approx((hi - lo) / (0.2 * 255), rel=1e-3)
    assert np.abs(out - img).max() <= step  # rounding, plus clipping only outside the range
    with pytest.raises(ParameterError):
        sensor.quantize(img, 8, 0.0)


def test_jpeg2000_roundtrip_is_lossy_but_close():
    img = texture()
    out = sensor.jpeg2000_roundtrip(img, 400)
    assert out.shape == img.shape and out.dtype == np.float32
    err = np.abs(out - img).mean()
    assert 0 < err < 0.1 * img.std()


def test_jpeg_roundtrip_is_8_bit_blocky_and_worse_at_low_quality_and_fill():
    img = texture()
    out = sensor.jpeg_roundtrip(img, 95, 0.8)
    assert out.shape == img.shape and out.dtype == np.float32
    step = np.diff(np.unique(sensor.quantize(img, 8, 0.8))).min()
    assert np.abs(out - img).mean() < 2 * step             # near-lossless at quality 95
    errors = [np.abs(sensor.jpeg_roundtrip(img, q, f) - img).mean() for q, f in ((95, 0.8), (50, 0.8), (50, 0.1))]
    assert errors[0] < errors[1] < errors[2]
    assert abs(float((out - img).mean())) < 0.1 * img.std()  # no offset of the level
    with pytest.raises(ParameterError):
        sensor.jpeg_roundtrip(img, 0, 0.5)


def test_add_noise_has_the_asked_std():
    out = sensor.add_noise(RNG(1), np.zeros((200, 200), np.float32), 2.0)
    assert out.std() == pytest.approx(2.0, rel=0.03)


# ---------------------------------------------------------------- radiometry
def test_fractal_noise_is_standardized_and_red():
    field = radiometry.fractal_noise(RNG(2), (128, 128), 3.0)
    assert abs(field.mean()) < 1e-5 and field.std() == pytest.approx(1.0, rel=1e-4)
    # a red spectrum: neighbours are strongly correlated
    assert np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1] > 0.9


def test_regional_tone_is_monotone_per_pixel_and_changes_contrast():
    img = texture()
    out = radiometry.regional_tone(RNG(3), img)
    assert out.shape == img.shape and np.isfinite(out).all()
    assert not np.allclose(out, img)
    # locally the curve is increasing: neighbouring pixels keep their order almost everywhere
    same = np.sign(np.diff(out, axis=1)) == np.sign(np.diff(img, axis=1))
    assert same.mean() > 0.95


def test_haze_and_clouds_brighten_and_lower_contrast_somewhere():
    img = texture()
    out = radiometry.haze_and_clouds(RNG(4), img, max_opacity=(0.6, 0.6), haze=(0.1, 0.1))
    assert out.shape == img.shape and np.isfinite(out).all()
    assert out.std() < img.std()


def test_snow_cover_is_flat_and_bright_inside_its_mask():
    img = texture()
    out, mask = radiometry.snow_cover(RNG(5), img, share=(0.3, 0.3))
    assert 0.25 < mask.mean() < 0.35
    core = mask & (np.abs(np.gradient(mask.astype(float))[0]) == 0)
    assert out[core].mean() > np.percentile(img, 95)
    assert out[core].std() < 0.5 * img.std()


def test_surface_change_keeps_mean_and_spread_and_lowers_the_correlation():
    img = texture(96)
    for mix in (0.2, 0.5):
        out = radiometry.surface_change(RNG(21), img, mix)
        assert abs(out.mean() - img.mean()) < 1e-3 * abs(img.mean()) + 1e-4
        assert out.std() == pytest.approx(img.std(), rel=0.15)
        corr = np.corrcoef(out.ravel(), img.ravel())[0, 1]
        assert np.sqrt(1 - mix ** 2) - 0.12 < corr < np.sqrt(1 - mix ** 2) + 0.05
    assert np.allclose(radiometry.surface_change(RNG(21), img, 0.0), img, atol=1e-4)


def test_hillshade_faces_the_sun():
    ramp = np.tile(np.arange(32, dtype=np.float32), (32, 1))    # rises to the east (+column)
    west_sun = radiometry.hillshade(ramp, 45, 270)
    east_sun = radiometry.hillshade(ramp, 45, 90)
    # the slope faces west (downslope towards -column), so a western sun lights it more
    assert west_sun.mean() > east_sun.mean()


def test_relief_shading_gives_two_different_maps_of_mean_one():
    first, second, info = radiometry.relief_shading(RNG(6), (64, 64))
    assert first.mean() == pytest.approx(1, rel=1e-3) and second.mean() == pytest.approx(1, rel=1e-3)
    assert not np.allclose(first, second) and "azimuth" in info


# ---------------------------------------------------------------- motion
def grid(n=64):
    return np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32), indexing="ij")


def test_landslide_flow_peak_and_gentle_shear():
    field, info = motion.landslide_flow(RNG(7), 128, 3.0)
    rows, cols = grid(128)
    dx, dy = field(rows, cols)
    speed = np.hypot(dx, dy)
    assert speed.max() == pytest.approx(3.0, rel=0.05) and speed.min() == 0
    assert max(np.abs(g).max() for g in np.gradient(dx) + np.gradient(dy)) < 0.5 and info["kind"] == "landslide"


def test_glacier_flow_moves_along_its_axis():
    field, info = motion.glacier_flow(RNG(8), 128, 2.0)
    dx, dy = field(*grid(128))
    theta = np.radians(info["theta_deg"])
    moving = np.hypot(dx, dy) > 0.1
    assert np.allclose(np.arctan2(dy[moving], dx[moving]), np.arctan2(np.sin(theta), np.cos(theta)), atol=1e-4)


def test_misregistration_is_constant_with_the_drawn_norm():
    field, info = motion.misregistration(RNG(9), (1.0, 1.0))
    dx, dy = field(*grid(16))
    assert np.ptp(dx) == 0 and np.ptp(dy) == 0 and np.hypot(dx[0, 0], dy[0, 0]) == pytest.approx(1.0, rel=1e-5)


def test_jitter_is_constant_along_each_line():
    field, info = motion.jitter(RNG(10), (0.1, 0.1))
    dx, dy = field(*grid(64))
    assert np.allclose(np.ptp(dx, axis=1), 0) and np.allclose(np.ptp(dy, axis=1), 0)
    assert np.hypot(dx, dy).max() <= 0.1 + 1e-6 and np.ptp(dx, axis=0).max() > 0


def test_detector_steps_are_piecewise_constant_across_columns():
    field, info = motion.detector_steps(RNG(11), 128, (0.05, 0.2), detector_px=(30, 30))
    dx, dy = field(*grid(128))
    assert np.allclose(np.ptp(dx, axis=0), 0)                  # constant along each column
    jumps = np.count_nonzero(np.abs(np.diff(dx[0])) > 1e-6)
    assert 3 <= jumps <= 5                                      # boundaries every 30 px over 128


def test_combine_adds_fields():
    a, _ = motion.misregistration(RNG(12), (0.5, 0.5))
    b, _ = motion.misregistration(RNG(13), (0.25, 0.25))
    rows, cols = grid(4)
    dx, dy = motion.combine([a, b])(rows, cols)
    assert np.allclose(dx, a(rows, cols)[0] + b(rows, cols)[0]) and np.allclose(motion.combine([])(rows, cols)[0], 0)


# ---------------------------------------------------------------- world hooks and generator
def test_world_ranges_validate_and_read_config_mappings():
    assert WorldRanges.from_dict({}) is None
    ranges = WorldRanges.from_dict({"p_box": 0.5, "box_factor": [2, 3]})
    assert ranges.p_box == 0.5 and ranges.box_factor == (2, 3)
    with pytest.raises(ParameterError, match="unknown"):
        WorldRanges.from_dict({"p_boxx": 0.5})
    with pytest.raises(ParameterError, match="probability"):
        WorldRanges(p_haze=1.5)
    with pytest.raises(ParameterError, match="increasing"):
        WorldRanges(jitter_px=(0.2, 0.1))


@pytest.fixture(scope="module")
def bank():
    return TextureBank("train", "skimage")


def test_sample_texture_integrates_and_caps_the_factor(bank):
    crops, factor = sample_texture(RNG(14), bank, (40, 40), 3)
    assert factor == 3 and crops[0].shape == (40, 40)
    crops, factor = sample_texture(RNG(14), bank, (120, 120), 8)   # the 512-px pictures' train area allows 2
    assert factor == min(min(a.data.shape) for a in bank.areas) // 120 and crops[0].shape == (120, 120)


def test_ground_change_keeps_one_source_when_nothing_is_drawn():
    img = texture()
    (pre, post), info = ground_change(RNG(15), [img], WorldRanges())
    assert pre is post and info == {}
    (pre, post), info = ground_change(RNG(15), [img], WorldRanges(p_shading=1.0))
    assert not np.allclose(pre, post) and "shading" in info
    (pre, post), info = ground_change(RNG(15), [img], WorldRanges(p_surface=1.0))
    assert np.array_equal(pre, img) and not np.allclose(pre, post) and 0.1 <= info["surface_mix"] <= 0.5


def test_draw_motion_returns_flow_and_extras():
    flow, extra, info = draw_motion(RNG(16), WorldRanges(p_flow=1.0, p_misregistration=1.0), 64, 2.0)
    assert flow is not None and extra is not None and {"flow", "misregistration"} <= set(info)
    flow, extra, info = draw_motion(RNG(16), WorldRanges(), 64, 2.0)
    assert flow is None and extra is None and info == {}


def test_sky_and_sensor_applies_what_is_drawn():
    img = texture()
    pre, post, info = sky_and_sensor(RNG(17), img, img.copy(), 1.0, WorldRanges(p_quantize=1.0, noise_gain=(3, 3)))
    assert info["noise_gain"] == 3 and "quantize" in info and not np.allclose(pre, img)
    pre, post, info = sky_and_sensor(RNG(18), img, img.copy(), 0.0, WorldRanges(p_jpeg=1.0, jpeg_quality=(80, 80)))
    assert info["jpeg"]["quality"] == 80 and 0.05 <= info["jpeg"]["fill"] <= 0.5 and not np.allclose(pre, img)
    pre, post, info = sky_and_sensor(RNG(17), img, img.copy(), 1.0, WorldRanges())
    assert info == {} and np.array_equal(pre, img)


def test_generate_sample_without_world_is_unchanged_and_with_world_is_consistent(bank):
    a = generate_sample(sample_rng(3, "train", 1), 48, 1, bank)
    b = generate_sample(sample_rng(3, "train", 1), 48, 1, bank, world=None)
    assert np.array_equal(a.pre, b.pre) and np.array_equal(a.flow, b.flow)
    world = WorldRanges(p_flow=1.0, p_misregistration=1.0, misregistration_px=(0.7, 0.7), p_jitter=1.0)
    s = generate_sample(sample_rng(3, "train", 1), 48, 1, bank, world=world)
    info = s.params["perturbations"]["world"]
    assert s.params["rupture"] is None and not s.fault_mask.any()
    mis = info["motion"]["misregistration"]
    # the truth holds the offset: its mean minus the flow part's is the misregistration plus the jitter's mean
    assert np.isfinite(s.flow).all() and s.flow.shape == (2, 48, 48)
    assert np.hypot(*s.flow).max() > 0.5 and abs(mis["dx"] ** 2 + mis["dy"] ** 2 - 0.49) < 1e-5


def test_world_sample_truth_matches_the_images_for_a_pure_offset(bank):
    """A misregistration-only world sample: post is pre moved by the offset (checked by phase correlation)."""
    world = WorldRanges(p_misregistration=1.0, misregistration_px=(1.3, 1.3))
    s = generate_sample(sample_rng(4, "train", 2), 96, 0, bank, world=world,
                        perturbation_ranges=__import__("microflow.synth.perturbations", fromlist=["x"]).NO_PERTURBATIONS)
    from microflow.synth.shift import fourier_shift

    flow = s.flow.reshape(2, -1)
    # the motion is the rupture's (category 0: <= 0.5 px) plus 1.3 px; undo the mean and check the residual
    dx, dy = float(np.median(flow[0])), float(np.median(flow[1]))
    back = fourier_shift(s.post, -dx, -dy)
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(back[inner] - s.pre[inner]).mean() < np.abs(s.post[inner] - s.pre[inner]).mean() * 0.6


def test_landsat_mosaics_read_from_a_packed_npz(tmp_path, monkeypatch):
    """The GPU path: ``$MICROFLOW_LANDSAT_NPZ`` replaces the rasterio read of the sdist."""
    from microflow.synth import textures as T

    arrays = {f"landsat_{b}": np.full((40, 50), i + 1, np.uint16) for i, b in enumerate(T.LANDSAT_BANDS)}
    arrays.update({f"landsat_{b}|transform": np.array([30.0, 0, 1e5, 0, -30.0, 2e6]) for b in T.LANDSAT_BANDS})
    np.savez_compressed(tmp_path / "l.npz", crs="EPSG:32621", **arrays)
    monkeypatch.setenv(T.LANDSAT_NPZ_ENV, str(tmp_path / "l.npz"))
    pictures = T.load_landsat_mosaics()
    assert [p.name for p in pictures] == [f"landsat_{b}" for b in T.LANDSAT_BANDS]
    assert pictures[2].data[0, 0] == 3 and pictures[0].transform.a == 30.0 and pictures[0].crs == "EPSG:32621"
