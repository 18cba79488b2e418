"""The current accelerator, as ``torch.accelerator`` (PyTorch 2.6+): device-agnostic code such as
PyTorch's official examples asks this module where to train::

    device = (minicnn.accelerator.current_accelerator()
              if minicnn.accelerator.is_available() else minicnn.device("cpu"))

minicnn's only accelerator is its optional CUDA module (:mod:`minicnn.cuda`, one GPU, cuda:0).
Source: https://pytorch.org/docs/stable/accelerator.html
"""
from __future__ import annotations

from . import cuda
from .device import device

__all__ = ["current_accelerator", "current_device_index", "device_count", "is_available",
           "set_device_index", "synchronize"]


def is_available() -> bool:
    """True when an accelerator can run tensors: minicnn's CUDA module is built and a GPU with
    a driver is present. Never raises."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """``device("cuda")`` when minicnn has a usable GPU, else None (PyTorch returns None where no
    accelerator exists; ``check_available`` is accepted for its signature and changes nothing
    here, since minicnn only reports an accelerator that is available)."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    """Number of accelerator devices minicnn can use: 1 with a GPU (minicnn runs on cuda:0
    only), else 0."""
    return 1 if cuda.is_available() else 0


def current_device_index() -> int:
    """The index of the current accelerator device: 0. RuntimeError without one."""
    _require()
    return 0


def set_device_index(device_index: int) -> None:
    """Make ``device_index`` current: only 0 exists. RuntimeError without an accelerator or for
    another index."""
    _require()
    index = device_index.index if isinstance(device_index, device) else int(device_index)
    if index != 0:
        raise RuntimeError(f"set_device_index: minicnn runs on cuda:0 only, got index {index}")


def synchronize(device_index: int | None = None) -> None:
    """Wait until every kernel queued on the accelerator has finished. RuntimeError without one."""
    _require()
    cuda.synchronize()


def _require():
    if not cuda.is_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")
