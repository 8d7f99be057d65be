import csv
import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage import data as skdata

from microflow.errors import ParameterError
from microflow.model.weights import read_weights
from microflow.model.warp import warp_backward
from microflow.synth.shift import fourier_shift
from microflow.training.augment import flip_columns, flip_rows, random_crop
from microflow.training.config import load_config
from microflow.training.data import build_validation_set, epoch_batches
from microflow.training.trainer import Trainer
from microflow.training.weight_average import WeightAverage


class TinyShiftPairs:
    """Sample dicts like SyntheticPairs: grass texture crops, constant sub-pixel shift per sample."""

    def __init__(self, length=16, size=48, seed=0):
        self.texture = skdata.grass().astype(np.float64)
        self.length, self.size, self.seed = length, size, seed

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, i])
        top, left = rng.integers(0, 512 - self.size, 2)
        pre = self.texture[top:top + self.size, left:left + self.size]
        category = i % 3
        dx, dy = rng.uniform(-1, 1, 2) * (0.2, 0.6, 1.5)[category]
        post = fourier_shift(pre, dx, dy) * 1.1 + 5.0
        flow = np.stack([np.full(pre.shape, dx), np.full(pre.shape, dy)]).astype(np.float32)
        return {"pre": pre.astype(np.float32), "post": post.astype(np.float32), "flow": flow,
                "category": category, "fault_mask": np.zeros(pre.shape, bool)}


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """Tiny models run on one thread (the trainer sets it process-wide); restore it afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def tiny_config(tmp_path, *extra):
    overrides = ["model.width=4", "model.iterations=2", "data.crop=32", "data.size=48", "data.train_length=16",
                 "run.batch_size=4", "run.steps=6", "run.val_every=3", "run.ckpt_every=2", "run.log_every=1",
                 "run.progress=false", "run.threads=1", "optim.lr=1e-3", *extra]
    return load_config(None, overrides)


def tiny_val_set():
    raw = TinyShiftPairs(length=6, seed=99)
    return build_validation_set({0: [raw[0], raw[3]], 2: [raw[2], raw[5]]}, 32, 2, "robust")


def warp_error(sample):
    pre = torch.from_numpy(sample["pre"].astype(np.float32))[None, None]
    post = torch.from_numpy(sample["post"].astype(np.float32))[None, None]
    warped = warp_backward(post, torch.from_numpy(sample["flow"])[None], "bicubic")
    return float((warped - pre)[..., 8:-8, 8:-8].abs().mean() / pre.std())


def test_flips_keep_the_warp_relation():
    size = 64
    pre = gaussian_filter(skdata.grass()[:size, :size].astype(np.float64), 2.0)
    dx, dy = 1.7, -0.9
    flow = np.stack([np.full((size, size), dx), np.full((size, size), dy)]).astype(np.float32)
    sample = {"pre": pre, "post": fourier_shift(pre, dx, dy), "flow": flow, "category": 1, "fault_mask": None}
    assert warp_error(sample) < 0.05
    for flipped in (flip_columns(sample), flip_rows(sample), flip_rows(flip_columns(sample))):
        assert warp_error(flipped) < 0.05
    assert flip_columns(sample)["flow"][0].mean() == pytest.approx(-dx)
    assert flip_columns(sample)["flow"][1].mean() == pytest.approx(dy)
    assert flip_rows(sample)["flow"][1].mean() == pytest.approx(-dy)
    wrong = dict(flip_columns(sample), flow=flow)  # flipped images with the unflipped field
    assert warp_error(wrong) > 4 * warp_error(flip_columns(sample))


def test_random_crop_and_batches_are_deterministic():
    sample = TinyShiftPairs()[0]
    a = random_crop(sample, 32, np.random.default_rng(3))
    b = random_crop(sample, 32, np.random.default_rng(3))
    assert a["pre"].shape == (32, 32) and a["flow"].shape == (2, 32, 32)
    np.testing.assert_array_equal(a["pre"], b["pre"])
    batches = epoch_batches(10, 4, seed=1, epoch=0)
    assert len(batches) == 2 and len(set(sum(batches, []))) == 8
    assert batches == epoch_batches(10, 4, seed=1, epoch=0) != epoch_batches(10, 4, seed=1, epoch=1)


def test_config_overrides_and_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {width: 8}\noptim: {lr: 1e-4}\n")
    config = load_config(path, ["run.steps=12", "data.categories=[0, 2]"])
    assert (config.model.width, config.optim.lr, config.run.steps, config.data.categories) == (8, 1e-4, 12, [0, 2])
    with pytest.raises(ParameterError, match="unknown key"):
        load_config(path, ["model.widht=8"])
    with pytest.raises(ParameterError, match="crop"):
        load_config(path, ["data.crop=40"])


def test_trainer_trains_checkpoints_resumes_and_saves_weights(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(tmp_path)
    trainer = Trainer(config, tmp_path / "run", train_data=TinyShiftPairs(), val_set=tiny_val_set())
    initial = trainer.validate()
    summary = trainer.fit()
    assert summary["step"] == 6 and summary["stop_reason"] == "steps"
    run = tmp_path / "run"
    for name in ("checkpoint.pt", "log.csv", "loss.png", "best.safetensors", "best.json", "best.md",
                 "final.safetensors", "config.yaml"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[2]["val_epe_c2_k2"] != "" and rows[1]["val_epe"] == ""
    trained = trainer.validate()
    assert trained[2][-1] != initial[2][-1]
    card = json.loads((run / "best.json").read_text())
    assert card["config"]["model"]["width"] == 4 and len(card["sha256"]) == 64
    assert set(card["metrics"]["epe_per_category"]) == {"0", "2"}

    longer = tiny_config(tmp_path, "run.steps=8")
    resumed = Trainer(longer, run, train_data=TinyShiftPairs(), val_set=tiny_val_set(), resume=True)
    assert resumed.step == 6
    for a, b in zip(resumed.net.parameters(), trainer.net.parameters()):
        torch.testing.assert_close(a, b)
    assert resumed.fit()["step"] == 8
    assert [int(r["step"]) for r in csv.DictReader((run / "log.csv").open())][-3:] == [6, 7, 8]


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight = Trainer(tiny_config(tmp_path, "run.steps=4"), tmp_path / "a", train_data=TinyShiftPairs(),
                       val_set=tiny_val_set())
    straight.fit()
    first = Trainer(tiny_config(tmp_path, "run.steps=2"), tmp_path / "b", train_data=TinyShiftPairs(),
                    val_set=tiny_val_set())
    first.fit()
    second = Trainer(tiny_config(tmp_path, "run.steps=4"), tmp_path / "b", train_data=TinyShiftPairs(),
                     val_set=tiny_val_set(), resume=True)
    second.fit()
    for a, b in zip(straight.net.parameters(), second.net.parameters()):
        torch.testing.assert_close(a, b)


def test_time_budget_stops_cleanly(tmp_path):
    summary = Trainer(tiny_config(tmp_path, "run.max_minutes=1e-6", "run.steps=100"), tmp_path / "t",
                      train_data=TinyShiftPairs(), val_set=tiny_val_set()).fit()
    assert summary["stop_reason"] == "time budget" and summary["step"] == 1
    assert (tmp_path / "t" / "checkpoint.pt").is_file()


def test_lr_schedules():
    from microflow.training.config import OptimConfig
    from microflow.training.trainer import lr_factor

    step = OptimConfig(schedule="step", lr_step=10, lr_decay=0.5)
    assert [lr_factor(s, step, 100) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cosine = OptimConfig(schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, cosine, 100) == 1.0 and lr_factor(100, cosine, 100) == pytest.approx(0.1)
    assert lr_factor(50, cosine, 100) == pytest.approx(0.55)
    warm = OptimConfig(schedule="cosine", min_lr_ratio=0.1, warmup_steps=4)
    assert [lr_factor(s, warm, 100) for s in (0, 1, 3)] == pytest.approx(
        [0.25, 0.5 * lr_factor(1, cosine, 100), lr_factor(3, cosine, 100)])
    assert lr_factor(50, warm, 100) == lr_factor(50, cosine, 100)


def test_warm_start_copies_weights_and_checks_the_architecture(tmp_path):
    first = Trainer(tiny_config(tmp_path, "run.steps=2"), tmp_path / "a", train_data=TinyShiftPairs(),
                    val_set=tiny_val_set())
    first.fit()
    weights = tmp_path / "a" / "final.safetensors"
    warm = Trainer(tiny_config(tmp_path, f"model.init={weights}"), tmp_path / "b", train_data=TinyShiftPairs(),
                   val_set=tiny_val_set())
    for a, b in zip(warm.net.parameters(), first.net.parameters()):
        torch.testing.assert_close(a, b)
    assert warm.step == 0  # a new run: fresh optimizer and schedule
    cold = Trainer(tiny_config(tmp_path), tmp_path / "c", train_data=TinyShiftPairs(), val_set=tiny_val_set())
    assert any(not torch.equal(a, b) for a, b in zip(cold.net.parameters(), first.net.parameters()))
    with pytest.raises(ParameterError, match="model.init"):
        Trainer(tiny_config(tmp_path, f"model.init={weights}", "model.width=8"), tmp_path / "d",
                train_data=TinyShiftPairs(), val_set=tiny_val_set())


class SigtermAt(TinyShiftPairs):
    """Sends SIGTERM to this process when item ``index`` is drawn (a scheduler stopping the job); with
    ``group``, drawn in a DataLoader worker, to the worker and to the main process (a signal to the whole
    process group)."""

    def __init__(self, index, group=False):
        super().__init__()
        self.index, self.group = index, group

    def __getitem__(self, i):
        if i == self.index:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)
            if self.group:
                os.kill(os.getppid(), signal.SIGTERM)
        return super().__getitem__(i)


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path):
    first_batch = epoch_batches(16, 4, seed=1, epoch=0)[0]
    trainer = Trainer(tiny_config(tmp_path, "run.steps=50"), tmp_path / "s", train_data=SigtermAt(first_batch[0]),
                      val_set=tiny_val_set())
    summary = trainer.fit()
    assert summary["stop_reason"] == "sigterm" and summary["step"] == 1
    assert Trainer(tiny_config(tmp_path, "run.steps=50"), tmp_path / "s", train_data=TinyShiftPairs(),
                   val_set=tiny_val_set(), resume=True).step == 1


def test_sigterm_to_the_process_group_spares_the_workers_and_saves_a_checkpoint(tmp_path):
    first_batch = epoch_batches(16, 4, seed=1, epoch=0)[0]
    trainer = Trainer(tiny_config(tmp_path, "run.steps=50", "data.num_workers=1"), tmp_path / "g",
                      train_data=SigtermAt(first_batch[0], group=True), val_set=tiny_val_set())
    summary = trainer.fit()
    assert summary["stop_reason"] == "sigterm" and summary["step"] >= 1
    assert (tmp_path / "g" / "checkpoint.pt").is_file()


def test_microflow_train_cli_end_to_end(tmp_path):
    """`microflow train` on on-the-fly synthetic pairs (scikit-image texture), resume, then estimate."""
    from microflow.cli.main import main
    from microflow.methods.microflow import TILING_WINDOW, MicroFlowEstimator

    config = tmp_path / "tiny.yaml"
    config.write_text("model: {width: 4, iterations: 2}\n"
                      "data: {size: 48, crop: 32, train_length: 8, texture: skimage, val_per_category: 2}\n"
                      "run: {steps: 3, batch_size: 4, val_every: 3, ckpt_every: 2, threads: 1}\n")
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--quiet"]) == 0
    assert main(["train", "--config", str(config), "--out", str(run), "--quiet"]) == 2  # refuses to overwrite
    assert main(["train", "--out", str(run), "--resume", "--quiet", "--set", "run.steps=5"]) == 0
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert int(rows[-1]["step"]) == 5 and rows[-1]["val_epe_c1_k2"] != ""
    estimator = MicroFlowEstimator(run / "best.safetensors", device="cpu")
    assert estimator.loaded.window == 32 and estimator.preferred_window == TILING_WINDOW
    rng = np.random.default_rng(0)
    out = estimator.predict(rng.normal(size=(1, 40, 40)), rng.normal(size=(1, 40, 40)))
    assert out.shape == (1, 3, 40, 40) and np.isfinite(out).all()


def test_weight_average_is_an_exponential_moving_average():
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
        net.bias.fill_(0.0)
    average = WeightAverage(net, 0.75)
    with torch.no_grad():
        net.weight.fill_(4.0)
    average.update(net)                      # 0.75 * 0 + 0.25 * 4
    torch.testing.assert_close(average.state["weight"], torch.full((1, 2), 1.0))
    average.update(net)                      # 0.75 * 1 + 0.25 * 4
    torch.testing.assert_close(average.state["weight"], torch.full((1, 2), 1.75))
    with average.swapped_into(net):
        torch.testing.assert_close(net.weight, torch.full((1, 2), 1.75))
    torch.testing.assert_close(net.weight, torch.full((1, 2), 4.0))
    with pytest.raises(ValueError):
        WeightAverage(net, 1.0)


def test_trainer_with_weight_average_ships_the_average_and_resumes_it(tmp_path):
    run = tmp_path / "ema"
    trainer = Trainer(tiny_config(tmp_path, "optim.ema_decay=0.5", "run.steps=4"), run,
                      train_data=TinyShiftPairs(), val_set=tiny_val_set())
    trainer.fit()
    final, _ = read_weights(run / "final.safetensors")
    raw, _ = read_weights(run / "final_raw.safetensors")
    for key, value in trainer.average.state.items():
        torch.testing.assert_close(final[key], value.contiguous())
        torch.testing.assert_close(raw[key], trainer.net.state_dict()[key].contiguous())
    assert any(not torch.equal(final[k], raw[k]) for k in final)
    resumed = Trainer(tiny_config(tmp_path, "optim.ema_decay=0.5", "run.steps=5"), run,
                      train_data=TinyShiftPairs(), val_set=tiny_val_set(), resume=True)
    for key, value in trainer.average.state.items():
        torch.testing.assert_close(resumed.average.state[key], value)


def test_snapshot_script_reads_the_average_or_the_raw_weights_of_a_run(tmp_path, repo_script):
    script = repo_script("snapshot_weights")
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(tmp_path, "optim.ema_decay=0.5", "run.steps=2"), run,
                      train_data=TinyShiftPairs(), val_set=tiny_val_set())
    trainer.fit()
    assert script.main([str(run), str(tmp_path / "avg.safetensors")]) == 0
    assert script.main([str(run), str(tmp_path / "raw.safetensors"), "--raw"]) == 0
    for name, expected in (("avg", trainer.average.state), ("raw", trainer.net.state_dict())):
        state, _ = read_weights(tmp_path / f"{name}.safetensors")
        for key, value in expected.items():
            torch.testing.assert_close(state[key], value.contiguous())
    assert json.loads((tmp_path / "avg.json").read_text())["training"]["steps"] == 2
    assert script.main([str(tmp_path / "nowhere"), str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()


def test_continue_from_saved_weights_restores_weights_average_step_schedule_and_log(tmp_path):
    from microflow.training.trainer import lr_factor
    run = tmp_path / "lost"
    first = Trainer(tiny_config(tmp_path, "optim.ema_decay=0.5", "run.steps=4", "optim.schedule=cosine"), run,
                    train_data=TinyShiftPairs(), val_set=tiny_val_set())
    first.fit()
    (run / "checkpoint.pt").unlink()  # the cache is gone: only the shipped files remain
    config = tiny_config(tmp_path, "optim.ema_decay=0.5", "run.steps=6", "optim.schedule=cosine")
    again = Trainer(config, tmp_path / "again", train_data=TinyShiftPairs(), val_set=tiny_val_set(),
                    continue_from=run / "final.safetensors")
    assert again.step == 4
    for key, value in first.net.state_dict().items():
        torch.testing.assert_close(again.net.state_dict()[key], value)
        torch.testing.assert_close(again.average.state[key], first.average.state[key])
    expected = config.optim.lr * lr_factor(4, config.optim, 6)
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert again.fit()["step"] == 6
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "again" / "log.csv").open())]
    assert steps == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ParameterError, match="exclude"):
        Trainer(config, tmp_path / "x", train_data=TinyShiftPairs(), val_set=tiny_val_set(), resume=True,
                continue_from=run / "final.safetensors")
    from microflow.errors import InputError
    with pytest.raises(InputError, match="card"):
        Trainer(config, tmp_path / "y", train_data=TinyShiftPairs(), val_set=tiny_val_set(),
                continue_from=tmp_path / "missing.safetensors")
