"""One semi-synthetic sample: real texture, a random Okada rupture, temporal perturbations.

``generate_sample(rng, size, category, textures)`` draws, in this order from ``rng``:

1. a texture crop of ``size + 2 * MARGIN_PX`` pixels (the margin feeds content moved into view);
2. a random rupture (:func:`~microflow.synth.ruptures.random_rupture`) and its field at pixel
   centres (:func:`~microflow.synth.field.sample_rupture`), scaled so that the peak |d| over the
   output equals a uniform draw in the category range;
3. post = pre displaced by the field (:func:`~microflow.synth.forward.warp_by_field`);
4. temporal perturbations (:func:`~microflow.synth.perturbations.perturb_pair`);
5. with ``real_change`` (:mod:`~microflow.synth.real_change`), drawn only then: pre and post from two
   spectral bands of the same window (post warped), and real texture pasted into post.

The truth ``flow`` is ``[dx, dy]`` (+column, +row) in pre pixels at the pre pixel centres (the
internal convention). ``params`` holds every draw; rupture segments are in metres in the output
frame (``east = col * g``, ``north = -row * g``). Seeding: :func:`sample_rng` derives the
generator of sample ``i`` from ``(seed, split, i)`` with :class:`numpy.random.SeedSequence`, so a
sample does not depend on which process or in which order it is made.
"""

from __future__ import annotations

import numpy as np

from microflow.errors import ParameterError
from microflow.synth.faultdeform import SPLITS, Sample
from microflow.synth.field import sample_rupture
from microflow.synth.forward import constant_field, warp_by_field
from microflow.synth.okada import FaultSegment
from microflow.synth.perturbations import PerturbationRanges, perturb_pair
from microflow.synth.real_change import RealChange, draw_bands, paste_real_patches
from microflow.synth.ruptures import CATEGORY_PEAK_PX, Rupture, RuptureRanges, random_peak, random_rupture, trace_mask
from microflow.synth.motion import combine
from microflow.synth.textures import TextureBank
from microflow.synth import world as world_hooks
from microflow.synth.world import WorldRanges

MARGIN_PX = 8  # >= max peak (4 px) + spline support
NEAR_TRACE_EXTRA_PX = 2.0  # inverse-field points within peak + this of a trace get the exact jump


def sample_rng(seed: int, split: str, sample_id: int, epoch: int = 0) -> np.random.Generator:
    """The random generator of sample ``sample_id``: SeedSequence of (seed, split index, id[, epoch])."""
    if split not in SPLITS:
        raise ParameterError(f"split must be one of {SPLITS}, got {split!r}")
    entropy = [int(seed), SPLITS.index(split), int(sample_id)] + ([int(epoch)] if epoch else [])
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _shift_segment(seg: FaultSegment, rows: float, cols: float, g: float) -> FaultSegment:
    """The same segment in a frame whose origin moved by (rows, cols) pixels."""
    return FaultSegment(seg.east - cols * g, seg.north + rows * g, seg.strike, seg.dip, seg.rake, seg.slip,
                        seg.length, seg.width, seg.top_depth)


def output_grid(origin: tuple[int, int], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) float32 pixel centres of the output window ``shape`` at ``origin`` of the texture frame."""
    return np.meshgrid(np.arange(origin[0], origin[0] + shape[0], dtype=np.float32),
                       np.arange(origin[1], origin[1] + shape[1], dtype=np.float32), indexing="ij")


def scaled_to_peak(function, origin: tuple[int, int], shape: tuple[int, int], peak: float):
    """``function`` rescaled so that its peak |d| over the output window is ``peak``."""
    rows, cols = output_grid(origin, shape)
    gain = np.float32(peak / max(float(np.hypot(*function(rows, cols)).max()), 1e-6))

    def field(r, c):
        dx, dy = function(r, c)
        return dx * gain, dy * gain

    return field


def generate_sample(rng: np.random.Generator, size: int | tuple[int, int], category: int, textures: TextureBank,
                    *, sample_id: int = -1, displacement: bool = True,
                    rupture_ranges: RuptureRanges = RuptureRanges(),
                    perturbation_ranges: PerturbationRanges = PerturbationRanges(),
                    real_change: RealChange | None = None, peak_px: float | None = None,
                    world: WorldRanges | None = None) -> Sample:
    """A :class:`~microflow.synth.faultdeform.Sample` of ``size`` (int or (H, W)) in ``category``.

    ``displacement=False`` gives the null sample: same draws, zero field, all perturbations.
    ``real_change`` adds real radiometric change (cross-band sources, real-texture patches).
    ``peak_px`` sets the peak |d| instead of drawing it in the category's range (large-displacement
    sets); the texture margin grows with it. ``world`` (:mod:`~microflow.synth.world`) turns on the
    switches that vary sensor, radiometry and motion; a smooth flow then may replace the rupture.
    """
    if category not in CATEGORY_PEAK_PX:
        raise ParameterError(f"category must be one of {tuple(CATEGORY_PEAK_PX)}, got {category!r}")
    h, w = (size, size) if np.isscalar(size) else size
    if min(h, w) < 8:
        raise ParameterError(f"size must be at least 8 pixels, got {size}")
    m = MARGIN_PX if peak_px is None else max(MARGIN_PX, int(np.ceil(peak_px)) + 4)
    if world is not None:
        m += int(np.ceil(world.misregistration_px[1] + 2 * world.steps_px[1] + world.jitter_px[1]))
    padded = (h + 2 * m, w + 2 * m)
    bands, world_info = None, {}
    if real_change is not None and textures.band_aligned and rng.random() < real_change.p_cross_band:
        bands = draw_bands(rng, len(textures.areas))
    if world is None:
        sources = textures.sample_bands(rng, *padded, bands) if bands is not None else [textures.sample(rng, *padded)]
    else:
        sources, world_info["integration"] = world_hooks.sample_texture(
            rng, textures, padded, world_hooks.draw_scale(rng, world), bands)
        sources, world_info["ground"] = world_hooks.ground_change(rng, sources, world)
    pre_texture, texture = sources[0], sources[-1]
    rupture = random_rupture(rng, padded, rupture_ranges)
    peak = random_peak(rng, category) if peak_px is None else float(peak_px)
    flow_fn, extra_fn = None, None
    if world is not None:
        flow_fn, extra_fn, world_info["motion"] = world_hooks.draw_motion(rng, world, padded[0], peak)
    if flow_fn is not None:
        field = scaled_to_peak(flow_fn, (m, m), (h, w), peak)
        rupture = None
    else:
        field = sample_rupture(rupture.segments, rupture.pixel_size, padded, rupture.poisson)
        raw_peak = float(np.hypot(*field.total[:, m:m + h, m:m + w]).max())
        field = field.scaled(peak / raw_peak)
    if displacement:
        if rupture is not None:
            near = field.near_traces_grid((m, m), (h, w), peak + NEAR_TRACE_EXTRA_PX)
            motion_fn = lambda r, c: field(r, c, near)  # noqa: E731
        else:
            motion_fn = field
        if extra_fn is not None:
            motion_fn = combine([motion_fn, extra_fn])
        pre, post = warp_by_field(texture, motion_fn, m)
        if extra_fn is not None or rupture is None:   # the truth of a function: evaluated at the output grid
            flow = np.stack(motion_fn(*output_grid((m, m), (h, w))))
        else:                                          # a rupture alone: its sampled field
            flow = np.ascontiguousarray(field.total[:, m:m + h, m:m + w])
    else:
        pre, post = warp_by_field(texture, constant_field(0.0, 0.0), m)
        flow = np.zeros((2, h, w), np.float32)
    if pre_texture is not texture:  # pre from its own band or ground state, same window, no motion
        pre = np.array(pre_texture[m:m + h, m:m + w], np.float32)
    pre, post, perturbations = perturb_pair(rng, pre, post, perturbation_ranges)
    if world is not None:
        pre, post, world_info["sky_and_sensor"] = world_hooks.sky_and_sensor(
            rng, pre, post, perturbations["noise_std"], world)
        perturbations["world"] = world_info
    if real_change is not None:
        perturbations["bands"] = list(bands) if bands is not None else None
        donors = []
        if rng.random() < real_change.p_real_patches:
            donors = [textures.sample(rng, h, w) for _ in range(int(rng.integers(1, real_change.max_real_patches + 1)))]
        perturbations["real_patches"] = paste_real_patches(rng, post, donors, real_change)
    moved = displacement and rupture is not None
    mask = trace_mask(rupture, padded)[m:m + h, m:m + w] if moved else np.zeros((h, w), bool)
    out_rupture = Rupture([_shift_segment(s, m, m, rupture.pixel_size) for s in rupture.segments],
                          rupture.pixel_size, rupture.mechanism, rupture.poisson) if moved else None
    params = {"category": category, "peak_px": peak if displacement else 0.0, "size": [h, w],
              "texture": textures.source, "split_area": textures.split,
              "rupture": out_rupture.to_dict() if moved else None, "perturbations": perturbations}
    return Sample(pre, post, flow.astype(np.float32), category, mask, params, sample_id)
