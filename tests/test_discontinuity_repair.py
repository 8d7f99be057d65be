"""Discontinuity repair of coarse-to-fine starts: candidate offsets, shifted fields, propagation."""

import numpy as np
import torch

from microflow.methods import discontinuity_repair as D
from microflow.methods.coarse_to_fine import gaussian_smooth
from microflow.synth.textures import TextureBank


def test_ring_offsets_lie_on_their_radii_in_every_direction():
    offsets = D.ring_offsets((8, 16), 8)
    assert len(offsets) == 16
    radii = np.hypot(*np.array(offsets).T)
    assert np.all(np.abs(radii[:8] - 8) < 0.6) and np.all(np.abs(radii[8:] - 16) < 0.6)   # rounded points
    assert (0, 8) in offsets and (-16, 0) in offsets


def test_shift_field_reads_the_field_at_the_offset_pixel():
    field = torch.arange(2 * 6 * 7, dtype=torch.float32).view(1, 2, 6, 7)
    shifted = D.shift_field(field, (2, -3))
    assert shifted[0, 1, 1, 4] == field[0, 1, 3, 1]
    assert shifted[0, 0, 5, 0] == field[0, 0, 5, 0]   # beyond the border: replicated
    assert D.shift_field(field, (0, 0)) is field


def _strike_slip_pair(size: int = 192, slip: int = 8):
    """pre, post (1, 1, H, W) and the true field: dy = +slip left of the middle column, -slip right
    (motion along the trace: no occlusion), normalized texture."""
    margin = slip + 2
    texture = TextureBank("test", "skimage", augment=False).sample(np.random.default_rng(4), size + 2 * margin, size)
    texture = (texture - texture.mean()) / texture.std()
    pre = texture[margin:margin + size]
    post = np.empty_like(pre)
    half = size // 2
    post[:, :half] = texture[margin - slip:margin - slip + size, :half]     # post(y) = pre(y - dy)
    post[:, half:] = texture[margin + slip:margin + slip + size, half:]
    truth = np.zeros((2, size, size), np.float32)
    truth[1, :, :half], truth[1, :, half:] = slip, -slip
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[None]
    return as_tensor(pre[None]), as_tensor(post[None]), as_tensor(truth), half


def test_propagation_restores_a_blurred_step_from_each_side():
    pre, post, truth, half = _strike_slip_pair()
    start = gaussian_smooth(truth, 16.0)                  # the halo of a coarse start
    repaired = D.propagate(pre, post, start)
    error = lambda f: (f - truth).norm(dim=1)[0]
    inner = slice(24, -24)
    cols = torch.arange(truth.shape[-1])
    halo = ((cols - half + 0.5).abs() > 9) & ((cols - half + 0.5).abs() < 30)
    before, after = error(start)[inner][:, halo].mean(), error(repaired)[inner][:, halo].mean()
    assert float(before) > 1.0 and float(after) < 0.4 * float(before)
    far = (cols - half + 0.5).abs() > 60
    assert float(error(repaired)[inner][:, far].mean()) <= float(error(start)[inner][:, far].mean()) + 1e-3


def test_steep_mask_marks_a_blurred_step_and_not_a_smooth_flow():
    step = torch.zeros(1, 2, 64, 64)
    step[:, 1, :, 32:] = 10.0
    mask = D.steep_mask(gaussian_smooth(step, 8.0), 0.1, 7)[0, 0]
    assert mask[:, 28:36].all() and not mask[:, :8].any() and not mask[:, -8:].any()
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0] = torch.linspace(0.0, 3.0, 64)            # 0.05 px per px: a glacier's strain
    assert not D.steep_mask(flow, 0.1, 7).any() and D.steep_mask(flow, 0.02, 7).all()


def test_a_steep_threshold_leaves_smooth_fields_alone_and_still_mends_the_step():
    pre, post, truth, half = _strike_slip_pair()
    start = gaussian_smooth(truth, 16.0)
    smooth = start.clone()
    smooth[:, 1] = torch.linspace(-1.0, 1.0, truth.shape[-1])   # 0.01 px per px, wrong but smooth
    torch.testing.assert_close(D.propagate(pre, post, smooth, steep=0.1), smooth)
    error = lambda f: float((f - truth).norm(dim=1)[0][24:-24].mean())
    assert error(D.propagate(pre, post, start, steep=0.1)) < 0.5 * error(start)


def test_flat_windows_keep_their_field():
    flat = torch.zeros(1, 1, 64, 64)
    field = torch.randn(1, 2, 64, 64)
    torch.testing.assert_close(D.propagate(flat, flat, field), field)


def test_default_microflow_mends_the_halo_of_a_large_strike_slip():
    from microflow.methods.coarse_to_fine import initial_field
    from microflow.methods.microflow import MicroFlowEstimator

    pre, post, truth, half = _strike_slip_pair(size=256, slip=10)
    est = MicroFlowEstimator("compact", threads=1)
    a, b = (torch.from_numpy(est._normalized(img[0].numpy(), None)[:, None]) for img in (pre, post))
    with torch.inference_mode():
        unrepaired = est.net(a, b, init=initial_field(est.net, a, b, 32.0))[-1]
    flows, _ = est.predict_iterations(pre[0].numpy(), post[0].numpy())
    cols = torch.arange(truth.shape[-1])
    halo = ((cols - half + 0.5).abs() > 10) & ((cols - half + 0.5).abs() < 40)
    error = lambda f: float((torch.as_tensor(f) - truth).norm(dim=1)[0][32:-32][:, halo].mean())
    assert error(flows[-1]) < 0.5 * error(unrepaired)


def test_repair_touches_only_started_windows_whatever_the_batch():
    from microflow.model.microflow_net import build_microflow

    torch.manual_seed(5)
    net = build_microflow(width=4, iterations=2).eval()
    pre, post = torch.randn(3, 1, 48, 48), torch.randn(3, 1, 48, 48)
    with torch.inference_mode():
        flows = net(pre, post, init=torch.randn(3, 2, 48, 48))
        started = torch.tensor([False, True, False])
        batch = D.repair(net, pre, post, flows, started=started)
        alone = D.repair(net, pre[1:2], post[1:2], [f[1:2] for f in flows])
    for whole, single, original in zip(batch, alone, flows):
        torch.testing.assert_close(whole[[0, 2]], original[[0, 2]])
        torch.testing.assert_close(whole[1:2], single, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(whole[1], original[1])
