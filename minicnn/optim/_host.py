"""The guard of the optimizers whose update is written with NumPy for host (CPU) arrays only."""
from ..backends.cuda.memory import DeviceArray

__all__ = ["check_on_host"]


def check_on_host(name: str, array) -> None:
    """Raise TypeError when ``array`` (a parameter's data) lives on a CUDA device: optimizer
    ``name`` has no CUDA kernel, and a host round trip on every step would hide the cost."""
    if isinstance(array, DeviceArray):
        raise TypeError(f"{name} has no CUDA implementation in minicnn: move the parameters to "
                        "the CPU with .cpu() to use it, or use SGD, Adam or AdamW on cuda")
