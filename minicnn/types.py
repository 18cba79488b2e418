"""Type aliases used in the hints of minicnn's public API (Tensor, autograd, creation, ops).

Modules import them under ``if TYPE_CHECKING:`` only, so that they cost nothing at run time.
"""
from collections.abc import Sequence
from typing import TypeAlias, Union

import numpy.typing as npt

from .device import device

#: anything np.dtype takes: minicnn.float32, np.int64, "float64", float, ...
DTypeLike: TypeAlias = npt.DTypeLike
#: a device, its string ("cpu", "cuda:0"), a CUDA index, or None for the default device
DeviceLike: TypeAlias = Union[str, device, int, None]
#: a Python scalar that ops take in place of a tensor
Number: TypeAlias = Union[bool, int, float]
#: a shape or a list of dims: one int, or a sequence of ints
ShapeLike: TypeAlias = Union[int, Sequence[int]]
#: a 2-D size (kernel, stride, padding ...): one int for both dimensions, or (h, w)
IntPair: TypeAlias = Union[int, tuple[int, int]]
