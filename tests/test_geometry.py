"""minicnn.geometry: the one parser of int-or-pair arguments, 'same'/'valid' padding, output
sizes and their errors, and the promise it exists for: a layer and its function (nn.Conv2d and
F.conv2d, nn.MaxPool2d and F.max_pool2d, ...) raise the same exception type for the same
mistake, the type PyTorch raises (checked against PyTorch when it is installed)."""
import numpy as np
import pytest

import minicnn
from minicnn import geometry
from minicnn.geometry import GeometryError

# ---------------------------------------------------------------- the functions


def test_geometry_error_is_a_value_error_and_a_runtime_error():
    assert issubclass(GeometryError, ValueError) and issubclass(GeometryError, RuntimeError)


@pytest.mark.parametrize("value, want", [
    (3, (3, 3)), (np.int64(2), (2, 2)), ((1, 2), (1, 2)), ([4, 5], (4, 5)), ((7,), (7, 7)),
    ((np.int32(1), 2), (1, 2)),
])
def test_pair_accepts_an_int_or_one_or_two_ints(value, want):
    got = geometry.pair(value, "stride", "conv2d", 1)
    assert got == want and all(type(v) is int for v in got)


@pytest.mark.parametrize("value", [1.5, "2", None, True, (1, 2.0), (True, 1), np.ones(2)])
def test_pair_rejects_non_ints_with_type_error(value):
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a pair of ints"):
        geometry.pair(value, "stride", "conv2d", 1)


@pytest.mark.parametrize("value, message", [
    ((1, 2, 3), r"stride must be an int or a pair of ints, got \(1, 2, 3\) \(3 values\)"),
    ((), r"stride must be an int or a pair of ints"),
    (0, r"conv2d: stride must be >= 1, got \(0, 0\)"),
    ((1, -1), r"stride must be >= 1, got \(1, -1\)"),
])
def test_pair_rejects_bad_values_with_geometry_error(value, message):
    with pytest.raises(GeometryError, match=message):
        geometry.pair(value, "stride", "conv2d", 1)


def test_pair_optional_entries_for_adaptive_output_size():
    assert geometry.pair((None, 3), "output_size", "f", 0, optional=True) == (None, 3)
    assert geometry.pair(0, "output_size", "f", 0, optional=True) == (0, 0)
    with pytest.raises(GeometryError, match="output_size must be an int or a pair of ints or None"):
        geometry.pair((3,), "output_size", "f", 0, optional=True)  # PyTorch wants exactly two
    with pytest.raises(GeometryError, match=r"output_size must be >= 0, got \(None, -1\)"):
        geometry.pair((None, -1), "output_size", "f", 0, optional=True)
    with pytest.raises(TypeError):
        geometry.pair(None, "stride", "f", 1)  # None only where optional


def test_integer():
    assert geometry.integer(np.int16(4), "size", "f", 1) == 4
    with pytest.raises(TypeError, match="f: size must be an int, got 4.0"):
        geometry.integer(4.0, "size", "f")
    with pytest.raises(GeometryError, match="f: size must be >= 1, got 0"):
        geometry.integer(0, "size", "f", 1)


def test_conv_padding():
    assert geometry.conv_padding("same", (1, 1), "f") == "same"
    assert geometry.conv_padding("valid", (2, 3), "f") == "valid"
    assert geometry.conv_padding([1, 2], (2, 2), "f") == (1, 2)
    with pytest.raises(GeometryError, match="f: padding must be 'same', 'valid', an int or a pair"):
        geometry.conv_padding("full", (1, 1), "f")
    with pytest.raises(GeometryError, match=r"padding='same' is not supported for strided "
                                            r"convolutions \(stride=\(1, 2\)\)"):
        geometry.conv_padding("same", (1, 2), "f")
    with pytest.raises(GeometryError, match="padding must be >= 0"):
        geometry.conv_padding(-1, (1, 1), "f")


@pytest.mark.parametrize("padding, kernel, dilation, want", [
    ("valid", (3, 5), (1, 1), ((0, 0), (0, 0))),
    ((2, 1), (3, 5), (1, 1), ((2, 2), (1, 1))),
    ("same", (3, 5), (1, 1), ((1, 1), (2, 2))),
    ("same", (4, 2), (1, 3), ((1, 2), (1, 2))),  # odd totals: the extra one after, as PyTorch
    ("same", (1, 3), (5, 2), ((0, 0), (2, 2))),
])
def test_resolve_padding(padding, kernel, dilation, want):
    assert geometry.resolve_padding(padding, kernel, dilation) == want


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_keeps_the_size_in_torch(torch):
    """resolve_padding's split, applied with F.pad, gives PyTorch's padding='same' result."""
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64)
    for k, d in [((4, 2), (1, 3)), ((3, 5), (2, 1)), ((2, 2), (1, 1))]:
        w = torch.randn(3, 2, *k, dtype=torch.float64)
        (top, bottom), (left, right) = geometry.resolve_padding("same", k, d)
        padded = torch.nn.functional.pad(x, (left, right, top, bottom))
        mine = torch.nn.functional.conv2d(padded, w, dilation=d)
        want = torch.nn.functional.conv2d(x, w, padding="same", dilation=d)
        torch.testing.assert_close(mine, want)


SIZES = [(n, k, s, p, d) for n in (1, 5, 8, 13) for k in (1, 2, 3, 5) for s in (1, 2, 3)
         for p in range(k // 2 + 1) for d in (1, 2) if d * (k - 1) + 1 <= n + 2 * p]


def test_conv_output_size_matches_torch(torch):
    for n, k, s, p, d in SIZES:
        y = torch.nn.functional.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1),
                                       stride=(s, 1), padding=(p, 0), dilation=(d, 1))
        assert geometry.conv_output_size(n, k, s, p, d) == y.shape[2], (n, k, s, p, d)


def test_ceil_mode_output_size_matches_torch(torch):
    for n, k, s, p, d in SIZES:
        for ceil_mode in (False, True):
            y = torch.nn.functional.max_pool2d(torch.zeros(1, 1, n, 1), (k, 1), (s, 1), (p, 0),
                                               (d, 1), ceil_mode=ceil_mode)
            assert geometry.conv_output_size(n, k, s, p, d, ceil_mode) == y.shape[2], \
                (n, k, s, p, d, ceil_mode)


def test_conv_transpose_output_size_matches_torch(torch):
    for n, k, s, p, d in SIZES:
        for op in range(max(s, d)):
            want = geometry.conv_transpose_output_size(n, k, s, p, op, d)
            if want < 1:
                continue
            y = torch.nn.functional.conv_transpose2d(
                torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0),
                output_padding=(op, 0), dilation=(d, 1))
            assert want == y.shape[2], (n, k, s, p, op, d)


def test_output_size_names_the_sizes():
    assert geometry.output_size("f", (8, 6), (3, 2), (2, 1), (1, 0), (1, 1)) == (4, 5)
    with pytest.raises(GeometryError, match=r"^f: kernel \(5, 3\) with dilation \(1, 2\) \(span "
                                            r"\(5, 5\)\) is larger than the padded input \(6, 4\)"
                                            r": input \(4, 4\), stride \(1, 1\), padding "
                                            r"\(1, 0\) give output size \(2, 0\)$"):
        geometry.output_size("f", (4, 4), (5, 3), (1, 1), (1, 0), (1, 2))
    with pytest.raises(GeometryError, match=r"ceil_mode=True give output size 0$"):
        geometry.output_size("f", (1,), (5,), (2,), (1,), (1,), ceil_mode=True)


def test_pool_window():
    assert geometry.pool_window(3, None, 1, 1, "f") == ((3, 3), (3, 3), (1, 1), (1, 1))
    assert geometry.pool_window((3, 2), (), 0, (2,), "f") == ((3, 2), (3, 2), (0, 0), (2, 2))
    with pytest.raises(GeometryError, match=r"padding should be at most half of kernel_size, "
                                            r"but got padding=\(0, 2\) and kernel_size=\(3, 3\)"):
        geometry.pool_window(3, 1, (0, 2), 1, "f")


def test_check_output_padding():
    geometry.check_output_padding((1, 2), (2, 1), (1, 3), "f")  # below the stride or dilation
    with pytest.raises(GeometryError, match=r"output_padding \(0, 2\) must be smaller than "
                                            r"either stride \(2, 2\) or dilation \(1, 2\)"):
        geometry.check_output_padding((0, 2), (2, 2), (1, 2), "f")


# ---------------------------------------------------------------- one mistake, one exception type

def _conv(lib, layer, **kw):
    x = lib.zeros(1, 2, 8, 8)
    if layer:
        return lib.nn.Conv2d(2, 3, 3, **kw)(x)
    return lib.nn.functional.conv2d(x, lib.zeros(3, 2, 3, 3), **kw)


def _conv_t(lib, layer, **kw):
    x = lib.zeros(1, 2, 8, 8)
    if layer:
        return lib.nn.ConvTranspose2d(2, 3, 3, **kw)(x)
    return lib.nn.functional.conv_transpose2d(x, lib.zeros(2, 3, 3, 3), **kw)


def _max(lib, layer, kernel_size=2, size=8, **kw):
    x = lib.zeros(1, 2, size, size)
    if layer:
        return lib.nn.MaxPool2d(kernel_size, **kw)(x)
    return lib.nn.functional.max_pool2d(x, kernel_size, **kw)


def _avg(lib, layer, kernel_size=2, size=8, **kw):
    x = lib.zeros(1, 2, size, size)
    if layer:
        return lib.nn.AvgPool2d(kernel_size, **kw)(x)
    return lib.nn.functional.avg_pool2d(x, kernel_size, **kw)


def _adaptive(lib, layer, output_size):
    x = lib.zeros(1, 2, 8, 8)
    if layer:
        return lib.nn.AdaptiveAvgPool2d(output_size)(x)
    return lib.nn.functional.adaptive_avg_pool2d(x, output_size)


R, V, T = RuntimeError, ValueError, TypeError
# (id, call, kwargs, PyTorch's exception from the layer, from the function): PyTorch 2.13's
MISTAKES = [
    ("conv-negative-padding", _conv, dict(padding=-1), R, R),
    ("conv-negative-padding-pair", _conv, dict(padding=(1, -1)), R, R),
    ("conv-zero-stride", _conv, dict(stride=0), R, R),
    ("conv-negative-stride", _conv, dict(stride=-1), R, R),
    ("conv-zero-dilation", _conv, dict(dilation=0), R, R),
    ("conv-stride-of-three", _conv, dict(stride=(1, 2, 3)), R, R),
    ("conv-padding-of-three", _conv, dict(padding=(1, 2, 3)), R, R),
    ("conv-dilation-of-three", _conv, dict(dilation=(1, 2, 3)), R, R),
    ("conv-same-with-stride", _conv, dict(padding="same", stride=2), V, R),
    ("conv-bad-padding-string", _conv, dict(padding="full"), V, R),
    ("conv-float-stride", _conv, dict(stride=1.5), T, T),
    ("conv-float-padding", _conv, dict(padding=1.5), T, T),
    ("conv-str-stride", _conv, dict(stride="2"), T, T),
    ("conv-bool-stride", _conv, dict(stride=True), T, T),
    ("conv-float-in-pair", _conv, dict(padding=(1.0, 1)), T, T),
    ("conv-kernel-too-big", _conv, dict(padding=0, dilation=4), R, R),
    ("convt-output-padding", _conv_t, dict(stride=2, output_padding=2), R, R),
    ("convt-negative-output-padding", _conv_t, dict(output_padding=-1), R, R),
    ("convt-negative-padding", _conv_t, dict(padding=-1), R, R),
    ("convt-zero-stride", _conv_t, dict(stride=0), R, R),
    ("convt-padding-string", _conv_t, dict(padding="same"), T, T),
    ("convt-stride-of-three", _conv_t, dict(stride=(1, 2, 3)), R, R),
    ("convt-output-too-small", _conv_t, dict(padding=5), R, R),
    ("max-zero-kernel", _max, dict(kernel_size=0), R, R),
    ("max-kernel-of-three", _max, dict(kernel_size=(2, 2, 2)), R, R),
    ("max-float-kernel", _max, dict(kernel_size=1.5), T, T),
    ("max-negative-padding", _max, dict(kernel_size=3, padding=-1), R, R),
    ("max-padding-over-half", _max, dict(kernel_size=3, padding=2), R, R),
    ("max-zero-stride", _max, dict(stride=0), R, R),
    ("max-float-stride", _max, dict(stride=1.5), T, T),
    ("max-stride-of-three", _max, dict(stride=(1, 2, 3)), R, R),
    ("max-zero-dilation", _max, dict(dilation=0), R, R),
    ("max-kernel-too-big", _max, dict(kernel_size=9), R, R),
    ("avg-zero-kernel", _avg, dict(kernel_size=0), R, R),
    ("avg-padding-over-half", _avg, dict(kernel_size=3, padding=2), R, R),
    ("avg-negative-stride", _avg, dict(stride=-1), R, R),
    ("avg-float-stride", _avg, dict(stride=1.5), T, T),
    ("avg-kernel-too-big", _avg, dict(kernel_size=3, size=2), R, R),
    ("adaptive-negative", _adaptive, dict(output_size=(-1, 2)), R, R),
    ("adaptive-of-three", _adaptive, dict(output_size=(2, 2, 2)), R, R),
    ("adaptive-float", _adaptive, dict(output_size=2.5), T, T),
]


def _raised(lib, call, layer, kwargs):
    try:
        call(lib, layer, **kwargs)
    except Exception as e:  # noqa: BLE001 - the exception is what is tested
        return e
    pytest.fail(f"{lib.__name__}: no exception for {call.__name__}(layer={layer}, {kwargs})")


@pytest.mark.parametrize("call, kwargs, layer_exc, fn_exc", [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_layer_and_function_raise_the_same_type_as_pytorch(call, kwargs, layer_exc, fn_exc):
    from_layer = _raised(minicnn, call, True, kwargs)
    from_fn = _raised(minicnn, call, False, kwargs)
    assert type(from_layer) is type(from_fn), (from_layer, from_fn)
    assert isinstance(from_layer, layer_exc), from_layer
    assert isinstance(from_fn, fn_exc), from_fn
    # the message names the argument or the sizes, whoever raised it
    assert any(word in str(from_fn) for word in ("kernel", "stride", "padding", "dilation",
                                                 "output_size")), from_fn


@pytest.mark.parametrize("call, kwargs, layer_exc, fn_exc", [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_the_table_is_what_pytorch_raises(torch, call, kwargs, layer_exc, fn_exc):
    assert type(_raised(torch, call, True, kwargs)) is layer_exc
    assert type(_raised(torch, call, False, kwargs)) is fn_exc


@pytest.mark.parametrize("call, kwargs", [
    (_conv, dict(stride=(2,))), (_conv, dict(padding=[1, 1])), (_conv, dict(padding="same")),
    (_conv, dict(stride=np.int64(2))), (_max, dict(kernel_size=(2,))), (_max, dict(stride=())),
    (_avg, dict(stride=[1, 2])), (_adaptive, dict(output_size=(None, 3))),
])
def test_accepted_forms_give_pytorch_shapes(torch, call, kwargs):
    for layer in (True, False):
        assert tuple(call(minicnn, layer, **kwargs).shape) == \
            tuple(call(torch, layer, **kwargs).shape)
