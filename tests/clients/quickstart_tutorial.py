"""The shape of PyTorch's beginner quickstart: an accelerator-or-cpu device string, a
Flatten + Linear stack, train/test functions over DataLoaders with the tutorial's bookkeeping
(``len(dataloader.dataset)``, ``.type(torch.float)``), a saved and reloaded state_dict; on
Fashion-MNIST-shaped random data in a TensorDataset."""
import json

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(7)
train_data = TensorDataset(torch.from_numpy(rng.random((96, 1, 28, 28), dtype=np.float32)),
                           torch.from_numpy(rng.integers(0, 10, 96)))
test_data = TensorDataset(torch.from_numpy(rng.random((32, 1, 28, 28), dtype=np.float32)),
                          torch.from_numpy(rng.integers(0, 10, 32)))
train_dataloader = DataLoader(train_data, batch_size=32)
test_dataloader = DataLoader(test_data, batch_size=32)

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() \
    else "cpu"


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


model = NeuralNetwork().to(device)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.normal(0, 0.05, tuple(p.shape)).astype(np.float32)))
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    seen = []
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss, current = loss.item(), (batch + 1) * len(X)
        seen.append([loss, current, size])
    return seen


def test(dataloader, model, loss_fn):
    size, num_batches = len(dataloader.dataset), len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    return test_loss / num_batches, correct / size


log = []
for t in range(3):
    log.append({"train": train(train_dataloader, model, loss_fn, optimizer),
                "test": test(test_dataloader, model, loss_fn)})
torch.save(model.state_dict(), "model.pth")
model = NeuralNetwork().to(device)
model.load_state_dict(torch.load("model.pth", weights_only=True))
model.eval()
with torch.no_grad():
    x, y = test_data[0][0], test_data[0][1]
    pred = model(x.to(device))
    predicted, actual = pred[0].argmax(0).item(), y.item()
print(json.dumps({"log": log, "predicted": predicted, "actual": actual, "device": str(device)}))
