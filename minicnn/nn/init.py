"""Weight initialization, as ``torch.nn.init``: each function fills a tensor IN PLACE (no
gradient is recorded, as under ``torch.no_grad``), bumps its version counter (so a backward
through a graph that saved the old values raises, as in PyTorch) and returns it.

Random values come from minicnn's generator (:func:`minicnn.manual_seed` makes them
reproducible), or from ``generator`` (a ``numpy.random.Generator``) when one is given. They are
drawn in the tensor's dtype (float32 or float64).

Fans follow PyTorch's definition: for a weight of shape (out, in, *kernel),
fan_in = in * prod(kernel) and fan_out = out * prod(kernel) (a ConvTranspose2d weight
(in, out / groups, kh, kw) is read the same way, as PyTorch does).

Sources: Glorot & Bengio 2010 (xavier), He et al. 2015 (kaiming), PyTorch's ``calculate_gain``
table.
"""
import math
import numbers
import warnings

import numpy as np

from .. import random as _random
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
           "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    linear / conv* / conv_transpose* / sigmoid: 1; tanh: 5/3; relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + negative_slope ** 2)) with ``param`` the negative slope (default
    0.01); selu: 3/4. Raises ValueError for another nonlinearity or a non-number ``param``.
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _check_tensor(fn: str, tensor: object, floating: bool = True) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: expected a minicnn.Tensor, got {type(tensor).__name__}")
    if floating and tensor.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a float32 or float64 tensor, got dtype {tensor.dtype}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) = (shape[1], shape[0]) times the receptive field prod(shape[2:]).
    Raises ValueError for a tensor with fewer than 2 dimensions."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {tuple(tensor.shape)})")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _generator(generator: np.random.Generator | None) -> np.random.Generator:
    return _random.default_generator() if generator is None else generator


def _fill_uniform(tensor: Tensor, a: float, b: float,
                  generator: np.random.Generator | None) -> Tensor:
    """tensor <- U(a, b), drawn in the tensor's dtype, written into its array; clipped so
    that float32 rounding of a + u (b - a) cannot step past the bounds."""
    data = tensor._data
    u = _generator(generator).random(data.shape, dtype=data.dtype)
    u *= b - a
    u += a
    np.clip(u, a, b, out=data)
    tensor._bump_version()
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with values drawn from U(a, b) (``torch.nn.init.uniform_``).
    Raises TypeError for a non-float tensor and ValueError when a > b."""
    _check_tensor("uniform_", tensor)
    if a > b:
        raise ValueError(f"uniform_: expects a <= b, got a={a} and b={b}")
    return _fill_uniform(tensor, a, b, generator)


def _standard_normal(shape: tuple[int, ...], dtype: np.dtype,
                     generator: np.random.Generator | None) -> np.ndarray:
    return _generator(generator).standard_normal(shape, dtype=dtype)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with values drawn from N(mean, std**2) (``torch.nn.init.normal_``).
    Raises TypeError for a non-float tensor and ValueError for std < 0."""
    _check_tensor("normal_", tensor)
    if std < 0:
        raise ValueError(f"normal_: expects std >= 0.0, got std={std}")
    data = tensor._data
    z = _standard_normal(data.shape, data.dtype, generator)
    z *= std
    z += mean
    data[...] = z
    tensor._bump_version()
    return tensor


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with N(mean, std**2) values conditioned on [a, b]
    (``torch.nn.init.trunc_normal_``); a and b are absolute bounds, not multiples of std.

    Exact rejection sampling, as PyTorch 2.x: normal draws redrawn until inside [a, b] when that
    interval holds more than 30% of the mass; otherwise uniform draws on [a, b] accepted with
    probability pdf(x) / max pdf on [a, b]. Warns, as PyTorch, when mean is more than 2 std
    outside [a, b]. Raises TypeError for a non-float tensor, ValueError for std <= 0, a > b, or
    an infinite bound when [a, b] holds at most 30% of the mass.
    """
    _check_tensor("trunc_normal_", tensor)
    if not std > 0:
        raise ValueError(f"trunc_normal_: expects std > 0, got std={std}")
    if a > b:
        raise ValueError(f"trunc_normal_: expects a <= b, got a={a} and b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    gen = _generator(generator)
    data = tensor._data
    dtype, n = data.dtype, data.size
    lo, hi = dtype.type(a), dtype.type(b)  # the bounds as the tensor can hold them

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(x - mean) / (std * math.sqrt(2.0)))

    out = np.empty(n, dtype)
    pending = np.arange(n)
    if cdf(b) - cdf(a) > 0.3:
        while pending.size:
            x = gen.standard_normal(pending.size, dtype=dtype) * dtype.type(std) + dtype.type(mean)
            ok = (x >= lo) & (x <= hi)
            out[pending[ok]] = x[ok]
            pending = pending[~ok]
    else:
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds at most 30% of the mass "
                             "of N(mean, std**2) and is unbounded: cannot sample it uniformly")
        peak = max(a, min(mean, b))  # where the density on [a, b] is largest
        log_peak = -0.5 * ((peak - mean) / std) ** 2
        while pending.size:
            x = gen.uniform(a, b, pending.size)
            log_ratio = -0.5 * ((x - mean) / std) ** 2 - log_peak
            ok = np.log(gen.random(pending.size)) <= log_ratio
            out[pending[ok]] = np.clip(x[ok], lo, hi)
            pending = pending[~ok]
    data[...] = out.reshape(data.shape)
    tensor._bump_version()
    return tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val`` (``torch.nn.init.constant_``); any dtype."""
    _check_tensor("constant_", tensor, floating=False)
    tensor._data[...] = val
    tensor._bump_version()
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1 (``torch.nn.init.ones_``)."""
    return constant_(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0 (``torch.nn.init.zeros_``)."""
    return constant_(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D ``tensor`` with the identity matrix (ones on the diagonal of a rectangle, as
    ``torch.nn.init.eye_``). Raises ValueError for another number of dimensions."""
    _check_tensor("eye_", tensor, floating=False)
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (eye_ got shape "
                         f"{tuple(tensor.shape)})")
    tensor._data[...] = np.eye(*tensor.shape, dtype=tensor.dtype)
    tensor._bump_version()
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight (out, in, *kernel) with the Dirac delta, so the
    convolution is the identity on the first min(out / groups, in) channels of each group
    (``torch.nn.init.dirac_``). Raises ValueError for another number of dimensions or when
    ``groups`` does not divide out."""
    _check_tensor("dirac_", tensor, floating=False)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"Only tensors with 3, 4, or 5 dimensions are supported (dirac_ got "
                         f"shape {tuple(tensor.shape)})")
    if groups < 1 or tensor.shape[0] % groups:
        raise ValueError(f"dim 0 ({tensor.shape[0]}) must be divisible by groups ({groups})")
    data = tensor._data
    out_per_group = data.shape[0] // groups
    centre = tuple(k // 2 for k in data.shape[2:])
    data[...] = 0
    for g in range(groups):
        for d in range(min(out_per_group, data.shape[1])):
            data[(g * out_per_group + d, d) + centre] = 1
    tensor._bump_version()
    return tensor


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Tensor:
    """Glorot uniform: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))
    (``torch.nn.init.xavier_uniform_``). Raises ValueError for fewer than 2 dimensions."""
    _check_tensor("xavier_uniform_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return _fill_uniform(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Tensor:
    """Glorot normal: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))
    (``torch.nn.init.xavier_normal_``). Raises ValueError for fewer than 2 dimensions."""
    _check_tensor("xavier_normal_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(fn: str, tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """gain / sqrt(fan), or None for a tensor with no elements (PyTorch warns, does nothing)."""
    _check_tensor(fn, tensor)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He uniform: U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan)
    (``torch.nn.init.kaiming_uniform_``), gain = calculate_gain(nonlinearity, a), fan the
    fan_in or fan_out by ``mode``. Conv2d and Linear use a=sqrt(5), which gives
    bound = 1 / sqrt(fan_in). Raises ValueError for a bad mode or nonlinearity or fewer than 2
    dimensions."""
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _fill_uniform(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """He normal: N(0, std**2), std = gain / sqrt(fan) (``torch.nn.init.kaiming_normal_``);
    arguments and errors as :func:`kaiming_uniform_`."""
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)
