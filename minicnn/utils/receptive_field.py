"""Output sizes and receptive fields of convolution and pooling layers.

A unit of layer l sees a window of the input: its receptive field. Along one axis, with kernel
k_l, stride s_l, padding p_l and dilation d_l (effective kernel d_l (k_l - 1) + 1), the standard
recurrence (Dumoulin & Visin 2016, "A guide to convolution arithmetic"; Araujo, Norris & Sim
2019, "Computing receptive fields of convolutional neural networks", Distill) is

    RF_l    = RF_{l-1} + d_l (k_l - 1) jump_{l-1}          (RF_0 = 1)
    jump_l  = jump_{l-1} s_l                                (jump_0 = 1: the input's pixel pitch)
    start_l = start_{l-1} + (d_l (k_l - 1) / 2 - p_l) jump_{l-1}   (start_0 = 0)

``jump`` is the distance in input pixels between neighbouring units (the effective stride) and
``start`` the input position (pixel index, may be negative or fractional) of the centre of the
first unit's field: unit i of layer l is centred on input pixel start_l + i jump_l.
"""
from dataclasses import dataclass

from .. import geometry

__all__ = ["RFLayer", "ReceptiveField", "conv_output_size", "receptive_field"]


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Output length of a convolution or pooling along one axis:
    floor((size + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1 (as in the docs of
    ``torch.nn.Conv2d``; a pooling layer's ``ceil_mode`` rounds up instead), checked: the
    formula itself is :func:`minicnn.geometry.conv_output_size`.

    ``conv_output_size(32, 3, 1, 1) == 32``; ``conv_output_size(224, 7, 2, 3) == 112``.
    All arguments are ints. Raises TypeError for a non-int and
    :class:`~minicnn.geometry.GeometryError` (a ValueError) for ``size``, ``kernel_size``,
    ``stride`` or ``dilation`` < 1, ``padding`` < 0, or a kernel that does not fit in the
    padded input (the output would be empty).
    """
    fn = "conv_output_size"
    args = dict(size=size, kernel_size=kernel_size, stride=stride, padding=padding,
                dilation=dilation)
    size, kernel_size, stride, padding, dilation = (
        geometry.integer(value, name, fn, 0 if name == "padding" else 1)
        for name, value in args.items())
    return geometry.output_size(fn, (size,), (kernel_size,), (stride,), (padding,),
                                (dilation,))[0]


@dataclass
class RFLayer:
    """One row of a :class:`ReceptiveField`: a convolution or pooling layer.

    ``name``: the module's dotted name; ``type``: its class name; ``output_size``: (H, W) of its
    output; ``kernel_size``, ``stride``, ``padding``, ``dilation``: its geometry as (h, w) pairs;
    ``rf``, ``jump``, ``start``: the receptive field size, effective stride and first centre, in
    input pixels, as (h, w) pairs (see the module docstring).
    """

    name: str
    type: str
    output_size: tuple
    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    rf: tuple
    jump: tuple
    start: tuple


class ReceptiveField:
    """What :func:`receptive_field` returns: ``layers`` (list of :class:`RFLayer`, in call order),
    ``input_size`` (H, W); ``rf["features.3"]`` finds a layer's row by name (its first call);
    ``str()`` is a table. ``maps``: module name -> ``(rf, jump, start)``, each an (h, w) pair, of
    the module's output (first call) for every module whose output is a map computed from the
    input: window layers, the layers between them (batch norm, ReLU: their input's values) and
    blocks (where branches join, the largest field, as for ``layers``)."""

    def __init__(self, layers, input_size, maps=None):
        self.layers = layers
        self.input_size = input_size
        self.maps = {} if maps is None else maps

    def __getitem__(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"receptive_field: no convolution or pooling layer named {name!r}; the "
                       f"layers are {[layer.name for layer in self.layers]}")

    def __str__(self):
        header = ("Layer (type)", "Output", "Kernel", "Stride", "Pad", "Dil", "RF", "Jump",
                  "Start")
        rows = [(f"{r.name} ({r.type})", _pair_str(r.output_size), _pair_str(r.kernel_size),
                 _pair_str(r.stride), _pair_str(r.padding), _pair_str(r.dilation),
                 _pair_str(r.rf), _pair_str(r.jump), _pair_str(r.start)) for r in self.layers]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = "  ".join(["{:<%d}" % widths[0]] + ["{:>%d}" % w for w in widths[1:]]).format
        rule = "=" * len(line(*header))
        return "\n".join([rule, line(*header), rule, *(line(*r) for r in rows), rule,
                          f"Input: {_pair_str(self.input_size)}; RF, jump and start in input "
                          "pixels (start: centre of the first unit's field)"])

    __repr__ = __str__


def receptive_field(model, input_shape):
    """Receptive field, jump and start of every convolution and pooling layer of ``model``
    for inputs of shape ``input_shape`` = (C, H, W), by the recurrence of the module docstring.

    Runs one forward pass on a zero image (eval mode, restored afterwards) with forward hooks on
    the leaf modules and follows the tensors between them, so branches work: where paths
    meet (a residual ``F(x) + x``, a concatenation), the path with the largest field counts.
    Paths of another spatial size that are broadcast onto the map (the 1x1 gates of SE and CBAM
    blocks) are left out: the recurrence describes the local, sliding-window path. Rows are
    Conv2d, MaxPool2d, AvgPool2d and adaptive pooling (windows in/out when the input size is a
    multiple of the output size), and the subsampling shortcut of the CIFAR ResNets
    (``ZeroPadShortcut``, a 1x1 window with the block's stride); layers after the map is
    flattened are not listed.

    Returns a :class:`ReceptiveField`. Raises TypeError when ``model`` is not an nn.Module,
    ValueError for an ``input_shape`` that is not three positive ints, for a ConvTranspose2d (no
    window recurrence), an adaptive pooling whose windows differ in size, or a map whose size
    changed outside any module (a functional call such as ``F.max_pool2d`` in ``forward``, which
    hooks cannot see); the model's own error for an input it does not accept.
    """
    from ..autograd import enable_grad
    from ..creation import zeros
    from ..nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"receptive_field: model must be an nn.Module, got "
                        f"{type(model).__name__}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"receptive_field: input_shape must be (C, H, W), three positive ints, "
                         f"got {input_shape!r}")

    params = list(model.parameters())
    device = params[0].device if params else "cpu"
    x = zeros((1, *shape), device=device).requires_grad_()  # a graph to follow between modules
    # id(tensor) -> (tensor, geometry); the tensor is kept so that its id stays unique
    known = {id(x): (x, _Geometry((1, 1), (1, 1), (0.0, 0.0), shape[1:]))}
    layers = []
    maps = {}  # module name -> geometry of its first output
    names = {id(m): name for name, m in model.named_modules()}

    def hook(module, args, output):
        if getattr(output, "ndim", 0) != 4:
            return
        if module._modules:  # a block: its layers did the work; find where its output comes from
            try:
                geo = _trace(output, known, names[id(module)])
            except ValueError:  # resized by a functional call: the layer it feeds reports it
                return
            if geo is not None:
                maps.setdefault(names[id(module)], geo)
            return
        if not args or getattr(args[0], "ndim", 0) != 4:
            return
        geo = _trace(args[0], known, names[id(module)])
        if geo is None:
            return
        window = _window(module, geo.size, tuple(output.shape[2:]), names[id(module)])
        if window is not None:
            geo = geo.step(*window, tuple(output.shape[2:]))
            layers.append(RFLayer(names[id(module)], type(module).__name__, geo.size, *window,
                                  geo.rf, geo.jump, geo.start))
        elif tuple(output.shape[2:]) != geo.size:
            raise ValueError(f"receptive_field: {names[id(module)]!r} "
                             f"({type(module).__name__}) changes the map size without a "
                             "window the recurrence knows")
        known[id(output)] = (output, geo)
        maps.setdefault(names[id(module)], geo)

    handles = [m.register_forward_hook(hook) for _, m in model.named_modules()]
    was_training = model.training
    model.eval()
    try:
        with enable_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return ReceptiveField(layers, shape[1:],
                          {name: (g.rf, g.jump, g.start) for name, g in maps.items()})


@dataclass
class _Geometry:
    rf: tuple
    jump: tuple
    start: tuple
    size: tuple

    def step(self, kernel, stride, padding, dilation, size):
        """The geometry after a window layer: the recurrence, per axis."""
        ax = range(2)
        return _Geometry(
            rf=tuple(self.rf[a] + dilation[a] * (kernel[a] - 1) * self.jump[a] for a in ax),
            jump=tuple(self.jump[a] * stride[a] for a in ax),
            start=tuple(self.start[a] + (dilation[a] * (kernel[a] - 1) / 2 - padding[a])
                        * self.jump[a] for a in ax),
            size=size)


def _trace(t, known, name):
    """The geometry of tensor ``t``: its own when a module produced it, else that of the
    module outputs it was computed from (through functional ops), following the autograd
    graph; None when it does not come from the input image."""
    if id(t) in known:
        return known[id(t)][1]
    found, stack, seen = [], [t], set()
    while stack:
        u = stack.pop()
        if id(u) in seen:
            continue
        seen.add(id(u))
        if id(u) in known:
            found.append(known[id(u)][1])
        elif u.grad_fn is not None:
            stack.extend(v for v in u.grad_fn.inputs if v is not None)
    size = tuple(t.shape[2:])
    same = [g for g in found if g.size == size]
    if found and not same:
        sizes = ", ".join(f"{g.size[0]}x{g.size[1]}" for g in found)
        raise ValueError(f"receptive_field: the input of {name!r} is {size[0]}x{size[1]} but "
                         f"comes from maps of size {sizes}: a spatial operation outside any "
                         "module (a functional call such as F.max_pool2d in forward) changed it, "
                         "which the recurrence cannot see; use the module (nn.MaxPool2d) instead")
    return max(same, key=lambda g: g.rf, default=None)


def _window(module, size_in, size_out, name):
    """(kernel, stride, padding, dilation) pairs of a window layer, None for other layers."""
    from ..models.resnet import ZeroPadShortcut
    from ..nn import (
        AdaptiveAvgPool2d,
        AdaptiveMaxPool2d,
        AvgPool2d,
        Conv2d,
        ConvTranspose2d,
        MaxPool2d,
    )

    if isinstance(module, ConvTranspose2d):
        raise ValueError(f"receptive_field: {name!r} is a ConvTranspose2d, which the window "
                         "recurrence does not describe")
    if isinstance(module, Conv2d):
        k, d = module.kernel_size, module.dilation
        (top, _), (left, _) = geometry.resolve_padding(module.padding, k, d)
        return k, module.stride, (top, left), d  # the padding before the first row and column
    if isinstance(module, MaxPool2d):
        return geometry.pool_window(module.kernel_size, module.stride, module.padding,
                                    module.dilation, type(module).__name__)
    if isinstance(module, AvgPool2d):
        return geometry.pool_window(module.kernel_size, module.stride, module.padding, 1,
                                    type(module).__name__)
    if isinstance(module, (AdaptiveAvgPool2d, AdaptiveMaxPool2d)):
        if any(i % o for i, o in zip(size_in, size_out)):
            raise ValueError(f"receptive_field: {name!r} pools {size_in[0]}x{size_in[1]} to "
                             f"{size_out[0]}x{size_out[1]} with windows of different sizes; "
                             "choose an input size that is a multiple of its output size")
        k = tuple(i // o for i, o in zip(size_in, size_out))
        return k, k, (0, 0), (1, 1)
    if isinstance(module, ZeroPadShortcut):  # x[:, :, ::s, ::s]: a 1x1 window with stride s
        return (1, 1), (module.stride,) * 2, (0, 0), (1, 1)
    return None


def _pair_str(pair):
    a, b = (int(v) if float(v).is_integer() else v for v in pair)
    return str(a) if a == b else f"{a}x{b}"
