"""The guard of the optimizers whose update is written with NumPy for host arrays only (no kernel
in the devices' tables)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..backends import BACKENDS

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["check_on_host"]


def check_on_host(name: str, p: Tensor) -> None:
    """Raise TypeError when parameter ``p`` lives on a device with memory of its own ("cuda"):
    optimizer ``name`` has no kernel there, and a host round trip on every step would hide the
    cost."""
    if not BACKENDS[p.device.type].host_memory:
        raise TypeError(f"{name} has no {p.device.type.upper()} implementation in minicnn (its "
                        "update is NumPy code for host memory): move the parameters to the CPU "
                        "with .cpu() to use it")
