"""Training configuration: nested dataclasses read from YAML, with ``--set section.key=value`` overrides.

Sections: ``model`` (network), ``data`` (source, crops, validation set), ``optim`` (Adam, schedule,
loss) and ``run`` (steps, batch, device, checkpointing). Unknown keys are errors, so a typo in a
config never trains silently with a default.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from microflow.errors import ParameterError
from microflow.model.normalization import NORMALIZATIONS
from microflow.model.warp import INTERPOLATIONS

SOURCES = ("synthetic", "faultdeform")
SCHEDULES = ("step", "cosine", "constant")


@dataclass
class ModelConfig:
    width: int = 16                    # GeoFlowNet width (64 = paper)
    iterations: int = 3                # K
    shared_weights: bool = False
    interpolation: str = "bicubic"
    refine: int = 0                    # channels of the full-resolution refinement head (0 = none, the paper)
    init: str | None = None            # warm start: shipped model NAME or weights file (same architecture,
                                       # or the same without the head: the head then starts at zero)


@dataclass
class DataConfig:
    source: str = "synthetic"          # synthetic | faultdeform
    root: str | None = None            # FaultDeform folder (source: faultdeform)
    ns_positive_down: bool = False     # FaultDeform files whose NS band is +row
    size: int = 256                    # side of a generated synthetic sample (px)
    crop: int = 128                    # random training crop (px, multiple of 16)
    train_length: int = 60000          # samples per epoch
    categories: list = field(default_factory=lambda: [0, 1, 2])
    texture: str = "landsat"
    cross_band: float = 0.0            # probability of pre and post from two spectral bands (synth.real_change)
    real_patches: float = 0.0          # probability of real texture pasted into post
    world: dict = field(default_factory=dict)  # synth.world.WorldRanges switches (sensor, radiometry, motion)
    normalization: str = "robust"      # robust | minmax
    flip_probability: float = 0.5
    val_per_category: int = 32
    val_crop: int | None = None        # centre crop of validation samples (default: crop)
    val_seed: int = 20250417
    num_workers: int = 0


@dataclass
class OptimConfig:
    lr: float = 1e-4
    schedule: str = "step"             # step | cosine | constant
    lr_step: int = 37500               # step: multiply lr by lr_decay every lr_step steps
    lr_decay: float = 0.5
    min_lr_ratio: float = 0.01         # cosine: final lr / lr
    warmup_steps: int = 0              # linear ramp of the lr from 0 over the first steps
    weight_decay: float = 0.0
    grad_clip: float = 1.0             # max gradient norm (0 = off)
    loss_gamma: float = 0.8            # iteration weights gamma^(K-k)
    near_fault_weight: float = 0.0     # extra L1 weight of pixels within 5 px of a trace (1 + w there)
    trace_weight: float = 0.0          # further extra weight on the trace itself (within trace_radius px)
    trace_radius: float = 1.5
    ema_decay: float = 0.0             # weight average (EMA) decay, 0 = off; validation, best, final use it
    refine_lr_scale: float = 1.0       # the refinement head's lr / lr (a new head next to trained weights)


@dataclass
class RunConfig:
    steps: int = 75000
    batch_size: int = 8
    seed: int = 1
    device: str = "auto"               # auto | cpu | cuda | mps
    threads: int | None = None         # torch.set_num_threads
    amp: bool = True                   # fp16 autocast, CUDA only
    channels_last: bool = True         # NHWC convolutions (faster on CPU)
    val_every: int = 1000
    ckpt_every: int = 500
    log_every: int = 25
    max_minutes: float | None = None   # stop cleanly after this wall time (per session)
    progress: bool = True


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def val_crop(self) -> int:
        return self.data.val_crop or self.data.crop


def _coerce(value, hint, name: str):
    """``value`` converted to the annotated type (YAML reads 1e-4 as a string, ints as floats ...)."""
    options = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    if value is None:
        if type(None) in typing.get_args(hint):
            return None
        raise ParameterError(f"{name} cannot be null")
    target = typing.get_origin(options[0]) or options[0]
    try:
        if target is bool:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError
            return value
        if target is int:
            if float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if target is float:
            return float(value)
        if target is list:
            return list(value) if isinstance(value, (list, tuple)) else [int(v) for v in str(value).split(",")]
        return target(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}: cannot read {value!r} as {target.__name__}") from None


def _section(cls, values: dict, name: str):
    hints = typing.get_type_hints(cls)
    unknown = set(values) - set(hints)
    if unknown:
        raise ParameterError(f"unknown key(s) in config section {name!r}: {', '.join(sorted(unknown))}")
    return cls(**{k: _coerce(v, hints[k], f"{name}.{k}") for k, v in values.items()})


def config_from_dict(values: dict) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from nested dicts (missing keys take defaults)."""
    sections = typing.get_type_hints(TrainConfig)
    unknown = set(values) - set(sections)
    if unknown:
        raise ParameterError(f"unknown config section(s): {', '.join(sorted(unknown))}")
    config = TrainConfig(**{k: _section(sections[k], values.get(k) or {}, k) for k in sections})
    validate(config)
    return config


def apply_overrides(values: dict, overrides: list[str] | None) -> dict:
    """Apply ``["optim.lr=3e-4", "run.steps=100"]`` to nested dicts (values parsed as YAML)."""
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2:
            raise ParameterError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        values.setdefault(parts[0], {})
        if not isinstance(values[parts[0]], dict):
            raise ParameterError(f"config section {parts[0]!r} is not a mapping")
        values[parts[0]][parts[1]] = yaml.safe_load(raw)
    return values


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or defaults when ``path`` is None) and apply overrides."""
    values = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ParameterError(f"cannot read config {path}: {exc}") from None
        if not isinstance(values, dict):
            raise ParameterError(f"config {path} must be a mapping of sections")
    return config_from_dict(apply_overrides(values, overrides))


def save_config(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def validate(config: TrainConfig) -> None:
    """Range checks with one-line :class:`ParameterError` messages."""
    m, d, o, r = config.model, config.data, config.optim, config.run
    checks = [
        (m.width >= 1 and m.iterations >= 1, "model.width and model.iterations must be >= 1"),
        (m.interpolation in INTERPOLATIONS, f"model.interpolation must be one of {INTERPOLATIONS}"),
        (d.source in SOURCES, f"data.source must be one of {SOURCES}"),
        (d.source != "faultdeform" or d.root, "data.root is required with data.source: faultdeform"),
        (d.normalization in NORMALIZATIONS, f"data.normalization must be one of {NORMALIZATIONS}"),
        (d.crop >= 16 and d.crop % 16 == 0, "data.crop must be a positive multiple of 16"),
        (config.val_crop % 16 == 0, "data.val_crop must be a multiple of 16"),
        (d.size >= d.crop or d.source != "synthetic", "data.size must be >= data.crop"),
        (d.train_length >= r.batch_size, "data.train_length must be >= run.batch_size"),
        (len(d.categories) > 0 and set(d.categories) <= {0, 1, 2}, "data.categories must be among 0, 1, 2"),
        (d.val_per_category >= 1 and d.num_workers >= 0, "data.val_per_category >= 1, num_workers >= 0"),
        (0.0 <= d.flip_probability <= 1.0, "data.flip_probability must be in [0, 1]"),
        (0.0 <= d.cross_band <= 1.0 and 0.0 <= d.real_patches <= 1.0,
         "data.cross_band and data.real_patches must be probabilities in [0, 1]"),
        (o.near_fault_weight >= 0 and o.trace_weight >= 0 and o.trace_radius >= 0,
         "optim.near_fault_weight, optim.trace_weight and optim.trace_radius must be >= 0"),
        (o.lr > 0 and o.schedule in SCHEDULES, f"optim.lr must be > 0 and optim.schedule in {SCHEDULES}"),
        (o.lr_step >= 1 and 0 < o.lr_decay <= 1 and 0 <= o.min_lr_ratio <= 1,
         "optim.lr_step >= 1, 0 < optim.lr_decay <= 1, 0 <= optim.min_lr_ratio <= 1 required"),
        (o.warmup_steps >= 0, "optim.warmup_steps must be >= 0"),
        (o.grad_clip >= 0 and 0 < o.loss_gamma <= 1, "optim.grad_clip >= 0 and 0 < optim.loss_gamma <= 1"),
        (r.steps >= 1 and r.batch_size >= 1, "run.steps and run.batch_size must be >= 1"),
        (r.val_every >= 1 and r.ckpt_every >= 1 and r.log_every >= 1, "run.*_every must be >= 1"),
        (r.device in ("auto", "cpu", "cuda", "mps"), "run.device must be auto, cpu, cuda or mps"),
        (r.threads is None or r.threads >= 1, "run.threads must be >= 1"),
        (r.max_minutes is None or r.max_minutes > 0, "run.max_minutes must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ParameterError(message)
    from microflow.synth.world import WorldRanges

    WorldRanges.from_dict(d.world)  # unknown keys and bad ranges fail here, not mid-run
