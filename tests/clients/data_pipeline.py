"""A TensorDataset split with random_split and read by DataLoaders (shuffled training batches,
drop_last; ordered validation batches); the shuffling differs by framework, so only what does
not depend on the order is reported."""
import json

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

rng = np.random.default_rng(3)
features = torch.from_numpy(rng.normal(size=(103, 5)).astype(np.float32))
labels = torch.from_numpy(rng.integers(0, 4, 103))
dataset = TensorDataset(features, labels)
train_set, val_set = random_split(dataset, [0.8, 0.2])
train_loader = DataLoader(train_set, batch_size=16, shuffle=True, drop_last=True)
val_loader = DataLoader(val_set, batch_size=16)

train_shapes, train_total = [], 0.0
for epoch in range(2):
    for xb, yb in train_loader:
        train_shapes.append([list(xb.shape), list(yb.shape), yb.dtype == torch.int64])
val_rows, val_sum = 0, 0.0
for xb, yb in val_loader:
    val_rows += xb.shape[0]
    val_sum += float(xb.sum()) + float(yb.sum())
all_sum = sum(float(x.sum()) + float(y) for x, y in dataset)
split_sum = sum(float(x.sum()) + float(y) for x, y in train_set) + val_sum
print(json.dumps({"lengths": [len(train_set), len(val_set)], "batches": len(train_loader),
                  "train_shapes": train_shapes, "val_rows": val_rows,
                  "sums_match": abs(all_sum - split_sum) < 1e-3, "item": len(dataset[0])}))
