"""The files of a run directory DIR (``minicnn train --out DIR``), except the curves.

Reading a checkpoint (:func:`load_training_checkpoint`, :func:`load_checkpoint_model`) and
writing the JSON and CSV files: ``config.json`` and ``results.json`` (:func:`write_json`),
``metrics.jsonl`` and ``metrics.csv`` (:func:`reset_metrics`, :func:`append_metrics`) and
``confusion_matrix.csv`` (:func:`write_confusion_csv`). The files, their columns and the keys
of a checkpoint are described in docs/05-training-recipes.md, "The run directory"; the
checkpoint dict itself is built by :meth:`minicnn.training.Trainer.state_dict`.
"""
import csv
import json
import math
import os

import numpy as np

from ..serialization import load
from .config import InputFileError
from .model import build_model

__all__ = ["CHECKPOINT_FORMAT", "COLUMNS", "append_metrics", "load_checkpoint_model",
           "load_training_checkpoint", "reset_metrics", "write_confusion_csv", "write_json"]

CHECKPOINT_FORMAT = "minicnn-train"
COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
           "test_acc", "epoch_time_s", "images_per_s")


def load_training_checkpoint(path):
    """The checkpoint dict of a ``minicnn train`` checkpoint file, its tensors on the CPU.
    Raises :class:`~minicnn.training.InputFileError` for a file without the ``"format":
    "minicnn-train"`` entry (:data:`CHECKPOINT_FORMAT`)."""
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
    ckpt = load_training_checkpoint(path)
    info = ckpt["dataset"]
    model = build_model(ckpt["config"]["model"], len(info["classes"]), info["channels"],
                        info["image_size"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def write_confusion_csv(path, confusion, classes):
    """The confusion matrix (int array (K, K), rows true class, columns predicted) as CSV, with
    the class names as first row and first column."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, confusion):
            writer.writerow([name, *row.tolist()])


def write_json(path, obj):
    """``obj`` as indented strict JSON (see :func:`_json_safe`), written atomically (a temporary
    file renamed into place)."""
    with open(path + ".tmp", "w") as f:
        json.dump(_json_safe(obj), f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def reset_metrics(out, history):
    """Start ``out/metrics.jsonl`` and ``out/metrics.csv`` afresh (the CSV with its header row
    :data:`COLUMNS`) holding the rows of ``history``."""
    with open(os.path.join(out, "metrics.jsonl"), "w"):
        pass
    with open(os.path.join(out, "metrics.csv"), "w", newline="") as f:
        csv.writer(f).writerow(COLUMNS)
    for row in history:
        append_metrics(out, row)


def append_metrics(out, row):
    """Append an epoch's metrics ``row`` (a dict with the keys of :data:`COLUMNS`) to
    ``out/metrics.jsonl`` (None as null) and ``out/metrics.csv`` (None as an empty cell)."""
    with open(os.path.join(out, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(_json_safe(row)) + "\n")
    with open(os.path.join(out, "metrics.csv"), "a", newline="") as f:
        csv.writer(f).writerow(["" if row[k] is None else row[k] for k in COLUMNS])


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
