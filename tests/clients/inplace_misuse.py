"""In-place changes of values that backward needs: each must raise, never give a gradient from
the changed values."""
import json

import torch
from torch import nn, optim


def message(fn):
    """What went wrong, in the error's first words (the details name each framework's ops)."""
    try:
        fn()
    except RuntimeError as e:
        return str(e).split(":")[0].split(". ")[0].rstrip(".")
    return "no error"


results = {}
w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
x = torch.ones(3)
y = (x * w).sum()
x.fill_(100.0)
results["fill_after_use"] = message(y.backward)

model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
opt = optim.SGD(model.parameters(), lr=0.1)
loss = model(torch.ones(2, 3)).sum()
loss.backward(retain_graph=True)
opt.step()
results["step_before_backward"] = message(loss.backward)

a = torch.ones(3, requires_grad=True)
results["leaf_inplace"] = message(lambda: a.mul_(2))

b = torch.ones(2, 3, requires_grad=True)
h = b.sigmoid()
h.detach()[0].zero_()  # a view sharing the version counter; sigmoid's backward needs h
results["view_of_output"] = message(lambda: h.sum().backward())
print(json.dumps(results))
