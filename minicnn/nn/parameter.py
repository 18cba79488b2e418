"""Parameter: a tensor that a :class:`~minicnn.nn.Module` registers as one of its weights; and
UninitializedParameter / UninitializedBuffer, the shapeless placeholders of lazy modules."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeGuard

import numpy as np
import numpy.typing as npt

from ..creation import empty
from ..tensor import Tensor

if TYPE_CHECKING:
    from ..device import device as Device


class Parameter(Tensor):
    """A leaf tensor that is a module parameter (``torch.nn.Parameter``).

    Assigning a Parameter to a Module attribute registers it, so it appears in ``parameters()``
    and ``state_dict()``. ``data``: a Tensor (its array is shared, not copied) or anything
    ``np.asarray`` takes; ``None`` gives an empty float32 parameter. ``requires_grad`` defaults
    to True. Raises RuntimeError for a non-floating dtype that requires grad.
    """

    __slots__ = ()

    def __init__(self, data: Tensor | npt.ArrayLike | None = None,
                 requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, np.float32)
        if isinstance(data, Tensor):
            super().__init__(data._data, requires_grad=requires_grad, device=data._device)
        else:
            super().__init__(np.asarray(data), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


_SHAPE_ERROR = ("Can't access the shape of an uninitialized parameter or buffer. This error "
                "usually happens in `load_state_dict` when trying to load an uninitialized "
                "parameter into an initialized one. Call `forward` to initialize the parameters "
                "before accessing their attributes.")

# what may be used before materialization: the attributes a module, an optimizer or a lazy
# module's own code needs, and the conversions of Module.to (PyTorch's allowed list)
_ALLOWED = frozenset({"dtype", "device", "requires_grad", "requires_grad_", "grad", "grad_fn",
                      "is_leaf", "materialize", "cls_to_become", "to", "float", "double", "cpu",
                      "cuda"})

# operators, looked up on the type (so __getattribute__ never sees them)
_BLOCKED_DUNDERS = (
    "__len__", "__iter__", "__float__", "__int__", "__bool__", "__array__", "__getitem__",
    "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__add__", "__radd__",
    "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__pow__",
    "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__pos__", "__lt__", "__le__", "__gt__",
    "__ge__")


def _uninitialized_error(cls: type, name: str) -> ValueError:
    return ValueError(
        f"Attempted to use an uninitialized parameter in Tensor.{name}. This error happens when "
        f"you are using a `LazyModule` or explicitly manipulating "
        f"`minicnn.nn.parameter.{cls.__name__}` objects. When using LazyModules Call `forward` "
        f"with a dummy batch to initialize the parameters before calling minicnn functions")


if TYPE_CHECKING:
    # the mixin always precedes a Tensor class in the bases: it works on that class's slots
    _TensorBase = Tensor
else:
    _TensorBase = object


class UninitializedTensorMixin(_TensorBase):
    """What UninitializedParameter and UninitializedBuffer share (PyTorch's mixin of that name):
    a tensor with a dtype and a device but no shape yet, which :meth:`materialize` turns, in
    place, into a ``cls_to_become`` of a given shape.

    Until then its values cannot be used: reading ``shape`` raises RuntimeError ("Can't access
    the shape of an uninitialized parameter or buffer..."), and any other tensor method, property
    or operator (``numel()``, ``data``, ``x + 1``, ...) raises ValueError ("Attempted to use an
    uninitialized parameter in Tensor.numel..."), as in PyTorch. ``dtype``, ``device``,
    ``requires_grad``, ``grad`` and the conversions ``to``/``float``/``double``/``cpu``/``cuda``
    work (``Module.to`` changes the dtype and device it will be materialized with).
    """

    __slots__ = ()  # the layout of the tensor class it becomes, so __class__ can change
    cls_to_become: type = Tensor

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in _ALLOWED:
            return object.__getattribute__(self, name)
        if name == "shape":
            raise RuntimeError(_SHAPE_ERROR)
        cls = object.__getattribute__(self, "__class__")
        if hasattr(Tensor, name):
            raise _uninitialized_error(cls, name)
        return object.__getattribute__(self, name)

    def materialize(self, shape: int | Sequence[int], device: str | Device | None = None,
                    dtype: npt.DTypeLike | None = None) -> None:
        """Give the tensor new (uninitialized, ``empty``) memory of ``shape`` (an int or a
        sequence of ints), on ``device`` and of ``dtype`` (by default its own), and turn it into a
        ``cls_to_become`` in place, so every reference to it (a module's, an optimizer's) sees
        the real tensor."""
        if isinstance(shape, int):
            shape = (shape,)
        device = self._device if device is None else device
        dtype = self._data.dtype if dtype is None else dtype
        new = empty(tuple(int(s) for s in shape), dtype=dtype, device=device)
        self._data, self._device = new._data, new._device
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _raise_uninitialized(name: str) -> Callable[..., NoReturn]:
    def method(self: object, *args: object, **kwargs: object) -> NoReturn:
        raise _uninitialized_error(type(self), name)

    method.__name__ = name
    return method


for _name in _BLOCKED_DUNDERS:
    setattr(UninitializedTensorMixin, _name, _raise_uninitialized(_name))
del _name


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape is not known yet (``torch.nn.UninitializedParameter``): what a
    lazy module (:class:`~minicnn.nn.LazyLinear`, ...) holds until its first forward, which
    calls :meth:`materialize` and so turns it into a :class:`Parameter` in place.

    Args: requires_grad=True, device, dtype (float32 by default): those of the parameter it
    becomes. Using its values before then raises (see :class:`UninitializedTensorMixin`).
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: str | Device | None = None,
                 dtype: npt.DTypeLike | None = None) -> None:
        Tensor.__init__(self, empty(0, dtype=dtype, device=device)._data,
                        requires_grad=requires_grad, device=device)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet (``torch.nn.UninitializedBuffer``), such as a lazy
    batch norm's ``running_mean``; :meth:`materialize` turns it into a plain Tensor in place.

    Args: requires_grad=False, device, dtype (float32 by default).
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: str | Device | None = None,
                 dtype: npt.DTypeLike | None = None) -> None:
        Tensor.__init__(self, empty(0, dtype=dtype, device=device)._data,
                        requires_grad=requires_grad, device=device)


def is_lazy(param: object) -> TypeGuard[UninitializedTensorMixin]:
    """Whether ``param`` is an uninitialized parameter or buffer
    (``torch.nn.parameter.is_lazy``)."""
    return isinstance(param, UninitializedTensorMixin)
