"""Moving weights between PyTorch and minicnn.

A minicnn model built like its PyTorch twin has the same state_dict keys and shapes
(``"features.0.weight"``, ``"bn1.running_mean"``, ``"bn1.num_batches_tracked"``), so weights
move over by name. PyTorch is imported only by :func:`to_torch_state_dict`, never by
``import minicnn``; ``.pt`` files are read without it.
"""
import os
import sys
from collections import OrderedDict

import numpy as np

from ..tensor import Tensor

__all__ = ["from_torch_state_dict", "to_torch_state_dict"]

_TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def from_torch_state_dict(model, state_dict_or_path, strict=True):
    """Load PyTorch weights into the minicnn ``model`` in place.

    ``state_dict_or_path``: a torch state_dict (name -> torch.Tensor), a dict name -> ndarray or
    minicnn Tensor, or a path to a ``.pt``/``.pth``/``.bin`` file (``torch.save``'s format, read
    by :func:`minicnn.load` without PyTorch: only tensors and plain values are unpickled;
    bfloat16 weights become float32 exactly), a ``.safetensors`` file or a ``.npz`` file (a
    minicnn checkpoint or ``numpy.savez(**state_dict)``). Values are cast to the dtype of the
    tensor they replace. ``strict`` as in ``Module.load_state_dict``.

    Returns ``(missing_keys, unexpected_keys)`` from :meth:`Module.load_state_dict`, which raises
    RuntimeError naming each key whose shape differs (with both shapes) and, when ``strict``,
    the missing and unexpected keys. Raises TypeError when a value is not a tensor (e.g. a
    checkpoint dict such as ``{"model": ..., "optimizer": ...}``: pass ``ckpt["model"]``),
    :class:`~minicnn.serialization.CheckpointError` for a file that cannot be read (or that
    pickles anything but tensors), ValueError for an unknown file extension.
    """
    state = state_dict_or_path
    if isinstance(state, (str, os.PathLike)):
        state = _read_file(os.fspath(state))
    if not hasattr(state, "items"):
        raise TypeError("from_torch_state_dict: expected a state_dict (a dict name -> tensor) or "
                        f"a path, got {type(state).__name__}")
    torch = sys.modules.get("torch")  # a torch tensor exists only if torch was imported
    arrays = OrderedDict()
    for key, value in state.items():
        if torch is not None and isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
                value = value.float()
            arrays[key] = value.numpy()
        elif isinstance(value, (Tensor, np.ndarray, np.generic)):
            arrays[key] = value
        else:
            hint = (f"; pass the state_dict inside it, e.g. checkpoint[{key!r}]"
                    if isinstance(value, dict) else "")
            raise TypeError(f"from_torch_state_dict: state_dict[{key!r}] is not a tensor (got "
                            f"{type(value).__name__}){hint}")
    return model.load_state_dict(arrays, strict=strict)


def _read_file(path):
    from .. import serialization

    suffix = os.path.splitext(path)[1].lower()
    if suffix in _TORCH_SUFFIXES or suffix == ".safetensors":
        return serialization.load(path, map_location="cpu")
    if suffix == ".npz":
        try:
            return serialization.load(path, map_location="cpu")
        except serialization.NotACheckpointError:  # a plain numpy.savez(**state_dict) file
            with np.load(path, allow_pickle=False) as npz:
                return OrderedDict((k, npz[k]) for k in npz.files)
    raise ValueError(f"from_torch_state_dict: {path}: unknown file type {suffix!r}; expected "
                     ".pt, .pth, .bin (PyTorch), .safetensors or .npz")


def to_torch_state_dict(model):
    """The model's ``state_dict()`` as an OrderedDict name -> torch.Tensor (CPU copies: same
    keys, dtypes, shapes and values), ready for a PyTorch twin's ``load_state_dict``.

    Raises ImportError when PyTorch is not installed.
    """
    torch = _import_torch("to_torch_state_dict")
    return OrderedDict((key, torch.from_numpy(np.array(t.to("cpu")._data, copy=True)))
                       for key, t in model.state_dict().items())


def _import_torch(what):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} needs PyTorch: pip install torch") from None
    return torch
