"""The model zoo: classic CNNs and building blocks with torchvision's structure and parameter
names, so a torchvision state_dict (as NumPy arrays) loads by name.

- small nets: :func:`lenet5`, :func:`simple_cnn`, :func:`convnet`;
- :func:`vgg11_bn`, :func:`vgg16_bn` (CIFAR head by default);
- ResNets: :func:`resnet18`, :func:`resnet34`, :func:`resnet50` (ImageNet) and
  :func:`resnet20` ... :func:`resnet110` (CIFAR, He et al. 2016 sec. 4.2);
- :func:`mobilenet_v2`, :func:`efficientnet_b0`, :func:`densenet121` / :func:`densenet`;
- blocks: :class:`SEBlock`, :class:`CBAM`, :class:`Inception`, :class:`ConvNeXtBlock`,
  :class:`StochasticDepth`, ...

Every constructor takes ``num_classes`` and ``in_channels``. :func:`list_models` names them and
:func:`get_model` builds one by name (as ``torchvision.models``), which is what the command line
uses for ``--model NAME``.
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

_MODELS = ("lenet5", "simple_cnn", "convnet", "vgg11_bn", "vgg16_bn", "resnet20", "resnet32",
           "resnet44", "resnet56", "resnet110", "resnet18", "resnet34", "resnet50", "mobilenet_v2",
           "efficientnet_b0", "densenet121")


def list_models():
    """The names :func:`get_model` accepts, e.g. ``["lenet5", "simple_cnn", "convnet", ...]``."""
    return list(_MODELS)


def get_model(name, **kwargs):
    """Build the zoo model ``name`` with keyword arguments for its constructor
    (``get_model("resnet20", num_classes=100)``). Raises ValueError for an unknown name, listing
    the known ones."""
    if name not in _MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; expected one of {', '.join(_MODELS)}")
    return globals()[name](**kwargs)


__all__ = [*_lenet, *_convnet, *_vgg, *_resnet, *_mobilenet, *_efficientnet, *_densenet,
           *_blocks, "list_models", "get_model"]
