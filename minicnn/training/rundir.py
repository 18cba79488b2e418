"""The files of a run directory DIR (``minicnn train --out DIR``), except the curves.

Reading a checkpoint (:func:`load_training_checkpoint`, :func:`load_checkpoint_model`) and
writing the JSON and CSV files: ``config.json`` and ``results.json`` (:func:`write_json`),
``metrics.jsonl`` and ``metrics.csv`` (:func:`reset_metrics`, :func:`append_metrics`) and
``confusion_matrix.csv`` (:func:`write_confusion_csv`); the claim of one run on its directory
(:class:`RunDirLock`, ``DIR/.lock``); the fingerprints that ``--resume`` checks
(:func:`data_fingerprint`, :func:`recipe_fingerprint`). The files, their columns and the keys
of a checkpoint are described in docs/05-training-recipes.md, "The run directory"; the
checkpoint dict itself is built by :meth:`minicnn.training.Trainer.state_dict`.
"""
import csv
import dataclasses
import hashlib
import json
import math
import os
import socket
import tempfile
import time

import numpy as np

from .. import models
from ..serialization import load
from .config import InputFileError
from .model import build_model

__all__ = ["CHECKPOINT_FORMAT", "COLUMNS", "RunDirBusyError", "RunDirLock", "append_metrics",
           "data_fingerprint", "fingerprint_differences", "recipe_fingerprint",
           "load_checkpoint_model", "load_training_checkpoint", "reset_metrics",
           "write_confusion_csv", "write_json"]

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
    problem = _checkpoint_problem(ckpt)
    if problem is not None:
        raise InputFileError(f"{path}: a damaged or foreign minicnn train checkpoint: {problem}; "
                             "use a last.npz or best.npz written by minicnn train")
    return ckpt


def _checkpoint_problem(ckpt):
    """What is wrong with the entries of a checkpoint dict (None if nothing): the keys and
    types of :meth:`Trainer.state_dict` that rebuilding its model needs, and sizes in the range
    of real data sets, so that a crafted file cannot make ``eval`` build a model of a billion
    inputs."""
    from ..tensor import Tensor
    from .config import TrainConfig

    # what eval, predict, summary and viz need; resuming checks the rest as it restores it
    for key in ("model", "config", "dataset"):
        if not isinstance(ckpt.get(key), dict):
            return f"{key!r} is {type(ckpt.get(key)).__name__}, expected dict"
    for key, kind in (("epoch", int), ("history", list)):
        if key in ckpt and not isinstance(ckpt[key], kind):
            return f"{key!r} is {type(ckpt[key]).__name__}, expected {kind.__name__}"
    if ckpt.get("epoch", 0) < 0:
        return f"'epoch' is {ckpt['epoch']}"
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in ckpt["model"].items()):
        return "'model' must map parameter names to tensors"
    config = ckpt["config"]
    unknown = set(config) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        return f"'config' has unknown options {sorted(unknown)}"
    if config.get("model") not in models.list_models():
        return f"'config.model' is {config.get('model')!r}, not a model of this minicnn"
    info = ckpt["dataset"]
    classes, channels, size = info.get("classes"), info.get("channels"), info.get("image_size")
    if not (isinstance(classes, list) and 1 <= len(classes) <= 100_000
            and all(isinstance(c, str) for c in classes)):
        return "'dataset.classes' must be a list of 1 to 100000 names"
    if not (type(channels) is int and 1 <= channels <= 64):
        return f"'dataset.channels' is {channels!r}, expected 1 to 64"
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(type(n) is int and 1 <= n <= 4096 for n in size)):
        return f"'dataset.image_size' is {size!r}, expected [H, W] of 1 to 4096"
    for key in ("mean", "std"):
        values = info.get(key)
        if not (isinstance(values, (list, tuple)) and len(values) == channels
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
            return f"'dataset.{key}' must be {channels} finite numbers"
    if min(info["std"]) <= 0:
        return "'dataset.std' must be positive"
    return None


def load_checkpoint_model(path):
    """Rebuild the model of a ``minicnn train`` checkpoint (a ``.npz`` file, or a run directory
    meaning its ``best.npz``) with its weights (the averaged ones of ``--ema``), in eval mode.
    Returns ``(model, checkpoint)``; ``checkpoint["dataset"]`` has the classes, image shape,
    mean and std. Raises FileNotFoundError, or :class:`InputFileError` for a file that is not
    a training checkpoint."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "best.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--checkpoint: no such file {path}")
    ckpt = load_training_checkpoint(path)
    info = ckpt["dataset"]
    try:
        model = build_model(ckpt["config"]["model"], len(info["classes"]), info["channels"],
                            info["image_size"], bool(ckpt["config"].get("small_input")))
        ema = ckpt.get("ema")  # --ema: the averaged weights are the ones evaluated
        model.load_state_dict(ckpt["model"] if not ema else
                              {k[len("module."):]: v for k, v in ema.items()
                               if k.startswith("module.")})
    except (RuntimeError, ValueError) as e:  # weights of another model, or of other sizes
        detail = " ".join(str(e).split())
        raise InputFileError(f"{path}: its model does not match its weights or data: "
                             f"{detail[:300]}{'...' if len(detail) > 300 else ''}") from None
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
    file of a unique name renamed into place)."""
    folder, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_json_safe(obj), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def data_fingerprint(name, train_set, test_set, samples=1024):
    """What identifies the data a run trains on, for ``--resume`` to compare: the data set
    ``name``, the image counts and shape, the classes, and a SHA-256 over every label and
    ``samples`` evenly spaced raw images of each split (uint8 ``data`` arrays as the data set
    holds them, before any transform). Hashing a sample keeps it fast on large sets (about
    3 ms for Fashion-MNIST) while any re-labelling, re-ordering or other file is caught."""
    digest = hashlib.sha256()
    for split in (train_set, test_set):
        data, targets = np.asarray(split.data), np.asarray(split.targets)
        pick = np.unique(np.linspace(0, len(data) - 1, min(samples, len(data))).astype(np.int64))
        digest.update(np.ascontiguousarray(targets, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(data[pick]).tobytes())
    return {"name": name, "train_images": len(train_set), "test_images": len(test_set),
            "image_shape": list(np.asarray(train_set.data).shape[1:]),
            "classes": list(train_set.classes), "sha256": digest.hexdigest()}


def recipe_fingerprint(config, model):
    """What identifies a run's computation apart from its data: every option that
    ``--resume`` may not change, and the model's parameters and buffers (name, shape, dtype),
    which change when a zoo model's definition does."""
    from .config import RUNTIME_OPTIONS

    options = {k: v for k, v in dataclasses.asdict(config).items()
               if k not in RUNTIME_OPTIONS and k != "out"}
    layout = ";".join(f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in model.state_dict().items())
    return {"options": options, "model": hashlib.sha256(layout.encode()).hexdigest()}


def fingerprint_differences(saved, current):
    """The lines that say how fingerprint ``current`` differs from ``saved`` (both dicts
    ``{"data": ..., "recipe": ...}``); empty when they agree."""
    lines = []
    for part in ("data", "recipe"):
        old, new = saved.get(part, {}), current[part]
        for key in new:
            if key == "options":
                lines += [f"option {k}: {old.get(key, {}).get(k)!r} in the checkpoint, "
                          f"{v!r} now" for k, v in new[key].items()
                          if old.get(key, {}).get(k) != v]
            elif old.get(key) != new[key]:
                what = {"sha256": "content checksum (labels and sampled images)",
                        "model": "model layout (parameter names, shapes, dtypes)"}.get(key, key)
                if key in ("sha256", "model"):
                    lines.append(f"{part} {what}: {str(old.get(key))[:12]} in the checkpoint, "
                                 f"{new[key][:12]} now")
                elif key == "classes":
                    lines.append(f"{part} classes: {len(old.get(key) or [])} in the checkpoint "
                                 f"({', '.join(map(str, (old.get(key) or [])[:3]))}, ...), "
                                 f"{len(new[key])} now ({', '.join(map(str, new[key][:3]))}, "
                                 "...)")
                else:
                    lines.append(f"{part} {key.replace('_', ' ')}: {old.get(key)!r} in the "
                                 f"checkpoint, {new[key]!r} now")
    return lines


class RunDirBusyError(RuntimeError):
    """The run directory is in use by another live ``minicnn train`` process; the message names
    the process."""


def _owner(fields):
    """"process PID on HOST, started TIME" from the fields of a lock file."""
    try:
        pid, host, started = fields
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started)))
    except ValueError:  # written by hand, or caught between truncate and write
        return "another process"
    return f"process {pid} on {host}, started {when}"


class RunDirLock:
    """The exclusive claim of one process on a run directory: ``DIR/.lock``, locked with
    ``fcntl.flock`` and holding ``pid host start-time`` of the owner.

    :meth:`acquire` creates the directory if needed and takes the lock before anything else is
    written; a second process gets :class:`RunDirBusyError` naming the owner. The kernel drops
    the lock when its process ends, however it ends, so the file a killed run leaves behind is
    not a stale lock: the next run takes it. :meth:`release` gives it up and removes the file
    (garbage collection of the lock object gives it up too).
    """

    NAME = ".lock"

    def __init__(self, directory: str) -> None:
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, self.NAME)
        self._file = None

    def acquire(self) -> "RunDirLock":
        """Take the lock; raises :class:`RunDirBusyError` when a live process holds it and
        OSError (PermissionError, ...) when the directory cannot be created or written."""
        import fcntl

        os.makedirs(self.directory, exist_ok=True)
        while True:
            f = open(self.path, "a+")
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                try:  # the file may have been unlinked by its owner's release meanwhile
                    same = os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino
                except FileNotFoundError:
                    same = False
            except BlockingIOError:
                f.close()
                self.check_free(self.directory)  # raises, naming the owner
                continue  # the owner was ending meanwhile: try again
            except BaseException:
                f.close()
                raise
            if same:
                break
            f.close()
        f.truncate(0)
        f.write(f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Give the lock up and remove the file (nothing when not held)."""
        if self._file is not None:
            os.unlink(self.path)  # before closing: whoever opened it meanwhile sees it is gone
            self._file.close()  # closing the descriptor drops the flock
            self._file = None

    @classmethod
    def check_free(cls, directory: str) -> None:
        """Raise :class:`RunDirBusyError` naming the owner when a live process holds the lock
        of ``directory`` now; creates nothing."""
        import fcntl

        try:
            f = open(os.path.join(directory, cls.NAME))
        except OSError:
            return
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _owner(f.read().split())
                for _ in range(20):  # the owner may be between truncate and write: let it finish
                    if owner != "another process":
                        break
                    time.sleep(0.005)
                    f.seek(0)
                    owner = _owner(f.read().split())
                raise RunDirBusyError(f"run directory {directory} is in use by {owner}: wait "
                                      "for that run to end, or choose another --out") from None

    @classmethod
    def is_held(cls, directory: str) -> bool:
        """Whether a live process holds the lock of ``directory`` now."""
        try:
            cls.check_free(directory)
        except RunDirBusyError:
            return True
        return False


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
