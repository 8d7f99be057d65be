"""The MicroFlow training loop: Adam + lr schedule + gradient clipping on the sequence L1 loss.

Run directory layout::

    RUN_DIR/config.yaml        resolved configuration
    RUN_DIR/checkpoint.pt      resumable state (every ``ckpt_every`` steps, at the end, on SIGTERM/Ctrl-C)
    RUN_DIR/log.csv            train loss / EPE and validation EPE per category and iteration
    RUN_DIR/loss.png           the curves of log.csv
    RUN_DIR/best.safetensors   weights with the lowest validation EPE (+ best.json / best.md cards)
    RUN_DIR/final.safetensors  weights at the last step (+ cards)
    RUN_DIR/final_raw.safetensors  with ``optim.ema_decay``: the last step's own weights, while
                               validation, best and final hold the weight average (:mod:`weight_average`)

Validation EPE = mean over categories of the per-category mean EPE at the last iteration, on a
fixed, in-memory validation set. AMP (fp16 autocast + GradScaler) is used only on CUDA.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from microflow.errors import InputError, MicroflowError, ParameterError
from microflow.model.loss import end_point_error, pixel_weights, sequence_loss
from microflow.model.microflow_net import MicroFlowNet, build_microflow, headless_config
from microflow.model.weights import read_weights, resolve_device, resolve_model, save_weights
from microflow.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from microflow.training.config import OptimConfig, TrainConfig, save_config
from microflow.training.data import (TrainingPairs, build_raw_dataset, default_validation_set, epoch_batches,
                                     stack_batch)
from microflow.training.logbook import TrainingLog, plot_log
from microflow.training.weight_average import WeightAverage

MAX_BAD_STEPS = 20  # consecutive non-finite losses before giving up
ARCHITECTURE_KEYS = ("width", "iterations", "shared_weights", "interpolation", "refine")


def architecture(model) -> dict:
    """The keyword arguments of ``build_microflow`` in a ModelConfig (or its dict); ``refine`` only when
    there is a head (as :attr:`MicroFlowNet.config`)."""
    values = model if isinstance(model, dict) else asdict(model)
    return {k: values[k] for k in ARCHITECTURE_KEYS if k in values and (k != "refine" or values[k])}


def initialize_from(net: MicroFlowNet, name_or_path: str) -> None:
    """Warm start: copy the weights of a shipped model NAME or weights file of the same architecture; a
    network with a refinement head may start from the same architecture without one (its head stays at
    its zero start, so the fields begin as the source model's)."""
    path = resolve_model(name_or_path)
    state, config = read_weights(path)
    source = architecture(config["model"])
    adds_head = net.refine is not None and "refine" not in source and source == headless_config(net.config)
    if source != net.config and not adds_head:
        raise ParameterError(f"model.init {path} is {source}, the config asks for {net.config}")
    missing, unexpected = net.load_state_dict(state, strict=not adds_head)
    if unexpected or any(not key.startswith("refine.") for key in missing):
        raise ParameterError(f"model.init {path}: keys do not match ({missing[:3]}, {unexpected[:3]})")


def lr_factor(step: int, optim: OptimConfig, total_steps: int) -> float:
    """lr(step) / lr: step = lr_decay^floor(step / lr_step); cosine = m + (1 - m)(1 + cos(pi t)) / 2
    with t = step / total_steps and m = min_lr_ratio; constant = 1; all times min(1, (step + 1) / warmup)."""
    warmup = min(1.0, (step + 1) / optim.warmup_steps) if optim.warmup_steps else 1.0
    if optim.schedule == "step":
        return warmup * optim.lr_decay ** (step // optim.lr_step)
    if optim.schedule == "cosine":
        t = min(step, total_steps) / total_steps
        return warmup * (optim.min_lr_ratio + (1.0 - optim.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t)))
    return warmup


def parameter_groups(net: MicroFlowNet, optim: OptimConfig) -> list[dict]:
    """Adam's parameter groups: the backbones at ``lr``, the refinement head (if any) at
    ``lr * refine_lr_scale``."""
    head = [] if net.refine is None else list(net.refine.parameters())
    ids = {id(p) for p in head}
    groups = [{"params": [p for p in net.parameters() if id(p) not in ids]}]
    if head:
        groups.append({"params": head, "lr": optim.lr * optim.refine_lr_scale})
    return groups


def build_scheduler(optimizer: torch.optim.Optimizer, optim: OptimConfig, total_steps: int, start_step: int = 0):
    """Closed-form per-step schedule (:func:`lr_factor`): a resumed run follows its current config.
    ``start_step`` > 0: the schedule stands at that step already (going on from saved weights)."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, optim, total_steps),
                                             last_epoch=start_step - 1)


def ignore_sigterm(_worker_id: int = 0) -> None:
    """DataLoader workers ignore SIGTERM: a scheduler (or ``kill -- -PGID``) signals the whole process
    group, and a worker killed by it would crash the main process before it saves its checkpoint. The
    workers still end with the main process (PyTorch's shutdown and parent watchdog)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextlib.contextmanager
def stop_on_sigterm():
    """Yield a dict whose "requested" turns True on SIGTERM (main thread only), then restore."""
    flag = {"requested": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: flag.update(requested=True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


class Trainer:
    """Train a MicroFlow network into ``out_dir``; ``fit()`` runs until steps, time budget or SIGTERM.

    ``train_data`` (an indexable of raw sample dicts) and ``val_set`` ({category: batch dict}) replace
    the datasets of the config, e.g. in tests.
    """

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, train_data=None, val_set: dict | None = None,
                 resume: bool = False, continue_from: str | Path | None = None) -> None:
        if resume and continue_from is not None:
            raise ParameterError("resume (from RUN_DIR/checkpoint.pt) and continue_from (shipped weights) exclude "
                                 "each other")
        self.config, run, data = config, config.run, config.data
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if run.threads:
            torch.set_num_threads(run.threads)
        self.device = resolve_device(run.device)
        self.use_amp = run.amp and self.device.type == "cuda"
        random.seed(run.seed)
        np.random.seed(run.seed)
        torch.manual_seed(run.seed)
        self.net = build_microflow(**architecture(config.model)).to(self.device)
        if config.model.init and not resume and continue_from is None:
            initialize_from(self.net, config.model.init)
        if run.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(parameter_groups(self.net, config.optim), lr=config.optim.lr,
                                          weight_decay=config.optim.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, config.optim, run.steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

        raw = train_data if train_data is not None else build_raw_dataset(
            data, "train", data.categories, data.train_length, run.seed)
        self.train_pairs = TrainingPairs(raw, data.crop, data.normalization, run.seed, data.flip_probability)
        if len(self.train_pairs) < run.batch_size:
            raise ParameterError(f"training set has {len(self.train_pairs)} samples, fewer than one batch")
        self.val_set = val_set if val_set is not None else default_validation_set(data, config.val_crop)
        self.step, self.seconds, self.best_epe, self.best_step = 0, 0.0, math.inf, None
        saved_average = None
        if resume:
            saved_average = self._restore(self.out_dir / CHECKPOINT_NAME)
        self.average = WeightAverage(self.net, config.optim.ema_decay) if config.optim.ema_decay else None
        if self.average and saved_average:
            self.average.load_state_dict(saved_average)
        if continue_from is not None:
            self._continue_from(Path(continue_from))
        save_config(config, self.out_dir / "config.yaml")
        self.log = TrainingLog(self.out_dir / "log.csv", list(self.val_set), config.model.iterations,
                               resume_step=self.step if resume or continue_from is not None else None)

    # ----------------------------------------------------------------- one optimisation step
    def train_step(self, batch: dict) -> tuple[float, float]:
        """Forward, sequence loss, backward, clip, Adam and scheduler step; returns (loss, EPE_K)."""
        self.net.train()
        pre, post, flow, valid = (batch[k].to(self.device, non_blocking=True) for k in ("pre", "post", "flow", "valid"))
        optim = self.config.optim
        weights = pixel_weights(valid, batch.get("trace_distance"), optim.near_fault_weight,
                                optim.trace_weight, optim.trace_radius)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            flows = self.net(pre, post)
        loss = sequence_loss(flows, flow, optim.loss_gamma, weights)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return math.nan, math.nan
        self.scaler.scale(loss).backward()
        if self.config.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.average:
            self.average.update(self.net)
        return loss.item(), end_point_error(flows[-1].detach(), flow, valid).item()

    # ----------------------------------------------------------------- validation
    @torch.inference_mode()
    def validate(self) -> dict[int, list[float]]:
        """{category: [EPE after iteration 1 .. K]} (px, float32 forward) on the fixed validation set."""
        self.net.eval()
        batch_size = self.config.run.batch_size
        result = {}
        for category, batch in self.val_set.items():
            count = len(batch["pre"])
            sums = [0.0] * self.config.model.iterations
            for start in range(0, count, batch_size):
                part = {k: batch[k][start:start + batch_size].to(self.device) for k in ("pre", "post", "flow", "valid")}
                flows = self.net(part["pre"], part["post"])
                for k, f in enumerate(flows):
                    sums[k] += end_point_error(f, part["flow"], part["valid"]).item() * len(part["pre"])
            result[category] = [s / count for s in sums]
        return result

    # ----------------------------------------------------------------- files
    def checkpoint_state(self) -> dict:
        return {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "step": self.step, "seconds": self.seconds, "best_epe": self.best_epe,
                "best_step": self.best_step, "config": self.config.to_dict(),
                "average": self.average.state_dict() if self.average else None}

    def _restore(self, path: Path) -> dict | None:
        """Load the checkpoint into the network, optimizer and counters; returns its weight average (or None)."""
        state = load_checkpoint(path)  # tensors on CPU; load_state_dict moves them
        if architecture(state["config"]["model"]) != architecture(self.config.model):
            raise ParameterError(f"checkpoint model {state['config']['model']} differs from the config's "
                                 f"{architecture(self.config.model)}; resume with the run's own config.yaml")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and self.use_amp:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.best_epe, self.best_step = float(state["best_epe"]), state["best_step"]
        if state["config"].get("data") != self.config.to_dict()["data"]:
            # The data recipe changed, hence the validation set: an old best is not comparable.
            self.best_epe, self.best_step = math.inf, None
        return state.get("average")

    def _continue_from(self, final: Path) -> None:
        """Go on from saved weights when the checkpoint is lost (e.g. a wiped ~/.cache).

        ``final`` is a run's ``final.safetensors`` with its card (``final.json``): the network takes the
        last step's own weights (``final_raw.safetensors`` beside it, if the run averaged), the weight
        average takes ``final``, and step, seconds and the schedule continue from the card's
        ``training.steps``. Adam's moments start afresh (its bias correction makes the first updates
        about lr in size; the cosine schedule is low by then). The log rows up to that step are copied.
        """
        card_path = final.with_suffix(".json")
        if not final.is_file() or not card_path.is_file():
            raise InputError(f"continue_from needs a weights file and its card: {final} / {card_path}")
        training = json.loads(card_path.read_text())["training"]
        raw = final.with_name(final.stem + "_raw.safetensors")
        initialize_from(self.net, str(raw if raw.is_file() and self.average else final))
        if self.average:
            self.average.load_state_dict({"weights": read_weights(final)[0]})
        self.step, self.seconds = int(training["steps"]), float(training.get("wall_seconds", 0.0))
        self.scheduler = build_scheduler(self.optimizer, self.config.optim, self.config.run.steps, self.step)
        old_log, new_log = final.with_name("log.csv"), self.out_dir / "log.csv"
        if old_log.is_file() and not new_log.exists():
            shutil.copyfile(old_log, new_log)

    def evaluated_weights(self):
        """Context in which ``self.net`` holds the weights that are validated and shipped (the average if any)."""
        return self.average.swapped_into(self.net) if self.average else contextlib.nullcontext(self.net)

    def save_weights(self, name: str, metrics: dict | None = None) -> Path:
        """RUN_DIR/NAME.safetensors with a model card of the run and ``metrics``."""
        c = self.config
        training = {"data_source": c.data.source, "texture": c.data.texture, "categories": c.data.categories,
                    "crop": c.data.crop, "batch_size": c.run.batch_size, "steps": self.step,
                    "samples_seen": self.step * c.run.batch_size, "wall_seconds": round(self.seconds, 1),
                    "device": str(self.device), "lr": c.optim.lr, "schedule": c.optim.schedule, "seed": c.run.seed,
                    "init": c.model.init, "ema_decay": c.optim.ema_decay}
        return save_weights(self.out_dir / f"{name}.safetensors", self.net, normalization=c.data.normalization,
                            window=c.data.crop, card={"training": training, "metrics": metrics or {}})

    def _validation_row(self) -> dict:
        with self.evaluated_weights():  # one swap: the weights validated are the weights saved as best
            tic = time.monotonic()
            per_category = self.validate()
            self.seconds += time.monotonic() - tic
            last = self.config.model.iterations - 1
            mean_epe = sum(v[last] for v in per_category.values()) / len(per_category)
            metrics = {"step": self.step, "val_epe": mean_epe, "val_crop": self.config.val_crop,
                       "epe_per_category": {str(c): v for c, v in per_category.items()}}
            if mean_epe < self.best_epe:
                self.best_epe, self.best_step = mean_epe, self.step
                self.save_weights("best", metrics)
        row = {"val_epe": mean_epe}
        row.update({f"val_epe_c{c}_k{k + 1}": e for c, v in per_category.items() for k, e in enumerate(v)})
        return row

    # ----------------------------------------------------------------- the loop
    def fit(self) -> dict:
        """Train until ``run.steps``, ``run.max_minutes`` or SIGTERM; returns a summary dict."""
        run = self.config.run
        steps_per_epoch = len(self.train_pairs) // run.batch_size
        deadline = time.monotonic() + 60.0 * run.max_minutes if run.max_minutes else math.inf
        stop_reason, bad_steps = "steps", 0
        self._since_log = [0.0, 0.0, 0, 0.0, 0.0]  # loss sum, EPE sum, count, wall s, data-wait s
        self._last_logged_step = self.step
        with stop_on_sigterm() as sigterm, tqdm(total=run.steps, initial=self.step, desc="train", unit="step",
                                                 disable=not run.progress, dynamic_ncols=True) as bar:
            try:
                while self.step < run.steps and stop_reason == "steps":
                    epoch, offset = divmod(self.step, steps_per_epoch)
                    self.train_pairs.set_epoch(epoch)
                    loader = torch.utils.data.DataLoader(
                        self.train_pairs, batch_sampler=epoch_batches(len(self.train_pairs), run.batch_size,
                                                                      run.seed, epoch)[offset:],
                        num_workers=self.config.data.num_workers, collate_fn=stack_batch,
                        worker_init_fn=ignore_sigterm)
                    previous = time.monotonic()
                    for batch in loader:
                        waited = time.monotonic() - previous
                        loss, epe = self.train_step(batch)
                        bad_steps = bad_steps + 1 if math.isnan(loss) else 0
                        if bad_steps >= MAX_BAD_STEPS:
                            raise MicroflowError(f"training diverged: {MAX_BAD_STEPS} non-finite losses in a row "
                                                 f"at step {self.step}; lower optim.lr")
                        self.step += 1
                        elapsed = time.monotonic() - previous
                        self.seconds += elapsed
                        self._accumulate(loss, epe, elapsed, waited)
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss:.4f}", best_val_epe=f"{self.best_epe:.4f}", refresh=False)
                        self._after_step(epoch)
                        previous = time.monotonic()
                        if sigterm["requested"]:
                            stop_reason = "sigterm"
                        elif time.monotonic() > deadline:
                            stop_reason = "time budget"
                        if stop_reason != "steps" or self.step >= run.steps:
                            break
            except KeyboardInterrupt:
                save_checkpoint(self.out_dir / CHECKPOINT_NAME, self.checkpoint_state())
                raise
        return self._finish(stop_reason)

    def _accumulate(self, loss: float, epe: float, elapsed: float, waited: float) -> None:
        loss_sum, epe_sum, count, wall, data = self._since_log
        if not math.isnan(loss):
            loss_sum, epe_sum, count = loss_sum + loss, epe_sum + epe, count + 1
        self._since_log = [loss_sum, epe_sum, count, wall + elapsed, data + waited]

    def _after_step(self, epoch: int) -> None:
        """Log, validate and checkpoint on their schedules."""
        run, last = self.config.run, self.step >= self.config.run.steps
        row = {}
        if self.step % run.log_every == 0 or last:
            loss_sum, epe_sum, count, wall, data = self._since_log
            steps = self.step - self._last_logged_step
            if count:
                row.update(train_loss=loss_sum / count, train_epe=epe_sum / count)
            row.update(step_s=wall / max(steps, 1), data_s=data / max(steps, 1))
            self._since_log, self._last_logged_step = [0.0, 0.0, 0, 0.0, 0.0], self.step
        if self.step % run.val_every == 0 or last:
            row.update(self._validation_row())
        if row:
            row.update(step=self.step, epoch=epoch, seconds=round(self.seconds, 2),
                       lr=self.optimizer.param_groups[0]["lr"])
            self.log.append(row)
            if "val_epe" in row:
                plot_log(self.log.path, self.out_dir / "loss.png", list(self.val_set), self.config.model.iterations)
        if self.step % run.ckpt_every == 0:
            save_checkpoint(self.out_dir / CHECKPOINT_NAME, self.checkpoint_state())

    def _finish(self, stop_reason: str) -> dict:
        save_checkpoint(self.out_dir / CHECKPOINT_NAME, self.checkpoint_state())
        if self.average:
            self.save_weights("final_raw", {"step": self.step, "weights": "the last step's own (not averaged)"})
        with self.evaluated_weights():
            final = self.save_weights("final", {"step": self.step})  # the card's training.ema_decay says which
        plot_log(self.log.path, self.out_dir / "loss.png", list(self.val_set), self.config.model.iterations)
        return {"step": self.step, "stop_reason": stop_reason, "wall_seconds": self.seconds,
                "best_val_epe": self.best_epe, "best_step": self.best_step, "final_weights": str(final),
                "best_weights": str(self.out_dir / "best.safetensors") if self.best_step is not None else None}


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False, train_data=None,
          val_set: dict | None = None, continue_from: str | Path | None = None) -> dict:
    """Build a :class:`Trainer` and run it; returns its summary."""
    return Trainer(config, out_dir, train_data=train_data, val_set=val_set, resume=resume,
                   continue_from=continue_from).fit()
