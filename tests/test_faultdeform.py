import numpy as np

from microflow.synth.faultdeform import Sample, list_samples, read_sample, write_sample


def test_roundtrip_keeps_internal_convention(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(2, 8, 9)).astype(np.float32)
    mask = np.zeros((8, 9), bool)
    mask[:, 4] = True
    s = Sample(rng.uniform(0, 1000, (8, 9)), rng.uniform(0, 1000, (8, 9)), flow, 2, mask, {"slip": 1.5}, 7)
    path = write_sample(tmp_path, "test", s)
    assert path.name == "000007_2_sample.npy.npz"
    with np.load(path) as z:
        np.testing.assert_array_equal(z["float_array_1"], flow[0])   # EW = dx
        np.testing.assert_array_equal(z["float_array_2"], -flow[1])  # NS = -dy (+north)
    back = read_sample(path)
    np.testing.assert_array_equal(back.flow, flow)
    assert back.category == 2 and back.params == {"slip": 1.5} and back.fault_mask[:, 4].all()
    assert list_samples(tmp_path, "test", categories=(0, 1)) == []
    assert read_sample(path, ns_positive_down=True).flow[1].tolist() == (-flow[1]).tolist()
