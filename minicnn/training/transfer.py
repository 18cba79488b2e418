"""Transfer learning for ``minicnn train``: start from weights trained elsewhere
(``--init-from``), freeze parts of the model (``--freeze``, ``--freeze-bn``), unfreeze them
later (``--unfreeze-at``) and give the classifier head its own learning rate (``--head-lr``).

The recipe (docs/05-training-recipes.md, "Transfer learning"): a linear probe trains only the
head on frozen features (``--freeze 'features.*'``); a full fine-tune trains everything, usually
with a smaller lr for the pretrained body than for the new head; gradual unfreezing starts as a
probe and unfreezes the body after a few epochs.
"""
from __future__ import annotations

import fnmatch
import os

from .. import nn
from ..nn.modules.norm import _BatchNorm
from ..serialization import load
from ..tensor import Tensor
from .config import InputFileError

__all__ = ["frozen_names", "head_parameter_names", "init_from", "set_bn_eval"]


def init_from(model: nn.Module, path: str) -> tuple[list[str], list[str]]:
    """Copy into ``model`` the weights of ``path`` whose names and shapes match, as
    ``load_state_dict(strict=False)`` with mismatched shapes skipped rather than an error (a
    head of another number of classes). ``path``: a checkpoint of ``minicnn train`` (its
    averaged weights with ``--ema``), or a state dict saved by ``minicnn.save`` or
    ``torch.save`` (a dict of name -> tensor; ``.npz``, ``.pt``, ``.safetensors``).

    Returns ``(loaded, skipped)``: the names copied, and for each tensor of the model left as
    it was a line saying why ("fc.weight: shape (10, 84) in the file, (26, 84) here", "...: not
    in the file"). Raises FileNotFoundError, or InputFileError when nothing matches or the file
    holds no tensors.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--init-from: no such file {path}")
    source = load(path, map_location="cpu")
    if isinstance(source, dict) and source.get("format") == "minicnn-train":
        ema = source.get("ema")
        source = ({k[len("module."):]: v for k, v in ema.items() if k.startswith("module.")}
                  if ema else source["model"])
    if not isinstance(source, dict) or not any(isinstance(v, Tensor) for v in source.values()):
        raise InputFileError(f"--init-from {path}: not a state dict (a dict of tensors) nor a "
                             "checkpoint of minicnn train")
    own = model.state_dict()
    matching, skipped = {}, []
    for name, tensor in own.items():
        theirs = source.get(name)
        if not isinstance(theirs, Tensor):
            skipped.append(f"{name}: not in the file")
        elif tuple(theirs.shape) != tuple(tensor.shape):
            skipped.append(f"{name}: shape {tuple(theirs.shape)} in the file, "
                           f"{tuple(tensor.shape)} here")
        else:
            matching[name] = theirs
    if not matching:
        raise InputFileError(f"--init-from {path}: none of its {len(source)} entries matches a "
                             "tensor of this model by name and shape (another architecture?)")
    model.load_state_dict(matching, strict=False)
    return list(matching), skipped


def frozen_names(model: nn.Module, patterns: str | None) -> list[str]:
    """Names of the parameters matched by ``patterns`` (comma-separated globs on parameter or
    module names, e.g. ``"features.*"`` or ``"conv1,bn1,layer1"``; a module name covers its
    parameters). Raises ValueError when a pattern matches nothing."""
    if not patterns:
        return []
    names = [n for n, _ in model.named_parameters()]
    chosen = []
    for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)
                or fnmatch.fnmatchcase(n, pattern + ".*")]
        if not hits:
            raise ValueError(f"--freeze {pattern!r} matches no parameter; the names look like "
                             f"{', '.join(names[:3])}, ... (see minicnn summary)")
        chosen += [n for n in hits if n not in chosen]
    return chosen


def head_parameter_names(model: nn.Module) -> list[str]:
    """The parameters of the classifier head: those of the model's last Linear layer (or last
    module with parameters when it has no Linear), in registration order."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        last = [n for n, m in model.named_modules() if list(m.parameters(recurse=False))][-1]
    prefix = last + "." if last else ""
    return [n for n, _ in model.named_parameters() if n.startswith(prefix)
            and "." not in n[len(prefix):]]


def set_bn_eval(model: nn.Module) -> None:
    """Put every batch-norm layer in eval mode (running statistics used, not updated): what
    ``--freeze-bn`` does after each ``model.train()``."""
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.eval()
