"""The options of ``minicnn train`` and their checks.

:class:`TrainConfig` lists every option with its default; :meth:`TrainConfig.validate` checks
them and raises :class:`ConfigError` naming the option. Also the choices (:data:`OPTIMIZERS`,
:data:`SCHEDULERS`, :data:`DEVICES`), the default learning rates (:data:`DEFAULT_LR`), the
options a resumed run may change (:data:`RUNTIME_OPTIONS`), the look-ups of a model or data set
name (:func:`check_model`, :func:`dataset_info`), and :class:`InputFileError`, the other error a
user's mistake raises: a file given to eval, predict or resume that is not what was expected.
What the optimizer and schedule options do: :mod:`minicnn.training.trainer`.
"""
import inspect
import math
import os
from dataclasses import dataclass

import numpy as np

from .. import cuda, models
from ..distributed import default_pg_timeout

__all__ = ["DEFAULT_LR", "DEVICES", "OPTIMIZERS", "RUNTIME_OPTIONS", "SCHEDULERS", "ConfigError",
           "InputFileError", "TrainConfig", "check_model", "dataset_info", "randaugment_options",
           "require_matplotlib"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("onecycle", "cosine", "step", "none")
DEVICES = ("cpu", "cuda")
AMP_DTYPES = ("bfloat16", "float16")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}
# options that may differ when resuming: they change how fast a run goes, not what it computes
RUNTIME_OPTIONS = ("threads", "workers", "data_root", "device", "plot", "distributed",
                   "detect_anomaly", "timeout", "tensorboard")


class ConfigError(ValueError):
    """An option has a bad value; the message names the option and the valid values."""


class InputFileError(ValueError):
    """A file given to eval/predict/resume is not what was expected (not an image Pillow can
    read, not a checkpoint of ``minicnn train``); the message names it."""


@dataclass
class TrainConfig:
    """Every option of ``minicnn train``, with its default.

    model: a name from :func:`minicnn.models.list_models`. dataset: ``mnist``,
    ``fashion-mnist`` or ``cifar10``. lr: None picks :data:`DEFAULT_LR` for the optimizer.
    warmup_epochs: epochs of linear warmup (see :mod:`minicnn.training.trainer`). val_split:
    fraction of the training set held out for validation (a split drawn from ``seed``).
    warmup_start_factor: the warmup's first lr as a fraction of ``lr`` (LinearLR's
    ``start_factor``). Augmentation of the training images (before ToTensor, on uint8):
    ``augment`` (random crop with padding, horizontal flips except for digits),
    ``random_resized_crop`` (RandomResizedCrop to the image size, scale (0.08, 1)), ``rotation``
    (RandomRotation by up to that many degrees), ``color_jitter`` (ColorJitter with that
    brightness, contrast and saturation), ``randaugment`` ("N,M": RandAugment with N ops of
    magnitude M), ``autoaugment`` (AutoAugment, CIFAR-10 policy); on batches: ``mixup`` and
    ``cutmix`` (the Beta alpha; 0 off; both on: one of the two per batch, chosen evenly).
    ``ema``: the decay of an exponential moving average of the weights (timm's ModelEmaV2;
    None off), which is what evaluation and the checkpoints' ``"ema"`` use. ``small_input``:
    the CIFAR stem of an ImageNet model (3x3 stride-1 first conv, no early downsampling).
    ``amp``: "bfloat16" or "float16": the forward pass and the loss under
    :class:`minicnn.autocast` of that dtype (float16 with a :class:`minicnn.amp.GradScaler`);
    None: float32 throughout.
    Transfer learning (:mod:`minicnn.training.transfer`): ``init_from`` (a checkpoint or state
    dict whose matching weights start the model), ``freeze`` (comma-separated globs of
    parameter or module names left untrained), ``freeze_bn`` (batch norm in eval mode with
    frozen affine parameters), ``unfreeze_at`` (the 1-based epoch from which the frozen
    parameters train too), ``head_lr`` (the lr of the last Linear layer's parameters; None: lr).
    val_split: fraction of the training set held out (default 0.1) to choose ``best.npz``;
    0 keeps the last epoch as ``best.npz`` (the test set never chooses).
    threads: None leaves minicnn's thread count as it is. out: the run directory (None:
    ``runs/<model>-<dataset>``, with ``-2``, ``-3`` ... when taken). data_root: where the data
    set files are (None: the data package's search path). workers: background loader threads.
    distributed: data-parallel over the ranks of an MPI job (see
    :mod:`minicnn.training.trainer`; the checkpoint fixes the rank count). timeout: with
    ``distributed``, the seconds a rank waits in a collective for the others before it fails
    the job (:func:`minicnn.distributed.init`; 30 minutes, as torch's). plot: draw
    ``curves.png`` at the end of the run (skipped, with a note, without matplotlib).
    detect_anomaly: train under :class:`minicnn.autograd.detect_anomaly` (slow): a NaN
    gradient stops the run naming the op whose backward made it. tensorboard: write TensorBoard
    event files every epoch (:mod:`minicnn.training.trainer`, "TensorBoard"): True into
    ``out/tb``, a string into that directory; False: none.
    """

    model: str = "lenet5"
    dataset: str = "fashion-mnist"
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"
    warmup_epochs: int = 0
    warmup_start_factor: float = 0.01
    label_smoothing: float = 0.0
    augment: bool = False
    random_resized_crop: bool = False
    rotation: float = 0.0
    color_jitter: float = 0.0
    randaugment: str = None
    autoaugment: bool = False
    mixup: float = 0.0
    cutmix: float = 0.0
    ema: float = None
    small_input: bool = False
    amp: str = None
    init_from: str = None
    freeze: str = None
    freeze_bn: bool = False
    unfreeze_at: int = None
    head_lr: float = None
    val_split: float = 0.1
    threads: int = None
    seed: int = 0
    out: str = None
    device: str = "cpu"
    plot: bool = True
    detect_anomaly: bool = False
    data_root: str = None
    workers: int = 0
    distributed: bool = False
    timeout: float = default_pg_timeout.total_seconds()
    tensorboard: bool | str = False

    def validate(self):
        """Check every value; fill in ``lr``. Raises :class:`ConfigError` naming the option."""
        check_model(self.model)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("scheduler", self.scheduler, SCHEDULERS)
        _check_choice("device", self.device, DEVICES)
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("warmup_epochs", self.warmup_epochs, 0)
        _check_int("seed", self.seed, 0)
        _check_int("workers", self.workers, 0)
        if self.threads is not None:
            _check_int("threads", self.threads, 1)
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        _check_number("lr", self.lr, 0.0, None, low_open=True)
        _check_number("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _check_number("weight_decay", self.weight_decay, 0.0, None)
        _check_number("label_smoothing", self.label_smoothing, 0.0, 1.0)
        _check_number("val_split", self.val_split, 0.0, 1.0, high_open=True)
        _check_number("warmup_start_factor", self.warmup_start_factor, 0.0, 1.0, low_open=True)
        _check_number("rotation", self.rotation, 0.0, 180.0)
        _check_number("color_jitter", self.color_jitter, 0.0, 1.0)
        _check_number("mixup", self.mixup, 0.0, None)
        _check_number("cutmix", self.cutmix, 0.0, None)
        if self.amp is not None:
            _check_choice("amp", self.amp, AMP_DTYPES)
        if self.head_lr is not None:
            _check_number("head_lr", self.head_lr, 0.0, None, low_open=True)
        if self.unfreeze_at is not None:
            _check_int("unfreeze_at", self.unfreeze_at, 1)
            if not (self.freeze or self.freeze_bn):
                raise ConfigError("--unfreeze-at goes with --freeze or --freeze-bn")
        if self.ema is not None:
            _check_number("ema", self.ema, 0.0, 1.0, low_open=True, high_open=True)
        if self.randaugment is not None:
            randaugment_options(self.randaugment)
        if self.randaugment is not None and self.autoaugment:
            raise ConfigError("--randaugment and --autoaugment are two policies; choose one")
        if self.small_input:
            check_small_input(self.model)
        _check_number("timeout", self.timeout, 0.0, None, low_open=True)
        if not (isinstance(self.tensorboard, bool) or
                isinstance(self.tensorboard, str) and self.tensorboard):
            raise ConfigError(f"--tensorboard takes a directory, or no value for DIR/tb (in a "
                              f"--config file: true or a path), got {self.tensorboard!r}")
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ConfigError(f"--warmup-epochs must be smaller than --epochs "
                              f"({self.epochs}), got {self.warmup_epochs}")
        if self.data_root is not None and not os.path.isdir(self.data_root):
            raise ConfigError(f"--data-root {self.data_root}: no such directory; put the "
                              f"files there (minicnn data fetch {self.dataset} --data-root "
                              f"{self.data_root}) or leave it out to search the default places")
        if self.distributed and self.device != "cpu":
            raise ConfigError("--distributed trains on the CPU only; drop --device cuda")
        if self.device == "cuda" and cuda.unavailable_reason() is not None:
            raise ConfigError(f"--device cuda: CUDA is not available "
                              f"({cuda.unavailable_reason()}); use --device cpu")
        return self


def _check_choice(name, value, choices):
    if value not in choices:
        raise ConfigError(f"--{name.replace('_', '-')}: invalid choice {value!r}; choose from "
                          f"{', '.join(choices)}")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= {low}, "
                          f"got {value!r}")


def _check_number(name, value, low, high, low_open=False, high_open=False):
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        and math.isfinite(value) and (value > low if low_open else value >= low) \
        and (high is None or (value < high if high_open else value <= high))
    if not ok:
        bounds = ("> " if low_open else ">= ") + str(low)
        if high is not None:
            bounds += (" and < " if high_open else " and <= ") + str(high)
        raise ConfigError(f"--{name.replace('_', '-')} must be a number {bounds}, got {value!r}")


def randaugment_options(text: str) -> tuple[int, int]:
    """``"N,M"`` of ``--randaugment`` as (num_ops, magnitude): N >= 1 ops, magnitude M in 0..30
    (RandAugment's 31 bins). Raises :class:`ConfigError`."""
    try:
        n, m = (int(v) for v in str(text).split(","))
    except ValueError:
        n = m = -1
    if n < 1 or not 0 <= m <= 30:
        raise ConfigError(f"--randaugment takes N,M: N >= 1 ops of magnitude M in 0..30 (e.g. "
                          f"2,9), got {text!r}")
    return n, m


def has_small_input(name: str) -> bool:
    """Whether the zoo model ``name`` takes ``small_input`` (an ImageNet model's CIFAR stem)."""
    return "small_input" in inspect.signature(getattr(models, name)).parameters


def check_small_input(name: str) -> None:
    """Raise :class:`ConfigError` unless the zoo model ``name`` has a ``small_input`` stem."""
    if not has_small_input(name):
        raise ConfigError(f"--small-input: {name} has no ImageNet stem to replace (it is built "
                          "for small images already)")


def check_model(name: str) -> None:
    """Raise :class:`ConfigError` listing the zoo's models unless ``name`` is one of them."""
    if name not in models.list_models():
        raise ConfigError(f"unknown model {name!r}; choose from "
                          f"{', '.join(models.list_models())}")


def dataset_info(name):
    """``(canonical name, DatasetInfo)`` for a data set name or alias, from
    ``minicnn.data.DATASETS``. Raises :class:`ConfigError` listing the known names."""
    from .. import data

    try:
        key = data.canonical_name(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return key, data.DATASETS[key]


def require_matplotlib() -> None:
    """Raise ImportError naming the extra when matplotlib (which draws curves.png) is missing;
    ``minicnn train --plot`` calls it before training."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install matplotlib (or pip install "
                          "minicnn[train]); --no-plot skips curves.png") from None
