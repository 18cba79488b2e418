"""The structure of PyTorch's official MNIST example (pytorch/examples, mnist/main.py): the
accelerator API, a CNN with dropout, Adadelta with StepLR, log_softmax + nll_loss, a DataLoader
over a TensorDataset; on 256 random 28x28 images instead of MNIST."""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


torch.manual_seed(1)
device = torch.accelerator.current_accelerator() if torch.accelerator.is_available() \
    else torch.device("cpu")
rng = np.random.default_rng(6)
images = torch.from_numpy(rng.normal(size=(256, 1, 28, 28)).astype(np.float32))
targets = torch.from_numpy(rng.integers(0, 10, 256))
train_loader = DataLoader(TensorDataset(images, targets), batch_size=64, shuffle=True)
model = Net().to(device)
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
epoch_losses, lrs = [], []
for epoch in range(1, 4):
    model.train()
    total = 0.0
    for data, target in train_loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(data)
    epoch_losses.append(total / len(train_loader.dataset))
    lrs.append(scheduler.get_last_lr()[0])
    scheduler.step()
model.eval()
correct = 0
with torch.no_grad():
    for data, target in train_loader:
        pred = model(data).argmax(dim=1, keepdim=True)
        correct += pred.eq(target.view_as(pred)).sum().item()
print(json.dumps({"lrs": lrs, "batches": len(train_loader),
                  "learned": epoch_losses[-1] < epoch_losses[0],
                  "accuracy_known": 0 <= correct <= 256}))
