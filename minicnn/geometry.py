"""The geometry of sliding windows, in one place: parsing kernel_size / stride / padding /
dilation arguments, 'same' and 'valid' padding, output sizes, and the errors for bad values.

Used by the nn modules (Conv2d, ConvTranspose2d, the pooling layers), the ops (conv2d,
max_pool2d, ...), the reference kernels, utils.receptive_field and explain, so that the same
mistake gives the same error everywhere. A leaf module: the standard library only, so every
layer of minicnn can import it without a cycle.

Exceptions follow PyTorch: an argument of the wrong type (a float, a string, a bool where an
int is expected) is a TypeError; a wrong value (a negative padding, a zero stride, a tuple of
three, padding='same' with a stride, a kernel that does not fit the input) is a
:class:`GeometryError`, which is both the RuntimeError that PyTorch's functions raise and the
ValueError that ``torch.nn.Conv2d`` raises for a bad padding string (and minicnn always raised).

The formulas are those of the "Shape" sections of PyTorch's documentation of
``torch.nn.Conv2d``, ``torch.nn.MaxPool2d`` and ``torch.nn.ConvTranspose2d``, and of ATen's
``pooling_output_shape`` (aten/src/ATen/native/Pool.h) for ``ceil_mode``.
"""
import numbers
import operator
from collections.abc import Sequence
from typing import Any, Literal, Union, overload

__all__ = ["INT64_MAX", "GeometryError", "check_numel", "check_output_padding",
           "conv_output_size", "conv_padding", "conv_transpose_output_size", "int_tuple", "integer",
           "is_int", "output_size", "pair", "pool_window", "resolve_padding"]

Pair = tuple[int, int]
#: an int-or-pair window argument (kernel_size, stride, ...) as the layers' signatures state it;
#: :func:`pair` also takes a list or a tuple of one int
IntOrPair = Union[int, tuple[int, int]]

#: the largest size or window value the kernels take (they count in int64, as PyTorch does)
INT64_MAX = 2**63 - 1


class GeometryError(ValueError, RuntimeError):
    """A window argument with a wrong value or length, or a window that does not fit the input.

    PyTorch raises RuntimeError for these from its functions (and from a layer's forward), and
    ValueError from ``nn.Conv2d``'s constructor for a bad padding string; this class is both,
    so ``except RuntimeError`` (PyTorch code) and ``except ValueError`` catch it alike, as
    NumPy's AxisError is both a ValueError and an IndexError.
    """


def is_int(value: object) -> bool:
    """True for Python and NumPy integers; False for bool, which PyTorch refuses as a size."""
    return type(value) is int or (isinstance(value, numbers.Integral)
                                  and not isinstance(value, bool))


def integer(value: Any, name: str, fn: str, minimum: int | None = None) -> int:
    """``value`` as a Python int.

    Raises TypeError ("{fn}: {name} must be an int, got ...") for a non-int (bool included) and
    GeometryError when ``minimum`` is given and ``value`` is below it, or when ``value`` is
    outside int64 (the kernels would see it wrapped).
    """
    if not is_int(value):
        raise TypeError(f"{fn}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise GeometryError(f"{fn}: {name} must be >= {minimum}, got {value}")
    _check_int64(fn, name, value)
    return int(value)


def int_tuple(values: Sequence[Any], fn: str, name: str = "size") -> tuple[int, ...]:
    """A shape argument given as ``f(2, 3)`` or ``f((2, 3))`` (or a list), as PyTorch's factories
    and view/reshape/expand take it, as a tuple of Python ints. An entry may be anything with
    ``__index__`` (int, NumPy integer, one-element integer tensor) but a bool.

    Raises TypeError in PyTorch's words ("{fn}(): argument '{name}' (position 1) must be tuple
    of ints, but found element of type float at pos 0") for another entry: int("4") or
    int(1.5) would silently make a tensor of a size nobody asked for.
    """
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = values[0]
    out = []
    for i, v in enumerate(values):
        try:
            if isinstance(v, bool):
                raise TypeError
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{fn}(): argument '{name}' (position 1) must be tuple of ints, but "
                            f"found element of type {type(v).__name__} at pos {i}") from None
    return tuple(out)


def _check_int64(fn: str, name: str, value: int) -> None:
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise GeometryError(f"{fn}: {name} {value} is out of the int64 range "
                            f"[{-INT64_MAX - 1}, {INT64_MAX}]")


def check_numel(fn: str, shape: tuple[int, ...], itemsize: int = 1) -> None:
    """RuntimeError, naming the sizes, when a tensor of ``shape`` (Python ints) with elements of
    ``itemsize`` bytes has more bytes than int64 counts (PyTorch: "Storage size calculation
    overflowed"); NumPy would report "array is too big" without the numbers, and C would wrap."""
    total = itemsize
    for n in shape:
        total *= n
    if total > INT64_MAX:
        raise RuntimeError(f"{fn}: storage size calculation overflowed with sizes="
                           f"{list(shape)}: {total // itemsize} elements of {itemsize} bytes "
                           f"is more than {INT64_MAX} bytes")


@overload
def pair(value: Any, name: str, fn: str, minimum: int | None = None, *,
         optional: Literal[False] = False) -> Pair: ...


@overload
def pair(value: Any, name: str, fn: str, minimum: int | None = None, *,
         optional: bool) -> tuple[int | None, int | None]: ...


def pair(value: Any, name: str, fn: str, minimum: int | None = None, *,
         optional: bool = False) -> tuple[int | None, int | None]:
    """An int-or-pair argument (kernel_size, stride, padding, dilation, output_padding, an
    adaptive output_size) as a pair (h, w) of Python ints: PyTorch's ``_pair``, with checks.

    ``value``: an int (the same for both axes), or a tuple or list of one int (the same for
    both axes, as PyTorch's conv and pooling functions accept) or of two, (h, w). With
    ``optional=True`` (adaptive pooling's output_size) an entry may be None (returned as None:
    "the input's size") and a sequence must have exactly two entries, as in PyTorch.
    ``fn`` (the function or layer) and ``name`` start the error messages.

    Raises TypeError when ``value`` or an entry is not an int (a float, a string, a bool);
    GeometryError for a sequence of another length, or an entry below ``minimum`` when given.
    """
    # the common cases first (a layer's forward parses its pairs on every call)
    if (type(value) is int and (minimum is None or value >= minimum)
            and -INT64_MAX - 1 <= value <= INT64_MAX):
        return value, value
    if (type(value) is tuple and len(value) == 2 and type(value[0]) is int
            and type(value[1]) is int and (minimum is None or min(value) >= minimum)
            and -INT64_MAX - 1 <= min(value) and max(value) <= INT64_MAX):
        return value
    ok = (lambda v: v is None or is_int(v)) if optional else is_int
    what = "an int or a pair of ints" + (" or None" if optional else "")
    h: int | None
    w: int | None
    if is_int(value):
        h = w = int(value)
    elif not isinstance(value, (tuple, list)) or not all(ok(v) for v in value):
        raise TypeError(f"{fn}: {name} must be {what}, got {value!r}")
    elif len(value) not in ((2,) if optional else (1, 2)):
        raise GeometryError(f"{fn}: {name} must be {what}, got {value!r} ({len(value)} values)")
    else:
        h, w = (None if v is None else int(v) for v in (value[0], value[-1]))
    if minimum is not None and any(v is not None and v < minimum for v in (h, w)):
        raise GeometryError(f"{fn}: {name} must be >= {minimum}, got ({h}, {w})")
    for v in (h, w):
        if v is not None:
            _check_int64(fn, name, v)
    return h, w


def conv_padding(padding: Any, stride: Pair, fn: str) -> str | Pair:
    """A convolution's ``padding`` argument checked: "valid", "same" (returned as is) or an int
    or pair >= 0 (returned as a pair). ``stride`` is the already parsed stride.

    Raises GeometryError for another string, for "same" with a stride other than 1 (PyTorch:
    "padding='same' is not supported for strided convolutions"), and as :func:`pair`.
    """
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise GeometryError(f"{fn}: padding must be 'same', 'valid', an int or a pair of "
                                f"ints, got {padding!r}")
        if padding == "same" and tuple(stride) != (1, 1):
            raise GeometryError(f"{fn}: padding='same' is not supported for strided "
                                f"convolutions (stride={tuple(stride)})")
        return padding
    return pair(padding, "padding", fn, 0)


def resolve_padding(padding: str | Pair, kernel: Pair, dilation: Pair) -> tuple[Pair, Pair]:
    """The zeros a convolution adds on each side: ((top, bottom), (left, right)) for a padding
    checked by :func:`conv_padding`.

    "valid" adds none; a pair (ph, pw) adds ph rows above and below and pw columns left and
    right; "same" adds d (k - 1) in total per axis, so that a stride-1 output has the input's
    size, the smaller half (total // 2) before and the rest after, as PyTorch does.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        th, tw = (d * (k - 1) for k, d in zip(kernel, dilation))  # "same"
        return (th // 2, th - th // 2), (tw // 2, tw - tw // 2)
    ph, pw = padding
    return (ph, ph), (pw, pw)


def pool_window(kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                fn: str) -> tuple[Pair, Pair, Pair, Pair]:
    """The window arguments of max_pool2d / avg_pool2d (and their layers) checked, as pairs
    (kernel, stride, padding, dilation). ``stride`` None or () means ``kernel_size`` (PyTorch's
    default).

    Raises as :func:`pair` (kernel_size, stride, dilation >= 1, padding >= 0), and
    GeometryError when the padding is more than half the kernel: PyTorch's rule for avg_pool2d
    and for max_pool2d with indices (its path whenever the input requires grad); only its
    no-grad max_pool2d kernel allows up to half the dilated kernel.
    """
    kernel = pair(kernel_size, "kernel_size", fn, 1)
    if stride is None or isinstance(stride, (tuple, list)) and len(stride) == 0:
        stride = kernel
    stride = pair(stride, "stride", fn, 1)
    padding = pair(padding, "padding", fn, 0)
    dilation = pair(dilation, "dilation", fn, 1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise GeometryError(f"{fn}: padding should be at most half of kernel_size, but got "
                            f"padding={padding} and kernel_size={kernel}")
    return kernel, stride, padding, dilation


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (ints, no checks; the
    result is < 1 when the window does not fit: see :func:`output_size`):

        floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1

    (``torch.nn.Conv2d`` / ``MaxPool2d`` docs, "Shape"). With ``ceil_mode`` the division rounds
    up, but a last window that would start past the input and its left padding is dropped
    (ATen's ``pooling_output_shape``).
    """
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
           ) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (ints, no checks):

        (size - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1

    (``torch.nn.ConvTranspose2d`` docs, "Shape").
    """
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _show(values: Sequence[int]) -> object:
    """A per-axis tuple for a message; one axis prints as a plain number."""
    return values[0] if len(values) == 1 else tuple(values)


def output_size(fn: str, size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                padding: tuple[int, ...], dilation: tuple[int, ...],
                ceil_mode: bool = False) -> tuple[int, ...]:
    """:func:`conv_output_size` along each axis (tuples of one int per axis, already checked).

    Raises GeometryError, naming the sizes, when an output length is < 1: the dilated kernel
    is larger than the padded input (PyTorch: RuntimeError "Output size is too small"); or when
    the padded input or the dilated kernel is beyond int64 (where the kernels count).
    """
    # one pass, no generators: every conv2d and pool2d call runs this
    out: list[int] = []
    span: list[int] = []
    padded: list[int] = []
    for n, k, st, p, d in zip(size, kernel, stride, padding, dilation):
        out.append(conv_output_size(n, k, st, p, d, ceil_mode))
        span.append(d * (k - 1) + 1)
        padded.append(n + 2 * p)
    if max(span + padded) > INT64_MAX:
        raise GeometryError(f"{fn}: the padded input {_show(padded)} (input {_show(size)}, "
                            f"padding {_show(padding)}) or the kernel span {_show(span)} (kernel "
                            f"{_show(kernel)}, dilation {_show(dilation)}) is larger than int64 "
                            f"counts ({INT64_MAX})")
    if min(out) < 1:
        ceil = ", ceil_mode=True" if ceil_mode else ""
        raise GeometryError(f"{fn}: kernel {_show(kernel)} with dilation {_show(dilation)} (span "
                            f"{_show(span)}) is larger than the padded input {_show(padded)}: "
                            f"input {_show(size)}, stride {_show(stride)}, padding "
                            f"{_show(padding)}{ceil} give output size {_show(out)}")
    return tuple(out)


def check_output_padding(output_padding: Pair, stride: Pair, dilation: Pair, fn: str) -> None:
    """A transposed convolution's output_padding must be smaller than the stride or the
    dilation along each axis (it only picks among the input sizes that a strided convolution
    maps to the same output size); GeometryError otherwise, as PyTorch's RuntimeError."""
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise GeometryError(f"{fn}: output_padding {tuple(output_padding)} must be smaller than "
                            f"either stride {tuple(stride)} or dilation {tuple(dilation)}")
