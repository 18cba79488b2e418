"""The reference backend: every minicnn kernel written plainly in NumPy.

This package is two things at once:

* the readable version of each kernel, to step through when learning what a layer computes;
* the test oracle: the C kernels in :mod:`minicnn.backends._cpu` and the CUDA ones in
  :mod:`minicnn.backends.cuda` have the same names and signatures, and the tests require them
  to agree with these functions.

One module per kernel family; ``__all__`` here lists every kernel of the backend API: the
contract that each device's :class:`~minicnn.backends.KernelTable` fulfils, kernel by kernel,
with a kernel of its own or (declared by name) this one.

Conventions: arrays are NumPy arrays of float32 or float64; an output has the dtype of its input.
``*_backward(grad_output, saved, ...)`` returns the gradient with respect to the forward's input,
computed from whichever forward value (input ``x`` or output) is cheaper, as the names say. The
updates (``*_step``, ``batch_norm_update_running``) change their arrays in place and return None.
"""
from . import array, conv, elementwise, linear, loss, norm, optim, pool

# before the star imports: the function linear then shadows the module linear
_MODULES = (elementwise, conv, linear, pool, norm, loss, optim, array)

from .array import *  # noqa: E402,F401,F403
from .conv import *  # noqa: E402,F401,F403
from .elementwise import *  # noqa: E402,F401,F403
from .linear import *  # noqa: E402,F401,F403
from .loss import *  # noqa: E402,F401,F403
from .norm import *  # noqa: E402,F401,F403
from .optim import *  # noqa: E402,F401,F403
from .pool import *  # noqa: E402,F401,F403

__all__ = [k for m in _MODULES for k in m.__all__]
