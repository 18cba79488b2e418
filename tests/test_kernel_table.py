"""The kernel-table contract: every device's table (minicnn.backends.BACKENDS) has each kernel of
minicnn.backends.reference.__all__, either its own with the reference's signature or, declared
kernel by kernel, the reference (or a NotImplementedError stub on a device with memory of its
own). And the code above the backends reaches a device only through its table: the ops and the
optimizers call the table's kernels, and no module outside minicnn/backends imports a device's
array type or branches on a device's name."""
import ast
import inspect
import pathlib

import numpy as np
import pytest

import minicnn
from minicnn import backends, nn, optim
from minicnn.backends import BACKENDS, KERNELS, reference
from minicnn.backends import cuda as cu

PACKAGE = pathlib.Path(minicnn.__file__).parent


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_contract_is_the_reference_api():
    assert KERNELS == tuple(reference.__all__)
    assert len(set(KERNELS)) == len(KERNELS)
    for name in KERNELS:
        assert inspect.isfunction(getattr(reference, name)), name


@pytest.mark.parametrize("device", list(BACKENDS))
def test_every_table_implements_the_contract(device):
    table = BACKENDS[device]
    assert table.name == device
    native, fallback, missing = set(table.native), set(table.reference_fallback), \
        set(table.unavailable)
    assert not native & fallback and not native & missing and not fallback & missing
    if device == "cpu" and backends._cpu is None:
        pytest.skip("the C extension is not built: every kernel is the reference")
    assert native | fallback | missing == set(KERNELS), "undeclared kernels: " + \
        str(set(KERNELS) - native - fallback - missing)
    for name in KERNELS:
        kernel = getattr(table, name)
        if name in native:
            assert _signature(kernel) == _signature(getattr(reference, name)), name
        elif name in fallback:
            assert kernel is getattr(reference, name), name
        else:
            with pytest.raises(NotImplementedError, match=f"{name} has no {device.upper()} kernel"):
                kernel()


def test_declarations_match_the_device_modules():
    """A declared fallback really has no kernel of the device (else that kernel would be
    ignored), and every other name has one (else it would silently run the reference)."""
    if backends._cpu is not None:
        assert BACKENDS["cpu"].native == tuple(k for k in KERNELS if hasattr(backends._cpu, k))
        for name in backends.CPU_REFERENCE_KERNELS:
            assert not hasattr(backends._cpu, name), name
    assert BACKENDS["cuda"].native == tuple(cu.cuda_kernels())
    for name in cu.UNAVAILABLE:
        assert not hasattr(cu, name), name
    assert BACKENDS["numpy"].native == KERNELS


def test_array_types_and_transfers():
    assert backends.ARRAY_TYPES == (np.ndarray, cu.DeviceArray)
    assert BACKENDS["cpu"].host_memory and BACKENDS["numpy"].host_memory
    assert not BACKENDS["cuda"].host_memory
    a = np.ones(3, np.float32)
    assert backends.array_table(a) is BACKENDS["cpu"]
    assert backends.to_host(a) is a and backends.move(a, "numpy") is a
    with pytest.raises(TypeError, match="expected an array"):
        backends.array_table([1.0])


# ---------------------------------------------------------------- ops and optimizers use the table

def _spy(monkeypatch, device, name):
    calls = []
    real = getattr(BACKENDS[device], name)

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(BACKENDS[device], name, spy)
    return calls


@pytest.mark.parametrize("make, kernel", [
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "sgd_step"),
    (lambda ps: optim.Adam(ps, lr=0.1), "adam_step"),
    (lambda ps: optim.AdamW(ps, lr=0.1), "adam_step"),
    (lambda ps: optim.RMSprop(ps, lr=0.1, centered=True), "rmsprop_step"),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
@pytest.mark.parametrize("device", ["cpu", "numpy"])
def test_optimizers_step_through_the_device_kernel(monkeypatch, make, kernel, device):
    lin = nn.Linear(3, 2).to(device)
    opt = make(lin.parameters())
    calls = _spy(monkeypatch, device, kernel)
    lin(minicnn.randn(4, 3).to(device)).sum().backward()
    opt.step()
    assert calls == [kernel, kernel]  # weight and bias


def test_batch_norm_statistics_go_through_the_table(monkeypatch):
    updates = _spy(monkeypatch, "numpy", "batch_norm_update_running")
    invstds = _spy(monkeypatch, "numpy", "batch_norm_invstd")
    bn = nn.BatchNorm2d(3).to("numpy")
    x = minicnn.randn(4, 3, 2, 2).to("numpy").requires_grad_()
    bn(x)
    bn.eval()
    bn(x).sum().backward()  # eval-mode backward needs 1 / sqrt(running_var + eps)
    running = [minicnn.zeros(3).to("numpy"), minicnn.ones(3).to("numpy")]
    nn.functional.instance_norm(minicnn.randn(2, 3, 4, 4).to("numpy"), *running)
    assert updates == ["batch_norm_update_running"] * 2 and invstds == ["batch_norm_invstd"]


def test_casts_go_through_the_table(monkeypatch):
    casts = _spy(monkeypatch, "cpu", "cast")
    x = minicnn.randn(3)
    assert x.double().dtype == np.float64 and x.long().dtype == np.int64
    assert casts == ["cast", "cast"]


# ---------------------------------------------------------------- no device code outside backends

#: the modules that must speak to devices through kernel tables only
DEVICE_FREE = sorted([*PACKAGE.glob("ops/*.py"), *PACKAGE.glob("optim/*.py"),
                      *PACKAGE.glob("nn/**/*.py"), PACKAGE / "autograd.py",
                      PACKAGE / "tensor.py", PACKAGE / "tensor_methods.py",
                      PACKAGE / "creation.py"])


def _device_code(path):
    """What in ``path`` reaches a device directly: imports of minicnn.backends.cuda or _cpu, the
    names DeviceArray and array_ops, and comparisons with a device name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = {a.name for a in node.names}
            if ("cuda" in module.split(".") or "_cpu" in module.split(".")
                    or module.endswith("backends") and names & {"cuda", "_cpu"}):
                found.append(f"line {node.lineno}: from {module} import {sorted(names)}")
        elif isinstance(node, ast.Name) and node.id in ("DeviceArray", "array_ops"):
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Compare):
            for c in [node.left, *node.comparators]:
                if isinstance(c, ast.Constant) and c.value in ("cuda", "cpu", "numpy"):
                    found.append(f"line {node.lineno}: compares with {c.value!r}")
    return found


@pytest.mark.parametrize("path", DEVICE_FREE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_device_code_outside_backends(path):
    assert _device_code(path) == []


def test_the_device_code_check_finds_device_code(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text("from ..backends.cuda import DeviceArray\nfrom ..backends import cuda\n"
                      "def f(t):\n"
                      "    return t.device.type == 'cuda' or isinstance(t, DeviceArray)\n")
    assert len(_device_code(source)) == 4
