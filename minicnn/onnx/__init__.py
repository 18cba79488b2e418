"""Export a minicnn model to ONNX, the exchange format that onnxruntime, TensorRT, OpenVINO,
Netron and most deployment tools read: :func:`export` (``torch.onnx.export``'s names).

The export runs the model once in eval mode on the example input and records every op it calls
(each goes through ``Function.apply``, see :func:`minicnn.autograd.set_tracer`), with the name of
the module that called it. Each op becomes one or a few ONNX nodes (the table ``OPS`` in
:mod:`minicnn.onnx._ops`); parameters and buffers become initializers under their
``state_dict`` names. The graph is built with the ``onnx`` package's helpers and checked by
``onnx.checker``; ``onnx`` (and ``onnxruntime`` to run the result) is the optional extra
``pip install -e '.[onnx]'``.

The graph is that of the traced run: Python control flow is fixed by the example input, and the
input's height and width are fixed (with ``dynamic_batch`` only the batch size may vary).
"""
from ._export import MAX_OPSET, MIN_OPSET, ExportError, export
from ._ops import OPS

__all__ = ["export", "ExportError", "OPS", "MIN_OPSET", "MAX_OPSET"]
