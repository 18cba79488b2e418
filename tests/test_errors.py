"""Bad input gives a clear error of the right type, naming the shapes, dtypes or devices
involved."""
import re

import numpy as np
import pytest

import minicnn
from minicnn.nn import functional as F


def t32(*shape):
    return minicnn.tensor(np.ones(shape, dtype=np.float32))


def t64(*shape):
    return minicnn.tensor(np.ones(shape, dtype=np.float64))


def esc(shape):
    return re.escape(str(tuple(shape)))


# ---------------------------------------------------------------- dtypes

MIXED_DTYPE_OPS = [
    ("add", lambda a, b: a + b, (2, 3), (3,)),
    ("sub", lambda a, b: a - b, (2, 3), (3,)),
    ("mul", lambda a, b: a * b, (2, 3), (3,)),
    ("div", lambda a, b: a / b, (2, 3), (3,)),
    ("matmul", lambda a, b: a @ b, (2, 3), (3, 4)),
    ("cat", lambda a, b: minicnn.cat([a, b]), (2, 3), (1, 3)),
    ("stack", lambda a, b: minicnn.stack([a, b]), (2, 3), (2, 3)),
]


@pytest.mark.parametrize("name, op, sa, sb", MIXED_DTYPE_OPS, ids=[r[0] for r in MIXED_DTYPE_OPS])
@pytest.mark.parametrize("order", ["f32-f64", "f64-f32"])
def test_mixing_float32_and_float64_raises_type_error(name, op, sa, sb, order):
    if order == "f32-f64":
        a, b, first, second = t32(*sa), t64(*sb), "float32", "float64"
    else:
        a, b, first, second = t64(*sa), t32(*sb), "float64", "float32"
    pattern = f"{first}.*{esc(sa)}.*{second}.*{esc(sb)}"
    with pytest.raises(TypeError, match=pattern):
        op(a, b)


def test_mixing_float32_tensor_and_float64_ndarray_raises():
    with pytest.raises(TypeError, match="float32.*float64"):
        t32(2, 3) + np.ones((2, 3))
    with pytest.raises(TypeError, match="float64.*float32"):
        np.ones((2, 3)) * t32(2, 3)  # the ndarray defers to the tensor's reflected operator


def test_python_scalars_take_the_tensor_dtype():
    # the control for the tests above: scalars are not a dtype mix
    assert (t32(2) + 1.5).dtype == minicnn.float32
    assert (2 * t32(2)).dtype == minicnn.float32
    assert (t64(2) * 0.5).dtype == minicnn.float64


def test_mixed_dtype_error_leaves_no_graph():
    a = minicnn.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError):
        a * t64(3)
    assert a.grad is None


# ---------------------------------------------------------------- devices

def on_numpy(*shape, dtype=np.float32):
    return minicnn.tensor(np.ones(shape, dtype=dtype), device="numpy")


MIXED_DEVICE_OPS = [
    ("add", lambda a, b: a + b, (2, 3), (2, 3)),
    ("mul", lambda a, b: a * b, (2, 3), (3,)),
    ("matmul", lambda a, b: a @ b, (2, 3), (3, 2)),
    ("cat", lambda a, b: minicnn.cat([a, b], dim=1), (2, 3), (2, 1)),
    ("eq", lambda a, b: a == b, (2, 3), (2, 3)),
]


@pytest.mark.parametrize("name, op, sa, sb", MIXED_DEVICE_OPS, ids=[r[0] for r in MIXED_DEVICE_OPS])
def test_mixing_devices_raises_runtime_error(name, op, sa, sb):
    with pytest.raises(RuntimeError, match=f"cpu.*{esc(sa)}.*numpy.*{esc(sb)}"):
        op(t32(*sa), on_numpy(*sb))
    with pytest.raises(RuntimeError, match=f"numpy.*{esc(sa)}.*cpu.*{esc(sb)}"):
        op(on_numpy(*sa), t32(*sb))


def test_numpy_device_tensor_reports_its_device():
    x = on_numpy(2)
    assert x.device.type == "numpy" and str(x.device) == "numpy"
    assert (x + 1.0).device.type == "numpy"
    assert (x + on_numpy(2)).device == minicnn.device("numpy")


def test_unknown_device_raises_value_error():
    with pytest.raises(ValueError, match="tpu"):
        minicnn.device("tpu")
    with pytest.raises(ValueError, match="tpu"):
        minicnn.tensor([1.0], device="tpu")
    with pytest.raises(TypeError):
        minicnn.device(3.0)
    if not minicnn.cuda.is_available():  # device(3) is cuda:3, as in PyTorch
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            minicnn.device(3)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_device_raises_runtime_error_when_unavailable(name):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        minicnn.device(name)


def test_tensor_to_cuda_raises_runtime_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        t32(2).to("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        t32(2).cuda()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        minicnn.zeros(2, device="cuda")


@pytest.mark.skipif(minicnn.cuda.is_available(), reason="a GPU and driver are present")
def test_cuda_is_available_is_false_and_safe():
    assert minicnn.cuda.is_available() is False
    assert isinstance(minicnn.cuda.unavailable_reason(), str) and minicnn.cuda.unavailable_reason()


# ---------------------------------------------------------------- matmul

@pytest.mark.parametrize("sa, sb", [
    ((2, 3), (4, 5)),
    ((3,), (4,)),
    ((2, 3), (4,)),
    ((5,), (4, 2)),
    ((7, 2, 3), (7, 4, 2)),
])
def test_matmul_inner_dim_mismatch_names_both_shapes(sa, sb):
    with pytest.raises(ValueError, match=f"{esc(sa)}.*{esc(sb)}"):
        t32(*sa) @ t32(*sb)
    with pytest.raises(ValueError, match=f"{esc(sa)}.*{esc(sb)}"):
        minicnn.matmul(t32(*sa), t32(*sb))


def test_matmul_batch_dims_not_broadcastable():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(3, 4, 5\)"):
        t32(2, 3, 4) @ t32(3, 4, 5)


@pytest.mark.parametrize("sa, sb", [((), (3,)), ((3,), ()), ((), ())])
def test_matmul_zero_dim_raises(sa, sb):
    with pytest.raises(ValueError, match="dimension"):
        t32(*sa) @ t32(*sb)


# ---------------------------------------------------------------- broadcasting and shapes

@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a ** b,
], ids=["add", "sub", "mul", "div", "pow"])
def test_non_broadcastable_names_shapes(op):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        op(t32(2, 3), t32(4))
    with pytest.raises(ValueError, match=r"\(5, 1, 3\).*\(2, 4\)"):
        op(t32(5, 1, 3), t32(2, 4))


def test_non_broadcastable_comparison():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        t32(2, 3) < t32(4)


@pytest.mark.parametrize("shape", [(4, 2), (7,), (2, -1, 4), (-1, -1)])
def test_reshape_to_wrong_size_raises(shape):
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        t32(2, 3).reshape(*shape)
    with pytest.raises(ValueError):
        t32(2, 3).view(shape)


def test_cat_mismatched_shapes_raises():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 2\)"):
        minicnn.cat([t32(2, 3), t32(2, 2)], dim=0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        minicnn.cat([t32(2, 3), t32(3)])
    minicnn.cat([t32(2, 3), t32(2, 2)], dim=1)  # fine along the differing dimension


def test_stack_mismatched_shapes_raises():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        minicnn.stack([t32(2, 3), t32(3, 2)])
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3, 1\)"):
        minicnn.stack([t32(2, 3), t32(2, 3), t32(2, 3, 1)])


@pytest.mark.parametrize("fn", [minicnn.cat, minicnn.stack], ids=["cat", "stack"])
def test_cat_stack_empty_list_raises(fn):
    with pytest.raises(ValueError, match="non-empty"):
        fn([])
    with pytest.raises(ValueError, match="non-empty"):
        fn(())


@pytest.mark.parametrize("fn", [minicnn.cat, minicnn.stack], ids=["cat", "stack"])
def test_cat_stack_non_tensor_raises(fn):
    with pytest.raises(TypeError):
        fn(t32(2, 3))  # a tensor, not a list of them
    with pytest.raises(TypeError, match="element 1"):
        fn([t32(2), np.ones(2, np.float32)])


@pytest.mark.parametrize("dims", [(0, 0, 1), (0, 1), (1, 2, 2), (2, 1, 0, 0)])
def test_permute_non_permutation_raises(dims):
    with pytest.raises(ValueError, match=r"permut.*\(2, 3, 4\)"):
        t32(2, 3, 4).permute(*dims)


def test_permute_dim_out_of_range_raises():
    with pytest.raises(IndexError, match="out of range"):
        t32(2, 3, 4).permute(0, 1, 3)


@pytest.mark.parametrize("target", [(4, 3), (2, 4), (3,), (5, 2, 4)])
def test_expand_incompatible_raises(target):
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\)"):
        t32(2, 3).expand(*target)


def test_expand_new_leading_minus_one_raises():
    with pytest.raises(ValueError, match="-1"):
        t32(3).expand(-1, 3)


DIM_OPS = [
    ("sum", lambda x: x.sum(dim=3)),
    ("sum-neg", lambda x: x.sum(dim=-4)),
    ("sum-tuple", lambda x: x.sum(dim=(0, 5))),
    ("mean", lambda x: x.mean(dim=3)),
    ("max", lambda x: x.max(dim=3)),
    ("argmax", lambda x: x.argmax(dim=-4)),
    ("softmax", lambda x: x.softmax(3)),
    ("log_softmax", lambda x: x.log_softmax(-4)),
    ("unsqueeze", lambda x: x.unsqueeze(4)),
    ("squeeze", lambda x: x.squeeze(3)),
    ("transpose", lambda x: x.transpose(0, 3)),
    ("flatten", lambda x: x.flatten(3)),
    ("cat", lambda x: minicnn.cat([x, x], dim=3)),
    ("stack", lambda x: minicnn.stack([x, x], dim=4)),
    ("var", lambda x: x.var(dim=3)),
]


@pytest.mark.parametrize("name, op", DIM_OPS, ids=[r[0] for r in DIM_OPS])
def test_dim_out_of_range_raises_index_error(name, op):
    with pytest.raises(IndexError, match=r"out of range.*\[-3, 2\]|out of range.*\[-4, 3\]"):
        op(t32(2, 3, 4))


def test_dim_out_of_range_matches_torch_error_type(torch):
    with pytest.raises(IndexError):
        torch.ones(2, 3, 4).sum(dim=3)
    with pytest.raises(IndexError):
        t32(2, 3, 4).sum(dim=3)


def test_dim_named_twice_raises():
    with pytest.raises(ValueError, match="twice"):
        t32(2, 3).sum(dim=(1, -1))


# ---------------------------------------------------------------- pad

@pytest.mark.parametrize("pad", [(1,), (1, 2, 3), (1, 1, 1, 1, 1, 1)])
def test_pad_bad_length_raises(pad):
    with pytest.raises(ValueError, match=r"pad.*\(2, 3\)"):
        F.pad(t32(2, 3), pad)


@pytest.mark.parametrize("pad", [(3, 0), (0, 3), (4, 4), (1, 5)])
def test_reflect_pad_not_smaller_than_size_raises(pad):
    with pytest.raises(ValueError, match=r"reflect.*size 3"):
        F.pad(t32(2, 3), pad, mode="reflect")
    F.pad(t32(2, 3), (2, 2), mode="reflect")  # the largest legal reflect pad


def test_circular_pad_larger_than_size_raises():
    with pytest.raises(ValueError, match="circular"):
        F.pad(t32(2, 3), (4, 0), mode="circular")


@pytest.mark.parametrize("mode", ["bogus", "zeros", "Reflect", ""])
def test_pad_unknown_mode_raises(mode):
    with pytest.raises(ValueError, match="mode"):
        F.pad(t32(2, 3), (1, 1), mode=mode)


def test_constant_pad_negative_size_raises():
    with pytest.raises(ValueError, match="negative"):
        F.pad(t32(2, 3), (-2, -2))


# ---------------------------------------------------------------- activations at Tensor level

@pytest.mark.parametrize("approximate", ["bogus", "Tanh", None])
def test_gelu_bad_approximate_raises(approximate):
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(t32(3), approximate=approximate)


def test_bias_add_wrong_bias_raises():
    from minicnn.ops import bias_add

    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(4,\)"):
        bias_add(t32(2, 3, 4), t32(4))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        bias_add(t32(3), t32(3))


def test_clamp_without_bounds_raises():
    with pytest.raises(ValueError, match="min"):
        t32(3).clamp()


def test_hardtanh_inverted_bounds_raise():
    with pytest.raises(ValueError, match=r"min_val \(2.0\) must be <= max_val \(1.0\)"):
        minicnn.nn.functional.hardtanh(t32(3), 2.0, 1.0)


# ---------------------------------------------------------------- construction and scalars

@pytest.mark.parametrize("data", ["abc", ["a", "b"], [1, "a"], None, {"a": 1}, object(),
                                  np.array([1 + 2j])])
def test_tensor_from_non_numeric_raises_type_error(data):
    with pytest.raises(TypeError, match="tensor"):
        minicnn.tensor(data)


def test_ragged_nested_list_raises():
    with pytest.raises(ValueError):
        minicnn.tensor([[1.0, 2.0], [3.0]])


def test_bad_dtype_name_raises_type_error():
    with pytest.raises(TypeError, match="dtype"):
        minicnn.zeros(2, dtype="bogus")


def test_item_of_many_elements_raises():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t32(2, 3).item()


def test_truth_value_of_many_elements_raises():
    with pytest.raises(RuntimeError, match=r"\(3,\).*ambiguous"):
        bool(t32(3))


def test_len_of_zero_dim_raises():
    with pytest.raises(TypeError, match="0-d"):
        len(t32())


def test_index_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        t32(2, 3)[5]


def test_in_place_on_requires_grad_raises():
    x = minicnn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad .* in-place"):
        x.zero_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad .* in-place"):
        x[0] = 3.0
    with minicnn.no_grad():
        x.zero_()
    assert x.detach().numpy().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("n", [0, -1, -8])
def test_set_num_threads_rejects_non_positive(n):
    before = minicnn.get_num_threads()
    with pytest.raises(ValueError, match=f"got {n}"):
        minicnn.set_num_threads(n)
    assert minicnn.get_num_threads() == before


def test_manual_seed_rejects_negative():
    with pytest.raises(ValueError, match="seed"):
        minicnn.manual_seed(-1)
