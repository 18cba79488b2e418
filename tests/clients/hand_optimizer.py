"""A small CNN trained by a hand-written SGD (momentum, weight decay): the optimizer keeps its
own buffers and updates parameters in place under no_grad, in the PyTorch idiom."""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


class HandSGD:
    def __init__(self, params, lr, momentum=0.9, weight_decay=1e-4):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self):
        for p, buf in zip(self.params, self.buffers):
            d_p = p.grad.add(p, alpha=self.weight_decay)
            buf.mul_(self.momentum).add_(d_p)
            p.add_(buf, alpha=-self.lr)


rng = np.random.default_rng(0)
model = Net().double()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, tuple(p.shape))))
x = torch.from_numpy(rng.normal(size=(16, 1, 8, 8)))
y = torch.from_numpy(rng.integers(0, 3, 16))
opt = HandSGD(model.parameters(), lr=0.05)
losses = []
for step in range(10):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps({"losses": losses, "fc_weight_sum": model.fc.weight.sum().item()}))
