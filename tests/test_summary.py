"""Multiply-adds in minicnn.utils.summary, against torch.utils.flop_counter on the PyTorch twins
(minicnn/bench/torch_models.py) and against figures worked out by hand. Output shapes, parameter
counts and errors of summary() are tested in test_training_engine.py."""
import pytest

import minicnn
from minicnn import nn
from minicnn.utils import summary


def torch_macs(torch, model, shape):
    """Multiply-adds of one forward pass by PyTorch's FLOP counter (FLOPs = 2 x MACs)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(shape))
    return counter.get_total_flops() // 2


def test_lenet5_macs_by_hand():
    s = summary(minicnn.models.lenet5(), (1, 28, 28))
    macs = {layer.name: layer.macs for layer in s.layers}
    # conv 6@5x5 on 28x28 (padded): 28*28*6*25; conv 16@5x5 on 14x14 -> 10x10: 10*10*16*6*25
    assert macs["features.0"] == 28 * 28 * 6 * 25 == 117_600
    assert macs["features.3"] == 10 * 10 * 16 * 150 == 240_000
    assert [macs[f"classifier.{i}"] for i in (0, 2, 4)] == [400 * 120, 120 * 84, 84 * 10]
    assert macs["features.1"] == macs["features.2"] == macs[""] == 0
    assert s.total_macs == 416_520
    assert "Total mult-adds, batch 1: 416,520 (416.52 k)" in str(s)
    assert "Mult-adds" in str(s) and "117,600" in str(s)
    assert summary(minicnn.models.lenet5(), (1, 28, 28), batch_size=3).total_macs == 3 * 416_520


@pytest.mark.parametrize("name, shape, expected", [
    ("lenet5", (1, 28, 28), 416_520),
    ("resnet18", (3, 224, 224), 1_814_073_344),  # torchvision's table: 1.81 GFLOPS (= MACs)
    ("resnet20", (3, 32, 32), None),
])
def test_model_macs_match_torch_flop_counter(torch, name, shape, expected):
    from minicnn.bench import torch_models

    classes = 1000 if name == "resnet18" else 10
    mine = summary(minicnn.models.get_model(name, num_classes=classes), shape).total_macs
    assert mine == torch_macs(torch, torch_models.build(name, num_classes=classes), (1, *shape))
    if expected is not None:
        assert mine == expected


def test_grouped_dilated_and_transposed_convolutions(torch):
    def layers(nn):
        return [nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
                nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False),
                nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 8)]

    s = summary(nn.Sequential(*layers(nn)), (4, 10, 10), batch_size=2)
    assert s.total_macs == torch_macs(torch, torch.nn.Sequential(*layers(torch.nn)),
                                      (2, 4, 10, 10))
    macs = [layer.macs for layer in s.layers[1:]]
    assert macs[0] == 2 * 8 * 5 * 5 * (4 // 2) * 9  # N K Ho Wo (C/groups) kh kw
    assert macs[2] == 2 * 8 * 5 * 5 * (6 // 2) * 9  # transposed: N C H W (K/groups) kh kw


def test_a_module_called_twice_counts_twice():
    shared = nn.Linear(4, 4)
    s = summary(nn.Sequential(shared, nn.ReLU(), shared), (4,), batch_size=5)
    assert s.total_macs == 2 * 5 * 16 and s.total_params == 20
