"""The model of a run: a zoo model built for a data set's images.

:func:`build_model` builds a zoo model for a number of classes, channels and an image size;
:func:`model_for` also runs one image through it, so that a model that does not take the data
set's images fails at once with a :class:`~minicnn.training.config.ConfigError`;
:func:`untrained_model` is the model ``minicnn train`` starts from, for eval and predict
without a checkpoint. :func:`data_entry` is what a checkpoint keeps of the data set (its
``"dataset"`` entry): all that eval and predict need to rebuild the model and prepare its
inputs.
"""
import inspect

from .. import models
from ..autograd import no_grad
from .config import (
    ConfigError,
    TrainConfig,
    check_model,
    check_small_input,
    dataset_info,
    has_small_input,
)

__all__ = ["build_model", "data_entry", "model_for", "untrained_model"]


def build_model(name, num_classes, in_channels, image_size, small_input=False):
    """``minicnn.models.get_model(name, num_classes=, in_channels=)``, plus ``input_size`` for
    models whose constructor takes it (LeNet-5 on 32x32 images) and ``small_input=True`` when
    asked (the CIFAR stem of an ImageNet model)."""
    kwargs = dict(num_classes=num_classes, in_channels=in_channels)
    if small_input:
        check_small_input(name)
        kwargs["small_input"] = True
    if "input_size" in inspect.signature(getattr(models, name)).parameters:
        kwargs["input_size"] = image_size[-1]
    return models.get_model(name, **kwargs)


def _check_input(model, name, shape, dataset):
    """Run one image through the model (eval mode: no random numbers, no BN update) so that a
    model/data mismatch fails now, with a clear message, not after loading a whole epoch."""
    from ..creation import zeros

    model.eval()
    try:
        with no_grad():
            model(zeros((1, *shape)))
    except (ValueError, RuntimeError) as e:
        hint = "; --small-input gives it a stem for small images" if has_small_input(name) else ""
        raise ConfigError(f"model {name!r} does not accept the {'x'.join(map(str, shape))} "
                          f"images of {dataset}: {e}{hint}") from None
    model.train()


def data_entry(key, info):
    """A checkpoint's ``"dataset"`` entry for the data set ``key`` described by ``info``."""
    return {"name": key, "classes": list(info.classes), "channels": int(info.channels),
            "image_size": [int(s) for s in info.image_size],
            "mean": [float(m) for m in info.mean], "std": [float(s) for s in info.std]}


def model_for(name, data, small_input=False):
    """The zoo model ``name`` (with its CIFAR stem when ``small_input``) for the data set entry
    ``data``; ConfigError when it does not take the data set's images."""
    shape = (data["channels"], *data["image_size"])
    model = build_model(name, len(data["classes"]), shape[0], shape[1:], small_input)
    _check_input(model, name, shape, data["name"])
    return model


def untrained_model(name, dataset=None):
    """The zoo model ``name`` with random weights, built as ``minicnn train --model NAME
    --dataset DATASET`` starts it (``dataset`` default: :class:`TrainConfig`'s), in eval mode.
    Returns ``(model, data)``, ``data`` as a checkpoint's ``"dataset"`` entry. Raises
    ConfigError for an unknown model or data set, or a model that does not take its images."""
    check_model(name)
    data = data_entry(*dataset_info(dataset or TrainConfig.dataset))
    return model_for(name, data).eval(), data
