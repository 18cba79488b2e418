"""The training engine behind ``minicnn train``, ``eval`` and ``predict``.

Read it top to bottom: :class:`TrainConfig` lists every option with its default;
:class:`Trainer` builds the data, model, optimizer and schedule from it (``__init__``), runs the
epochs (:meth:`Trainer.fit`), one epoch of batches (:meth:`Trainer.train_epoch`, one batch in
:meth:`Trainer.train_step`) and the evaluation (:meth:`Trainer.evaluate`), and writes the run
directory. The loop is the one of any PyTorch script::

    for x, y in loader:
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step(); scheduler.step()

The run directory DIR (``--out``)
---------------------------------
- ``config.json``: the configuration (:class:`TrainConfig` as a dict, ``lr`` resolved).
- ``metrics.jsonl`` and ``metrics.csv``: one row per epoch with the keys of :data:`COLUMNS`:
  ``epoch`` (1-based), ``lr`` (at the epoch's first batch), ``train_loss``, ``train_acc``,
  ``val_loss``, ``val_acc`` (on the held-out split; empty/null without ``--val-split``),
  ``test_loss``, ``test_acc`` (on the test set; only evaluated each epoch when there is no
  validation split), ``epoch_time_s`` (train + evaluation), ``images_per_s`` (training only).
  Accuracies are fractions in [0, 1].
- ``last.npz``: a checkpoint written at the start of the run and after every epoch;
  ``best.npz``: the one of the epoch with the best validation accuracy (test accuracy without a
  validation split). Both are :func:`minicnn.save` files (atomic writes) holding a dict:

  - ``"format"``: ``"minicnn-train"``; ``"version"``: 1
  - ``"epoch"``: the number of completed epochs (0 in the first ``last.npz``)
  - ``"model"``, ``"optimizer"``, ``"scheduler"``: ``state_dict()`` s (``"scheduler"`` is None
    for ``--scheduler none`` without warmup)
  - ``"rng"``: ``{"minicnn": <bit_generator.state of minicnn's default generator>,
    "loader": {"seed": int, "epoch": int}}`` (the loader's shuffle seed and next epoch)
  - ``"config"``: the configuration dict (as in config.json)
  - ``"dataset"``: ``{"name", "classes", "channels", "image_size", "mean", "std"}``: what
    ``eval`` and ``predict`` need to rebuild the model and prepare its inputs
  - ``"history"``: the metric rows so far; ``"best"``: ``{"epoch", "metric", "value"}`` or None
  - ``"world_size"``: the number of ranks that trained it (1 without ``--distributed``)
  - ``"interrupted"``: None, or after Ctrl-C ``{"epoch": the 1-based epoch that was running,
    "batch": batches it had completed, "batches": batches per epoch, "phase": "train",
    "evaluation" or "final test"}``
- ``results.json``: the final test loss and accuracy of the last model, per-class accuracy, the
  confusion matrix (rows: true class, columns: predicted class), the best epoch and
  ``epochs_time_s`` (the summed epoch times, training and evaluation);
  ``confusion_matrix.csv``: the same matrix with class names.
- ``curves.png``: loss and accuracy per epoch, drawn at the end of the run unless ``--no-plot``
  (``TrainConfig.plot=False``). Without matplotlib it is skipped with a one-line note, except
  that an explicit ``minicnn train --plot`` then fails before training.

What it prints
--------------
A header (model, data set sizes, epochs, batch, optimizer, schedule), then per epoch:

- while it trains, on a terminal with tqdm: a progress bar (batches, running loss and
  accuracy, img/s) that disappears when the epoch ends. Anywhere else (a log file, CI, nohup,
  a terminal without tqdm): a line every tenth of the epoch (every batch for epochs of fewer
  than 10 batches), e.g.
  ``  epoch 2/5  step 47/469 (10%)  loss 0.5123  acc 81.20%  1830 img/s  ETA 24 s``
  with the running mean loss and accuracy of the epoch so far, the training speed and the time
  left in the epoch's training (evaluation excluded);
- a summary line: train, val/test loss and accuracy, the lr range, time and speed, e.g.
  ``epoch 2/5  train loss 0.4012 acc 85.71%  test loss 0.3987 acc 85.90%  lr 0.05->0.0413
  12.3 s, 1830 img/s``. The lr range gives the lrs the epoch's steps used: the first step's, the
  highest when it is above both ends (a rise and fall within the epoch, as OneCycleLR over
  few epochs does) and the last step's, to 3 significant digits with repeats dropped: ``0.05``
  when constant, ``0.002->0.05->2e-07`` for OneCycleLR in a 1-epoch run. (The lr set after
  the last step is not shown: the next epoch's first step uses it, and after the final epoch
  no step does.) The ``lr`` of the metrics files is the first step's.

Then the final test (loss, accuracy, per-class accuracy, confusion matrix) and the files it
saved: ``best.npz`` (with its epoch and accuracy), ``last.npz``, ``metrics.csv``,
``results.json`` and ``curves.png`` when drawn. With ``--distributed`` only rank 0 prints; its
progress lines show rank 0's running loss and the img/s of all ranks.

Reproducibility and resuming
----------------------------
``seed`` seeds minicnn's default generator (weight initialization, dropout) and the training
loader, whose epoch k shuffles with an order derived from (seed, k) and augments batch b with a
generator derived from (seed, k, b), whatever ``--workers``. A checkpoint holds the default
generator's state at the end of its epoch and the loader's next epoch, so ``--resume DIR``
continues exactly: the result is bit-for-bit that of an uninterrupted run.

Ctrl-C saves no half-done epoch: the checkpoint it leaves in ``last.npz`` is the state at the
end of the last completed epoch (the one written then, now marked ``"interrupted"`` with the
position reached), and ``--resume`` restarts the interrupted epoch from its first batch with the
same order and random numbers. So resuming stays exact, at the price of redoing part of an epoch.

Data-parallel training (``--distributed``)
------------------------------------------
Under ``mpiexec -n N`` (:mod:`minicnn.distributed`, ``pip install minicnn[dist]``) each of the N
ranks trains a copy of the model on its shard of every epoch
(:class:`~minicnn.distributed.DistributedSampler`) with ``batch_size`` images per rank (a
global batch of N x ``batch_size``), and the gradients are averaged over the ranks after every
backward pass. Evaluation is sharded too, with rank 0's batch-norm running statistics; the
metrics count the images of all ranks. Only rank 0 prints and writes the run directory; the
others need the data set files (and, to resume, the checkpoint) at the same paths. A run
resumes exactly on the same number of ranks (``"world_size"`` in the checkpoint); on one rank,
``--distributed`` computes what a plain run does.

Optimizer and schedule
----------------------
``sgd`` (momentum ``--momentum``), ``adam`` or ``adamw``; the default ``lr`` is 0.05 for SGD and
0.001 for Adam/AdamW. Weight decay applies to every parameter (biases and batch-norm weights
included), as ``optimizer(model.parameters(), weight_decay=...)`` does in PyTorch. The schedules
are defined in epochs but advanced after every batch (smooth warmups, exact epoch boundaries):

- ``onecycle``: :class:`~minicnn.optim.lr_scheduler.OneCycleLR` with ``max_lr=lr``; it warms up
  by itself over ``pct_start`` (0.3, or ``warmup_epochs / epochs`` when ``--warmup-epochs`` is
  given) and cycles the momentum (SGD with momentum: from ``momentum`` down to
  ``min(0.85, momentum)``; Adam: beta1 between 0.95 and 0.85).
- ``cosine``: cosine annealing to 0; ``step``: lr x 0.1 every third of the epochs (after the
  warmup); ``none``: constant. With ``--warmup-epochs W`` these start with a linear warmup from
  ``lr / 100`` over W epochs (:class:`LinearLR`, chained by :class:`SequentialLR`).
"""
import copy
import csv
import dataclasses
import inspect
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import cuda, distributed, models, nn, optim
from . import random as _random
from .autograd import no_grad
from .backends import set_num_threads
from .serialization import load, save

__all__ = ["COLUMNS", "DARK_BACKGROUND", "ConfigError", "InputConversionWarning",
           "InputFileError", "TrainConfig", "Trainer", "TrainingInterrupted", "check_model",
           "evaluate_checkpoint", "load_checkpoint_model", "predict_files", "read_images",
           "require_matplotlib", "train"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("onecycle", "cosine", "step", "none")
DEVICES = ("cpu", "cuda")
COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
           "test_acc", "epoch_time_s", "images_per_s")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}
# options that may differ when resuming: they change how fast a run goes, not what it computes
RUNTIME_OPTIONS = ("threads", "workers", "data_root", "device", "plot", "distributed")
CHECKPOINT_FORMAT = "minicnn-train"


class ConfigError(ValueError):
    """An option has a bad value; the message names the option and the valid values."""


class InputFileError(ValueError):
    """A file given to eval/predict/resume is not what was expected (not an image Pillow can
    read, not a checkpoint of ``minicnn train``); the message names it."""


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :meth:`Trainer.fit` after Ctrl-C, once the resumable checkpoint is written.
    ``checkpoint`` is its path; ``str()`` says how to resume."""

    def __init__(self, message, checkpoint):
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclass
class TrainConfig:
    """Every option of ``minicnn train``, with its default.

    model: a name from :func:`minicnn.models.list_models`. dataset: ``mnist``,
    ``fashion-mnist`` or ``cifar10``. lr: None picks :data:`DEFAULT_LR` for the optimizer.
    warmup_epochs: epochs of linear warmup (see the module docstring). val_split: fraction of
    the training set held out for validation (a split drawn from ``seed``). threads: None leaves
    minicnn's thread count as it is. out: the run directory (None: ``runs/<model>-<dataset>``,
    with ``-2``, ``-3`` ... when taken). data_root: where the data set files are (None: the
    data package's search path). workers: background loader threads. distributed: data-parallel
    over the ranks of an MPI job (see the module docstring; the checkpoint fixes the rank count).
    plot: draw ``curves.png`` at the end of the run (skipped, with a note, without matplotlib).
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
    label_smoothing: float = 0.0
    augment: bool = False
    val_split: float = 0.0
    threads: int = None
    seed: int = 0
    out: str = None
    device: str = "cpu"
    plot: bool = True
    data_root: str = None
    workers: int = 0
    distributed: bool = False

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
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ConfigError(f"--warmup-epochs must be smaller than --epochs "
                              f"({self.epochs}), got {self.warmup_epochs}")
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


def require_matplotlib() -> None:
    """Raise ImportError naming the extra when matplotlib (which draws curves.png) is missing;
    ``minicnn train --plot`` calls it before training."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install matplotlib (or pip install "
                          "minicnn[train]); --no-plot skips curves.png") from None


# ------------------------------------------------------------------ data


def dataset_info(name):
    """``(canonical name, DatasetInfo)`` for a data set name or alias, from
    ``minicnn.data.DATASETS``. Raises :class:`ConfigError` listing the known names."""
    from . import data

    try:
        key = data.canonical_name(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return key, data.DATASETS[key]


def _transforms(name, info, augment):
    """(train transform, eval transform). Augmentation: a random crop with padding (4 pixels
    for 32x32 images, 2 for 28x28) and, except for digits, a horizontal flip."""
    from .data import transforms as T

    tail = [T.Normalize(info.mean, info.std)]
    train = [T.ToTensor()]
    if augment:
        size = tuple(info.image_size)
        train.append(T.RandomCrop(size, padding=4 if size[-1] >= 32 else 2))
        if name != "mnist":
            train.append(T.RandomHorizontalFlip())
    return T.Compose(train + tail), T.Compose([T.ToTensor()] + tail)


def _with_transform(dataset, transform):
    """The same data (arrays shared, not copied) seen through another transform."""
    view = copy.copy(dataset)
    view.transform = transform
    return view


# ------------------------------------------------------------------ model


def build_model(name, num_classes, in_channels, image_size):
    """``minicnn.models.get_model(name, num_classes=, in_channels=)``, plus ``input_size`` for
    models whose constructor takes it (LeNet-5 on 32x32 images)."""
    kwargs = dict(num_classes=num_classes, in_channels=in_channels)
    if "input_size" in inspect.signature(getattr(models, name)).parameters:
        kwargs["input_size"] = image_size[-1]
    return models.get_model(name, **kwargs)


def _check_input(model, name, shape, dataset):
    """Run one image through the model (eval mode: no random numbers, no BN update) so that a
    model/data mismatch fails now, with a clear message, not after loading a whole epoch."""
    from . import zeros

    model.eval()
    try:
        with no_grad():
            model(zeros((1, *shape)))
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"model {name!r} does not accept the {'x'.join(map(str, shape))} "
                          f"images of {dataset}: {e}") from None
    model.train()


# ------------------------------------------------------------------ the trainer


class Trainer:
    """Train ``config.model`` on ``config.dataset`` and write the run directory.

    ``Trainer(config)`` starts a new run in ``config.out`` (replacing the files of a run
    there; the command line refuses such a directory); :meth:`resume` continues one.
    :meth:`fit` runs the remaining epochs and the final test and returns the results dict.
    ``stream``: where progress and summaries go (default sys.stdout; a progress bar when it is
    a terminal and tqdm is installed, else a progress line every tenth of an epoch).

    Raises :class:`ConfigError` for bad options, ImportError for a missing optional extra, and
    the data package's error when the data set files are missing.
    """

    def __init__(self, config, stream=None, _checkpoint=None):
        from .data import DataLoader, Subset, get_dataset

        self.config = config = config.validate()
        self.stream = stream or sys.stdout
        if config.out is None:
            raise ConfigError("TrainConfig.out: the run directory is required")
        self.rank, self.world_size = distributed.init() if config.distributed else (0, 1)
        if config.threads is not None:
            set_num_threads(config.threads)
        self.device = config.device

        # data: the training set (minus a seeded validation split), the test set
        self.dataset_name, info = dataset_info(config.dataset)
        train_tf, eval_tf = _transforms(self.dataset_name, info, config.augment)
        root = config.data_root
        train_set = get_dataset(self.dataset_name, root=root, train=True, transform=train_tf)
        test_set = get_dataset(self.dataset_name, root=root, train=False, transform=eval_tf)
        self.classes = list(train_set.classes)
        self.val_set = None
        if config.val_split > 0:
            order = np.random.default_rng([config.seed, 1]).permutation(len(train_set))
            n_val = int(round(config.val_split * len(train_set)))
            if not 0 < n_val < len(train_set):
                raise ConfigError(f"--val-split {config.val_split} leaves {n_val} of "
                                  f"{len(train_set)} images for validation; choose a fraction "
                                  "that keeps at least one image on each side")
            self.val_set = Subset(_with_transform(train_set, eval_tf), np.sort(order[:n_val]))
            train_set = Subset(train_set, np.sort(order[n_val:]))
        self.train_set, self.test_set = train_set, test_set
        loader = dict(batch_size=config.batch_size, num_workers=config.workers)
        if self.world_size == 1:
            self.train_loader = DataLoader(train_set, shuffle=True, seed=config.seed, **loader)
        else:  # this rank's shard; its own augmentation draws (rank 0's are those of 1 rank)
            sampler = distributed.DistributedSampler(train_set, seed=config.seed)
            seed = (config.seed if self.rank == 0 else
                    int(np.random.SeedSequence([config.seed, self.rank]).generate_state(1)[0]))
            self.train_loader = DataLoader(train_set, sampler=sampler, seed=seed, **loader)
        self.test_loader = DataLoader(self._shard(test_set), **loader)
        self.val_loader = DataLoader(self._shard(self.val_set), **loader) if self.val_set else None
        self.data_info = _data_entry(self.dataset_name, info)
        self.data_info["classes"] = self.classes

        # model, optimizer, schedule: the seed fixes the initial weights
        _random.manual_seed(config.seed)
        self.model = _model_for(config.model, self.data_info).to(self.device)
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()

        self.epoch = 0  # completed epochs
        self.history = []
        self.best = None
        self.position = None  # (epoch, batch, batches, phase) while an epoch runs
        self.resumed_from = _checkpoint
        if _checkpoint is not None:
            self._restore(_checkpoint)
        if self.world_size > 1:
            distributed.broadcast_parameters(self.model)
            distributed.barrier()  # every rank has checked --out before rank 0 writes there

    def _shard(self, dataset):
        """This rank's part of an evaluation set (every world_size-th image, no padding)."""
        from .data import Subset

        if self.world_size == 1:
            return dataset
        return Subset(dataset, np.arange(self.rank, len(dataset), self.world_size))

    def _make_optimizer(self):
        c = self.config
        params = self.model.parameters()
        if c.optimizer == "sgd":
            return optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        cls = optim.Adam if c.optimizer == "adam" else optim.AdamW
        return cls(params, lr=c.lr, weight_decay=c.weight_decay)

    def _make_scheduler(self):
        """The lr schedule, stepped after every batch (see the module docstring)."""
        c, sched = self.config, optim.lr_scheduler
        steps = len(self.train_loader)
        total, warmup = c.epochs * steps, c.warmup_epochs * steps
        if c.scheduler == "onecycle":
            pct = c.warmup_epochs / c.epochs if c.warmup_epochs else 0.3
            kwargs = {}
            if c.optimizer == "sgd":
                kwargs = dict(cycle_momentum=c.momentum > 0, max_momentum=c.momentum,
                              base_momentum=min(0.85, c.momentum))
            return sched.OneCycleLR(self.optimizer, max_lr=c.lr, total_steps=total,
                                    pct_start=float(pct), **kwargs)
        if c.scheduler == "cosine":
            main = sched.CosineAnnealingLR(self.optimizer, T_max=total - warmup)
        elif c.scheduler == "step":
            every = max(1, (c.epochs - c.warmup_epochs) // 3) * steps
            main = sched.StepLR(self.optimizer, step_size=every, gamma=0.1)
        else:
            main = None
        if not warmup:
            return main
        ramp = sched.LinearLR(self.optimizer, start_factor=0.01, total_iters=warmup)
        if main is None:  # after its total_iters LinearLR holds the factor 1: a constant lr
            return ramp
        return sched.SequentialLR(self.optimizer, [ramp, main], milestones=[warmup])

    # -------------------------------------------------------------- checkpoints

    def state_dict(self):
        """The checkpoint dict (keys in the module docstring)."""
        return {"format": CHECKPOINT_FORMAT, "version": 1, "epoch": self.epoch,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "rng": {"minicnn": _random.default_generator().bit_generator.state,
                        "loader": {"seed": self.config.seed, "epoch": self.epoch}},
                "config": dataclasses.asdict(self.config), "dataset": self.data_info,
                "history": self.history, "best": self.best, "interrupted": None,
                "world_size": self.world_size}

    def _restore(self, ckpt):
        trained_on = int(ckpt.get("world_size", 1))
        if trained_on != self.world_size:
            how = (f"mpiexec -n {trained_on} minicnn train --resume {self.config.out} "
                   "--distributed" if trained_on > 1 else "without mpiexec")
            raise ConfigError(f"--resume: the run was trained on {trained_on} rank(s), this "
                              f"is {self.world_size}; resume it exactly with: {how}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        _random.default_generator().bit_generator.state = ckpt["rng"]["minicnn"]
        self.epoch = int(ckpt["epoch"])
        self.history = [dict(row) for row in ckpt["history"]]
        self.best = ckpt["best"]

    @classmethod
    def resume(cls, directory, stream=None, **runtime):
        """Continue the run in ``directory`` from its ``last.npz``. ``runtime``: new values for
        the options of :data:`RUNTIME_OPTIONS` (threads, workers, data_root, device, plot);
        the others come from the checkpoint. Raises FileNotFoundError when there is no
        ``last.npz``, ConfigError for another option, :class:`InputFileError` for a file that
        is not a training checkpoint."""
        path = os.path.join(directory, "last.npz")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--resume {directory}: no checkpoint {path}; a run "
                                    "directory holds last.npz from its first epoch on")
        ckpt = _load_training_checkpoint(path)
        unknown = set(runtime) - set(RUNTIME_OPTIONS)
        if unknown:
            raise ConfigError(f"--resume continues the run with its saved options; only "
                              f"{', '.join(RUNTIME_OPTIONS)} may change, not "
                              f"{', '.join(sorted(unknown))}")
        config = TrainConfig(**{**ckpt["config"], **runtime, "out": str(directory)})
        return cls(config, stream=stream, _checkpoint=ckpt)

    # -------------------------------------------------------------- the loop

    def fit(self):
        """Run the remaining epochs, then the final test; returns the results dict (also in
        ``results.json``). Ctrl-C: raises :class:`TrainingInterrupted` after marking
        ``last.npz`` (see the module docstring)."""
        c = self.config
        os.makedirs(c.out, exist_ok=True)
        last = os.path.join(c.out, "last.npz")
        if self.resumed_from is None:
            self._write_json("config.json", dataclasses.asdict(c))
            self._save(self.state_dict(), last)
        else:
            note = ""
            mark = self.resumed_from.get("interrupted")
            if mark and mark["phase"] != "final test":
                note = (f" (epoch {mark['epoch']} was interrupted at batch {mark['batch']}/"
                        f"{mark['batches']}; it restarts from its first batch)")
            self._log(f"resuming {c.out} after epoch {self.epoch}/{c.epochs}{note}")
        self._rewrite_metrics()
        self._log(f"training {c.model} on {self.dataset_name}: {len(self.train_set)} train"
                  + (f", {len(self.val_set)} val" if self.val_set else "")
                  + f", {len(self.test_set)} test images; {c.epochs} "
                  f"epoch{'' if c.epochs == 1 else 's'}, batch {c.batch_size}, {c.optimizer} "
                  f"lr {c.lr:g}, {c.scheduler} schedule")
        try:
            while self.epoch < c.epochs:
                row, lrs = self._run_epoch(self.epoch)
                self.epoch += 1
                self.history.append(row)
                self._append_metrics(row)
                self._log(_epoch_line(row, c.epochs, lrs))
                metric = "val_acc" if self.val_set else "test_acc"
                improved = self.best is None or row[metric] > self.best["value"]
                if improved:
                    self.best = {"epoch": row["epoch"], "metric": metric, "value": row[metric]}
                checkpoint = self.state_dict()
                if improved:  # best first: a Ctrl-C between the two redoes this epoch
                    self._save(checkpoint, os.path.join(c.out, "best.npz"))
                self._save(checkpoint, last)
                self.position = None  # between epochs
            self.position = (c.epochs, 0, 0, "final test")
            results = self._final_test()
        except KeyboardInterrupt:
            raise self._interrupted(last) from None
        saved = []
        if self.best is not None:
            name = self.best["metric"].replace("_", " ")
            saved.append((os.path.join(c.out, "best.npz"),
                          f"epoch {self.best['epoch']}, {name} {self.best['value']:.2%}"))
        saved += [(last, f"epoch {self.epoch}"),
                  (os.path.join(c.out, "metrics.csv"), "per-epoch metrics (and metrics.jsonl)"),
                  (os.path.join(c.out, "results.json"), "final test results")]
        if c.plot and self.rank == 0:
            try:
                require_matplotlib()
            except ImportError:
                self._log("curves.png skipped: matplotlib is not installed (pip install "
                          "matplotlib, or minicnn[train]; --no-plot skips this note)")
            else:
                saved.append((self.plot(os.path.join(c.out, "curves.png")),
                              "loss and accuracy curves"))
        width = max(len(path) for path, _ in saved)
        self._log("saved:\n" + "\n".join(f"  {path:<{width}}  {what}" for path, what in saved))
        return results

    def _run_epoch(self, epoch):
        """Train and evaluate epoch ``epoch`` (0-based); returns (its metrics row, the lrs of
        :meth:`train_epoch`, which the metrics files do not keep)."""
        start = time.perf_counter()
        trained = self.train_epoch(epoch)
        lrs = trained.pop("lrs")
        row = {"epoch": epoch + 1, "lr": lrs[0], **trained}
        self.position = (epoch, len(self.train_loader), len(self.train_loader), "evaluation")
        # the held-out split when there is one, else the test set, picks the best epoch
        split, loader = ("val", self.val_loader) if self.val_loader else ("test", self.test_loader)
        result = self.evaluate(loader)
        row.update(val_loss=None, val_acc=None, test_loss=None, test_acc=None)
        row[f"{split}_loss"], row[f"{split}_acc"] = result["loss"], result["acc"]
        row["epoch_time_s"] = time.perf_counter() - start
        return {k: row[k] for k in COLUMNS}, lrs

    def train_epoch(self, epoch):
        """One pass over the training set (the order of epoch ``epoch``), showing its progress
        (rank 0: a tqdm bar on a terminal, else a line every tenth of the epoch; see the module
        docstring). Returns ``{"train_loss", "train_acc", "images_per_s", "lrs"}``; ``lrs``: the
        lr of the epoch's first step, the highest lr of its steps and the lr of its last step."""
        loader = self.train_loader
        loader.set_epoch(epoch)
        self.model.train()
        n = len(loader)
        desc = f"epoch {epoch + 1}/{self.config.epochs}"
        bar = _progress_bar(self.stream, n, desc) if self.rank == 0 else None
        lines = self.rank == 0 and bar is None
        group = self.optimizer.param_groups[0]
        lrs = []  # the lr of each step (the scheduler changes it after every step)
        seen = correct = 0
        loss_sum = 0.0
        start = time.perf_counter()
        self.position = (epoch, 0, n, "train")
        for i, (x, y) in enumerate(loader):
            lrs.append(group["lr"])
            loss, hits = self.train_step(x, y)
            seen += len(y)
            correct += hits
            loss_sum += loss * len(y)
            self.position = (epoch, i + 1, n, "train")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.2%}",
                                img_s=f"{seen / (time.perf_counter() - start):.0f}")
            elif lines and 10 * (i + 1) // n > 10 * i // n:  # crossed a tenth of the epoch
                elapsed = max(time.perf_counter() - start, 1e-9)
                # the ranks step in lock-step, so all of them go world_size times as fast
                self._log(_progress_line(desc, i + 1, n, loss_sum / seen, correct / seen,
                                         seen * self.world_size / elapsed,
                                         elapsed / (i + 1) * (n - i - 1)))
        if bar is not None:
            bar.close()
        if self.world_size > 1:  # the metrics count the images of every rank
            seen, correct, loss_sum = distributed.all_reduce(
                np.array([seen, correct, loss_sum], np.float64)).tolist()
        elapsed = time.perf_counter() - start
        return {"train_loss": loss_sum / seen, "train_acc": correct / seen,
                "images_per_s": seen / elapsed if elapsed > 0 else float("nan"),
                "lrs": (lrs[0], max(lrs), lrs[-1])}

    def train_step(self, x, y):
        """One optimization step on the batch (x, y); returns (mean loss, correct count)."""
        x, y = x.to(self.device), y.to(self.device)
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)
        self.optimizer.zero_grad()
        loss.backward()
        if self.world_size > 1:
            distributed.allreduce_gradients(self.model)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        predicted = logits.detach().cpu().numpy().argmax(1)
        return loss.item(), int((predicted == y.cpu().numpy()).sum())

    def evaluate(self, loader):
        """Loss, accuracy and confusion matrix of the model on ``loader`` (eval mode, no grad);
        see :func:`evaluate_model`. Distributed: rank 0's model on the shards of all ranks."""
        if self.world_size == 1:
            return evaluate_model(self.model, loader, len(self.classes), self.device)
        distributed.broadcast_buffers(self.model)
        result = evaluate_model(self.model, loader, len(self.classes), self.device)
        total = distributed.all_reduce(np.array([result["loss"] * result["count"],
                                                 result["count"]], np.float64))
        confusion = distributed.all_reduce(result["confusion"])
        count = int(total[1])
        return {"loss": total[0] / max(count, 1),
                "acc": float(np.trace(confusion)) / max(count, 1), "confusion": confusion,
                "count": count}

    # -------------------------------------------------------------- outputs

    def _final_test(self):
        result = self.evaluate(self.test_loader)
        cm = result["confusion"]
        results = {"model": self.config.model, "dataset": self.dataset_name,
                   "epochs": self.epoch, "test_loss": result["loss"], "test_acc": result["acc"],
                   "per_class_acc": dict(zip(self.classes, _per_class(cm))),
                   "classes": self.classes, "confusion_matrix": cm.tolist(), "best": self.best,
                   "epochs_time_s": sum(r["epoch_time_s"] for r in self.history)}
        self._write_json("results.json", results)
        if self.rank == 0:
            _write_confusion_csv(os.path.join(self.config.out, "confusion_matrix.csv"), cm,
                                 self.classes)
        self._log(format_evaluation(result, self.classes, f"test ({len(self.test_set)} images)"))
        return results

    def _interrupted(self, last):
        epoch, batch, batches, phase = self.position or (self.epoch, 0, len(self.train_loader),
                                                         "train")
        mark = {"epoch": epoch + 1, "batch": batch, "batches": batches, "phase": phase}
        ckpt = load(last)
        ckpt["interrupted"] = mark
        self._save(ckpt, last)
        where = ("during the final test" if phase == "final test" else
                 f"in epoch {epoch + 1}/{self.config.epochs} ({phase}, batch {batch}/{batches})")
        msg = (f"interrupted {where}. {last} holds the state after epoch {ckpt['epoch']}; "
               f"resume with: minicnn train --resume {self.config.out}")
        if phase != "final test":
            msg += f" (epoch {epoch + 1} restarts from its first batch)"
        return TrainingInterrupted(msg, last)

    def _save(self, checkpoint, path):
        """:func:`minicnn.save`, on rank 0 only (the other ranks hold the same state)."""
        if self.rank == 0:
            save(checkpoint, path)

    def _rewrite_metrics(self):
        """Start metrics.jsonl/csv with exactly the epochs of the checkpoint being continued
        (rows written after it, by an interrupted epoch, are dropped)."""
        if self.rank != 0:
            return
        out = self.config.out
        with open(os.path.join(out, "metrics.jsonl"), "w"):
            pass
        with open(os.path.join(out, "metrics.csv"), "w", newline="") as f:
            csv.writer(f).writerow(COLUMNS)
        for row in self.history:
            self._append_metrics(row)

    def _append_metrics(self, row):
        if self.rank != 0:
            return
        out = self.config.out
        with open(os.path.join(out, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(_json_safe(row)) + "\n")
        with open(os.path.join(out, "metrics.csv"), "a", newline="") as f:
            csv.writer(f).writerow(["" if row[k] is None else row[k] for k in COLUMNS])

    def _write_json(self, name, obj):
        if self.rank != 0:
            return
        path = os.path.join(self.config.out, name)
        with open(path + ".tmp", "w") as f:
            json.dump(_json_safe(obj), f, indent=2)
            f.write("\n")
        os.replace(path + ".tmp", path)

    def plot(self, path):
        """Loss and accuracy per epoch (train and val/test) into ``path`` (a PNG); returns
        ``path``. Raises ImportError naming the extra when matplotlib is missing."""
        from .utils.viz import plot_curves

        plot_curves(self.history, path, title=f"{self.config.model} on {self.dataset_name}")
        return path

    def _log(self, text):
        if self.rank == 0:
            print(text, file=self.stream, flush=True)


def train(config, stream=None):
    """Run ``config`` (a :class:`TrainConfig`) from scratch; returns the results dict."""
    return Trainer(config, stream=stream).fit()


# ------------------------------------------------------------------ evaluation


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


def _per_class(confusion):
    """Accuracy (recall) of each class; None for a class with no images."""
    totals = confusion.sum(1)
    return [float(confusion[i, i] / t) if t else None for i, t in enumerate(totals)]


def format_evaluation(result, classes, title):
    """The accuracy, per-class accuracy and confusion matrix as printable text."""
    cm = result["confusion"]
    lines = [f"{title}: loss {result['loss']:.4f}, accuracy {result['acc']:.2%}",
             "per-class accuracy:"]
    width = max(len(c) for c in classes)
    for i, (name, acc) in enumerate(zip(classes, _per_class(cm))):
        lines.append(f"  {i:>2} {name:<{width}}  " + ("     n/a" if acc is None else f"{acc:8.2%}"))
    cell = max(4, len(str(cm.max())) + 1)
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines.append("    " + "".join(f"{j:>{cell}}" for j in range(len(classes))))
    for i, row in enumerate(cm):
        lines.append(f"  {i:>2}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def _write_confusion_csv(path, confusion, classes):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, confusion):
            writer.writerow([name, *row.tolist()])


# ------------------------------------------------------------------ reusing a checkpoint


def _load_training_checkpoint(path):
    ckpt = load(path, map_location="cpu")  # rebuilt on the CPU; moved where the caller wants
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputFileError(f"{path}: not a checkpoint written by minicnn train (no "
                         f"'format': '{CHECKPOINT_FORMAT}' entry)")
    return ckpt


def load_checkpoint_model(path):
    """Rebuild the model of a ``minicnn train`` checkpoint (a ``.npz`` file, or a run directory
    meaning its ``best.npz``) with its weights, in eval mode. Returns ``(model, checkpoint)``;
    ``checkpoint["dataset"]`` has the classes, image shape, mean and std. Raises
    FileNotFoundError, or :class:`InputFileError` for a file that is not a training
    checkpoint."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "best.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--checkpoint: no such file {path}")
    ckpt = _load_training_checkpoint(path)
    info = ckpt["dataset"]
    model = build_model(ckpt["config"]["model"], len(info["classes"]), info["channels"],
                        info["image_size"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def check_model(name: str) -> None:
    """Raise :class:`ConfigError` listing the zoo's models unless ``name`` is one of them."""
    if name not in models.list_models():
        raise ConfigError(f"unknown model {name!r}; choose from "
                          f"{', '.join(models.list_models())}")


def _data_entry(key, info):
    """A checkpoint's ``"dataset"`` entry for the data set ``key`` described by ``info``."""
    return {"name": key, "classes": list(info.classes), "channels": int(info.channels),
            "image_size": [int(s) for s in info.image_size],
            "mean": [float(m) for m in info.mean], "std": [float(s) for s in info.std]}


def _model_for(name, data):
    """The zoo model ``name`` for the data set entry ``data``; ConfigError when it does not take
    the data set's images."""
    shape = (data["channels"], *data["image_size"])
    model = build_model(name, len(data["classes"]), shape[0], shape[1:])
    _check_input(model, name, shape, data["name"])
    return model


def _untrained_model(name, dataset=None):
    """The zoo model ``name`` with random weights, built as ``minicnn train --model NAME
    --dataset DATASET`` starts it (``dataset`` default: :class:`TrainConfig`'s), in eval mode.
    Returns ``(model, data)``, ``data`` as a checkpoint's ``"dataset"`` entry. Raises
    ConfigError for an unknown model or data set, or a model that does not take its images."""
    check_model(name)
    data = _data_entry(*dataset_info(dataset or TrainConfig.dataset))
    return _model_for(name, data).eval(), data


def _model_and_data(path, name, dataset):
    """``(model, data set entry)`` of the checkpoint at ``path``, or of the untrained zoo model
    ``name`` built for ``dataset``; exactly one of ``path`` and ``name`` must be given."""
    if (path is None) == (name is None):
        raise ConfigError("give either a checkpoint (--checkpoint FILE) or a model name "
                          "(--model NAME)")
    if name is not None:
        return _untrained_model(name, dataset)
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
    from .data import DataLoader, get_dataset
    from .data import transforms as T

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
    from . import tensor

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
    file and :class:`InputFileError` for a file Pillow cannot read."""
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
        except (UnidentifiedImageError, OSError) as e:
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


# ------------------------------------------------------------------ helpers


def _progress_bar(stream, total, desc):
    """A tqdm bar on ``stream`` when it is a terminal and tqdm is installed, else None (then
    :meth:`Trainer.train_epoch` prints :func:`_progress_line` s instead)."""
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, file=stream, leave=False, unit="batch")


def _progress_line(desc, step, steps, loss, acc, images_per_s, eta_s):
    """``  epoch 2/5  step 47/469 (10%)  loss 0.5123  acc 81.20%  1830 img/s  ETA 24 s``."""
    return (f"  {desc}  step {step}/{steps} ({step / steps:.0%})  loss {loss:.4f}  "
            f"acc {acc:.2%}  {images_per_s:.0f} img/s  ETA {_duration(eta_s)}")


def _duration(seconds):
    """``24 s``, ``3 min 05 s`` or ``2 h 04 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _lr_range(lrs):
    """The lrs of an epoch (first step, peak, last step) to 3 significant digits, repeats
    dropped: ``0.05``, ``0.05->0.0413`` or ``0.002->0.05->2e-07``."""
    texts = []
    for lr in lrs:
        text = f"{lr:.3g}"
        if not texts or texts[-1] != text:
            texts.append(text)
    return "->".join(texts)


def _epoch_line(row, epochs, lrs):
    """The summary line of an epoch: its metrics row and :func:`_lr_range` of its ``lrs``."""
    parts = [f"epoch {row['epoch']}/{epochs}",
             f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}"]
    for split in ("val", "test"):
        if row[f"{split}_acc"] is not None:
            parts.append(f"{split} loss {row[f'{split}_loss']:.4f} acc {row[f'{split}_acc']:.2%}")
    parts.append(f"lr {_lr_range(lrs)}")
    parts.append(f"{row['epoch_time_s']:.1f} s, {row['images_per_s']:.0f} img/s")
    return "  ".join(parts)


def _json_safe(obj):
    """NumPy scalars to Python numbers and non-finite floats to None, for strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
