"""minicnn.utils.conv_output_size and receptive_field: output sizes against PyTorch's
convolutions, receptive fields against figures worked out by hand (LeNet-5, VGG-16, ResNet-18)
and against the region of the input that a unit's gradient actually reaches (autograd in
PyTorch on all-ones weights)."""
import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.utils import conv_output_size, receptive_field


@pytest.mark.parametrize("size, k, s, p, d", [
    (28, 5, 1, 2, 1), (32, 3, 2, 1, 1), (224, 7, 2, 3, 1), (10, 3, 3, 0, 2), (7, 2, 2, 1, 3),
    (5, 5, 1, 0, 1), (1, 1, 1, 0, 1),
])
def test_conv_output_size_matches_torch(torch, size, k, s, p, d):
    y = torch.nn.functional.conv2d(torch.zeros(1, 1, size, size + 3), torch.zeros(1, 1, k, k),
                                   stride=s, padding=p, dilation=d)
    assert conv_output_size(size, k, s, p, d) == y.shape[2]
    assert conv_output_size(size + 3, k, s, p, d) == y.shape[3]


def test_conv_output_size_errors():
    assert conv_output_size(224, 7, 2, 3) == 112 and conv_output_size(32, 3, padding=1) == 32
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv_output_size(32, 3, 0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv_output_size(32, 3, 1, -1)
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        conv_output_size(32, 3.0)
    with pytest.raises(ValueError, match=r"span 5\) is larger than the padded input 4"):
        conv_output_size(4, 3, dilation=2)


def rows(rf):
    return [(r.rf[0], r.jump[0], r.start[0]) for r in rf.layers]


def test_two_3x3_convolutions_see_5x5():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))
    rf = receptive_field(model, (1, 8, 8))
    assert rows(rf) == [(3, 1, 0), (5, 1, 0)]
    assert rf["2"].rf == (5, 5) and rf["2"].output_size == (8, 8)
    with pytest.raises(KeyError, match="no convolution or pooling layer named '1'"):
        rf["1"]
    text = str(rf)
    assert "2 (Conv2d)" in text and "RF" in text and "Jump" in text


def test_lenet5_by_hand():
    # conv5: 5; pool2: 5 + 1*1 = 6, jump 2; conv5: 6 + 4*2 = 14; pool2: 14 + 1*2 = 16, jump 4
    rf = receptive_field(minicnn.models.lenet5(), (1, 28, 28))
    assert rows(rf) == [(5, 1, 0), (6, 2, 0.5), (14, 2, 4.5), (16, 4, 5.5)]
    assert [r.name for r in rf.layers] == ["features.0", "features.2", "features.3",
                                           "features.5"]


def test_vgg16_and_resnet18_published_figures():
    vgg = receptive_field(minicnn.models.vgg16_bn(), (3, 32, 32))
    convs = [r for r in vgg.layers if r.type == "Conv2d"]
    # the last conv of VGG-16 sees 196x196 pixels, its last pool 212x212 (Araujo et al. 2019)
    assert convs[-1].rf == (196, 196) and vgg["features.43"].rf == (212, 212)
    assert vgg["features.43"].jump == (32, 32)
    # ResNet-18: 435 after layer4 (Araujo et al. 2019, table 1); the 1x1 shortcuts do not count
    res = receptive_field(minicnn.models.resnet18(), (3, 64, 64))
    assert res["layer4.1.conv2"].rf == (435, 435) and res["layer4.1.conv2"].jump == (32, 32)
    assert res["layer4.0.downsample.0"].rf == (211, 211)


def test_non_square_geometry_and_padding_same():
    model = nn.Sequential(nn.Conv2d(1, 1, (3, 5), stride=(1, 2), padding=(1, 0)),
                          nn.Conv2d(1, 1, 3, padding="same", dilation=2),
                          nn.MaxPool2d((2, 3), stride=(2, 1), dilation=(1, 2)))
    rf = receptive_field(model, (1, 16, 21))
    a, b, c = rf.layers
    assert (a.rf, a.jump, a.start) == ((3, 5), (1, 2), (0, 2))
    assert (b.rf, b.jump, b.padding) == ((7, 13), (1, 2), (2, 2))
    assert (c.rf, c.jump, c.output_size) == ((8, 21), (2, 2), (8, 5))


def empirical_field(torch, net, shape, unit):
    """Rows/columns of the input that output ``unit`` depends on: where its gradient is
    non-zero, with every weight 1 (so no cancellation); (rf, centre) per axis."""
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    net(x)[(0, 0, *unit)].backward()
    extent = []
    for axis in (2, 3):
        nonzero = np.flatnonzero(x.grad.abs().sum(dim=tuple(a for a in range(4) if a != axis)))
        extent.append((int(nonzero[-1] - nonzero[0] + 1), (nonzero[0] + nonzero[-1]) / 2))
    return extent


@pytest.mark.parametrize("stack", [
    [("conv", 3, 1, 1, 1), ("avg", 2, 2, 0), ("conv", 3, 2, 0, 2), ("conv", 5, 1, 2, 1)],
    [("conv", 7, 2, 3, 1), ("avg", 3, 2, 1), ("conv", 3, 1, 1, 3), ("conv", 1, 2, 0, 1),
     ("conv", 3, 1, 1, 1)],
])
def test_recurrence_matches_the_gradient_footprint(torch, stack):
    def build(nn):
        layers = []
        for kind, k, s, p, *d in stack:
            layers.append(nn.Conv2d(1, 1, k, s, p, d[0], bias=False) if kind == "conv"
                          else nn.AvgPool2d(k, s, p))
        return nn.Sequential(*layers)

    theirs = build(torch.nn).double()
    for m in theirs:
        if hasattr(m, "weight"):
            torch.nn.init.ones_(m.weight)
    size = 96
    rf = receptive_field(build(nn), (1, size, size)).layers[-1]
    unit = (rf.output_size[0] // 2, rf.output_size[1] // 2 - 1)  # away from the borders
    (rf_h, centre_h), (rf_w, centre_w) = empirical_field(torch, theirs, (1, 1, size, size), unit)
    assert rf.rf == (rf_h, rf_w)
    assert rf.start[0] + unit[0] * rf.jump[0] == centre_h
    assert rf.start[1] + unit[1] * rf.jump[1] == centre_w


def test_errors_and_mode():
    model = minicnn.models.lenet5()
    model.train()
    receptive_field(model, (1, 28, 28))
    assert model.training
    with pytest.raises(TypeError, match="nn.Module"):
        receptive_field(object(), (1, 28, 28))
    with pytest.raises(ValueError, match="input_shape must be"):
        receptive_field(model, (28, 28))
    with pytest.raises(ValueError, match="F.max_pool2d"):  # max-pools in forward, not a module
        receptive_field(minicnn.models.simple_cnn(), (1, 28, 28))
    with pytest.raises(ValueError, match="ConvTranspose2d"):
        receptive_field(nn.Sequential(nn.ConvTranspose2d(1, 1, 3)), (1, 8, 8))
    with pytest.raises(ValueError, match="windows of different sizes"):
        receptive_field(nn.Sequential(nn.AdaptiveAvgPool2d(3)), (1, 8, 8))
