"""In the style of a textbook's CNN chapters and their helper library: framework functions bound
to short names at import, a cross-correlation written with loops and item assignment, a kernel
learned by hand-written gradient descent through ``.data``, multi-channel and pooling helpers,
and a LeNet made of Lazy modules."""
import json

import torch
from torch import nn

# the helper library binds these at import, so every one must exist
ones, zeros, tensor, arange = torch.ones, torch.zeros, torch.tensor, torch.arange
meshgrid, sin, sinh, cos, cosh, tanh = (torch.meshgrid, torch.sin, torch.sinh, torch.cos,
                                        torch.cosh, torch.tanh)
linspace, exp, log, normal, rand, randn = (torch.linspace, torch.exp, torch.log, torch.normal,
                                           torch.rand, torch.randn)
matmul, int32, int64, float32, concat, stack = (torch.matmul, torch.int32, torch.int64,
                                                torch.float32, torch.cat, torch.stack)
abs, eye, sigmoid, batch_matmul = torch.abs, torch.eye, torch.sigmoid, torch.bmm
size = lambda x, *args, **kwargs: x.numel(*args, **kwargs)  # noqa: E731
reduce_sum = lambda x, *args, **kwargs: x.sum(*args, **kwargs)  # noqa: E731
astype = lambda x, *args, **kwargs: x.type(*args, **kwargs)  # noqa: E731
swapaxes = lambda x, *args, **kwargs: x.swapaxes(*args, **kwargs)  # noqa: E731
repeat = lambda x, *args, **kwargs: x.repeat(*args, **kwargs)  # noqa: E731


def corr2d(X, K):
    """2-D cross-correlation, one output at a time."""
    h, w = K.shape
    Y = zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def corr2d_multi_in(X, K):
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X, K):
    return stack([corr2d_multi_in(X, k) for k in K], 0)


def pool2d(X, pool_size, mode="max"):
    p_h, p_w = pool_size
    Y = zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = X[i:i + p_h, j:j + p_w]
            Y[i, j] = window.max() if mode == "max" else window.mean()
    return Y


result = {}
X = tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K = tensor([[0.0, 1.0], [2.0, 3.0]])
result["corr2d"] = corr2d(X, K).tolist()
result["pool_max"] = pool2d(X, (2, 2)).tolist()
result["pool_avg"] = pool2d(X, (2, 2), "avg").tolist()
X2 = stack((X, X + 1), 0)
K2 = stack((K, K + 1), 0)
result["multi_in"] = corr2d_multi_in(X2, K2).tolist()
result["multi_in_out"] = corr2d_multi_in_out(X2, stack((K2, K2 + 1, K2 + 2), 0)).tolist()

# learn an edge-detecting kernel by gradient descent through .data
edges = ones((6, 8))
edges[:, 2:6] = 0
target = corr2d(edges, tensor([[1.0, -1.0]]))
conv2d = nn.LazyConv2d(1, kernel_size=(1, 2), bias=False)
edges, target = edges.reshape((1, 1, 6, 8)), target.reshape((1, 1, 6, 7))
conv2d(edges)
with torch.no_grad():
    conv2d.weight.copy_(tensor([[[[0.3, 0.1]]]]))
losses = []
for i in range(10):
    loss = ((conv2d(edges) - target) ** 2).sum()
    conv2d.zero_grad()
    loss.backward()
    conv2d.weight.data[:] -= 3e-2 * conv2d.weight.grad
    losses.append(loss.item())
result["kernel_losses"] = losses
result["kernel"] = conv2d.weight.data.reshape((1, 2)).tolist()

# the helper functions on tensors
g = meshgrid(arange(3), arange(2), indexing="ij")
result["meshgrid"] = [t.tolist() for t in g]
b = batch_matmul(ones((2, 3, 4)), ones((2, 4, 5)))
result["bmm"] = [list(b.shape), float(reduce_sum(b))]
result["trig"] = float((sin(linspace(0, 1, 5)) ** 2 + cos(linspace(0, 1, 5)) ** 2).sum())
result["astype"] = str(astype(tensor([1.7, -2.2]), torch.int64).tolist())
result["repeat"] = repeat(tensor([1, 2]), 2, 2).tolist()
result["size"] = size(zeros((3, 4)))

# LeNet from Lazy modules, shapes layer by layer
torch.manual_seed(0)
lenet = nn.Sequential(
    nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
    nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Flatten(), nn.LazyLinear(120), nn.Sigmoid(), nn.LazyLinear(84), nn.Sigmoid(),
    nn.LazyLinear(10))
x = rand(1, 1, 28, 28)
shapes = []
for layer in lenet:
    x = layer(x)
    shapes.append([type(layer).__name__, list(x.shape)])
result["lenet_shapes"] = shapes
result["lenet_params"] = sum(p.numel() for p in lenet.parameters())
print(json.dumps(result))
