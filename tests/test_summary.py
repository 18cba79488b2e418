"""Multiply-adds in minicnn.utils.summary, against torch.utils.flop_counter on the PyTorch twins
(minicnn/bench/torch_models.py) and against figures worked out by hand. Output shapes, parameter
counts and errors of summary() are tested in test_training_engine.py; FLOPs and the receptive field
columns (rf=True, minicnn summary --rf) against figures worked out by hand."""
import pytest

import minicnn
from minicnn import nn
from minicnn.utils import receptive_field, summary


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


# ------------------------------------------------------------------ FLOPs and receptive fields
@pytest.mark.parametrize("name, shape, macs", [
    ("lenet5", (1, 28, 28), 416_520),
    # 3x3 convs: 32*32*16*27 + 6 * 32*32*16*144 + (16*16*32*144 + 5 * 16*16*32*288)
    # + (8*8*64*288 + 5 * 8*8*64*576) + fc 64*10
    ("resnet20", (3, 32, 32), 40_551_040),
])
def test_flops_are_twice_the_multiply_adds(name, shape, macs):
    s = summary(minicnn.models.get_model(name), shape)
    assert s.total_macs == macs and s.total_flops == 2 * macs
    text = str(s)
    assert f"Total FLOPs, batch 1: {2 * macs:,} (" in text and "1 multiply-add = 2 FLOPs" in text
    assert f"Total mult-adds, batch 1: {macs:,} (" in text
    assert "RF" not in text.splitlines()[1] and all(layer.rf is None for layer in s.layers)


def rf_rows(s):
    """name -> (rf, jump, start) along the height, for the rows that have them."""
    return {layer.name: (layer.rf[0], layer.jump[0], layer.start[0])
            for layer in s.layers if layer.rf is not None}


def test_rf_columns_of_lenet5():
    s = summary(minicnn.models.lenet5(), (1, 28, 28), rf=True)
    # conv 5x5 p2: rf 5, start 2 - 2 = 0; pool 2/2: rf 5 + 1, jump 2, start 0 + 1/2;
    # conv 5x5: rf 6 + 4*2 = 14, start 0.5 + 2*2 = 4.5; pool 2/2: rf 14 + 2 = 16, jump 4, 5.5
    assert rf_rows(s) == {
        "features": (16, 4, 5.5), "features.0": (5, 1, 0), "features.1": (5, 1, 0),
        "features.2": (6, 2, 0.5), "features.3": (14, 2, 4.5), "features.4": (14, 2, 4.5),
        "features.5": (16, 4, 5.5)}  # after flatten (classifier, the model): no map, no RF
    lines = str(s).splitlines()
    assert lines[1].split()[-3:] == ["RF", "Jump", "Start"]
    picked = ("2 (MaxPool2d)", "0 (Linear)")
    assert [line.split()[-3:] for line in lines if line.strip().startswith(picked)] \
        == [["6", "2", "0.5"], ["--", "--", "--"]]


def test_rf_columns_of_a_conv_stack_with_stride_padding_and_dilation():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.Conv2d(2, 2, 3, padding=2, dilation=2),
                          nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(2, 2, (3, 1)),
                          nn.Flatten(), nn.Linear(16, 3))
    s = summary(model, (1, 16, 16), rf=True)
    rows = {layer.name: (layer.rf, layer.jump, layer.start) for layer in s.layers}
    # r += (k-1) d j; j *= s; start += ((k-1)/2 d - p) j
    assert rows["0"] == rows["1"] == rows["2"] == ((3, 3), (2, 2), (0, 0))  # 1 + 2; (1 - 1) 1
    assert rows["3"] == ((11, 11), (2, 2), (0, 0))  # 3 + 2*2*2; (2 - 2) 2
    assert rows["4"] == ((15, 15), (4, 4), (0, 0))  # 11 + 2*2; (1 - 1) 2
    assert rows["5"] == ((23, 15), (4, 4), (4, 0))  # h: 15 + 2*4, 0 + 1*4; w: k = 1
    assert rows[""] == rows["6"] == rows["7"] == (None, None, None)
    assert "23x15" in str(s) and "4x0" in str(s)
    by_rf = receptive_field(model, (1, 16, 16))  # the same numbers as receptive_field's
    assert [(r.name, r.rf, r.jump, r.start) for r in by_rf.layers] == \
        [(name, *rows[name]) for name in ("0", "3", "4", "5")]


def test_rf_of_a_residual_block_is_its_main_path():
    s = summary(minicnn.models.resnet20(), (3, 32, 32), rf=True)
    rows = rf_rows(s)
    # layer1 ends at rf 15 (1 + 2 * 7 convs); layer2.0: conv1 3x3/2 -> 17, conv2 -> 17 + 2*2
    assert rows["layer1"] == (15, 1, 0) and rows["layer2.0.conv2"] == (21, 2, 0)
    assert rows["layer2.0.downsample"] == (15, 2, 0)  # the shortcut: x[::2, ::2]
    assert rows["layer2.0"] == (21, 2, 0)  # F(x) + x: the larger field
    assert rows["layer3"] == (rows["layer3.2.conv2"][0], 4, 0) == (81, 4, 0)  # 37 + 2*2 + 5 * 2*4


def test_rf_needs_an_image_shape():
    with pytest.raises(ValueError, match="input_shape must be"):
        summary(nn.Linear(4, 2), (4,), rf=True)


def test_cli_summary_rf(capsys):
    from minicnn import cli

    with pytest.raises(SystemExit) as info:
        cli.main(["summary", "lenet5", "--rf"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "RF  Jump  Start" in out and "Total FLOPs, batch 1: 833,040 (833.04 k" in out
    assert any(line.split()[-3:] == ["14", "2", "4.5"] for line in out.splitlines())
    with pytest.raises(SystemExit) as info:
        cli.main(["summary", "lenet5"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "Jump" not in out and "Total FLOPs" in out
