"""MicroFlow inference: a trained GeoFlowNet + iterative warping network applied to image windows.

``estimate(pre, post)`` runs one window over the whole image (up to ``MAX_SINGLE_WINDOW_PIXELS``);
:class:`MicroFlowEstimator` is the reusable form the whole-scene tiler calls window batch by window
batch, with global normalization statistics. Always float32 under ``torch.inference_mode`` (no
autocast: fp16 quantizes sub-pixel fields).

Confidence (band 3 of the product), in [0, 1]::

    r_photo = box_mean(|pre_n - post_n(p + f_K(p))|) / RESIDUAL_SCALE     (normalized intensity)
    r_step  = box_mean(|f_K - f_{K-1}|) / UPDATE_SCALE                    (pixels)
    confidence = exp(-(r_photo + r_step))

``r_photo`` is large where the warped post still does not match pre: temporal change (clouds,
construction, landslides), occlusion, or a wrong field. ``r_step`` is large where the last
iteration still moved the field, i.e. the refinement has not converged. Confidence is 1 for a
perfect match with a converged field and 1/e when the local residual reaches a quarter of the
image's robust spread or the last update reaches 0.1 px. It ranks pixels; it is not a calibrated
probability.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from microflow.errors import InputError, ParameterError
from microflow.methods.base import DisplacementField
from microflow.methods.coarse_to_fine import DEFAULT_MAX_DISPLACEMENT, initial_field, pyramid_levels
from microflow.methods.discontinuity_repair import repair
from microflow.methods.flip_ensemble import ensemble_mean, members
from microflow.methods.local_stats import box_mean
from microflow.model.normalization import image_stats, normalize
from microflow.model.warp import warp_backward
from microflow.model.weights import DEFAULT_MODEL, load_model

RESIDUAL_SCALE = 0.25            # normalized intensity units (robust spread = 1)
UPDATE_SCALE = 0.1               # pixels
CONFIDENCE_WINDOW = 7            # box smoothing of both residuals (px)
MAX_SINGLE_WINDOW_PIXELS = 2048 * 2048
TILING_WINDOW = 1504             # px, largest default tiling window (the plan fits it to the scene,
                                 # tiling.windows.fitted_window): the cost per pixel of the network is
                                 # flat in the window size, so larger windows cut the overlap's share
                                 # (8192²: 7 x 7 windows of 1344 px, 1.32x of the pixels computed instead
                                 # of 1.72x with 768), while one window's tensors (~0.5 KB/px) bound the
                                 # peak memory (8192² with log-TV: <= 2 GB)
TILING_OVERLAP = 192             # px, whatever the window: the blend only uses estimates >= 48 px from a
                                 # window edge, which keeps the seam ratio near 1 (512/128 gave 1.12;
                                 # benchmarks/scene_seams.py)
Stats = tuple[float, float]


def confidence_map(pre_n: torch.Tensor, post_n: torch.Tensor, flows: list[torch.Tensor],
                   interpolation: str = "bicubic") -> torch.Tensor:
    """(B, 1, H, W) confidence in [0, 1] from the photometric residual and the last update (module doc)."""
    residual = (pre_n - warp_backward(post_n, flows[-1], interpolation)).abs()
    score = box_mean(residual, CONFIDENCE_WINDOW) / RESIDUAL_SCALE
    if len(flows) > 1:
        update = torch.linalg.vector_norm(flows[-1] - flows[-2], dim=1, keepdim=True)
        score = score + box_mean(update, CONFIDENCE_WINDOW) / UPDATE_SCALE
    return torch.exp(-score)


class MicroFlowEstimator:
    """A loaded MicroFlow model that maps batches of windows to [dx, dy, confidence].

    Args:
        model: shipped model NAME (``microflow/weights/NAME.safetensors``) or a weights file path.
        device: "auto" (cuda, mps, cpu), "cpu", "cuda" ...
        threads: torch CPU threads (None = torch's default).
        batch_size: windows per forward pass.
        iterations: refinements to run (None = the model's K).
        max_displacement: largest |d| to measure [px]; beyond the trained 4 px the windows start
            from a coarse-to-fine field (:mod:`microflow.methods.coarse_to_fine`).
        ensemble: 1, 2 or 4 reads of each window on flipped copies, averaged
            (:mod:`microflow.methods.flip_ensemble`); costs ``ensemble`` x the time.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", threads: int | None = None,
                 batch_size: int = 4, iterations: int | None = None,
                 max_displacement: float = DEFAULT_MAX_DISPLACEMENT, ensemble: int = 1) -> None:
        if batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
        if threads is not None:
            if threads < 1:
                raise ParameterError(f"threads must be >= 1, got {threads}")
            torch.set_num_threads(int(threads))
        self.loaded = load_model(model, device)
        self.net = self.loaded.net.to(memory_format=torch.channels_last)  # NHWC: ~1.5x faster on CPU
        self.device = next(self.net.parameters()).device
        self.batch_size, self.iterations = int(batch_size), iterations
        pyramid_levels(float(max_displacement), (1 << 16, 1 << 16))  # validates the range
        self.max_displacement = float(max_displacement)
        members(int(ensemble))  # validates the count
        self.ensemble = int(ensemble)

    takes_no_data = True   # NaN in predict's windows: filled with the centre after normalization, and
                           # masked out of the coarse levels' statistics (a tiler need not fill it)

    @property
    def preferred_window(self) -> int:
        """Largest tiling window (px): ``TILING_WINDOW``, at least the training crop (256 when unknown)."""
        return max(int(self.loaded.window or 256), TILING_WINDOW)

    @property
    def preferred_overlap(self) -> int:
        """Tiling overlap (px): ``TILING_OVERLAP``."""
        return TILING_OVERLAP

    @property
    def normalization(self) -> str:
        return self.loaded.normalization

    def image_stats(self, img: np.ndarray) -> Stats:
        """(center, scale) of ``img`` for this model's normalization (use on a whole scene for global stats)."""
        return image_stats(img, self.normalization)

    def _normalized(self, images: np.ndarray, stats: Stats | None) -> np.ndarray:
        out = [normalize(img, *(stats if stats is not None else self.image_stats(img))) for img in images]
        return np.nan_to_num(np.stack(out), nan=0.0)

    def predict(self, pre: np.ndarray, post: np.ndarray, pre_stats: Stats | None = None,
                post_stats: Stats | None = None) -> np.ndarray:
        """(B, 3, H, W) float32 [dx, dy, confidence] for (B, H, W) pre/post windows.

        ``pre_stats`` / ``post_stats`` are (center, scale) applied to every window (global stats);
        None normalizes each window with its own statistics.
        """
        flows, confidence = self.predict_iterations(pre, post, pre_stats, post_stats)
        return np.concatenate([flows[-1], confidence], 1)

    @torch.inference_mode()
    def predict_iterations(self, pre: np.ndarray, post: np.ndarray, pre_stats: Stats | None = None,
                           post_stats: Stats | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Fields after every iteration, (K, B, 2, H, W) [dx, dy] px, and the confidence (B, 1, H, W)."""
        pre, post = np.asarray(pre, np.float32), np.asarray(post, np.float32)
        if pre.ndim == 2:
            pre, post = pre[None], post[None]
        if pre.shape != post.shape or pre.ndim != 3:
            raise ParameterError(f"pre and post must be (B, H, W) of one shape, got {pre.shape} and {post.shape}")
        pre_n, post_n = self._normalized(pre, pre_stats), self._normalized(post, post_stats)
        flows_out, conf_out = None, np.empty((len(pre), 1) + pre.shape[1:], np.float32)
        for start in range(0, len(pre), self.batch_size):
            part = slice(start, start + self.batch_size)
            a = torch.from_numpy(pre_n[part][:, None]).to(self.device)
            b = torch.from_numpy(post_n[part][:, None]).to(self.device)
            valid = no_data_masks(pre[part], post[part], self.device)
            flows = ensemble_mean(self.read, a, b, self.ensemble, valid)
            if flows_out is None:
                flows_out = np.empty((len(flows), len(pre), 2) + pre.shape[1:], np.float32)
            flows_out[:, part] = torch.stack(flows).cpu().numpy()
            conf_out[part] = confidence_map(a, b, flows, self.net.interpolation).cpu().numpy()
        return flows_out, conf_out

    def read(self, a: torch.Tensor, b: torch.Tensor, valid=None) -> list[torch.Tensor]:
        """Fields after every iteration for normalized (B, 1, H, W) images: the coarse-to-fine start
        (when the window moves beyond the native range), the refinement, and the halo repair."""
        init = initial_field(self.net, a, b, self.max_displacement, self.iterations, valid=valid)
        flows = self.net(a, b, self.iterations, init=init)
        if init is not None:   # a coarse-to-fine start: mend the halo it leaves at ruptures
            flows = repair(self.net, a, b, flows, self.iterations, started=init.flatten(1).abs().amax(1) > 0)
        return flows


def no_data_masks(pre: np.ndarray, post: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(B, 1, H, W) bool masks of the finite pixels of (B, H, W) ``pre`` and ``post``; None when all are."""
    finite = np.isfinite(pre), np.isfinite(post)
    if all(mask.all() for mask in finite):
        return None
    return tuple(torch.from_numpy(mask[:, None]).to(device) for mask in finite)


@functools.lru_cache(maxsize=2)
def _cached_estimator(model: str, device: str, threads: int | None, batch_size: int,
                      iterations: int | None, max_displacement: float, ensemble: int) -> MicroFlowEstimator:
    return MicroFlowEstimator(model, device, threads, batch_size, iterations, max_displacement, ensemble)


def estimate(pre: np.ndarray, post: np.ndarray, *, progress: bool = False, model: str = DEFAULT_MODEL,
             device: str = "auto", threads: int | None = None, batch_size: int = 4,
             iterations: int | None = None,
             max_displacement: float = DEFAULT_MAX_DISPLACEMENT, ensemble: int = 1) -> DisplacementField:
    """MicroFlow field of a whole image as one window (per-image robust normalization).

    ``max_displacement`` [px]: the range; beyond 4 px a coarse-to-fine field starts the refinement.
    ``ensemble``: 1, 2 or 4 flipped reads averaged (:mod:`microflow.methods.flip_ensemble`).

    Images larger than ``MAX_SINGLE_WINDOW_PIXELS`` are refused here: :func:`microflow.api.estimate_arrays`
    sends them to the tiler's blended windows instead (``tiling/in_memory.py``; methods never import
    the tiler). ``progress`` is accepted for the common interface (one window, no bar).
    """
    pre, post = np.asarray(pre, np.float32), np.asarray(post, np.float32)
    if pre.size > MAX_SINGLE_WINDOW_PIXELS:
        raise InputError(f"{pre.shape[0]}x{pre.shape[1]} px is more than one MicroFlow window holds "
                         f"({MAX_SINGLE_WINDOW_PIXELS} px): use microflow.api.estimate_arrays, which tiles it")
    estimator = _cached_estimator(str(model), str(device), threads, int(batch_size), iterations,
                                  float(max_displacement), int(ensemble))
    flows, confidence = estimator.predict_iterations(pre[None], post[None])
    (dx, dy), per_iteration = flows[-1, 0], list(flows[:, 0])
    return DisplacementField(dx, dy, confidence[0, 0], iterations=per_iteration)
