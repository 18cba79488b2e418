"""state_dicts saved to .pt and loaded back; with PEER_FILE set, also loads a .pt file written
by the other framework into the same architecture."""
import json
import os

import numpy as np
import torch
from torch import nn


def make_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 2))


rng = np.random.default_rng(5)
model = make_model()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.normal(size=tuple(p.shape)).astype(np.float32)))
model.eval()
x = torch.from_numpy(rng.normal(size=(2, 3, 6, 6)).astype(np.float32))
torch.save(model.state_dict(), "model.pt")
torch.save({"epoch": 3, "model": model.state_dict(), "note": "checkpoint"}, "checkpoint.pth")

clone = make_model()
clone.load_state_dict(torch.load("model.pt", weights_only=True))
clone.eval()
checkpoint = torch.load("checkpoint.pth", weights_only=True)
result = {"same_output": bool(torch.equal(clone(x), model(x))), "epoch": checkpoint["epoch"],
          "keys": sorted(checkpoint["model"]), "output": model(x).detach().numpy().tolist()}
if os.environ.get("PEER_FILE"):
    peer = make_model()
    peer.load_state_dict(torch.load(os.environ["PEER_FILE"], weights_only=True))
    peer.eval()
    result["peer_output"] = peer(x).detach().numpy().tolist()
print(json.dumps(result))
