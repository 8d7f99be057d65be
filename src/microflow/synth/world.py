"""A generator that varies what the world varies (issue 22): per-sample switches with probabilities.

:class:`WorldRanges` holds one probability per switch; :func:`microflow.synth.generator.generate_sample`
calls the four hooks below in this order when it is given one (and draws nothing from them when it is
not, so older samples stay bit-identical):

1. :func:`draw_scale` and :func:`sample_texture` -- the **sensor's ground sampling**: the source texture
   is box-integrated by ``f`` (``p_box``: ``f`` in ``box_factor``, a coarser GSD with a box PSF; or
   ``p_coarse``: ``f`` in ``coarse_factor``, the imagery that the coarse-to-fine pyramid's 1/2-1/8 levels
   show the network in inference). The motion is then defined on the integrated grid.
2. :func:`ground_change` -- **ground-attached change** that moves with the ground: a change of
   topographic shading (one fractal relief under two suns, ``p_shading``) and flat saturated snow or
   ice with sparse detail (``p_snow``), both applied to the source texture before the warp; and a
   partial renewal of the post surface (``p_surface``: melt, fresh snow, debris; the texture's correlation
   with pre falls to sqrt(1 - w²), w in ``surface_mix``), which moves with the ground too.
3. :func:`draw_motion` -- **motion**: with ``p_flow`` a smooth glacier or landslide flow replaces the
   Okada rupture (same peak draw); then a global misregistration (``p_misregistration``), along-track
   jitter (``p_jitter``) and detector steps (``p_steps``) are added to whatever moves. These are part
   of the truth: they are real apparent motion between the two images.
4. :func:`sky_and_sensor` -- **per-acquisition effects** after the warp and the usual perturbations:
   haze and thin clouds with shadows in one image (``p_haze``), regional tone curves on post
   (``p_tone``), a Gaussian MTF of its own per image (``p_mtf``), sensor noise raised by a gain in
   ``noise_gain`` over the perturbations' level, 8- or 12-bit quantization (``p_quantize``), a lossy
   JPEG2000 round trip (``p_jpeg2000``) and an 8-bit baseline JPEG rendering (``p_jpeg``: quality in
   ``jpeg_quality``, the crop's spread filling ``jpeg_fill`` of 0-255).

Every effect except the motion is shift-free, so the truth field is the motion's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from microflow.errors import ParameterError
from microflow.synth import motion, radiometry, sensor


@dataclass(frozen=True)
class WorldRanges:
    """Probabilities (per sample) and ranges of the world switches; all off by default."""

    p_box: float = 0.0
    box_factor: tuple[int, int] = (2, 4)
    p_coarse: float = 0.0
    coarse_factor: tuple[int, int] = (2, 8)
    p_shading: float = 0.0
    shading_mix: tuple[float, float] = (0.1, 0.5)
    p_snow: float = 0.0
    p_surface: float = 0.0
    surface_mix: tuple[float, float] = (0.1, 0.5)
    p_flow: float = 0.0
    p_misregistration: float = 0.0
    misregistration_px: tuple[float, float] = (0.0, 1.5)
    p_jitter: float = 0.0
    jitter_px: tuple[float, float] = (0.01, 0.2)
    p_steps: float = 0.0
    steps_px: tuple[float, float] = (0.02, 0.2)
    p_haze: float = 0.0
    p_tone: float = 0.0
    p_mtf: float = 0.0
    mtf_sigma: tuple[float, float] = (0.3, 1.2)
    noise_gain: tuple[float, float] = (1.0, 1.0)
    p_quantize: float = 0.0
    p_jpeg2000: float = 0.0
    jpeg2000_rate: tuple[int, int] = (60, 400)
    p_jpeg: float = 0.0
    jpeg_quality: tuple[int, int] = (70, 95)
    jpeg_fill: tuple[float, float] = (0.05, 0.5)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ParameterError(f"world.{f.name} must be a probability in [0, 1], got {value}")
            if isinstance(value, (tuple, list)) and not (len(value) == 2 and 0 <= value[0] <= value[1]):
                raise ParameterError(f"world.{f.name} must be an increasing range [lo, hi], got {value}")
        if self.box_factor[0] < 1 or self.coarse_factor[0] < 1 or self.noise_gain[0] < 1:
            raise ParameterError("world box/coarse factors and noise_gain must be >= 1")

    @classmethod
    def from_dict(cls, values: dict | None) -> "WorldRanges | None":
        """A WorldRanges from a config mapping (lists become tuples); None when empty."""
        if not values:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ParameterError(f"unknown data.world key(s): {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def draw_scale(rng: np.random.Generator, world: WorldRanges) -> int:
    """The integration factor of this sample (1 = the source's own GSD)."""
    if rng.random() < world.p_coarse:
        return int(rng.integers(world.coarse_factor[0], world.coarse_factor[1] + 1))
    if rng.random() < world.p_box:
        return int(rng.integers(world.box_factor[0], world.box_factor[1] + 1))
    return 1


def sample_texture(rng: np.random.Generator, textures, padded: tuple[int, int], factor: int,
                   bands: tuple[int, int] | None = None) -> tuple[list[np.ndarray], int]:
    """Crops (one, or one per band) of ``padded`` px from the areas integrated by ``factor``, and the
    factor used: the largest one up to ``factor`` whose integrated areas still hold a whole crop (the
    Landsat training area, 1191 rows, allows 5 for 208-px crops), so that no crop is mirror-tiled."""
    smallest = min(min(a.data.shape) for a in textures.areas)
    factor = max(1, min(int(factor), smallest // max(padded)))
    bank = textures.integrated(factor) if factor > 1 else textures
    crops = bank.sample_bands(rng, *padded, bands) if bands is not None else [bank.sample(rng, *padded)]
    return crops, factor


def ground_change(rng: np.random.Generator, sources: list[np.ndarray], world: WorldRanges) -> tuple[list, dict]:
    """(pre source, post source) with shading and snow; ``sources`` = [texture] or [pre band, post band]."""
    pre_src, post_src = (sources[0], sources[-1])
    info = {}
    if rng.random() < world.p_shading:
        first, second, info["shading"] = radiometry.relief_shading(rng, pre_src.shape)
        mix = np.float32(rng.uniform(*world.shading_mix))
        pre_src = pre_src * (1 - mix + mix * first)
        post_src = post_src * (1 - mix + mix * second)
    if rng.random() < world.p_snow:
        state = rng.bit_generator.state
        pre_src, mask = radiometry.snow_cover(rng, pre_src)
        rng.bit_generator.state = state                      # the same snow field on the post source
        post_src, _ = radiometry.snow_cover(rng, post_src)
        info["snow_share"] = float(mask.mean())
    if world.p_surface > 0 and rng.random() < world.p_surface:   # no draw when off: older samples stay
        info["surface_mix"] = float(rng.uniform(*world.surface_mix))
        post_src = radiometry.surface_change(rng, post_src, info["surface_mix"])
    return [np.asarray(pre_src, np.float32), np.asarray(post_src, np.float32)], info


def draw_motion(rng: np.random.Generator, world: WorldRanges, size: int, peak: float):
    """(flow replacing the rupture or None, extra field added to the motion or None, draws)."""
    info, flow = {}, None
    if rng.random() < world.p_flow:
        if rng.random() < 0.5:
            flow, info["flow"] = motion.glacier_flow(rng, size, peak)
            info["flow"]["kind"] = "glacier"
        else:
            flow, info["flow"] = motion.landslide_flow(rng, size, peak)
    extras = []
    if rng.random() < world.p_misregistration:
        field, info["misregistration"] = motion.misregistration(rng, world.misregistration_px)
        extras.append(field)
    if rng.random() < world.p_jitter:
        field, info["jitter"] = motion.jitter(rng, world.jitter_px)
        extras.append(field)
    if rng.random() < world.p_steps:
        field, info["steps"] = motion.detector_steps(rng, size, world.steps_px)
        extras.append(field)
    return flow, (motion.combine(extras) if extras else None), info


def sky_and_sensor(rng: np.random.Generator, pre: np.ndarray, post: np.ndarray, noise_std: float,
                   world: WorldRanges) -> tuple[np.ndarray, np.ndarray, dict]:
    """Haze/clouds in one image, tone curves on post, then each image through its own sensor model."""
    info = {}
    if rng.random() < world.p_haze:
        info["clouds_in"] = "pre" if rng.random() < 0.5 else "post"
        if info["clouds_in"] == "pre":
            pre = radiometry.haze_and_clouds(rng, pre)
        else:
            post = radiometry.haze_and_clouds(rng, post)
    if rng.random() < world.p_tone:
        post = radiometry.regional_tone(rng, post)
        info["tone"] = True
    if rng.random() < world.p_mtf:
        sigmas = rng.uniform(*world.mtf_sigma, size=2)
        pre, post = sensor.mtf_blur(pre, sigmas[0]), sensor.mtf_blur(post, sigmas[1])
        info["mtf_sigma"] = sigmas.tolist()
    gain = float(rng.uniform(*world.noise_gain))
    if gain > 1.0 and noise_std > 0:
        extra = noise_std * np.sqrt(gain ** 2 - 1)
        pre, post = sensor.add_noise(rng, pre, extra), sensor.add_noise(rng, post, extra)
        info["noise_gain"] = gain
    if rng.random() < world.p_quantize:
        bits, fill = (8 if rng.random() < 0.5 else 12), float(rng.uniform(0.15, 0.9))
        pre, post = sensor.quantize(pre, bits, fill), sensor.quantize(post, bits, fill)
        info["quantize"] = {"bits": bits, "fill": fill}
    if rng.random() < world.p_jpeg2000:
        rate = int(rng.integers(world.jpeg2000_rate[0], world.jpeg2000_rate[1] + 1))
        pre, post = sensor.jpeg2000_roundtrip(pre, rate), sensor.jpeg2000_roundtrip(post, rate)
        info["jpeg2000_rate"] = rate
    if rng.random() < world.p_jpeg:
        quality = int(rng.integers(world.jpeg_quality[0], world.jpeg_quality[1] + 1))
        fill = float(rng.uniform(*world.jpeg_fill))
        pre, post = sensor.jpeg_roundtrip(pre, quality, fill), sensor.jpeg_roundtrip(post, quality, fill)
        info["jpeg"] = {"quality": quality, "fill": fill}
    return np.asarray(pre, np.float32), np.asarray(post, np.float32), info
