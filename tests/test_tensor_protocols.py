"""The Python protocols and small conveniences PyTorch code relies on (issue 15, parts 2 and 6):
minicnn.Size, a tensor as an index and in f-strings, type()/type_as(), the axis= alias,
minicnn.accelerator, device objects and torch.backends' flags; each checked against torch."""
import numpy as np
import pytest

import minicnn

torch = pytest.importorskip("torch")


def both(values, **kwargs):
    return minicnn.tensor(values, **kwargs), torch.tensor(values, **kwargs)


# ------------------------------------------------------------------ Size


def test_size_is_a_tuple_that_prints_as_pytorch():
    m, t = minicnn.zeros(1, 10), torch.zeros(1, 10)
    assert isinstance(m.shape, minicnn.Size) and isinstance(m.shape, tuple)
    assert repr(m.shape) == str(m.shape) == "minicnn.Size([1, 10])"
    assert str(t.shape) == "torch.Size([1, 10])"
    assert m.shape == (1, 10) == m.size() and m.size(1) == 10 and m.size(-1) == 10
    assert isinstance(m.shape[1:], minicnn.Size) and m.shape[1:] == (10,)
    assert isinstance(m.shape[0], int)
    assert m.shape + (3,) == (1, 10, 3) and isinstance(m.shape + (3,), minicnn.Size)
    assert m.shape.numel() == t.shape.numel() == 10
    assert minicnn.Size([]).numel() == torch.Size([]).numel() == 1
    assert np.zeros(m.shape).shape == (1, 10)


# ------------------------------------------------------------------ conversions


def test_one_element_integer_tensor_as_an_index():
    items = ["a", "b", "c", "d"]
    for lib in (minicnn, torch):
        assert items[lib.tensor(2)] == "c"
        assert items[lib.tensor([1])] == "b"
        assert list(range(lib.tensor(3))) == [0, 1, 2]
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            items[lib.tensor(1.0)]
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            items[lib.tensor([1, 2])]


def test_int_float_bool_of_one_element_tensors():
    for lib in (minicnn, torch):
        assert int(lib.tensor([2.7])) == 2 and float(lib.tensor(3)) == 3.0
        assert bool(lib.tensor([0.0])) is False and bool(lib.tensor(2)) is True
        with pytest.raises(RuntimeError):
            bool(lib.tensor([1.0, 2.0]))


def test_format_spec_of_a_0d_tensor():
    for lib in (minicnn, torch):
        assert f"{lib.tensor(3.14159):.2f}" == "3.14"
        assert f"{lib.tensor(7):>4}" == "   7"
        assert f"{lib.tensor([1.0, 2.0])}".startswith("tensor(")
        with pytest.raises(TypeError):
            f"{lib.tensor([1.0, 2.0]):.2f}"


def test_type_and_type_as():
    m, t = both([1.5, -2.5])
    assert m.type() == "minicnn.FloatTensor" and t.type() == "torch.FloatTensor"
    assert minicnn.tensor([1, 2]).type() == "minicnn.LongTensor"
    assert minicnn.tensor([True]).type() == "minicnn.BoolTensor"
    assert m.double().type() == "minicnn.DoubleTensor"
    np.testing.assert_array_equal(m.type(minicnn.int64).numpy(), t.type(torch.int64).numpy())
    assert m.type("torch.LongTensor").dtype == minicnn.int64
    assert m.type("minicnn.DoubleTensor").dtype == minicnn.float64
    assert m.type_as(minicnn.zeros(1, dtype=minicnn.float64)).dtype == minicnn.float64
    with pytest.raises(ValueError, match="invalid type"):
        m.type("torch.ComplexTensor")
    assert m.int().dtype == minicnn.int32 and m.bool().dtype == minicnn.bool


def test_view_as_reshape_as_and_axis_alias():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 3, 4))
    m, t = minicnn.tensor(a), torch.tensor(a)
    assert m.view_as(minicnn.zeros(6, 4)).shape == t.view_as(torch.zeros(6, 4)).shape
    assert m.reshape_as(minicnn.zeros(4, 6)).shape == (4, 6)
    for name in ("sum", "mean", "argmax", "argmin", "amax", "amin", "std", "var"):
        np.testing.assert_allclose(getattr(m, name)(axis=1).numpy(),
                                   getattr(t, name)(axis=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.max(axis=2).values.numpy(), t.max(axis=2).values.numpy())
    with pytest.raises(TypeError, match="both dim and its alias axis"):
        m.sum(1, axis=1)


# ------------------------------------------------------------------ devices and accelerators


def test_accelerator_answers_as_pytorch_without_a_gpu():
    if minicnn.cuda.is_available():
        assert minicnn.accelerator.current_accelerator() == minicnn.device("cuda")
        assert minicnn.accelerator.device_count() == 1
        return
    acc = minicnn.accelerator
    assert acc.is_available() is False and acc.current_accelerator() is None
    assert acc.current_accelerator(check_available=True) is None
    assert acc.device_count() == 0
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is "
                                           "available"):
        acc.current_device_index()
    with pytest.raises(RuntimeError, match="none is available"):
        acc.synchronize()


def test_the_official_examples_device_choice_runs():
    for lib in (minicnn, torch):
        device = (lib.accelerator.current_accelerator() if lib.accelerator.is_available()
                  else lib.device("cpu"))
        x = lib.ones(2).to(device)
        assert x.device.type == device.type


def test_device_objects():
    for lib in (minicnn, torch):
        d = lib.device("cpu")
        assert (d.type, d.index, str(d), repr(d)) == ("cpu", None, "cpu", "device(type='cpu')")
        assert lib.device(type="cpu") == d and hash(lib.device("cpu")) == hash(d)
        assert lib.ones(1).device == d
    with minicnn.device("numpy"):
        assert minicnn.ones(2).device == minicnn.device("numpy")
    assert minicnn.ones(2).device == minicnn.device("cpu")


def test_backends_flags_accept_assignment():
    import minicnn.backends.cudnn as cudnn

    cudnn.benchmark = True
    cudnn.deterministic = True
    assert minicnn.backends.cudnn.benchmark is True
    assert cudnn.is_available() is False
    assert minicnn.backends.mps.is_available() is False and not minicnn.backends.mps.is_built()
    cudnn.benchmark = cudnn.deterministic = False


def test_builtin_abs():
    x = minicnn.tensor([-1.5, 2.0], requires_grad=True)
    y = abs(x)
    y.sum().backward()
    t = torch.tensor([-1.5, 2.0], requires_grad=True)
    abs(t).sum().backward()
    assert y.tolist() == abs(t).tolist() and y.grad_fn.name() == "AbsBackward"
    assert x.grad.tolist() == t.grad.tolist()
