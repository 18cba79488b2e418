"""minicnn.data.transforms against torchvision's semantics.

Tests marked by the ``tv`` fixture compare with torchvision itself and skip where it is not
installed (CI); the others check known answers, torch's own interpolation (``torch`` fixture) and
torchvision's tables written out as literals, so they run everywhere.

Tolerances (documented in the transforms' docstrings): deterministic uint8 ops and every
AutoAugment op with nearest resampling are exact; bilinear resizing agrees to 1e-5 on float
images in [0, 1] and to within 1 on uint8 (a value at x.5 may round the other way, < 1% of
pixels); bilinear affine warps likewise; Gaussian blur to 1e-5 / within 1; hue to within 1.
"""
import numpy as np
import pytest

from minicnn.data import transforms as T


def gen(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture
def tv():
    return pytest.importorskip("torchvision")


@pytest.fixture
def images():
    """uint8 and float (N, C, H, W) batches of odd sizes, and the uint8 one as (N, H, W, C)."""
    u = gen(1).integers(0, 256, (3, 3, 37, 45), dtype=np.uint8)
    return u, gen(2).random((3, 3, 37, 45), dtype=np.float32), u.transpose(0, 2, 3, 1).copy()


def as_torch(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def close_uint8(mine, ref, fraction=0.01):
    diff = np.abs(mine.astype(np.int64) - np.asarray(ref, np.int64))
    assert diff.max() <= 1 and (diff > 0).mean() <= fraction


# ---------------------------------------------------------------- known answers (CI)


def test_center_crop_offsets_round_half_to_even():
    x = np.arange(10 * 12, dtype=np.float32).reshape(1, 10, 12)
    # (10 - 7) / 2 = 1.5 -> 2 and (12 - 7) / 2 = 2.5 -> 2, Python's round
    np.testing.assert_array_equal(T.CenterCrop(7)(x), x[:, 2:9, 2:9])
    np.testing.assert_array_equal(T.CenterCrop((4, 5))(x), x[:, 3:7, 4:9])
    u = np.arange(3 * 4, dtype=np.uint8).reshape(3, 4)
    out = T.CenterCrop((6, 5))(u)  # padded: 1 row above, 2 below, 0 columns left, 1 right
    expected = np.zeros((6, 5), np.uint8)
    expected[1:4, 0:4] = u
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("shape, size, max_size, expected", [
    ((20, 30), 10, None, (10, 15)), ((30, 20), 10, None, (15, 10)),
    ((20, 30), (7, 9), None, (7, 9)),
    ((20, 30), 10, 12, (8, 12)), ((21, 10), 5, None, (10, 5))])
def test_resize_output_size(shape, size, max_size, expected):
    out = T.Resize(size, max_size=max_size)(np.zeros((2, 1) + shape, np.float32))
    assert out.shape == (2, 1) + expected


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_resize_constant_image_stays_constant(mode):
    u = np.full((2, 13, 17, 3), 201, np.uint8)
    np.testing.assert_array_equal(T.Resize((5, 40), interpolation=mode)(u), 201)
    f = np.full((3, 13, 17), 0.3, np.float32)
    np.testing.assert_allclose(T.Resize((5, 40), interpolation=mode)(f), 0.3, atol=1e-6)


@pytest.mark.parametrize("size", [(20, 17), (60, 90), (13, 45), (5, 7)])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_matches_torch_interpolate(torch, images, size, antialias):
    """torchvision's tensor Resize is F.interpolate(bilinear, align_corners=False, antialias)."""
    _, f, _ = images
    ref = torch.nn.functional.interpolate(as_torch(f), size=size, mode="bilinear",
                                          align_corners=False, antialias=antialias).numpy()
    np.testing.assert_allclose(T.Resize(size, antialias=antialias)(f), ref, atol=1e-5)
    near = torch.nn.functional.interpolate(as_torch(f), size=size, mode="nearest").numpy()
    np.testing.assert_array_equal(T.Resize(size, interpolation="nearest")(f), near)


def test_random_resized_crop_params_within_bounds():
    rrc = T.RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0), generator=gen(3))
    boxes = rrc.get_params(40, 60, 500)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 40).all()
    assert (left + w <= 60).all() and (h > 0).all() and (w > 0).all()
    area = h * w / 2400
    assert area.min() >= 0.2 * 0.8 and area.max() <= 0.6 * 1.2  # w, h rounded to integers
    assert (w / h).min() >= 0.5 * 0.8 and (w / h).max() <= 2.0 * 1.2
    assert len({tuple(b) for b in boxes}) > 100  # drawn per image
    # no box can fit: torchvision's fallback, the centre crop clamped to the ratio range
    tight = T.RandomResizedCrop(8, scale=(5.0, 6.0), ratio=(1.0, 1.0))
    np.testing.assert_array_equal(tight.get_params(10, 30, 2), [[0, 10, 10, 10]] * 2)
    assert T.RandomResizedCrop(8)(np.zeros((4, 50, 30, 3), np.uint8)).shape == (4, 8, 8, 3)


def test_affine_known_motions():
    x = gen(4).random((2, 3, 9, 9), dtype=np.float32)
    np.testing.assert_array_equal(T.RandomAffine((90, 90))(x), np.rot90(x, -1, axes=(2, 3)))
    shifted = T.RandomAffine(0, translate=(0.5, 0.0), fill=0.25, generator=gen(5))(x[:1])
    angle, shift, _, _ = T.RandomAffine(0, translate=(0.5, 0.0), generator=gen(5)).get_params(9, 9)
    dx = int(shift[0, 0])
    expected = np.full_like(x[:1], 0.25)
    if dx >= 0:
        expected[..., dx:] = x[:1, ..., :9 - dx]
    else:
        expected[..., :dx] = x[:1, ..., -dx:]
    assert dx != 0
    np.testing.assert_array_equal(shifted, expected)


def test_autoaugment_tables_are_torchvision_literals():
    space = T._augmentation_space("randaugment", 31, 32, 32)
    assert list(space) == ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
                           "Brightness", "Color", "Contrast", "Sharpness", "Posterize",
                           "Solarize", "AutoContrast", "Equalize"]
    assert space["Rotate"][0][9] == pytest.approx(9.0)
    assert space["TranslateX"][0][30] == pytest.approx(150 / 331 * 32, rel=1e-6)
    np.testing.assert_array_equal(space["Posterize"][0][::5], [8, 7, 7, 6, 5, 5, 4])
    auto = T._augmentation_space("autoaugment", 10, 32, 32)
    assert list(auto)[-1] == "Invert" and "Identity" not in auto
    np.testing.assert_array_equal(auto["Posterize"][0], [8, 8, 7, 7, 6, 6, 5, 5, 4, 4])
    np.testing.assert_allclose(auto["ShearX"][0], np.linspace(0, 0.3, 10), rtol=1e-6)
    assert [signed for _, signed in auto.values()] == [True] * 9 + [False] * 5
    wide = T._augmentation_space("trivialaugment", 31, 32, 32)
    np.testing.assert_array_equal(wide["Posterize"][0][::5], [8, 7, 6, 5, 4, 3, 2])
    assert wide["Rotate"][0][-1] == 135 and wide["TranslateY"][0][-1] == 32
    assert wide["Brightness"][0][-1] == pytest.approx(0.99)
    assert len(T._POLICIES["imagenet"]) == len(T._POLICIES["cifar10"]) == 25
    assert T._POLICIES["cifar10"][1] == (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9))
    assert T._POLICIES["imagenet"][0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))


def test_integer_ops_known_answers():
    x = np.array([[[[0, 10, 200], [255, 100, 100]]]], np.uint8)  # (1, 1, 2, 3)
    one = np.ones(1)
    np.testing.assert_array_equal(T._apply_op(x, "Posterize", 3 * one), x & 0b11100000)
    np.testing.assert_array_equal(T._apply_op(x, "Solarize", 100 * one),
                                  [[[[0, 10, 55], [0, 155, 155]]]])
    np.testing.assert_array_equal(T._apply_op(x, "Invert", one), 255 - x)
    # min 0, max 255 already: autocontrast is the identity; a narrower range stretches
    np.testing.assert_array_equal(T._apply_op(x, "AutoContrast", one), x)
    y = np.array([[[[50, 100, 150]]]], np.uint8)
    np.testing.assert_array_equal(T._apply_op(y, "AutoContrast", one), [[[[0, 127, 255]]]])
    # equalize: 6 pixels, top value 255 once -> step = 5 // 255 = 0 -> unchanged
    np.testing.assert_array_equal(T._apply_op(x, "Equalize", one), x)
    z = np.repeat(np.arange(0, 256, dtype=np.uint8)[::-1], 2).reshape(1, 1, 16, 32)
    eq = T._apply_op(z, "Equalize", one)  # a flat histogram maps to itself (lut = 2i // 2)
    np.testing.assert_array_equal(eq, z)


def test_uint8_blends_truncate_like_torchvision():
    x = np.array([[[[10, 101, 255]], [[0, 50, 3]], [[7, 9, 200]]]], np.uint8)  # (1, 3, 1, 3)
    out = T._apply_op(x, "Brightness", np.array([0.5]))  # 1 + 0.5: 1.5 * x, clamped, truncated
    np.testing.assert_array_equal(out, np.clip(np.float32(1.5) * x, 0, 255).astype(np.uint8))
    cj = T.ColorJitter(saturation=(0.0, 0.0))(x.transpose(0, 2, 3, 1))  # fully grey
    gray = (np.float32(0.2989) * x[:, 0] + np.float32(0.587) * x[:, 1]
            + np.float32(0.114) * x[:, 2]).astype(np.uint8)
    np.testing.assert_array_equal(cj, np.repeat(gray[..., None], 3, axis=-1))
    grey = T.RandomGrayscale(p=1.0)(x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(grey, np.repeat(gray[..., None], 3, axis=-1))


def test_layouts_and_errors(images):
    u, f, hwc = images
    for t in (T.Resize(10), T.RandomAffine(20), T.GaussianBlur(3), T.ColorJitter(0.5, hue=0.2),
              T.RandomErasing(p=1.0), T.RandomResizedCrop(9), T.RandomGrayscale(0.5),
              T.AutoAugment(), T.RandAugment(), T.TrivialAugmentWide()):
        one = _seeded(t, hwc[0])  # a single (H, W, C) image is a batch of one
        assert one.dtype == np.uint8 and one.ndim == 3 and one.shape[-1] == 3
        np.testing.assert_array_equal(one, _seeded(t, hwc[:1])[0])
        if isinstance(t, T._AutoAugmentBase):
            with pytest.raises(TypeError, match="before ToTensor"):
                t(f)
        else:
            out = _seeded(t, f)
            assert out.dtype == np.float32 and out.shape[:2] == (3, 3)
    with pytest.raises(ValueError, match="policy"):
        T.AutoAugment("mnist")
    with pytest.raises(ValueError, match="magnitude"):
        T.RandAugment(magnitude=31)
    with pytest.raises(ValueError, match="odd"):
        T.GaussianBlur(4)
    with pytest.raises(ValueError, match="interpolation"):
        T.Resize(4, interpolation="bicubic")
    with pytest.raises(ValueError, match="random"):
        T.RandomErasing(p=1.0, value="random")(hwc)


def _seeded(t, x, seed=9):
    t.generator = gen(seed)
    return t(x)


def test_random_ops_draw_per_image():
    same = np.repeat(gen(6).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8), 24, axis=0)
    for t in (T.RandomAffine(30), T.GaussianBlur(5, sigma=(0.5, 3)), T.TrivialAugmentWide(),
              T.RandAugment(), T.RandomResizedCrop(8)):
        out = _seeded(t, same)
        assert len({o.tobytes() for o in out}) > 6, type(t).__name__


# ---------------------------------------------------------------- against torchvision


@pytest.mark.parametrize("size", [(20, 17), (60, 90), (37, 20), 11])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_vs_torchvision(tv, images, size, antialias):
    F = tv.transforms.functional
    u, f, hwc = images
    arg = size if isinstance(size, int) else list(size)
    mine_f = T.Resize(size, antialias=antialias)(f)
    np.testing.assert_allclose(mine_f, F.resize(as_torch(f), arg, antialias=antialias).numpy(),
                               atol=1e-5)
    ref = F.resize(as_torch(u), arg, antialias=antialias).numpy()
    close_uint8(T.Resize(size, antialias=antialias)(hwc).transpose(0, 3, 1, 2), ref)
    near = F.resize(as_torch(u), arg, interpolation=tv.transforms.InterpolationMode.NEAREST)
    np.testing.assert_array_equal(T.Resize(size, interpolation="nearest")(hwc),
                                  near.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize("size", [7, (4, 5), (40, 50), (36, 44)])
def test_center_crop_vs_torchvision(tv, images, size):
    u, _, hwc = images
    ref = tv.transforms.functional.center_crop(as_torch(u), size).numpy()
    np.testing.assert_array_equal(T.CenterCrop(size)(hwc).transpose(0, 3, 1, 2), ref)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_random_resized_crop_vs_torchvision(tv, images, mode):
    F = tv.transforms.functional
    u, f, hwc = images
    IM = tv.transforms.InterpolationMode
    rrc = T.RandomResizedCrop((24, 20), interpolation=mode, generator=gen(7))
    out_f, out_u = rrc(f), rrc(hwc).transpose(0, 3, 1, 2)
    replay = T.RandomResizedCrop((24, 20), generator=gen(7))  # the same draws, in turn
    for x, out in ((f, out_f), (u, out_u)):
        for i, (top, left, h, w) in enumerate(replay.get_params(37, 45, 3).tolist()):
            ref = F.resized_crop(as_torch(x[i]), top, left, h, w, [24, 20], IM(mode)).numpy()
            if x.dtype == np.uint8:
                close_uint8(out[i], ref, fraction=0.02)
            else:
                np.testing.assert_allclose(out[i], ref, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_random_affine_vs_torchvision(tv, images, mode):
    F = tv.transforms.functional
    u, f, _ = images
    kw = dict(degrees=40, translate=(0.2, 0.1), scale=(0.7, 1.3), shear=(-10, 10, -5, 5),
              interpolation=mode, fill=(0.1, 0.5, 0.9))
    out = T.RandomAffine(**kw, generator=gen(8))(f)
    params = T.RandomAffine(**kw, generator=gen(8)).get_params(37, 45, 3)
    for i in range(3):
        angle, (tx, ty), scale, shear = (p[i] for p in params)
        ref = F.affine(as_torch(f[i]), float(angle), [int(tx), int(ty)], float(scale),
                       [float(s) for s in shear], tv.transforms.InterpolationMode(mode),
                       fill=[0.1, 0.5, 0.9]).numpy()
        if mode == "nearest":
            assert (out[i] != ref).any(axis=0).mean() < 0.002
        else:
            np.testing.assert_allclose(out[i], ref, atol=1e-4)


def test_gaussian_blur_vs_torchvision(tv, images):
    F = tv.transforms.functional
    u, f, hwc = images
    out_f = T.GaussianBlur((5, 3), sigma=(0.3, 2.5), generator=gen(10))(f)
    out_u = T.GaussianBlur((5, 3), sigma=(0.3, 2.5), generator=gen(10))(hwc)
    sigmas = gen(10).uniform(0.3, 2.5, 3)
    for i, s in enumerate(sigmas):
        ref = F.gaussian_blur(as_torch(f[i]), [5, 3], [float(s)] * 2).numpy()
        np.testing.assert_allclose(out_f[i], ref, atol=1e-5)
        ref = F.gaussian_blur(as_torch(u[i]), [5, 3], [float(s)] * 2).numpy()
        close_uint8(out_u[i].transpose(2, 0, 1), ref)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_color_ops_vs_torchvision(tv, images, dtype):
    F = tv.transforms.functional
    u, f, hwc = images
    x = u if dtype == "uint8" else f
    for name, fn, factor in (("brightness", F.adjust_brightness, 1.37),
                             ("contrast", F.adjust_contrast, 0.61),
                             ("saturation", F.adjust_saturation, 1.8),
                             ("hue", F.adjust_hue, -0.23)):
        rng = (factor, factor)
        out = T.ColorJitter(**{name: rng})(hwc if x is u else f)
        out = out.transpose(0, 3, 1, 2) if x is u else out
        ref = np.stack([fn(as_torch(img), factor).numpy() for img in x])
        if dtype == "uint8" and name == "hue":
            close_uint8(out, ref)
        elif dtype == "uint8":
            np.testing.assert_array_equal(out, ref, err_msg=name)
        else:
            np.testing.assert_allclose(out, ref, atol=1e-6, err_msg=name)
    grey = T.RandomGrayscale(p=1.0)(hwc if x is u else f)
    grey = grey.transpose(0, 3, 1, 2) if x is u else grey
    ref = np.stack([F.rgb_to_grayscale(as_torch(img), 3).numpy() for img in x])
    np.testing.assert_allclose(grey, ref, atol=1e-6)


def test_random_erasing_uint8_vs_torchvision(tv, images):
    u, _, hwc = images
    out = T.RandomErasing(p=1.0, value=(9.7, 20, 300 % 256), generator=gen(11))(hwc)
    erase, top, left, bh, bw = T.RandomErasing(p=1.0)._boxes(gen(11), 3, 37, 45)
    for i in range(3):
        v = as_torch(np.array([9, 20, 44], np.uint8).reshape(3, 1, 1))
        ref = tv.transforms.functional.erase(as_torch(u[i]), int(top[i]), int(left[i]),
                                             int(bh[i]), int(bw[i]), v).numpy()
        np.testing.assert_array_equal(out[i].transpose(2, 0, 1), ref)


OP_MAGNITUDES = {
    "ShearX": [0.3, -0.2, 0.99], "ShearY": [0.1, -0.3, 0.5], "TranslateX": [14.3, -5.0, 32.0],
    "TranslateY": [-14.9, 3.0, 0.0], "Rotate": [30.0, -17.3, 135.0],
    "Brightness": [0.9, -0.5, 0.33], "Color": [0.9, -0.9, 0.2], "Contrast": [0.9, -0.6, 0.1],
    "Sharpness": [0.9, -0.9, 0.45], "Posterize": [4.0, 8.0, 0.0], "Solarize": [255.0, 127.5, 0.0],
    "AutoContrast": [0.0] * 3, "Equalize": [0.0] * 3, "Invert": [0.0] * 3, "Identity": [0.0] * 3}
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


@pytest.mark.parametrize("name", list(OP_MAGNITUDES))
@pytest.mark.parametrize("mode, fill", [("nearest", None), ("bilinear", None),
                                        ("nearest", [10.0, 20.0, 30.0]),
                                        ("bilinear", [10.0, 20.0, 30.0])])
def test_each_autoaugment_op_vs_torchvision(tv, images, name, mode, fill):
    from torchvision.transforms.autoaugment import _apply_op

    u, _, _ = images
    mags = np.array(OP_MAGNITUDES[name])
    out = T._apply_op(u, name, mags, mode, fill)
    ref = np.stack([_apply_op(as_torch(u[i]), name, float(m), tv.transforms.InterpolationMode(mode),
                              fill).numpy() for i, m in enumerate(mags)])
    if mode == "bilinear" and name in GEOMETRIC:
        close_uint8(out, ref)  # the float32 grid differs in the last bit: .5 rounds either way
    else:
        np.testing.assert_array_equal(out, ref)


def test_augmentation_tables_vs_torchvision(tv):
    A = tv.transforms.autoaugment
    for kind, ref in (("autoaugment", A.AutoAugment()._augmentation_space(10, (37, 45))),
                      ("randaugment", A.RandAugment()._augmentation_space(31, (37, 45))),
                      ("trivialaugment", A.TrivialAugmentWide()._augmentation_space(31))):
        mine = T._augmentation_space(kind, 31 if kind != "autoaugment" else 10, 37, 45)
        assert list(mine) == list(ref)
        for name, (values, signed) in ref.items():
            assert mine[name][1] == signed
            if values.ndim == 0:
                assert mine[name][0] is None
            else:
                np.testing.assert_array_equal(mine[name][0], values.double().numpy(), err_msg=name)
    for policy in ("imagenet", "cifar10", "svhn"):
        ref = A.AutoAugment(A.AutoAugmentPolicy(policy)).policies
        assert [tuple(p) for p in ref] == list(T._POLICIES[policy])


def _replay(tv, u, steps):
    """Apply torchvision's _apply_op per image along ``steps``: lists of (name, magnitude) or
    None per image and step."""
    from torchvision.transforms.autoaugment import _apply_op

    out = []
    for i in range(len(u)):
        img = as_torch(u[i])
        for step in steps:
            if step[i] is not None:
                img = _apply_op(img, step[i][0], step[i][1],
                                tv.transforms.InterpolationMode.NEAREST, None)
        out.append(img.numpy())
    return np.stack(out)


def test_autoaugment_policies_vs_torchvision(tv):
    u = gen(12).integers(0, 256, (40, 3, 20, 24), dtype=np.uint8)
    for policy in ("imagenet", "cifar10"):
        out = T.AutoAugment(policy, generator=gen(13))(u.transpose(0, 2, 3, 1))
        g = gen(13)  # the documented draws: sub-policies, probabilities, signs
        chosen, probs = g.integers(25, size=40), g.random((40, 2))
        signs = g.integers(2, size=(40, 2))
        space = T._augmentation_space("autoaugment", 10, 20, 24)
        steps = [[None] * 40, [None] * 40]
        for i in range(40):
            for s, (name, p, b) in enumerate(T._POLICIES[policy][chosen[i]]):
                if probs[i, s] <= p:
                    values, signed = space[name]
                    m = 0.0 if b is None else float(values[b])
                    steps[s][i] = (name, -m if signed and signs[i, s] == 0 else m)
        np.testing.assert_array_equal(out.transpose(0, 3, 1, 2), _replay(tv, u, steps))


def test_randaugment_and_trivialaugment_vs_torchvision(tv):
    u = gen(14).integers(0, 256, (40, 3, 20, 24), dtype=np.uint8)
    keys = list(T._augmentation_space("randaugment", 31, 20, 24))
    space = T._augmentation_space("randaugment", 31, 20, 24)
    hwc = u.transpose(0, 2, 3, 1)
    out = T.RandAugment(num_ops=2, magnitude=13, generator=gen(15))(hwc).transpose(0, 3, 1, 2)
    g = gen(15)
    steps = []
    for _ in range(2):
        ops, negate = g.integers(14, size=40), g.integers(2, size=40)
        step = []
        for k, neg in zip(ops, negate):
            values, signed = space[keys[k]]
            m = 0.0 if values is None else float(values[13])
            step.append((keys[k], -m if signed and neg else m))
        steps.append(step)
    np.testing.assert_array_equal(out, _replay(tv, u, steps))
    wide = T._augmentation_space("trivialaugment", 31, 20, 24)
    out = T.TrivialAugmentWide(generator=gen(16))(hwc).transpose(0, 3, 1, 2)
    g = gen(16)
    ops, bins, negate = g.integers(14, size=40), g.integers(31, size=40), g.integers(2, size=40)
    step = []
    for k, b, neg in zip(ops, bins, negate):
        values, signed = wide[keys[k]]
        m = 0.0 if values is None else float(values[b])
        step.append((keys[k], -m if signed and neg else m))
    np.testing.assert_array_equal(out, _replay(tv, u, [step]))
