"""What training prints while an epoch runs, and the epoch's summary line.

A tqdm bar on a terminal (:func:`progress_bar`), else a line every tenth of the epoch
(:func:`progress_line`); then :func:`epoch_line`. The whole output of a run is described in
:mod:`minicnn.training.trainer`.
"""
__all__ = ["epoch_line", "progress_bar", "progress_line"]


def progress_bar(stream, total, desc):
    """A tqdm bar on ``stream`` when it is a terminal and tqdm is installed, else None (then
    :meth:`~minicnn.training.Trainer.train_epoch` prints :func:`progress_line` s instead)."""
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, file=stream, leave=False, unit="batch")


def progress_line(desc, step, steps, loss, acc, images_per_s, eta_s):
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


def epoch_line(row, epochs, lrs):
    """The summary line of an epoch: its metrics row and :func:`_lr_range` of its ``lrs``."""
    parts = [f"epoch {row['epoch']}/{epochs}",
             f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}"]
    for split in ("val", "test"):
        if row[f"{split}_acc"] is not None:
            parts.append(f"{split} loss {row[f'{split}_loss']:.4f} acc {row[f'{split}_acc']:.2%}")
    parts.append(f"lr {_lr_range(lrs)}")
    parts.append(f"{row['epoch_time_s']:.1f} s, {row['images_per_s']:.0f} img/s")
    return "  ".join(parts)
