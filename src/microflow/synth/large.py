"""Large-displacement semi-synthetic pairs (peaks of several to tens of pixels): glaciers and ruptures.

Two kinds, on the same real texture and temporal perturbations as the sub-pixel benchmark:

* ``rupture``: a random Okada rupture (:func:`~microflow.synth.generator.generate_sample`) scaled
  to a peak of ``peak_px``; surface-breaking faults leave a strip about the slip wide that one image
  sees and the other does not (occlusion / disocclusion);
* ``glacier``: a smooth, continuous ice stream: a straight band of half-width ``W`` across the image,
  flowing along its axis with the profile of a valley glacier, modulated along the flow::

      v(s, t) = peak * (1 - (s / W)^2)^2 * (1 + a sin(2 pi t / lambda + phi)) / (1 + a)   for |s| < W

  with ``s`` the distance to the centre line and ``t`` the along-flow coordinate (px), ``a`` in
  [0, 0.3], ``lambda`` in [1, 3] image sizes. ``W`` >= 4 ``peak`` keeps the shear below 0.39 px/px
  (the forward model's inverse field needs |grad d| < 1). The field is d = v (cos theta, sin theta).

Sample ``i`` of a set is a deterministic function of ``(seed, i)``: kinds alternate, the peak is
uniform in ``peaks``. Only the ``test`` texture area is used by the benchmark.
"""

from __future__ import annotations

import numpy as np

from microflow.errors import ParameterError
from microflow.synth.faultdeform import Sample
from microflow.synth.forward import warp_by_field
from microflow.synth.generator import generate_sample, output_grid, scaled_to_peak
from microflow.synth.motion import glacier_flow
from microflow.synth.perturbations import PerturbationRanges, perturb_pair
from microflow.synth.real_change import RealChange
from microflow.synth.textures import TextureBank
from microflow.synth.world import WorldRanges

KINDS = ("glacier", "rupture")
def generate_glacier(rng: np.random.Generator, size: int, peak: float, textures: TextureBank,
                     perturbation_ranges: PerturbationRanges = PerturbationRanges(), sample_id: int = -1) -> Sample:
    """A glacier pair: texture, ice-stream field with peak |d| = ``peak`` px over the output,
    forward warp, temporal perturbations."""
    margin = int(np.ceil(peak)) + 4
    texture = textures.sample(rng, size + 2 * margin, size + 2 * margin)
    shape_field, params = glacier_flow(rng, size + 2 * margin, peak)
    field = scaled_to_peak(shape_field, (margin, margin), (size, size), peak)
    pre, post = warp_by_field(texture, field, margin)
    flow = np.stack(field(*output_grid((margin, margin), (size, size)))).astype(np.float32)
    pre, post, perturbations = perturb_pair(rng, pre, post, perturbation_ranges)
    info = {"kind": "glacier", "peak_px": peak, "glacier": params, "perturbations": perturbations}
    return Sample(pre, post, flow, 2, np.zeros(pre.shape, bool), info, sample_id)


def large_sample(seed: int, index: int, size: int, peaks: tuple[float, float], textures: TextureBank) -> Sample:
    """Sample ``index`` of the large-displacement set of ``seed``: kinds alternate, peak uniform in ``peaks``."""
    if not 0 < peaks[0] <= peaks[1]:
        raise ParameterError(f"peaks must be an increasing positive range, got {peaks}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 77, int(index)]))
    peak = float(rng.uniform(*peaks))
    if KINDS[index % len(KINDS)] == "glacier":
        return generate_glacier(rng, size, peak, textures, sample_id=index)
    sample = generate_sample(rng, size, 2, textures, sample_id=index, peak_px=peak)
    sample.params["kind"] = "rupture"
    return sample


# Issue 24: what real large-motion pairs add to the set above. Flows (glaciers, landslides) or ruptures,
# snow and ice with sparse texture advected by the flow, haze / thin clouds / shadows in one image,
# 16-day-like change (regional tone curves, real-texture patches, other bands), a misregistration of
# 0-3 px on top of the motion, and a sensor MTF per image.
REALISTIC_WORLD = WorldRanges(p_snow=0.5, p_flow=0.6, p_misregistration=1.0, misregistration_px=(0.0, 3.0),
                              p_haze=0.5, p_tone=0.6, p_mtf=0.5, noise_gain=(1.0, 2.0), p_shading=0.3)
REALISTIC_CHANGE = RealChange(p_cross_band=0.3, p_real_patches=0.5)


def realistic_sample(seed: int, index: int, size: int, peaks: tuple[float, float], textures: TextureBank) -> Sample:
    """Sample ``index`` of the realistic large-motion set of ``seed``: peak |d| of the flow or rupture
    uniform in ``peaks`` (the misregistration comes on top), kind in ``params["kind"]``."""
    if not 0 < peaks[0] <= peaks[1]:
        raise ParameterError(f"peaks must be an increasing positive range, got {peaks}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 78, int(index)]))
    peak = float(rng.uniform(*peaks))
    sample = generate_sample(rng, size, 2, textures, sample_id=index, peak_px=peak, world=REALISTIC_WORLD,
                             real_change=REALISTIC_CHANGE if textures.band_aligned else None)
    flow = sample.params["perturbations"]["world"]["motion"].get("flow")
    sample.params["kind"] = flow["kind"] if flow else "rupture"
    return sample
