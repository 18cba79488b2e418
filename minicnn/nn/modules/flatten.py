"""Flatten and Unflatten (``torch.nn.Flatten``, ``torch.nn.Unflatten``)."""
from ...ops._util import normalize_dim
from ...tensor import Tensor
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Flattens dimensions ``start_dim`` .. ``end_dim`` (inclusive) into one
    (``torch.nn.Flatten``); the defaults turn (N, C, H, W) into (N, C * H * W). Returns a view
    when the input allows one. Raises IndexError for a dimension out of range (as
    :meth:`Tensor.flatten`)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dimension ``dim`` into ``unflattened_size`` (``torch.nn.Unflatten``): e.g.
    Unflatten(1, (C, H, W)) turns (N, C * H * W) into (N, C, H, W). One entry may be -1
    (inferred). Raises TypeError when unflattened_size is not a tuple/list of ints, and
    ValueError in forward when its product does not match the size of ``dim``."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        for i, s in enumerate(unflattened_size):
            if not isinstance(s, int) or isinstance(s, bool):
                raise TypeError(f"unflattened_size must be tuple of ints, but found element of "
                                f"type {type(s).__name__} at pos {i}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        d = normalize_dim(self.dim, input.ndim)
        sizes = tuple(self.unflattened_size)
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        if sizes.count(-1) > 1 or (shape[d] != known if -1 not in sizes
                                   else known == 0 or shape[d] % known):
            raise ValueError(f"{self!r}: unflattened_size {sizes} does not fit dimension {d} "
                             f"of size {shape[d]} (input of shape {tuple(shape)})")
        return input.reshape(shape[:d] + sizes + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
