"""Evaluation and prediction: what ``minicnn eval`` and ``minicnn predict`` run.

:func:`evaluate_model` gives the loss, accuracy and confusion matrix of a model on a loader (the
trainer uses it each epoch too) and :func:`format_evaluation` turns them into text;
:func:`evaluate_checkpoint` evaluates a checkpoint (or an untrained zoo model) on a test set;
:func:`predict_files` classifies image files, which :func:`read_images` converts to the model's
input.
"""
import os
import warnings

import numpy as np

from .. import nn
from ..autograd import no_grad
from .config import ConfigError, InputFileError, dataset_info
from .model import untrained_model
from .rundir import load_checkpoint_model

__all__ = ["DARK_BACKGROUND", "InputConversionWarning", "evaluate_checkpoint", "evaluate_model",
           "format_evaluation", "per_class_accuracy", "predict_files", "read_images"]


def evaluate_model(model, loader, num_classes, device="cpu"):
    """Evaluate ``model`` on every batch of ``loader`` in eval mode under ``no_grad``.

    Returns ``{"loss": mean cross-entropy, "acc": fraction correct, "confusion": int64 array
    (num_classes, num_classes), rows true class, columns predicted, "count": images}``. The
    model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    confusion = np.zeros((num_classes, num_classes), np.int64)
    loss_sum, count = 0.0, 0
    try:
        with no_grad():
            for x, y in loader:
                logits = model(x.to(device))
                labels = y.cpu().numpy() if hasattr(y, "cpu") else np.asarray(y)
                loss = nn.functional.cross_entropy(logits, y.to(device), reduction="sum")
                loss_sum += loss.item()
                predicted = logits.cpu().numpy().argmax(1)
                confusion += np.bincount(labels * num_classes + predicted,
                                         minlength=num_classes ** 2).reshape(confusion.shape)
                count += len(labels)
    finally:
        model.train(was_training)
    return {"loss": loss_sum / max(count, 1), "acc": float(np.trace(confusion)) / max(count, 1),
            "confusion": confusion, "count": count}


def per_class_accuracy(confusion):
    """Accuracy (recall) of each class; None for a class with no images."""
    totals = confusion.sum(1)
    return [float(confusion[i, i] / t) if t else None for i, t in enumerate(totals)]


def format_evaluation(result, classes, title):
    """The accuracy, per-class accuracy and confusion matrix as printable text."""
    cm = result["confusion"]
    lines = [f"{title}: loss {result['loss']:.4f}, accuracy {result['acc']:.2%}",
             "per-class accuracy:"]
    width = max(len(c) for c in classes)
    for i, (name, acc) in enumerate(zip(classes, per_class_accuracy(cm))):
        lines.append(f"  {i:>2} {name:<{width}}  " + ("     n/a" if acc is None else f"{acc:8.2%}"))
    cell = max(4, len(str(cm.max())) + 1)
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines.append("    " + "".join(f"{j:>{cell}}" for j in range(len(classes))))
    for i, row in enumerate(cm):
        lines.append(f"  {i:>2}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def _model_and_data(path, name, dataset):
    """``(model, data set entry)`` of the checkpoint at ``path``, or of the untrained zoo model
    ``name`` built for ``dataset``; exactly one of ``path`` and ``name`` must be given."""
    if (path is None) == (name is None):
        raise ConfigError("give either a checkpoint (--checkpoint FILE) or a model name "
                          "(--model NAME)")
    if name is not None:
        return untrained_model(name, dataset)
    model, ckpt = load_checkpoint_model(path)
    return model, ckpt["dataset"]


def evaluate_checkpoint(path=None, dataset=None, data_root=None, batch_size=256, workers=0, *,
                        model=None):
    """Evaluate a training checkpoint (``path``: a ``.npz`` file or a run directory) on the test
    set of ``dataset`` (default: the one it was trained on), normalized as in training; or, with
    ``model`` (a name from :func:`minicnn.models.list_models`) instead of ``path``, that model
    with random weights as ``minicnn train --model NAME --dataset DATASET`` starts it (default
    data set: :class:`TrainConfig`'s), a smoke test of the pipeline. Returns
    :func:`evaluate_model`'s dict plus ``"classes"`` and ``"dataset"``. Raises ConfigError when
    both or neither of ``path`` and ``model`` are given, for an unknown model, or when the data
    set's images or classes do not fit the model."""
    from ..data import DataLoader, get_dataset
    from ..data import transforms as T

    net, trained = _model_and_data(path, model, dataset)
    name, info = dataset_info(dataset or trained["name"])
    shape = [int(info.channels), *(int(s) for s in info.image_size)]
    if shape != [trained["channels"], *trained["image_size"]] \
            or info.num_classes != len(trained["classes"]):
        raise ConfigError(f"dataset {name!r} ({'x'.join(map(str, shape))} images, "
                          f"{info.num_classes} classes) does not fit this model, trained on "
                          f"{trained['name']} ({trained['channels']}x"
                          f"{'x'.join(map(str, trained['image_size']))}, "
                          f"{len(trained['classes'])} classes)")
    transform = T.Compose([T.ToTensor(), T.Normalize(trained["mean"], trained["std"])])
    test_set = get_dataset(name, root=data_root, train=False, transform=transform)
    loader = DataLoader(test_set, batch_size=batch_size, num_workers=workers)
    result = evaluate_model(net, loader, len(trained["classes"]))
    result.update(classes=list(test_set.classes), dataset=name)
    return result


def predict_files(path, images, topk=5, *, model=None, dataset=None):
    """Classify image files (PNG, JPEG, anything Pillow reads) with a training checkpoint
    (``path``: a ``.npz`` file or a run directory), or with ``model`` (a zoo name) instead of
    ``path``: that model with random weights built for ``dataset`` (default:
    :class:`TrainConfig`'s), a smoke test. ``dataset`` goes with ``model`` only: a checkpoint
    fixes its classes and input.

    Each image is prepared by :func:`read_images` (converted to the model's channels and size,
    inverted for the dark-background data sets when its background is light, normalized with
    the training data's mean and std), which warns (:class:`InputConversionWarning`) for each
    image it had to convert. Returns a list, per image, of ``topk`` ``(class name,
    probability)`` pairs, most likely first. Raises ImportError naming the extra when Pillow is
    missing, FileNotFoundError for a missing image or checkpoint, :class:`InputFileError` for a
    file Pillow cannot read, ConfigError for a ``topk`` < 1, both or neither of ``path`` and
    ``model``, or ``dataset`` with a checkpoint.
    """
    from ..creation import tensor

    if int(topk) < 1:
        raise ConfigError(f"--topk must be >= 1, got {topk}")
    if dataset is not None and path is not None:
        raise ConfigError("--dataset goes with --model only: a checkpoint fixes its data set")
    net, info = _model_and_data(path, model, dataset)
    with no_grad():
        probs = nn.functional.softmax(net(tensor(read_images(images, info))), dim=1).numpy()
    k = min(int(topk), probs.shape[1])
    return [[(info["classes"][j], float(p[j])) for j in np.argsort(-p, kind="stable")[:k]]
            for p in probs]


# data sets of light objects on a black background: a light-background picture is inverted
DARK_BACKGROUND = ("mnist", "fashion-mnist")


class InputConversionWarning(UserWarning):
    """:func:`read_images` had to convert an image (colour, size, light background) to the input
    the model expects: its predictions for that image may be poor."""


def read_images(images, info):
    """Image files (PNG, JPEG, anything Pillow reads) as the model input a training checkpoint
    expects: a float32 array (N, C, H, W). ``info`` is the checkpoint's ``"dataset"`` entry.

    Each image is converted to its channels (colour to grey, or grey to RGB) and size (bilinear
    resize when it differs) and scaled to [0, 1]. For the data sets whose images are light on a
    black background (:data:`DARK_BACKGROUND`: MNIST, Fashion-MNIST), an image whose border (its
    outermost rows and columns, after the conversion) averages more than 0.5 is inverted, so a
    photo of a shoe on white paper looks like Fashion-MNIST's; other data sets are never
    inverted. Last, it is normalized with ``info``'s mean and std.

    Each image that needed any of these conversions warns with one
    :class:`InputConversionWarning` saying what was done to it (an RGB file of a grey picture
    counts as grey); an image that already matches (e.g. a 28x28 grey PNG on black) does not.
    Raises ImportError naming the extra when Pillow is missing, FileNotFoundError for a missing
    file and :class:`InputFileError` for a file Pillow cannot read, a damaged one included, or
    will not read: a decompression bomb (more than twice ``PIL.Image.MAX_IMAGE_PIXELS``
    pixels)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install pillow "
                          "(or pip install minicnn[train])") from None
    height, width = info["image_size"]
    mean = np.asarray(info["mean"], np.float32).reshape(-1, 1, 1)
    std = np.asarray(info["std"], np.float32).reshape(-1, 1, 1)
    expected = (f"{width}x{height} {'grey' if info['channels'] == 1 else 'RGB'} images"
                + (" with a dark background" if info["name"] in DARK_BACKGROUND else ""))
    batch = []
    for image in images:
        if not os.path.isfile(image):
            raise FileNotFoundError(f"no such image file: {image}")
        try:
            with Image.open(image) as im:
                array, done = _convert_image(im, info, Image.BILINEAR)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            # DecompressionBomb*: more pixels than Image.MAX_IMAGE_PIXELS (a warning only
            # when warnings are errors), refused before decoding
            raise InputFileError(f"{image}: not an image file Pillow can read ({e})") from None
        if done:
            warnings.warn(f"{image}: {', '.join(done)}; the model expects {expected} (as in "
                          f"{info['name']}), so predictions may be poor",
                          InputConversionWarning, stacklevel=2)
        batch.append((array - mean) / std)
    return np.stack(batch)


def _convert_image(im, info, resample):
    """A Pillow image as :func:`read_images` prepares it, a float32 (C, H, W) array in [0, 1],
    and the list of what was done to it (empty when nothing was)."""
    height, width = info["image_size"]
    grey = info["channels"] == 1
    done = []
    grey_file = set(im.getbands()) - {"A"} <= {"1", "L", "I", "F"}
    if grey and not grey_file:
        # a grey picture stored as RGB loses nothing (8 levels: room for JPEG's colour noise)
        if np.ptp(np.asarray(im.convert("RGB"), np.int16), axis=2).max() > 8:
            done.append("converted colour to grey")
    elif not grey and grey_file:
        done.append("converted grey to RGB")
    im = im.convert("L" if grey else "RGB")
    if im.size != (width, height):
        done.append(f"resized {im.width}x{im.height} to {width}x{height}")
        im = im.resize((width, height), resample)
    array = np.asarray(im, dtype=np.float32) / 255.0
    if info["name"] in DARK_BACKGROUND:
        border = np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])
        if border.mean() > 0.5:
            array = 1.0 - array
            done.append("inverted (light background)")
    return (array[None] if grey else array.transpose(2, 0, 1)), done
