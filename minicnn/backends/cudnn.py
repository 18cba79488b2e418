"""``torch.backends.cudnn``'s flags, so that PyTorch training scripts that set them run unchanged
(``cudnn.benchmark = True`` is common in CIFAR code). minicnn does not use cuDNN: its CUDA
convolutions are its own kernels (docs/09-cuda.md), so the flags are kept but change nothing.
Source: https://pytorch.org/docs/stable/backends.html#torch-backends-cudnn
"""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: minicnn never calls cuDNN."""
    return False


def version() -> None:
    """None: no cuDNN library is loaded."""
    return None
