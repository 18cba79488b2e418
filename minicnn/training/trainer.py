"""The training loop: :class:`Trainer` (and :func:`train`), behind ``minicnn train``.

Read it top to bottom: :class:`Trainer` builds the data, model, optimizer and schedule from a
:class:`~minicnn.training.TrainConfig` (``__init__``), runs the epochs (:meth:`Trainer.fit`),
one epoch of batches (:meth:`Trainer.train_epoch`, one batch in :meth:`Trainer.train_step`) and
the evaluation (:meth:`Trainer.evaluate`), and writes the run directory DIR (``--out``): the
configuration, the metrics of every epoch, the checkpoints ``last.npz`` and ``best.npz``, the
final results and the curves, described in docs/05-training-recipes.md, "The run directory".
The loop is the one of any PyTorch script::

    for x, y in loader:
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step(); scheduler.step()

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

Divergence
----------
A training step whose loss is NaN or infinite stops the run before the step is applied:
:class:`TrainingDiverged` names the epoch, the step and the lr, ``last.npz`` keeps the state after
the last finished epoch, and ``minicnn train`` exits 1 with that message.

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
(:class:`~minicnn.utils.data.DistributedSampler`) with ``batch_size`` images per rank (a
global batch of N x ``batch_size``), and the gradients are averaged over the ranks after every
backward pass. Evaluation is sharded too, with rank 0's batch-norm running statistics; the
metrics count the images of all ranks. Only rank 0 prints and writes the run directory; the
others need the data set files (and, to resume, the checkpoint) at the same paths. A run
resumes exactly on the same number of ranks (``"world_size"`` in the checkpoint); on one rank,
``--distributed`` computes what a plain run does.

TensorBoard (``--tensorboard [DIR]``)
-------------------------------------
Rank 0 writes event files (:class:`minicnn.utils.tensorboard.SummaryWriter`) into DIR
(default ``out/tb``) at global step = the epoch (1-based), after each epoch: the metrics row as
scalars (``loss/train``, ``acc/train``, ``loss/val``, ``acc/val`` or ``loss/test``,
``acc/test``, ``lr`` -- the epoch's first step's --, ``time/epoch_s``,
``speed/images_per_s``), a histogram of every parameter (``params/NAME``) and of its gradient
as the epoch's last step left it (``grads/NAME``; none for a frozen parameter, nor for a
float16 step skipped for overflow), and the first convolution's filters as one image
(``filters/NAME``, :func:`~minicnn.utils.tensorboard.filter_grid`: one scale for all filters,
symmetric about 0). After the final test, ``add_hparams`` in the run ``DIR/hparams``: the
recipe's options (those of the resume fingerprint) with ``hparam/test_acc``,
``hparam/test_loss`` and, with a validation split, ``hparam/best_val_acc``. A resumed run
appends to the same DIR with ``purge_step`` = its first epoch, so that the events of an
interrupted epoch, logged before its checkpoint was written, give way to the redone ones.

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
import contextlib
import copy
import dataclasses
import math
import os
import sys
import time

import numpy as np

from .. import amp, distributed, nn, optim
from .. import random as _random
from ..autograd import NaNGradientError, detect_anomaly
from ..backends import set_num_threads
from ..nn.modules.norm import _BatchNorm
from ..optim.swa_utils import AveragedModel, get_ema_avg_fn
from ..serialization import load, save
from ..utils.data import DistributedSampler
from ..utils.tensorboard import SummaryWriter, filter_grid, require_tensorboard
from .config import (
    RUNTIME_OPTIONS,
    ConfigError,
    InputFileError,
    TrainConfig,
    dataset_info,
    randaugment_options,
    require_matplotlib,
)
from .evaluation import evaluate_model, format_evaluation, per_class_accuracy
from .model import data_entry, model_for
from .progress import epoch_line, progress_bar, progress_line
from .rundir import (
    CHECKPOINT_FORMAT,
    COLUMNS,
    RunDirLock,
    append_metrics,
    data_fingerprint,
    fingerprint_differences,
    load_training_checkpoint,
    recipe_fingerprint,
    reset_metrics,
    write_confusion_csv,
    write_json,
)
from .transfer import frozen_names, head_parameter_names, init_from, set_bn_eval

__all__ = ["Trainer", "TrainingInterrupted", "train"]

# --tensorboard: the scalar tag of each metrics column (loss and accuracy grouped by split)
TENSORBOARD_TAGS = {"lr": "lr", "train_loss": "loss/train", "train_acc": "acc/train",
                    "val_loss": "loss/val", "val_acc": "acc/val", "test_loss": "loss/test",
                    "test_acc": "acc/test", "epoch_time_s": "time/epoch_s",
                    "images_per_s": "speed/images_per_s"}


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :meth:`Trainer.fit` after Ctrl-C, once the resumable checkpoint is written.
    ``checkpoint`` is its path; ``str()`` says how to resume."""

    def __init__(self, message, checkpoint):
        super().__init__(message)
        self.checkpoint = checkpoint


class TrainingDiverged(RuntimeError):
    """Raised by :meth:`Trainer.fit` when a training step's loss is NaN or infinite: the step
    is not applied, so ``last.npz`` keeps the state after the last finished epoch. ``str()``
    says where (epoch, step, lr) and what to try."""

    def __init__(self, message: str, checkpoint: str):
        super().__init__(message)
        self.checkpoint = checkpoint


def _transforms(name, info, c):
    """(train transform, eval transform) for the options of config ``c``. The training images
    are augmented as uint8 before ToTensor, in this order: RandomResizedCrop; the random crop
    with padding of ``augment`` (4 pixels for 32x32 images, 2 for 28x28) and, except for
    digits, a horizontal flip; RandomRotation; ColorJitter; RandAugment or AutoAugment."""
    from ..data import transforms as T

    size = tuple(info.image_size)
    train = []
    if c.random_resized_crop:
        train.append(T.RandomResizedCrop(size))
    if c.augment:
        train.append(T.RandomCrop(size, padding=4 if size[-1] >= 32 else 2))
        if name != "mnist":
            train.append(T.RandomHorizontalFlip())
    if c.rotation:
        train.append(T.RandomRotation(c.rotation))
    if c.color_jitter:
        train.append(T.ColorJitter(c.color_jitter, c.color_jitter, c.color_jitter))
    if c.randaugment is not None:
        num_ops, magnitude = randaugment_options(c.randaugment)
        train.append(T.RandAugment(num_ops, magnitude))
    if c.autoaugment:
        train.append(T.AutoAugment("cifar10"))
    tail = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    return T.Compose(train + tail), T.Compose(tail)


def _batch_mixing(c, num_classes):
    """The batch transforms of ``--mixup`` / ``--cutmix`` (empty list: none)."""
    from ..data import transforms as T

    return ([T.Mixup(c.mixup, num_classes)] if c.mixup else []) + \
        ([T.CutMix(c.cutmix, num_classes)] if c.cutmix else [])


def _logits_and_aux(output):
    """(logits, auxiliary logits) of a model's training output: a tensor, or a named tuple with
    a ``logits`` field and auxiliary ones (GoogLeNetOutputs, as torchvision's)."""
    if isinstance(output, tuple) and hasattr(output, "logits"):
        return output.logits, [v for k, v in output._asdict().items()
                               if k != "logits" and v is not None]
    return output, []


def _with_transform(dataset, transform):
    """The same data (arrays shared, not copied) seen through another transform."""
    view = copy.copy(dataset)
    view.transform = transform
    return view


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
        from ..data import DataLoader, Subset, get_dataset

        self.config = config = config.validate()
        self.stream = stream or sys.stdout
        if config.out is None:
            raise ConfigError("TrainConfig.out: the run directory is required")
        self.rank, self.world_size = (distributed.init(timeout=config.timeout)
                                      if config.distributed else (0, 1))
        if config.threads is not None:
            set_num_threads(config.threads)
        if config.tensorboard and self.rank == 0:  # fail now, not after the first epoch
            require_tensorboard(images=True)
        self.writer = None  # the SummaryWriter of --tensorboard while fit() runs
        self.device = config.device

        # data: the training set (minus a seeded validation split), the test set
        self.dataset_name, info = dataset_info(config.dataset)
        train_tf, eval_tf = _transforms(self.dataset_name, info, config)
        root = config.data_root
        train_set = get_dataset(self.dataset_name, root=root, train=True, transform=train_tf)
        test_set = get_dataset(self.dataset_name, root=root, train=False, transform=eval_tf)
        self.classes = list(train_set.classes)
        data_print = data_fingerprint(self.dataset_name, train_set, test_set)
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
            sampler = DistributedSampler(train_set, seed=config.seed)
            seed = (config.seed if self.rank == 0 else
                    int(np.random.SeedSequence([config.seed, self.rank]).generate_state(1)[0]))
            self.train_loader = DataLoader(train_set, sampler=sampler, seed=seed, **loader)
        self.test_loader = DataLoader(self._shard(test_set), **loader)
        self.val_loader = DataLoader(self._shard(self.val_set), **loader) if self.val_set else None
        self.data_info = data_entry(self.dataset_name, info)
        self.data_info["classes"] = self.classes

        # model, optimizer, schedule: the seed fixes the initial weights
        _random.manual_seed(config.seed)
        self.model = model_for(config.model, self.data_info, config.small_input)
        self.transfer_report = None
        if config.init_from is not None and _checkpoint is None:  # a resume has its own weights
            self.transfer_report = init_from(self.model, config.init_from)
        try:
            self.frozen = frozen_names(self.model, config.freeze)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if config.freeze_bn:
            self.frozen += [n for n, m in self.model.named_modules() if isinstance(m, _BatchNorm)
                            for n in (f"{n}.weight", f"{n}.bias") if n not in self.frozen
                            and m.affine]
        self.model = self.model.to(self.device)
        self.ema = (AveragedModel(self.model, avg_fn=get_ema_avg_fn(config.ema), use_buffers=True)
                    if config.ema is not None else None)
        self.mixing = _batch_mixing(config, len(self.classes))
        # float16's narrow range needs loss scaling; bfloat16 has float32's (as in PyTorch)
        self.scaler = amp.GradScaler() if config.amp == "float16" else None
        self.amp_dtype = (None if config.amp is None else amp.bfloat16_dtype()
                          if config.amp == "bfloat16" else np.dtype(np.float16))
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.fingerprint = {"data": data_print, "recipe": recipe_fingerprint(config, self.model)}

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
        from ..data import Subset

        if self.world_size == 1:
            return dataset
        return Subset(dataset, np.arange(self.rank, len(dataset), self.world_size))

    def _make_optimizer(self):
        c = self.config
        params = self.model.parameters()
        if c.head_lr is not None:  # two groups: the body at lr, the head at head_lr
            head = set(head_parameter_names(self.model))
            named = list(self.model.named_parameters())
            params = [{"params": [p for n, p in named if n not in head]},
                      {"params": [p for n, p in named if n in head], "lr": c.head_lr}]
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
            max_lr = c.lr if c.head_lr is None else [c.lr, c.head_lr]
            return sched.OneCycleLR(self.optimizer, max_lr=max_lr, total_steps=total,
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
        ramp = sched.LinearLR(self.optimizer, start_factor=c.warmup_start_factor,
                              total_iters=warmup)
        if main is None:  # after its total_iters LinearLR holds the factor 1: a constant lr
            return ramp
        return sched.SequentialLR(self.optimizer, [ramp, main], milestones=[warmup])

    # -------------------------------------------------------------- checkpoints

    def state_dict(self):
        """The checkpoint dict; its keys: docs/05-training-recipes.md, "The run directory"."""
        return {"format": CHECKPOINT_FORMAT, "version": 1, "epoch": self.epoch,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "rng": {"minicnn": _random.default_generator().bit_generator.state,
                        "loader": {"seed": self.config.seed, "epoch": self.epoch}},
                "config": dataclasses.asdict(self.config), "dataset": self.data_info,
                "history": self.history, "best": self.best, "interrupted": None,
                "world_size": self.world_size, "fingerprint": self.fingerprint,
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def _restore(self, ckpt):
        trained_on = int(ckpt.get("world_size", 1))
        if trained_on != self.world_size:
            how = (f"mpiexec -n {trained_on} minicnn train --resume {self.config.out} "
                   "--distributed" if trained_on > 1 else "without mpiexec")
            raise ConfigError(f"--resume: the run was trained on {trained_on} rank(s), this "
                              f"is {self.world_size}; resume it exactly with: {how}")
        if "fingerprint" in ckpt:  # checkpoints before it existed resume unchecked
            differences = fingerprint_differences(ckpt["fingerprint"], self.fingerprint)
            if differences:
                raise InputFileError(
                    f"--resume {self.config.out}: this is not the data or recipe the run was "
                    f"trained on: {'; '.join(differences)}. Resume with the same data files "
                    "(--data-root) and minicnn version, or start a new run with --out")
        try:
            self.model.load_state_dict(ckpt["model"])
            if self.ema is not None:
                self.ema.load_state_dict(ckpt["ema"])
            if self.scaler is not None:
                self.scaler.load_state_dict(ckpt["scaler"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
            _random.default_generator().bit_generator.state = ckpt["rng"]["minicnn"]
            self.history = [dict(row) for row in ckpt["history"]]
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise InputFileError(f"--resume {self.config.out}: last.npz does not fit the run it "
                                 f"names (damaged or edited): {type(e).__name__}: {e}") from None
        self.epoch = ckpt["epoch"]
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
        ckpt = load_training_checkpoint(path)
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
        # the run directory is this run's before anything is written (only rank 0 writes)
        lock = RunDirLock(self.config.out).acquire() if self.rank == 0 else None
        try:
            with detect_anomaly() if self.config.detect_anomaly else contextlib.nullcontext():
                return self._fit()
        finally:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
            if lock is not None:
                lock.release()

    def _fit(self):
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
        self.writer = self._tensorboard_writer()
        self._log(f"training {c.model} on {self.dataset_name}: {len(self.train_set)} train"
                  + (f", {len(self.val_set)} val" if self.val_set else "")
                  + f", {len(self.test_set)} test images; {c.epochs} "
                  f"epoch{'' if c.epochs == 1 else 's'}, batch {c.batch_size}, {c.optimizer} "
                  f"lr {c.lr:g}, {c.scheduler} schedule")
        if self.transfer_report is not None:
            loaded, skipped = self.transfer_report
            self._log(f"--init-from {c.init_from}: {len(loaded)} tensors loaded"
                      + (f"; kept as initialized: {'; '.join(skipped)}" if skipped else ""))
        if self.frozen:
            until = f" until epoch {c.unfreeze_at}" if c.unfreeze_at else ""
            self._log(f"frozen{until}: {len(self.frozen)} of "
                      f"{len(list(self.model.parameters()))} parameter tensors"
                      + (", batch norm in eval mode" if c.freeze_bn else ""))
        try:
            while self.epoch < c.epochs:
                row, lrs = self._run_epoch(self.epoch)
                self.epoch += 1
                self.history.append(row)
                self._append_metrics(row)
                self._tensorboard_epoch(row)
                self._log(epoch_line(row, c.epochs, lrs))
                # the held-out split chooses best.npz; without one it is the last epoch (the
                # test set never chooses: that would leak it into the result)
                metric = "val_acc" if self.val_set else "last"
                improved = (metric == "last" or self.best is None
                            or row[metric] > self.best["value"])
                if improved:
                    self.best = {"epoch": row["epoch"], "metric": metric,
                                 "value": row["val_acc" if self.val_set else "test_acc"]}
                checkpoint = self.state_dict()
                if improved:  # best first: a Ctrl-C between the two redoes this epoch
                    self._save(checkpoint, os.path.join(c.out, "best.npz"))
                self._save(checkpoint, last)
                self.position = None  # between epochs
            self.position = (c.epochs, 0, 0, "final test")
            results = self._final_test()
            self._tensorboard_hparams(results)
        except KeyboardInterrupt:
            raise self._interrupted(last) from None
        saved = []
        if self.best is not None:
            what = (f"val acc {self.best['value']:.2%}" if self.best["metric"] == "val_acc"
                    else "the last epoch (--val-split 0)")
            saved.append((os.path.join(c.out, "best.npz"), f"epoch {self.best['epoch']}, {what}"))
        saved += [(last, f"epoch {self.epoch}"),
                  (os.path.join(c.out, "metrics.csv"), "per-epoch metrics (and metrics.jsonl)"),
                  (os.path.join(c.out, "results.json"), "final test results")]
        if self.writer is not None:
            saved.append((self.writer.get_logdir(), "TensorBoard event files (tensorboard "
                          f"--logdir {self.writer.get_logdir()})"))
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

    def _apply_freezing(self, epoch):
        """--freeze / --freeze-bn for epoch ``epoch`` (0-based): the frozen parameters get no
        gradient (the optimizer skips them) until ``unfreeze_at``; frozen batch norm also stays
        in eval mode. A function of the epoch alone, so that a resumed run freezes the same."""
        c = self.config
        frozen = c.unfreeze_at is None or epoch + 1 < c.unfreeze_at
        names = set(self.frozen)
        for name, p in self.model.named_parameters():
            p.requires_grad_(not (frozen and name in names))
        if c.freeze_bn and frozen:
            set_bn_eval(self.model)

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
        self._apply_freezing(epoch)
        n = len(loader)
        desc = f"epoch {epoch + 1}/{self.config.epochs}"
        bar = progress_bar(self.stream, n, desc) if self.rank == 0 else None
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
                self._log(progress_line(desc, i + 1, n, loss_sum / seen, correct / seen,
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
        target = y
        if self.mixing:  # Mixup or CutMix: soft labels; one of the two per batch when both
            mix = self.mixing[0] if len(self.mixing) == 1 else \
                self.mixing[int(_random.default_generator().integers(2))]
            x, target = mix(x, y)
        with (amp.autocast("cpu", dtype=self.amp_dtype) if self.amp_dtype is not None
              else contextlib.nullcontext()):
            logits, aux = _logits_and_aux(self.model(x))
            loss = nn.functional.cross_entropy(logits, target,
                                               label_smoothing=self.config.label_smoothing)
            for a in aux:  # GoogLeNet's auxiliary classifiers, weighted 0.3 (Szegedy et al.)
                loss = loss + 0.3 * nn.functional.cross_entropy(
                    a, target, label_smoothing=self.config.label_smoothing)
        value = loss.item()
        if not math.isfinite(value):  # stop before the step spreads it into the weights
            raise self._diverged(value)
        self.optimizer.zero_grad()
        try:
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        except NaNGradientError as e:  # --detect-anomaly
            stack = e.node.forward_stack
            where = (f" (forward at {stack[-1].filename}:{stack[-1].lineno})" if stack else "")
            raise self._diverged(f"finite ({value:.4g}) but the backward of {e.node.name()}"
                                 f"{where} made NaN gradients") from None
        if self.world_size > 1:
            distributed.allreduce_gradients(self.model)
        if self.scaler is not None:  # skips the step when a gradient overflowed
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        if self.scheduler is not None:
            self.scheduler.step()
        predicted = logits.detach().cpu().numpy().argmax(1)
        return value, int((predicted == y.cpu().numpy()).sum())

    def _diverged(self, value):
        """The error for a non-finite loss at the current step (see :class:`TrainingDiverged`)."""
        epoch, batch, batches, _ = self.position or (self.epoch, 0, len(self.train_loader), "")
        last = os.path.join(self.config.out, "last.npz")
        return TrainingDiverged(
            f"training diverged: the loss is {value} at epoch {epoch + 1}/{self.config.epochs}, "
            f"step {batch + 1}/{batches} (lr {self.optimizer.param_groups[0]['lr']:.3g}); the "
            f"step was not applied and {last} holds the state after epoch {self.epoch}. Try a "
            f"lower --lr, --warmup-epochs or --optimizer adam, and start a new run", last)

    def evaluate(self, loader):
        """Loss, accuracy and confusion matrix of the model on ``loader`` (eval mode, no grad);
        see :func:`evaluate_model`. Distributed: rank 0's model on the shards of all ranks."""
        # --ema evaluates the averaged weights
        model = self.ema.module if self.ema is not None else self.model
        if self.world_size == 1:
            return evaluate_model(model, loader, len(self.classes), self.device)
        distributed.broadcast_buffers(model)
        result = evaluate_model(model, loader, len(self.classes), self.device)
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
                   "per_class_acc": dict(zip(self.classes, per_class_accuracy(cm))),
                   "classes": self.classes, "confusion_matrix": cm.tolist(), "best": self.best,
                   "epochs_time_s": sum(r["epoch_time_s"] for r in self.history)}
        self._write_json("results.json", results)
        if self.rank == 0:
            write_confusion_csv(os.path.join(self.config.out, "confusion_matrix.csv"), cm,
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
        """Start the metrics files with exactly the epochs of the checkpoint being continued
        (rows written after it, by an interrupted epoch, are dropped); rank 0 only."""
        if self.rank == 0:
            reset_metrics(self.config.out, self.history)

    def _append_metrics(self, row):
        if self.rank == 0:
            append_metrics(self.config.out, row)

    def _write_json(self, name, obj):
        if self.rank == 0:
            write_json(os.path.join(self.config.out, name), obj)

    def _tensorboard_writer(self):
        """The SummaryWriter of ``--tensorboard`` (None without it, and on ranks other than 0).
        A resumed run appends to the same directory, purging the events of the epochs after
        its checkpoint (see the module docstring)."""
        c = self.config
        if not c.tensorboard or self.rank != 0:
            return None
        log_dir = os.path.join(c.out, "tb") if c.tensorboard is True else c.tensorboard
        return SummaryWriter(log_dir, purge_step=self.epoch + 1 if self.resumed_from else None)

    def _tensorboard_epoch(self, row):
        """Log epoch ``row`` (its metrics, the parameters' and gradients' histograms, the first
        convolution's filters) at global step ``row["epoch"]``; nothing without a writer."""
        writer, step = self.writer, row["epoch"]
        if writer is None:
            return
        for key, tag in TENSORBOARD_TAGS.items():
            if row[key] is not None:
                writer.add_scalar(tag, row[key], step)
        for name, p in self.model.named_parameters():
            writer.add_histogram(f"params/{name}", p, step)
            if p.grad is not None:
                grad = p.grad.detach().cpu().numpy()
                if np.isfinite(grad).all():  # a float16 step skipped for overflow leaves inf
                    writer.add_histogram(f"grads/{name}", grad, step)
        conv = next(((n, m) for n, m in self.model.named_modules()
                     if isinstance(m, nn.Conv2d)), None)
        if conv is not None:
            writer.add_image(f"filters/{conv[0]}", filter_grid(conv[1].weight), step)
        writer.flush()  # visible to a TensorBoard watching the run after every epoch

    def _tensorboard_hparams(self, results):
        """The recipe's options and final metrics for TensorBoard's HParams dashboard."""
        if self.writer is None:
            return
        metrics = {"hparam/test_acc": results["test_acc"],
                   "hparam/test_loss": results["test_loss"]}
        if self.best is not None and self.best["metric"] == "val_acc":
            metrics["hparam/best_val_acc"] = self.best["value"]
        self.writer.add_hparams(dict(self.fingerprint["recipe"]["options"]), metrics,
                                run_name="hparams", global_step=self.epoch)

    def plot(self, path):
        """Loss and accuracy per epoch (train and val/test) into ``path`` (a PNG); returns
        ``path``. Raises ImportError naming the extra when matplotlib is missing."""
        from ..utils.viz import plot_curves

        plot_curves(self.history, path, title=f"{self.config.model} on {self.dataset_name}")
        return path

    def _log(self, text):
        if self.rank == 0:
            print(text, file=self.stream, flush=True)


def train(config, stream=None):
    """Run ``config`` (a :class:`TrainConfig`) from scratch; returns the results dict."""
    return Trainer(config, stream=stream).fit()
