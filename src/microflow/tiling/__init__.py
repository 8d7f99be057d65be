"""Whole-scene estimation: sliding windows, blending, global normalization, streaming and Dask.

==================  ====================================================================
module              what
==================  ====================================================================
windows             the global window grid and its cosine blending weights
predictors          the window-predict protocol, classical-method wrapper, per-process cache
normalization_stats GLOBAL (center, scale) of each image from an overview read
blending            predict windows in batches and blend them (NaN-aware weighted mean)
plan                defaults and validation of a run, block-wise regularization settings
row_stream          row buffering and block-wise regularization with a halo
scene               ``estimate_scene``: streaming single-process pipeline, bounded memory
dask_backend        ``estimate_scene_dask``: the same numbers on a Dask cluster; ``field_graph`` of any
                    lazy image pair (``microflow.estimate_dataarrays``)
in_memory           the same numbers on in-memory arrays (large MicroFlow arrays, numpy DataArrays)
==================  ====================================================================
"""

from microflow.tiling.windows import WindowGrid

__all__ = ["WindowGrid", "estimate_scene", "estimate_scene_dask"]


def __getattr__(name: str):
    if name == "estimate_scene":
        from microflow.tiling.scene import estimate_scene

        return estimate_scene
    if name == "estimate_scene_dask":
        from microflow.tiling.dask_backend import estimate_scene_dask

        return estimate_scene_dask
    raise AttributeError(name)
