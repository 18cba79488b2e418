"""Device memory: the caching allocator behind every
:class:`~minicnn.backends.cuda.array_ops.DeviceArray`.

cudaMalloc and cudaFree are slow (cudaFree synchronizes the device), and a training step frees
and allocates the same sizes every iteration. So, like PyTorch's CUDA caching allocator
(c10/cuda/CUDACachingAllocator.cpp), freed blocks are kept on free lists by size class and
handed out again; :func:`empty_cache` returns them to the driver. Sizes are rounded up to a
multiple of 512 bytes up to 1 MiB and of 2 MiB above, so a request reuses any cached block of
its class (PyTorch additionally splits large blocks; this one does not). When cudaMalloc fails,
the cache is emptied and the allocation tried once more before the error is raised.

Everything runs on the default stream in issue order, so a block freed while kernels that use it
are still queued can be handed out at once: the next user's kernels run after them.
"""
import ctypes
from collections import defaultdict

from . import _lib

_SMALL = 1 << 20


def round_size(nbytes):
    """The size class of a request: a multiple of 512 bytes up to 1 MiB, of 2 MiB above."""
    if nbytes <= _SMALL:
        return max(512, -(-nbytes // 512) * 512)
    return -(-nbytes // (2 << 20)) * (2 << 20)


class CachingAllocator:
    """Size-class free lists over cudaMalloc; one per process (:data:`allocator`)."""

    def __init__(self):
        self._free = defaultdict(list)  # size class -> device pointers
        self.allocated = 0  # bytes in live blocks (by size class)
        self.reserved = 0  # bytes obtained from cudaMalloc and not yet returned

    def malloc(self, nbytes):
        """A device pointer (int) to at least ``nbytes`` bytes, and its size class."""
        size = round_size(nbytes)
        free = self._free[size]
        if free:
            ptr = free.pop()
        else:
            lib = _lib.lib()
            out = ctypes.c_void_p()
            if lib.mc_cuda_malloc(ctypes.byref(out), size) != 0:
                self.empty_cache()  # out of memory, perhaps only because of the cache
                _lib.check(lib.mc_cuda_malloc(ctypes.byref(out), size))
            ptr = out.value
            self.reserved += size
        self.allocated += size
        return ptr, size

    def release(self, ptr, size):
        """Give a block back to its free list (not to the driver)."""
        self._free[size].append(ptr)
        self.allocated -= size

    def empty_cache(self):
        """cudaFree every cached block (``torch.cuda.empty_cache``)."""
        lib = _lib.library()
        for size, ptrs in self._free.items():
            while ptrs:
                _lib.check(lib.mc_cuda_free(ptrs.pop()))
                self.reserved -= size


allocator = CachingAllocator()


class _Block:
    """Ownership of one allocation; the views of a DeviceArray share it, and it returns to the
    cache when the last of them is gone."""

    __slots__ = ("ptr", "size")

    def __init__(self, nbytes):
        self.ptr, self.size = allocator.malloc(nbytes) if nbytes else (None, 0)

    def __del__(self):
        # no ptr: __init__ failed; allocator None: interpreter shutdown
        if getattr(self, "ptr", None) is not None and allocator is not None:
            allocator.release(self.ptr, self.size)


def memory_allocated():
    """Bytes held by live device arrays (by size class), as ``torch.cuda.memory_allocated``."""
    return allocator.allocated


def memory_reserved():
    """Bytes obtained from cudaMalloc: live arrays plus the cache
    (``torch.cuda.memory_reserved``)."""
    return allocator.reserved


def empty_cache():
    allocator.empty_cache()
