"""Least squares trained with Adam while ReduceLROnPlateau watches the validation loss."""
import json

import numpy as np
import torch
from torch import nn, optim

rng = np.random.default_rng(4)
x = torch.from_numpy(rng.normal(size=(64, 3)))
y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3
x_val = torch.from_numpy(rng.normal(size=(16, 3)))
y_val = torch.from_numpy(rng.normal(size=(16, 1)))  # noise: the validation loss stalls
model = nn.Linear(3, 1).double()
with torch.no_grad():
    model.weight.copy_(torch.zeros(1, 3, dtype=torch.float64))
    model.bias.zero_()
opt = optim.Adam(model.parameters(), lr=0.1)
sched = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
lrs, val_losses = [], []
for epoch in range(25):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    with torch.no_grad():
        val_loss = nn.functional.mse_loss(model(x_val), y_val).item()
    sched.step(val_loss)
    lrs.append(opt.param_groups[0]["lr"])
    val_losses.append(val_loss)
print(json.dumps({"lrs": lrs, "val_losses": val_losses, "last_lr": sched.get_last_lr()}))
