"""The model zoo: classic CNNs and building blocks with torchvision's structure and parameter
names, so a torchvision state_dict (as NumPy arrays) loads by name.

- small nets: :func:`lenet5`, :func:`simple_cnn`, :func:`convnet`, :func:`nin`;
- :func:`alexnet`, :func:`googlenet`; VGG: :func:`vgg11` ... :func:`vgg19` and their ``_bn``
  variants (CIFAR head by default, ``small_input=False`` for torchvision's ImageNet head);
- ResNets: :func:`resnet18` ... :func:`resnet152`, :func:`resnext50_32x4d`,
  :func:`wide_resnet50_2` (ImageNet), :func:`resnet20` ... :func:`resnet110` (CIFAR, He et
  al. 2016 sec. 4.2) and their plain counterparts :func:`plain20` ... :func:`plain56`
  (no shortcuts), :func:`wrn_28_10` (CIFAR, Zagoruyko & Komodakis 2016);
- :func:`mobilenet_v1`, :func:`mobilenet_v2`, :func:`mobilenet_v3_small`,
  :func:`mobilenet_v3_large`, :func:`shufflenet_v2_x1_0`, :func:`efficientnet_b0` ...
  :func:`efficientnet_b7`, :func:`densenet121` / :func:`densenet`, :func:`convnext_tiny`;
- blocks: :class:`SEBlock`, :class:`CBAM`, :class:`Inception`, :class:`ConvNeXtBlock`,
  :class:`StochasticDepth`, ...

Every constructor takes ``num_classes`` and ``in_channels``. :func:`list_models` names them,
:func:`get_model` builds one by name (as ``torchvision.models``), which is what the command line
uses for ``--model NAME``, and :func:`native_input_shape` gives the input each was designed for.
"""
from .alexnet import *  # noqa: F401,F403
from .alexnet import __all__ as _alexnet
from .blocks import *  # noqa: F401,F403
from .blocks import __all__ as _blocks
from .convnext import *  # noqa: F401,F403
from .convnext import __all__ as _convnext
from .convnet import *  # noqa: F401,F403
from .convnet import __all__ as _convnet
from .densenet import *  # noqa: F401,F403
from .densenet import __all__ as _densenet
from .efficientnet import *  # noqa: F401,F403
from .efficientnet import __all__ as _efficientnet
from .googlenet import *  # noqa: F401,F403
from .googlenet import __all__ as _googlenet
from .lenet import *  # noqa: F401,F403
from .lenet import __all__ as _lenet
from .mobilenet import *  # noqa: F401,F403
from .mobilenet import __all__ as _mobilenet
from .nin import *  # noqa: F401,F403
from .nin import __all__ as _nin
from .resnet import *  # noqa: F401,F403
from .resnet import __all__ as _resnet
from .shufflenet import *  # noqa: F401,F403
from .shufflenet import __all__ as _shufflenet
from .vgg import *  # noqa: F401,F403
from .vgg import __all__ as _vgg
from .wide_resnet import *  # noqa: F401,F403
from .wide_resnet import __all__ as _wide_resnet

_DIGITS, _CIFAR, _IMAGENET = (1, 28, 28), (3, 32, 32), (3, 224, 224)
# every zoo model with the input (C, H, W) it was designed for: MNIST-style 28x28 grey digits,
# 32x32 CIFAR images or 224x224 ImageNet images (see each constructor's docstring)
_MODELS = {
    "lenet5": _DIGITS, "simple_cnn": _DIGITS,
    "convnet": _CIFAR, "nin": _CIFAR,
    "vgg11": _CIFAR, "vgg13": _CIFAR, "vgg16": _CIFAR, "vgg19": _CIFAR,
    "vgg11_bn": _CIFAR, "vgg13_bn": _CIFAR, "vgg16_bn": _CIFAR, "vgg19_bn": _CIFAR,
    "resnet20": _CIFAR, "resnet32": _CIFAR, "resnet44": _CIFAR, "resnet56": _CIFAR,
    "resnet110": _CIFAR, "wrn_28_10": _CIFAR,
    "plain20": _CIFAR, "plain32": _CIFAR, "plain44": _CIFAR, "plain56": _CIFAR,
    "alexnet": _IMAGENET, "googlenet": _IMAGENET,
    "resnet18": _IMAGENET, "resnet34": _IMAGENET, "resnet50": _IMAGENET,
    "resnet101": _IMAGENET, "resnet152": _IMAGENET, "resnext50_32x4d": _IMAGENET,
    "wide_resnet50_2": _IMAGENET,
    "mobilenet_v1": _IMAGENET, "mobilenet_v2": _IMAGENET, "mobilenet_v3_small": _IMAGENET,
    "mobilenet_v3_large": _IMAGENET, "shufflenet_v2_x1_0": _IMAGENET,
    # EfficientNet's compound scaling raises the resolution with the width and depth
    "efficientnet_b0": _IMAGENET, "efficientnet_b1": (3, 240, 240),
    "efficientnet_b2": (3, 260, 260), "efficientnet_b3": (3, 300, 300),
    "efficientnet_b4": (3, 380, 380), "efficientnet_b5": (3, 456, 456),
    "efficientnet_b6": (3, 528, 528), "efficientnet_b7": (3, 600, 600),
    "densenet121": _IMAGENET, "convnext_tiny": _IMAGENET,
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


__all__ = [*_lenet, *_convnet, *_nin, *_alexnet, *_googlenet, *_vgg, *_resnet, *_wide_resnet,
           *_mobilenet, *_shufflenet, *_efficientnet, *_densenet, *_convnext, *_blocks,
           "list_models", "get_model", "native_input_shape"]
