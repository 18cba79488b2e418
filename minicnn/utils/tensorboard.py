"""``torch.utils.tensorboard`` for minicnn: :class:`SummaryWriter` writes TensorBoard event files.

The writer is PyTorch's: the same constructor, the same method names and arguments for the
common calls (``add_scalar``, ``add_scalars``, ``add_histogram``, ``add_image``,
``add_images``, ``add_text``, ``add_hparams``, ``flush``, ``close``, ``get_logdir``), the same
default log directory (``runs/<date>_<host><comment>``) and use as a context manager. It is a
thin layer over tensorboardX's SummaryWriter, which encodes the events: minicnn Tensors (on any
device) are converted to NumPy arrays wherever PyTorch accepts a tensor. ``add_graph`` is not
provided. View the files with ``tensorboard --logdir runs``.

:func:`filter_grid` (minicnn's, not PyTorch's) tiles a convolution's filters into one image, as
``minicnn train --tensorboard`` logs the first convolution's filters every epoch.

Needs ``pip install 'minicnn[tensorboard]'`` (in a source checkout ``pip install -e
'.[tensorboard]'``): tensorboardX to write, Pillow to encode images, tensorboard to view.

>>> from minicnn.utils.tensorboard import SummaryWriter                # doctest: +SKIP
>>> with SummaryWriter("runs/exp1") as writer:                          # doctest: +SKIP
...     for step in range(100):
...         writer.add_scalar("loss/train", 1 / (step + 1), step)
"""
import itertools
import math
import os
from typing import Any, Optional, Union

import numpy as np

__all__ = ["SummaryWriter", "filter_grid", "require_tensorboard"]

_WRITERS = itertools.count()  # numbers the writers of this process, for unique file names
_EXTRA = ("pip install 'minicnn[tensorboard]' (in a source checkout: "
          "pip install -e '.[tensorboard]')")


def require_tensorboard(images: bool = False) -> None:
    """Raise ImportError naming the extra when tensorboardX (or, with ``images``, Pillow, which
    encodes the images) is missing; ``minicnn train --tensorboard`` calls it before training."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise ImportError(f"TensorBoard logging needs tensorboardX: {_EXTRA}") from None
    if images:
        try:
            import PIL.Image  # noqa: F401
        except ImportError:
            raise ImportError(f"TensorBoard images need Pillow: {_EXTRA}") from None


def _numpy(value: Any) -> Any:
    """A minicnn Tensor as a NumPy array (detached, on the CPU); anything else unchanged."""
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return value


def _scalar(name: str, value: Any) -> float:
    """A number, NumPy scalar or one-element Tensor/array as a float; ValueError otherwise."""
    array = np.asarray(_numpy(value))
    if array.size != 1 or array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a number or a one-element tensor, got "
                         f"{type(value).__name__} of shape {tuple(array.shape)}")
    return float(array.reshape(()))


class SummaryWriter:
    """Write entries to event files in ``log_dir`` for TensorBoard, as
    ``torch.utils.tensorboard.SummaryWriter``; the file is written asynchronously.

    log_dir: the directory (default ``runs/<CURRENT_DATETIME_HOSTNAME><comment>``, as
    PyTorch's: a new one for every writer). comment: appended to the default ``log_dir``
    (ignored when ``log_dir`` is given). purge_step: when a run that crashed at step T+X
    restarts at step T, events with a global step >= T written before are hidden from
    TensorBoard (use the same ``log_dir``). max_queue: pending events and summaries before an
    ``add`` call forces a write to disk. flush_secs: how often, in seconds, pending events are
    written. filename_suffix: appended to the event file names.

    Raises ImportError naming the extra when tensorboardX is not installed.
    """

    def __init__(self, log_dir: Optional[str] = None, comment: str = "",
                 purge_step: Optional[int] = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        require_tensorboard()
        import socket
        from datetime import datetime

        import tensorboardX

        if not log_dir:  # PyTorch's default, e.g. runs/May04_22-14-54_hostLR_0.1
            log_dir = os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_"
                                   + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        # PyTorch's file names, events.out.tfevents.TIME.HOST.PID.N (N zero-padded here, to sort
        # in creation order): tensorboardX's end at HOST, so that a second writer in the same
        # directory and second (a quick --resume) would overwrite the first one's file
        unique = f".{os.getpid()}.{next(_WRITERS):06d}{filename_suffix}"
        self._writer = tensorboardX.SummaryWriter(
            log_dir=self.log_dir, purge_step=purge_step, max_queue=max_queue,
            flush_secs=flush_secs, filename_suffix=unique)

    def get_logdir(self) -> str:
        """The directory the event files are written to."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: Optional[int] = None,
                   walltime: Optional[float] = None) -> None:
        """Add a scalar: ``scalar_value`` a Python number, a NumPy scalar or a one-element
        Tensor; ``global_step`` the x coordinate (int); ``walltime`` seconds since the epoch
        (default ``time.time()``)."""
        self._writer.add_scalar(tag, _scalar("scalar_value", scalar_value), global_step,
                                walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict[str, Any],
                    global_step: Optional[int] = None, walltime: Optional[float] = None) -> None:
        """Add several scalars to one chart ``main_tag``: each ``tag -> value`` of
        ``tag_scalar_dict`` goes to an event file of its own, in the run ``log_dir/main_tag/tag``
        (tensorboardX's layout; PyTorch's names the run ``main_tag_tag``)."""
        self._writer.add_scalars(main_tag, {k: _scalar(f"tag_scalar_dict[{k!r}]", v)
                                            for k, v in tag_scalar_dict.items()},
                                 global_step, walltime)

    def add_histogram(self, tag: str, values: Any, global_step: Optional[int] = None,
                      bins: Union[str, Any] = "tensorflow", walltime: Optional[float] = None,
                      max_bins: Optional[int] = None) -> None:
        """Add a histogram of ``values`` (a Tensor or array of any shape, flattened). ``bins``:
        ``"tensorflow"`` (the default: TensorFlow's exponential buckets), one of NumPy's
        ``np.histogram_bin_edges`` names (``"auto"``, ``"fd"``, ...) or the bin edges."""
        self._writer.add_histogram(tag, np.asarray(_numpy(values)), global_step, bins,
                                   walltime, max_bins)

    def add_image(self, tag: str, img_tensor: Any, global_step: Optional[int] = None,
                  walltime: Optional[float] = None, dataformats: str = "CHW") -> None:
        """Add an image: ``img_tensor`` of shape (C, H, W) by default, C being 1, 3 or 4
        (``dataformats`` says otherwise: "HWC", "HW", ...); uint8 in [0, 255] or float in
        [0, 1] (multiplied by 255; other values are the caller's to scale). Needs Pillow."""
        require_tensorboard(images=True)
        self._writer.add_image(tag, np.asarray(_numpy(img_tensor)), global_step, walltime,
                               dataformats)

    def add_images(self, tag: str, img_tensor: Any, global_step: Optional[int] = None,
                   walltime: Optional[float] = None, dataformats: str = "NCHW") -> None:
        """Add a batch of images as one image (tiled in rows of 8): ``img_tensor`` of shape
        (N, C, H, W) by default ("NHWC" with ``dataformats``), values as :meth:`add_image`."""
        require_tensorboard(images=True)
        self._writer.add_images(tag, np.asarray(_numpy(img_tensor)), global_step, walltime,
                                dataformats)

    def add_text(self, tag: str, text_string: str, global_step: Optional[int] = None,
                 walltime: Optional[float] = None) -> None:
        """Add text (Markdown) to TensorBoard's text dashboard."""
        self._writer.add_text(tag, text_string, global_step, walltime)

    def add_hparams(self, hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
                    hparam_domain_discrete: Optional[dict[str, list[Any]]] = None,
                    run_name: Optional[str] = None, global_step: Optional[int] = None) -> None:
        """Add a set of hyperparameters and the metrics they gave, for TensorBoard's HParams
        dashboard, written (as PyTorch does) to a run of its own, ``log_dir/run_name``
        (default: the current time stamp), with each metric also as a scalar there.

        hparam_dict: name -> bool, str, int, float, a one-element Tensor, or None (left out).
        metric_dict: name -> number; use names that no ``add_scalar`` call uses (PyTorch's
        advice), e.g. ``"hparam/accuracy"``. Raises TypeError when either is not a dict,
        ValueError for a value of another type, NotImplementedError for
        ``hparam_domain_discrete`` (tensorboardX has no discrete domains).
        """
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        if hparam_domain_discrete is not None:
            raise NotImplementedError("add_hparams: hparam_domain_discrete is not supported "
                                      "(tensorboardX writes no discrete domains)")
        hparams = {}
        for key, value in hparam_dict.items():
            value = _numpy(value)
            if isinstance(value, (np.ndarray, np.generic)) and value.size == 1:
                value = value.item()
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ValueError("value should be one of int, float, str, bool, or Tensor")
            hparams[key] = value
        metrics = {k: _scalar(f"metric_dict[{k!r}]", v) for k, v in metric_dict.items()}
        self._writer.add_hparams(hparams, metrics, name=run_name, global_step=global_step)

    def flush(self) -> None:
        """Write the pending events of every event file to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event files; a later ``add`` call opens new ones."""
        self._writer.close()

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def filter_grid(weight: Any, max_tiles: int = 256, tile_size: int = 32) -> np.ndarray:
    """The filters of a convolution weight (K, C, kh, kw) tiled into one image, float32 (C', H,
    W) in [0, 1], for :meth:`SummaryWriter.add_image`.

    With C = 3 each filter is one RGB tile; otherwise each (filter, input channel) is a gray
    tile (the first ``max_tiles``). All tiles share one scale, symmetric about 0 (the layer's
    largest |weight| m maps -m to 0, 0 to 0.5 and m to 1), as ``minicnn viz filters``: a
    filter's sign pattern and its size relative to the others stay visible. Tiles are enlarged
    by the integer factor that brings them nearest ``tile_size`` pixels (nearest neighbour),
    laid out in a near-square grid with a 1-pixel white border. Raises ValueError for a weight
    that is not 4-D.
    """
    w = np.asarray(_numpy(weight), dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: weight must be a conv weight (K, C, kh, kw), got shape "
                         f"{tuple(w.shape)}")
    k, c, kh, kw = w.shape
    m = float(np.abs(w).max()) or 1.0  # all-zero weights: any scale shows them as 0.5
    unit = ((w if c == 3 else w.reshape(k * c, 1, kh, kw))[:max_tiles] / m + 1) / 2
    scale = max(1, round(tile_size / max(kh, kw)))
    tiles = unit.repeat(scale, axis=2).repeat(scale, axis=3)
    n, channels, h, wd = tiles.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.ones((channels, rows * (h + 1) + 1, cols * (wd + 1) + 1), np.float32)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, cols)
        top, left = 1 + r * (h + 1), 1 + q * (wd + 1)
        grid[:, top:top + h, left:left + wd] = tile
    return grid
