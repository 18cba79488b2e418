"""The shape of a popular CIFAR-10 model collection's training script: a ResNet whose blocks add
the shortcut in place (``out += self.shortcut(x)``), ``cudnn.benchmark``, SGD with momentum and
weight decay under CosineAnnealingLR, ``outputs.max(1)`` / ``predicted.eq(targets)`` accuracy,
and a ``{'net', 'acc', 'epoch'}`` checkpoint in a .pth file; on random 3x16x16 images."""
import json

import numpy as np
import torch
import torch.backends.cudnn as cudnn
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, 1, stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super().__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(block, 8, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 16, num_blocks[1], stride=2)
        self.linear = nn.Linear(16 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        layers = []
        for stride in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = F.avg_pool2d(out, 8)
        out = out.view(out.size(0), -1)
        return self.linear(out)


device = "cuda" if torch.cuda.is_available() else "cpu"
net = ResNet(BasicBlock, [1, 1]).to(device).double()
if device == "cuda":
    cudnn.benchmark = True
rng = np.random.default_rng(8)
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.from_numpy(rng.normal(0, 0.2, tuple(p.shape))))
inputs_all = torch.from_numpy(rng.normal(size=(32, 3, 16, 16)))
targets_all = torch.from_numpy(rng.integers(0, 10, 32))
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
history = []
for epoch in range(4):
    net.train()
    train_loss, correct, total = 0, 0, 0
    for batch_idx in range(2):
        inputs = inputs_all[batch_idx * 16:(batch_idx + 1) * 16].to(device)
        targets = targets_all[batch_idx * 16:(batch_idx + 1) * 16].to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        train_loss += loss.item()
        _, predicted = outputs.max(1)
        total += targets.size(0)
        correct += predicted.eq(targets).sum().item()
    scheduler.step()
    acc = 100. * correct / total
    state = {"net": net.state_dict(), "acc": acc, "epoch": epoch}
    torch.save(state, "ckpt.pth")
    history.append([train_loss / 2, acc, scheduler.get_last_lr()[0]])
checkpoint = torch.load("ckpt.pth", weights_only=True)
net.load_state_dict(checkpoint["net"])
print(json.dumps({"history": history, "best_epoch": checkpoint["epoch"],
                  "acc": checkpoint["acc"]}))
