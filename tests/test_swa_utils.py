"""minicnn.optim.swa_utils against torch.optim.swa_utils: the same averaged weights, buffers and
counters after the same training steps, for the equal-weight (SWA) and the EMA average."""
import numpy as np
import pytest

import minicnn
from minicnn.optim.swa_utils import AveragedModel, get_ema_avg_fn


@pytest.mark.parametrize("ema, use_buffers", [(None, False), (None, True), (0.9, True),
                                              (0.99, False)])
def test_averaged_model_matches_pytorch(torch, ema, use_buffers):
    m = minicnn.nn.Sequential(minicnn.nn.Linear(3, 4), minicnn.nn.BatchNorm1d(4))
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    kw = {} if ema is None else {"avg_fn": get_ema_avg_fn(ema)}
    tkw = {} if ema is None else {"avg_fn": torch.optim.swa_utils.get_ema_avg_fn(ema)}
    ours = AveragedModel(m, use_buffers=use_buffers, **kw)
    theirs = torch.optim.swa_utils.AveragedModel(t, use_buffers=use_buffers, **tkw)
    opt_m = minicnn.optim.SGD(m.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(t.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal((5, 3)).astype(np.float32)
        for model, opt, X in ((m, opt_m, minicnn.tensor(x)), (t, opt_t, torch.tensor(x))):
            opt.zero_grad()
            model(X).square().sum().backward()
            opt.step()
        ours.update_parameters(m)
        theirs.update_parameters(t)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for key in b:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(minicnn.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert m[0].weight is not ours.module[0].weight  # a copy, not the same parameters
