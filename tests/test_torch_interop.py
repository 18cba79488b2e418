"""minicnn.utils.from_torch_state_dict / to_torch_state_dict: a small CNN built the same way in
PyTorch and in minicnn (Conv2d, BatchNorm2d with running stats and num_batches_tracked, ReLU,
MaxPool2d, Flatten, Dropout, Linear) gives the same outputs, in eval and in train mode, after its
weights move either way; bad inputs raise errors that name the key. ``import minicnn`` never
imports torch.
"""
import subprocess
import sys

import numpy as np
import pytest

import minicnn
from minicnn.utils import from_torch_state_dict, to_torch_state_dict

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def make_net(nn, classes=5):
    """The same architecture in either library (``nn`` is torch.nn or minicnn.nn)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(4, 6, (3, 2), bias=False), nn.BatchNorm2d(6), nn.ReLU())
            self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(36, classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    return Net()


def trained_torch_net(torch, dtype):
    """A torch net whose every state entry differs from its initial value."""
    torch.manual_seed(0)
    net = make_net(torch.nn).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for _ in range(3):  # running stats and num_batches_tracked move
            net(torch.randn(4, 3, 8, 9, dtype=net.classifier[2].weight.dtype) * 2 + 1)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net


def inputs(dtype, seed=1):
    return np.random.default_rng(seed).standard_normal((3, 3, 8, 9)).astype(dtype)


def assert_states_equal(torch_sd, minicnn_sd):
    assert list(torch_sd) == list(minicnn_sd)
    for k, v in torch_sd.items():
        m = minicnn_sd[k].numpy()
        assert v.shape == m.shape and str(v.dtype).replace("torch.", "") == str(m.dtype), k
        np.testing.assert_array_equal(v.numpy(), m, err_msg=k)


def compare_outputs(torch, tnet, mnet, dtype, train):
    tnet.train(train)
    mnet.train(train)
    tnet.classifier[1].eval()  # dropout stays off: its masks are random in both libraries
    mnet.classifier[1].eval()
    x = inputs(dtype)
    with torch.no_grad():
        expected = tnet(torch.from_numpy(x)).numpy()
    with minicnn.no_grad():
        got = mnet(minicnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, **TOL[dtype])
    # in train mode both updated their running statistics from the batch
    sd = mnet.state_dict()
    for k, v in tnet.state_dict().items():
        np.testing.assert_allclose(sd[k].numpy(), v.numpy(), **TOL[dtype], err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("train", [False, True])
def test_torch_weights_give_the_same_outputs(torch, dtype, train):
    tnet = trained_torch_net(torch, dtype)
    mnet = make_net(minicnn.nn).to(dtype)
    result = from_torch_state_dict(mnet, tnet.state_dict())
    assert result == ([], [])
    assert_states_equal(tnet.state_dict(), mnet.state_dict())
    assert int(mnet.features[1].num_batches_tracked.item()) == 3
    compare_outputs(torch, tnet, mnet, dtype, train)


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_torch_weights_from_a_file(torch, tmp_path, suffix):
    tnet = trained_torch_net(torch, np.float32)
    path = tmp_path / ("model" + suffix)
    torch.save(tnet.state_dict(), path)
    mnet = make_net(minicnn.nn)
    assert from_torch_state_dict(mnet, str(path)) == ([], [])
    assert_states_equal(tnet.state_dict(), mnet.state_dict())
    compare_outputs(torch, tnet, mnet, np.float32, train=False)


def test_weights_from_safetensors_and_npz_files(torch, tmp_path):
    tnet = trained_torch_net(torch, np.float64)
    arrays = {k: v.numpy() for k, v in tnet.state_dict().items()}
    minicnn.save(arrays, tmp_path / "w.npz")  # a minicnn checkpoint
    np.savez(tmp_path / "plain.npz", **arrays)  # a plain numpy archive
    pytest.importorskip("safetensors.numpy").save_file(arrays, str(tmp_path / "w.safetensors"))
    for name in ("w.npz", "plain.npz", "w.safetensors"):
        mnet = make_net(minicnn.nn).double()
        from_torch_state_dict(mnet, tmp_path / name)
        assert_states_equal(tnet.state_dict(), mnet.state_dict())


def test_a_dict_of_numpy_arrays(torch):
    tnet = trained_torch_net(torch, np.float32)
    mnet = make_net(minicnn.nn)
    from_torch_state_dict(mnet, {k: v.numpy() for k, v in tnet.state_dict().items()})
    assert_states_equal(tnet.state_dict(), mnet.state_dict())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("train", [False, True])
def test_minicnn_weights_give_the_same_outputs_in_torch(torch, dtype, train):
    minicnn.manual_seed(3)
    mnet = make_net(minicnn.nn).to(dtype)
    with minicnn.no_grad():  # move the running statistics away from their start
        for seed in range(2):
            mnet(minicnn.tensor(inputs(dtype, seed + 10) * 3 + 2))
    sd = to_torch_state_dict(mnet)
    assert type(sd).__name__ == "OrderedDict" and all(isinstance(v, torch.Tensor)
                                                      for v in sd.values())
    assert_states_equal(sd, mnet.state_dict())
    tnet = make_net(torch.nn).to(torch.float64 if dtype == np.float64 else torch.float32)
    tnet.load_state_dict(sd)  # strict: same keys and shapes
    compare_outputs(torch, tnet, mnet, dtype, train)


def test_to_torch_state_dict_copies(torch):
    mnet = make_net(minicnn.nn)
    sd = to_torch_state_dict(mnet)
    before = sd["classifier.2.weight"].clone()
    with minicnn.no_grad():
        mnet.classifier[2].weight.fill_(7.0)
    assert torch.equal(sd["classifier.2.weight"], before)
    sd["features.0.bias"].zero_()  # writable, and not the model's memory
    assert not np.all(mnet.features[0].bias.detach().numpy() == 0)


def test_a_wrong_shape_names_the_key_and_both_shapes(torch):
    tnet = trained_torch_net(torch, np.float32)
    mnet = make_net(minicnn.nn, classes=7)
    before = mnet.features[0].weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for classifier\.2\.weight: copying a "
                                           r"param with shape \(5, 36\) from checkpoint, the "
                                           r"shape in current model is \(7, 36\)"):
        from_torch_state_dict(mnet, tnet.state_dict())
    np.testing.assert_array_equal(mnet.features[0].weight.detach().numpy(), before)  # untouched


def test_missing_and_unexpected_keys(torch):
    sd = trained_torch_net(torch, np.float32).state_dict()
    del sd["features.1.running_var"]
    sd["extra.weight"] = torch.ones(2)
    with pytest.raises(RuntimeError, match=r'(?s)Missing key\(s\) in state_dict: '
                                           r'"features\.1\.running_var".*Unexpected key\(s\) '
                                           r'in state_dict: "extra\.weight"'):
        from_torch_state_dict(make_net(minicnn.nn), sd)
    missing, unexpected = from_torch_state_dict(make_net(minicnn.nn), sd, strict=False)
    assert missing == ["features.1.running_var"] and unexpected == ["extra.weight"]


def test_bfloat16_weights(torch):
    tnet = trained_torch_net(torch, np.float32).to(torch.bfloat16)
    mnet = make_net(minicnn.nn)
    from_torch_state_dict(mnet, tnet.state_dict())
    np.testing.assert_array_equal(mnet.classifier[2].weight.detach().numpy(),
                                  tnet.classifier[2].weight.detach().float().numpy())


def test_bad_arguments(torch, tmp_path):
    mnet = make_net(minicnn.nn)
    sd = trained_torch_net(torch, np.float32).state_dict()
    with pytest.raises(TypeError, match=r"state_dict\['model'\] is not a tensor \(got "
                                        r"OrderedDict\); pass the state_dict inside it, e.g. "
                                        r"checkpoint\['model'\]"):
        from_torch_state_dict(mnet, {"model": sd, "epoch": 3})
    with pytest.raises(TypeError, match=r"state_dict\['x'\] is not a tensor \(got list\)"):
        from_torch_state_dict(mnet, {"x": [1, 2]})
    with pytest.raises(TypeError, match="expected a state_dict"):
        from_torch_state_dict(mnet, 42)
    with pytest.raises(ValueError, match=r"unknown file type '\.h5'"):
        from_torch_state_dict(mnet, tmp_path / "weights.h5")


def test_without_torch(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    mnet = make_net(minicnn.nn)
    with pytest.raises(ImportError, match="pip install torch"):
        to_torch_state_dict(mnet)
    # numpy weights need no torch
    sd = {k: v.numpy() for k, v in make_net(minicnn.nn).state_dict().items()}
    assert from_torch_state_dict(mnet, sd) == ([], [])
    # nor do .pt/.pth/.bin files (torch.save's format, read by minicnn.load)
    other = make_net(minicnn.nn)
    minicnn.save(other.state_dict(), tmp_path / "model.pt")
    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "model.pth").write_bytes(data)
    (tmp_path / "model.bin").write_bytes(data)
    for name in ("model.pt", "model.pth", "model.bin"):
        path = tmp_path / name
        mnet = make_net(minicnn.nn)
        assert from_torch_state_dict(mnet, path) == ([], [])
        for k, v in other.state_dict().items():
            np.testing.assert_array_equal(mnet.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def test_import_minicnn_does_not_import_torch():
    code = ("import sys, minicnn, minicnn.utils, minicnn.serialization; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
