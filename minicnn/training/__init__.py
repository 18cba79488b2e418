"""The training engine behind ``minicnn train``, ``eval`` and ``predict``.

Its modules, each built on the ones above it:

- :mod:`~minicnn.training.config`: :class:`TrainConfig`, every option with its default, its
  checks (:class:`ConfigError`) and the choices of each option;
- :mod:`~minicnn.training.model`: the zoo model built for a data set's images;
- :mod:`~minicnn.training.rundir`: the files of the run directory DIR (``--out``): reading the
  checkpoints, writing the metrics and results files. What each file holds (columns, checkpoint
  keys): docs/05-training-recipes.md, "The run directory";
- :mod:`~minicnn.training.evaluation`: evaluating a model or a checkpoint, predicting image
  files (``minicnn eval``, ``minicnn predict``);
- :mod:`~minicnn.training.progress`: the progress and summary lines of an epoch;
- :mod:`~minicnn.training.trainer`: :class:`Trainer`, the training loop, to read top to bottom;
  its docstring says what a run prints, how it resumes, trains data-parallel and schedules the
  learning rate.

Everything a script needs is importable from here: ``from minicnn.training import TrainConfig,
Trainer``.
"""
from . import config, evaluation, model, progress, rundir, trainer
from .config import (DEFAULT_LR, DEVICES, OPTIMIZERS, RUNTIME_OPTIONS, SCHEDULERS, ConfigError,
                     InputFileError, TrainConfig, check_model, dataset_info, require_matplotlib)
from .evaluation import (DARK_BACKGROUND, InputConversionWarning, evaluate_checkpoint,
                         evaluate_model, format_evaluation, predict_files, read_images)
from .model import build_model
from .rundir import CHECKPOINT_FORMAT, COLUMNS, load_checkpoint_model
from .trainer import Trainer, TrainingDiverged, TrainingInterrupted, train

__all__ = ["COLUMNS", "DARK_BACKGROUND", "ConfigError", "InputConversionWarning", "InputFileError",
           "TrainConfig", "Trainer", "TrainingDiverged", "TrainingInterrupted", "check_model",
           "evaluate_checkpoint", "load_checkpoint_model", "predict_files", "read_images",
           "require_matplotlib", "train", "CHECKPOINT_FORMAT", "DEFAULT_LR", "DEVICES",
           "OPTIMIZERS", "RUNTIME_OPTIONS", "SCHEDULERS", "build_model", "dataset_info",
           "evaluate_model", "format_evaluation", "config", "evaluation", "model", "progress",
           "rundir", "trainer"]
