"""A layer-by-layer table of a model (like ``torchinfo.summary``): each module's output shape,
parameter count and multiply-adds, found by running one forward pass with forward hooks.

Multiply-adds (MACs) count the products of the weight layers, the convention of
``torch.utils.flop_counter`` (whose FLOPs are 2 x MACs), fvcore and torchvision's model table:
Conv2d N·K·Ho·Wo·(C/groups)·kh·kw, ConvTranspose2d N·C·H·W·(K/groups)·kh·kw (input positions),
Linear (number of rows)·in·out. Biases, normalization, activations and pooling count 0. So LeNet-5
is 416,520 MACs per 28x28 image and ResNet-18 1.81 G per 224x224 image (the 1.82 G often quoted
also counts batch norm and the rest).

FLOPs are printed as 2 x MACs (a multiply and an add), the count of ``torch.utils.flop_counter``
and of most papers' "FLOPs". Tools and tables that say FLOPs sometimes mean MACs: fvcore's
FLOPs and torchvision's "GFLOPS" column are multiply-adds (ResNet-18: 1.81 "GFLOPS"), and
ptflops reports MACs. Compare a figure with one counted the same way.

With ``rf=True`` each row also gets the receptive field size, jump and start of its output (by
:func:`minicnn.utils.receptive_field`, whose docstring gives the recurrence), in input pixels.

>>> print(summary(minicnn.models.lenet5(), (1, 28, 28)))      # doctest: +SKIP
"""
from dataclasses import dataclass

import numpy as np

from .receptive_field import _pair_str, receptive_field

__all__ = ["LayerInfo", "ModelSummary", "summary"]


@dataclass
class LayerInfo:
    """One row of a :class:`ModelSummary`.

    ``name``: dotted name from the model (``"features.0"``; ``""`` for the model itself);
    ``type``: class name; ``depth``: nesting level (0 for the model);
    ``output_shape``: shape of the first output of the module's first call, a tuple (a list of
    tuples for a tuple output; None when the module was not called in the forward pass);
    ``num_params``: parameters owned directly by this module (not its children), so the column
    sums to the total; ``macs``: multiply-adds of its own weight products over all its calls,
    for the whole batch (0 for a container: its children count them); ``trainable``:
    True/False when it owns parameters (all or none require grad), ``"partial"`` when some do,
    None when it owns none; ``is_leaf``: no sub-modules; ``rf``, ``jump``, ``start``: with
    ``summary(..., rf=True)``, the receptive field size, jump (effective stride) and start
    (centre of the first unit's field, in input pixel indices) of the output as (h, w) pairs,
    else None, and None for an output that is not a map (after ``Flatten``). A layer that keeps
    the field (batch norm, ReLU) repeats its input's values; a block (ResNet's BasicBlock)
    shows its output's: where branches join, the one with the largest field (the main path).
    """

    name: str
    type: str
    depth: int
    output_shape: object
    num_params: int
    macs: int
    trainable: object
    is_leaf: bool
    rf: object = None
    jump: object = None
    start: object = None


class ModelSummary:
    """What :func:`summary` returns; ``str()`` of it is the table.

    Attributes: ``layers`` (list of :class:`LayerInfo`, in ``named_modules()`` order),
    ``input_shape`` (with the batch dimension), ``total_params``, ``trainable_params``
    (parameters shared between layers counted once), ``total_macs`` (multiply-adds of one
    forward pass of the batch), ``param_bytes``, ``input_bytes``, and ``activation_bytes``: the
    summed size of the outputs of the leaf modules for the batch, a rough measure of the memory
    that training keeps for the backward pass; ``total_flops`` = 2 x ``total_macs``; ``rf``:
    whether the table has the receptive field columns.
    """

    def __init__(self, layers, input_shape, total_params, trainable_params, total_macs,
                 param_bytes, input_bytes, activation_bytes, rf=False):
        self.layers = layers
        self.input_shape = input_shape
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_macs = total_macs
        self.param_bytes = param_bytes
        self.input_bytes = input_bytes
        self.activation_bytes = activation_bytes
        self.rf = rf

    @property
    def total_flops(self):
        """2 x ``total_macs``: one multiply and one add per multiply-add."""
        return 2 * self.total_macs

    def __str__(self):
        header = ("Layer (type)", "Output shape", "Param #", "Mult-adds", "Trainable")
        if self.rf:
            header += ("RF", "Jump", "Start")
        rows = []
        for layer in self.layers:
            label = f"{layer.name.rsplit('.', 1)[-1]} ({layer.type})" if layer.name else layer.type
            row = ("  " * layer.depth + label,
                   _shape_str(layer.output_shape),
                   f"{layer.num_params:,}" if layer.num_params else "--",
                   f"{layer.macs:,}" if layer.macs else "--",
                   "--" if layer.trainable is None else str(layer.trainable))
            if self.rf:
                row += tuple("--" if v is None else _pair_str(v)
                             for v in (layer.rf, layer.jump, layer.start))
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = "  ".join(["{:<%d}" % widths[0], "{:<%d}" % widths[1]]
                         + ["{:>%d}" % w for w in widths[2:]]).format
        rule = "=" * len(line(*header))
        batch = self.input_shape[0]
        lines = [rule, line(*header), rule, *(line(*r) for r in rows), rule,
                 f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                 f"Total mult-adds, batch {batch}: {self.total_macs:,} "
                 f"({_scaled(self.total_macs)})",
                 f"Total FLOPs, batch {batch}: {self.total_flops:,} "
                 f"({_scaled(self.total_flops)}; 1 multiply-add = 2 FLOPs)",
                 rule,
                 f"Input shape: {_shape_str(self.input_shape)}",
                 f"Input size (MB): {self.input_bytes / 1e6:.2f}",
                 f"Forward activations, batch {batch} (MB): {self.activation_bytes / 1e6:.2f}",
                 f"Params size (MB): {self.param_bytes / 1e6:.2f}",
                 rule]
        if self.rf:
            lines[-1:-1] = ["RF, jump, start: the receptive field size, distance between "
                            "neighbouring units and centre of the first unit's field, in input "
                            "pixels"]
        return "\n".join(lines)

    __repr__ = __str__


def summary(model, input_shape, batch_size=1, dtype=np.float32, rf=False):
    """Summarize ``model`` for inputs of shape ``input_shape`` (without the batch dimension,
    e.g. ``(1, 28, 28)``), by running one forward pass on a zero batch of ``batch_size`` images.

    The pass runs in eval mode under ``no_grad`` on the model's device, so it updates no
    batch-norm statistics and draws no random numbers; the model's train/eval mode is restored.
    Returns a :class:`ModelSummary` (its ``str()`` is the table); MACs as in the module
    docstring. ``rf=True`` adds the columns RF, Jump and Start (see :class:`LayerInfo`), found
    by :func:`minicnn.utils.receptive_field` on a second pass; it needs ``input_shape`` =
    (C, H, W).

    Raises TypeError when ``model`` is not a Module, ValueError for an ``input_shape`` that is
    not a sequence of positive ints or a ``batch_size`` < 1, and re-raises the model's own error
    (which names the failing layer) when it does not accept that input shape; with ``rf=True``,
    the ValueErrors of :func:`~minicnn.utils.receptive_field` (an input_shape that is not
    (C, H, W), a ConvTranspose2d, a map resized outside any module).
    """
    from ..autograd import no_grad
    from ..creation import zeros
    from ..nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an nn.Module, got {type(model).__name__}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"summary: input_shape must be a sequence of ints such as (3, 32, 32), "
                         f"got {input_shape!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"summary: input_shape must be positive sizes such as (3, 32, 32), "
                         f"got {input_shape!r}")
    if int(batch_size) < 1:
        raise ValueError(f"summary: batch_size must be >= 1, got {batch_size!r}")
    shape = (int(batch_size), *shape)

    modules = list(model.named_modules())
    itemsize = np.dtype(dtype).itemsize
    outputs = {}  # id(module) -> output shape of its first call
    activation = [0]  # bytes of every output of a leaf module (a reused ReLU counts per call)
    macs = {}  # id(module) -> multiply-adds summed over its calls

    def hook(module, args, output):
        shape = _shapes(output)
        outputs.setdefault(id(module), shape)
        if not module._modules:
            activation[0] += sum(int(np.prod(s)) for s in _shape_list(shape)) * itemsize
        macs[id(module)] = macs.get(id(module), 0) + layer_macs(module, args, output)

    handles = [m.register_forward_hook(hook) for _, m in modules]
    params = list(model.parameters())
    device = params[0].device if params else "cpu"
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(zeros(shape, dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    maps = receptive_field(model, shape[1:]).maps if rf else {}

    layers = []
    for name, module in modules:
        own = list(module.parameters(recurse=False))
        grads = {p.requires_grad for p in own}
        layers.append(LayerInfo(
            name=name, type=type(module).__name__, depth=name.count(".") + 1 if name else 0,
            output_shape=outputs.get(id(module)), num_params=sum(p.numel() for p in own),
            macs=macs.get(id(module), 0),
            trainable=None if not own else grads.pop() if len(grads) == 1 else "partial",
            is_leaf=not module._modules, **dict(zip(("rf", "jump", "start"), maps.get(name, ())))))
    return ModelSummary(
        layers=layers, input_shape=shape,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(macs.values()),
        param_bytes=sum(p.numel() * p.dtype.itemsize for p in params),
        input_bytes=int(np.prod(shape)) * itemsize, activation_bytes=activation[0], rf=bool(rf))


def layer_macs(module, args, output):
    """Multiply-adds of one call of a weight layer (Conv2d, ConvTranspose2d, Linear) with the
    call's ``args`` and ``output``, in the convention of the module docstring; 0 for any other
    module."""
    from ..nn import Conv2d, ConvTranspose2d, Linear

    if isinstance(module, Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * module.in_channels // module.groups * kh * kw
    if isinstance(module, ConvTranspose2d):
        kh, kw = module.kernel_size
        return args[0].numel() * module.out_channels // module.groups * kh * kw
    if isinstance(module, Linear):
        return output.numel() * module.in_features
    return 0


def _scaled(n):
    """1814073344 -> '1.81 G'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def _shapes(output):
    """The shape of a tensor output, or a list of shapes for a tuple/list of tensors."""
    if isinstance(output, (tuple, list)):
        return [_shapes(o) for o in output]
    shape = getattr(output, "shape", None)
    return tuple(shape) if shape is not None else None


def _shape_list(shape):
    if isinstance(shape, list):
        return [s for item in shape for s in _shape_list(item)]
    return [] if shape is None else [shape]


def _shape_str(shape):
    if shape is None:
        return "--"
    if isinstance(shape, list):
        return ", ".join(_shape_str(s) for s in shape)
    return "[" + ", ".join(str(s) for s in shape) + "]"
