"""The model zoo: classic CNNs and building blocks with torchvision's structure and parameter
names, so a torchvision state_dict (as NumPy arrays) loads by name.

- small nets: :func:`lenet5`, :func:`simple_cnn`, :func:`convnet`;
- :func:`vgg11_bn`, :func:`vgg16_bn` (CIFAR head by default);
- ResNets: :func:`resnet18`, :func:`resnet34`, :func:`resnet50` (ImageNet) and
  :func:`resnet20` ... :func:`resnet110` (CIFAR, He et al. 2016 sec. 4.2);
- :func:`mobilenet_v2`, :func:`efficientnet_b0`, :func:`densenet121` / :func:`densenet`;
- blocks: :class:`SEBlock`, :class:`CBAM`, :class:`Inception`, :class:`ConvNeXtBlock`,
  :class:`StochasticDepth`, ...

Every constructor takes ``num_classes`` and ``in_channels``. :func:`list_models` names them,
:func:`get_model` builds one by name (as ``torchvision.models``), which is what the command line
uses for ``--model NAME``, and :func:`native_input_shape` gives the input each was designed for.
"""
from .blocks import *  # noqa: F401,F403
from .blocks import __all__ as _blocks
from .convnet import *  # noqa: F401,F403
from .convnet import __all__ as _convnet
from .densenet import *  # noqa: F401,F403
from .densenet import __all__ as _densenet
from .efficientnet import *  # noqa: F401,F403
from .efficientnet import __all__ as _efficientnet
from .lenet import *  # noqa: F401,F403
from .lenet import __all__ as _lenet
from .mobilenet import *  # noqa: F401,F403
from .mobilenet import __all__ as _mobilenet
from .resnet import *  # noqa: F401,F403
from .resnet import __all__ as _resnet
from .vgg import *  # noqa: F401,F403
from .vgg import __all__ as _vgg

_DIGITS, _CIFAR, _IMAGENET = (1, 28, 28), (3, 32, 32), (3, 224, 224)
# every zoo model with the input (C, H, W) it was designed for: MNIST-style 28x28 grey digits,
# 32x32 CIFAR images or 224x224 ImageNet images (see each constructor's docstring)
_MODELS = {
    "lenet5": _DIGITS, "simple_cnn": _DIGITS,
    "convnet": _CIFAR, "vgg11_bn": _CIFAR, "vgg16_bn": _CIFAR, "resnet20": _CIFAR,
    "resnet32": _CIFAR, "resnet44": _CIFAR, "resnet56": _CIFAR, "resnet110": _CIFAR,
    "resnet18": _IMAGENET, "resnet34": _IMAGENET, "resnet50": _IMAGENET,
    "mobilenet_v2": _IMAGENET, "efficientnet_b0": _IMAGENET, "densenet121": _IMAGENET,
}


def list_models():
    """The names :func:`get_model` accepts, e.g. ``["lenet5", "simple_cnn", "convnet", ...]``."""
    return list(_MODELS)


def native_input_shape(name: str) -> tuple:
    """The input ``(C, H, W)`` (three ints) the zoo model ``name`` was designed for, with its
    default ``in_channels``: ``(1, 28, 28)`` for the MNIST models (lenet5, simple_cnn),
    ``(3, 32, 32)`` for the CIFAR ones (convnet, vgg*, resnet20 ... resnet110), ``(3, 224, 224)``
    for the ImageNet ones (resnet18/34/50, mobilenet_v2, efficientnet_b0, densenet121).
    ``minicnn summary NAME`` uses it when no ``--input-shape`` is given. Raises ValueError for
    an unknown name, listing the known ones."""
    _check_name("native_input_shape", name)
    return _MODELS[name]


def _check_name(fn, name):
    if name not in _MODELS:
        raise ValueError(f"{fn}: unknown model {name!r}; expected one of {', '.join(_MODELS)}")


def get_model(name, **kwargs):
    """Build the zoo model ``name`` with keyword arguments for its constructor
    (``get_model("resnet20", num_classes=100)``). Raises ValueError for an unknown name, listing
    the known ones."""
    _check_name("get_model", name)
    return globals()[name](**kwargs)


__all__ = [*_lenet, *_convnet, *_vgg, *_resnet, *_mobilenet, *_efficientnet, *_densenet,
           *_blocks, "list_models", "get_model", "native_input_shape"]
