"""A network of Lazy modules: a dry run infers the input sizes, then the optimizer is built and
the network trains."""
import json

import numpy as np
import torch
from torch import nn, optim

model = nn.Sequential(
    nn.LazyConv2d(6, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.LazyLinear(10), nn.ReLU(), nn.LazyLinear(4),
).double()
x = torch.from_numpy(np.random.default_rng(1).normal(size=(8, 3, 10, 10)))
y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
model(x)  # dry run: materializes the parameters
rng = np.random.default_rng(2)
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.from_numpy(rng.normal(0.0, 0.2, tuple(p.shape))))
shapes = {name: list(p.shape) for name, p in model.named_parameters()}
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
losses = []
for step in range(6):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps({"shapes": shapes, "first": type(model[0]).__name__, "losses": losses}))
