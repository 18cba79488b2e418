"""minicnn.data.transforms: known answers on single images and batches, per-sample randomness,
reproducibility from a generator, and the formulas torchvision uses (torchvision itself is not
needed: its formulas are written out here)."""
import colorsys
import math

import numpy as np
import pytest

import minicnn
from minicnn.data import transforms as T


def gen(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture
def batch(rng):
    return rng.random((16, 3, 10, 12), dtype=np.float32)


# ---------------------------------------------------------------- ToTensor / Normalize


@pytest.mark.parametrize("shape, expected", [((5, 7), (1, 5, 7)), ((5, 7, 3), (3, 5, 7)),
                                             ((4, 5, 7), (4, 1, 5, 7)),
                                             ((4, 5, 7, 3), (4, 3, 5, 7))])
def test_to_tensor_layout_and_scaling(rng, shape, expected):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    y = T.ToTensor()(x)
    assert y.shape == expected and y.dtype == np.float32 and y.flags.c_contiguous
    channels_last = x if x.ndim in (3, 4) and shape[-1] == 3 else x[..., None]
    axes = (2, 0, 1) if channels_last.ndim == 3 else (0, 3, 1, 2)
    np.testing.assert_allclose(y, channels_last.transpose(axes) / 255.0, rtol=1e-6)
    assert y.min() >= 0 and y.max() <= 1


def test_to_tensor_float_and_pil_and_errors(rng):
    x = rng.random((5, 7, 3)).astype(np.float64)
    np.testing.assert_array_equal(T.ToTensor()(x), x.transpose(2, 0, 1).astype(np.float32))
    Image = pytest.importorskip("PIL.Image")
    img = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    np.testing.assert_allclose(T.ToTensor()(Image.fromarray(img)), img.transpose(2, 0, 1) / 255,
                               rtol=1e-6)
    with pytest.raises(TypeError, match="ToTensor.*int32"):
        T.ToTensor()(np.zeros((4, 4), np.int32))


def test_normalize_math(batch):
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(batch)
    expected = (batch - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(T.Normalize(mean, std)(batch[3]), expected[3], rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32
    before = batch.copy()
    T.Normalize(0.5, 0.5)(batch)  # one value broadcasts over channels; input untouched
    np.testing.assert_array_equal(batch, before)
    T.Normalize(0.5, 0.5, inplace=True)(batch)
    np.testing.assert_allclose(batch, (before - 0.5) * 2, rtol=1e-6, atol=1e-6)


def test_normalize_errors(batch):
    with pytest.raises(ValueError, match="std must be non-zero"):
        T.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="2 values for images with 3 channels"):
        T.Normalize((0.5, 0.5), (1, 1))(batch)
    with pytest.raises(TypeError, match="ToTensor"):
        T.Normalize(0.5, 0.5)(np.zeros((2, 4, 4, 1), np.uint8))


# ---------------------------------------------------------------- flips and crops


def test_flip_reverses_width_and_draws_per_sample(batch):
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(batch), batch[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(batch), batch)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(batch[0]), batch[0, :, :, ::-1])
    out = T.RandomHorizontalFlip(generator=gen(1))(batch)
    flipped = np.array([np.array_equal(o, b[..., ::-1]) for o, b in zip(out, batch)])
    kept = np.array([np.array_equal(o, b) for o, b in zip(out, batch)])
    assert (flipped ^ kept).all() and flipped.any() and kept.any()
    # the mask is the one torchvision's rule draws from the same generator: u < p
    np.testing.assert_array_equal(flipped, gen(1).random(len(batch)) < 0.5)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(generator=gen(1))(batch), out)


def test_flip_uint8_channels_last(rng):
    x = rng.integers(0, 256, (6, 5, 7, 3), dtype=np.uint8)
    out = T.RandomHorizontalFlip(p=1.0)(x)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, x[:, :, ::-1])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_crop_equals_pad_then_slice_at_drawn_offsets(batch, mode):
    crop = T.RandomCrop((9, 11), padding=(1, 2, 3, 4), padding_mode=mode, fill=0.5,
                        generator=gen(7))
    out = crop(batch)
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    padded = np.pad(batch, ((0, 0), (0, 0), (2, 4), (1, 3)), mode=mode, **kw)
    g = gen(7)  # the same draws: all top offsets, then all left offsets
    tops = g.integers(0, padded.shape[2] - 9 + 1, size=len(batch))
    lefts = g.integers(0, padded.shape[3] - 11 + 1, size=len(batch))
    expected = np.stack([p[:, a:a + 9, b:b + 11] for p, a, b in zip(padded, tops, lefts)])
    np.testing.assert_array_equal(out, expected)
    assert len(set(zip(tops, lefts))) > 1  # per-sample offsets


def test_crop_single_image_uint8_and_errors(rng):
    x = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = T.RandomCrop(8, padding=2, generator=gen(2))(x)
    g = gen(2)
    a, b = g.integers(0, 5, 1)[0], g.integers(0, 5, 1)[0]
    padded = np.pad(x, ((2, 2), (2, 2), (0, 0)))
    np.testing.assert_array_equal(out, padded[a:a + 8, b:b + 8])
    # the uint8 and the float path crop the same window
    f = T.ToTensor()(x)
    np.testing.assert_allclose(T.RandomCrop(8, padding=2, generator=gen(2))(f),
                               T.ToTensor()(out), rtol=1e-6)
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(10)(f)
    assert T.RandomCrop(10, pad_if_needed=True)(f).shape == (3, 10, 10)
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(4, padding_mode="wrap")


# ---------------------------------------------------------------- rotation


def test_rotation_known_angles(batch):
    square = batch[..., :10]
    np.testing.assert_array_equal(T.RandomRotation((90, 90))(square),
                                  np.rot90(square, 1, axes=(2, 3)))  # counter-clockwise
    np.testing.assert_array_equal(T.RandomRotation((-90, -90))(square),
                                  np.rot90(square, -1, axes=(2, 3)))
    np.testing.assert_array_equal(T.RandomRotation((180, 180))(batch), batch[:, :, ::-1, ::-1])
    np.testing.assert_array_equal(T.RandomRotation(0)(batch), batch)
    np.testing.assert_allclose(T.RandomRotation((90, 90), interpolation="bilinear")(square),
                               np.rot90(square, 1, axes=(2, 3)), atol=1e-5)


def test_rotation_fill_per_sample_and_uint8(rng):
    x = np.ones((8, 1, 9, 9), np.float32)
    out = T.RandomRotation(45, fill=0.0, generator=gen(3))(x)
    assert out[:, 0, 4, 4].tolist() == [1.0] * 8  # the centre stays
    corners = out[:, 0, 0, 0]
    assert set(corners.tolist()) <= {0.0, 1.0}
    assert len({o.tobytes() for o in out}) > 1  # angles differ within the batch
    # the corner pixel's source leaves the 9x9 image once |angle| exceeds about 7.5 degrees
    angles = gen(3).uniform(-45, 45, 8)
    assert all(c == 1 for c, a in zip(corners, angles) if abs(a) < 4)
    assert all(c == 0 for c, a in zip(corners, angles) if abs(a) > 12)
    assert (abs(angles) > 12).any()
    u = rng.integers(0, 256, (2, 6, 6, 3), dtype=np.uint8)
    out = T.RandomRotation((90, 90))(u)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rot90(u, 1, axes=(1, 2)))


def test_rotation_bilinear_matches_a_loop(rng):
    x = rng.random((2, 2, 7, 8), dtype=np.float32)
    out = T.RandomRotation((-30, 30), interpolation="bilinear", fill=0.25, generator=gen(4))(x)
    angles = np.deg2rad(gen(4).uniform(-30, 30, 2))
    cx, cy = 3.5, 3.0
    for n in range(2):
        c, s = math.cos(angles[n]), math.sin(angles[n])
        for r in range(7):
            for q in range(8):
                sx = (q - cx) * c - (r - cy) * s + cx
                sy = (q - cx) * s + (r - cy) * c + cy
                y0, x0 = math.floor(sy), math.floor(sx)
                acc = np.zeros(2)
                for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
                    for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
                        v = x[n, :, yy, xx] if 0 <= yy < 7 and 0 <= xx < 8 else 0.25
                        acc += wy * wx * v
                np.testing.assert_allclose(out[n, :, r, q], acc, atol=1e-5)


# ---------------------------------------------------------------- colour


def gray(x):
    return 0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def test_color_jitter_fixed_factors_match_torchvision_formulas(batch):
    np.testing.assert_allclose(T.ColorJitter(brightness=(0.5, 0.5))(batch),
                               np.clip(batch * 0.5, 0, 1), rtol=1e-6)
    m = gray(batch).mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(T.ColorJitter(contrast=(1.5, 1.5))(batch),
                               np.clip(1.5 * batch - 0.5 * m, 0, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(T.ColorJitter(saturation=(0.3, 0.3))(batch),
                               np.clip(0.3 * batch + 0.7 * gray(batch), 0, 1), rtol=1e-5, atol=1e-6)


def test_hue_against_colorsys(batch):
    out = T.ColorJitter(hue=(0.2, 0.2))(batch[:2])
    for n in range(2):
        for r, q in ((0, 0), (3, 5), (9, 11), (5, 2)):
            h, s, v = colorsys.rgb_to_hsv(*batch[n, :, r, q])
            np.testing.assert_allclose(out[n, :, r, q], colorsys.hsv_to_rgb((h + 0.2) % 1, s, v),
                                       atol=1e-5)


def test_color_jitter_per_sample_and_order(rng):
    same = np.repeat(rng.random((1, 3, 6, 6), dtype=np.float32), 32, axis=0)
    out = T.ColorJitter(brightness=0.5, generator=gen(5))(same)
    assert len({o.tobytes() for o in out}) == 32
    # with fixed factors only the order is random: each image is one of the two compositions
    b, c = T.ColorJitter(brightness=(0.6, 0.6)), T.ColorJitter(contrast=(1.8, 1.8))
    first_b, first_c = c(b(same[:1]))[0], b(c(same[:1]))[0]
    out = T.ColorJitter(brightness=(0.6, 0.6), contrast=(1.8, 1.8), generator=gen(6))(same)
    is_b = [np.allclose(o, first_b, atol=1e-6) for o in out]
    is_c = [np.allclose(o, first_c, atol=1e-6) for o in out]
    assert all(x or y for x, y in zip(is_b, is_c)) and any(is_b) and any(is_c)


def test_color_jitter_grey_and_errors(rng):
    g1 = rng.random((4, 1, 5, 5), dtype=np.float32)
    np.testing.assert_array_equal(T.ColorJitter(saturation=0.9, hue=0.4)(g1), g1)
    with pytest.raises(ValueError, match="hue"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="brightness must be non-negative"):
        T.ColorJitter(brightness=-1)
    # uint8 before ToTensor is accepted, as torchvision's on uint8 tensors (see
    # test_transforms_torchvision.py); four channels are not
    assert T.ColorJitter(0.5)(np.zeros((5, 5, 3), np.uint8)).dtype == np.uint8
    with pytest.raises(ValueError, match="1 or 3 channels"):
        T.ColorJitter(0.5)(np.zeros((2, 4, 5, 5), np.float32))


# ---------------------------------------------------------------- erasing


def test_random_erasing_box_within_scale_and_ratio():
    x = np.zeros((64, 2, 40, 50), np.float32)
    out = T.RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0), value=(1.0, 2.0),
                          generator=gen(8))(x)
    areas = []
    for o in out:
        rows, cols = np.nonzero(o[0])
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(rows) == h * w  # one filled rectangle
        np.testing.assert_array_equal(o[1] != 0, o[0] != 0)
        assert set(np.unique(o[0])) == {0.0, 1.0} and set(np.unique(o[1])) == {0.0, 2.0}
        # torchvision rounds h and w to integers: allow that much beyond the bounds
        assert 0.05 * 2000 * 0.8 <= h * w <= 0.2 * 2000 * 1.2
        assert 0.5 * 0.7 <= h / w <= 2.0 / 0.7
        areas.append(h * w)
    assert len(set(areas)) > 10


def test_random_erasing_probability_random_value_and_single(rng):
    x = rng.random((100, 3, 16, 16), dtype=np.float32)
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x), x)
    out = T.RandomErasing(p=0.5, generator=gen(9))(x)
    changed = (out != x).reshape(100, -1).any(axis=1)
    assert 25 < changed.sum() < 75
    noisy = T.RandomErasing(p=1.0, value="random", generator=gen(9))(x[0])
    assert noisy.shape == x[0].shape and (noisy != x[0]).any() and (noisy < 0).any()
    y = x.copy()
    T.RandomErasing(p=1.0, inplace=True)(y)
    assert (y != x).any()
    with pytest.raises(ValueError, match="scale"):
        T.RandomErasing(scale=(0.5, 0.1))


# ---------------------------------------------------------------- mixing


def onehot(y, k):
    return np.eye(k, dtype=np.float32)[y]


def test_mixup_mixes_images_and_labels(batch):
    labels = np.arange(16) % 10
    mix = T.Mixup(alpha=0.4, num_classes=10, generator=gen(10))
    images, soft = mix(batch, labels)
    lam = gen(10).beta(0.4, 0.4)
    assert mix.lam == pytest.approx(lam)
    np.testing.assert_allclose(images, lam * batch + (1 - lam) * np.roll(batch, 1, 0), rtol=1e-5)
    np.testing.assert_allclose(soft, lam * onehot(labels, 10)
                               + (1 - lam) * onehot(np.roll(labels, 1), 10), rtol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
    assert soft.dtype == np.float32 and images.dtype == np.float32


def test_cutmix_lam_matches_pasted_area(batch):
    labels = np.arange(16) % 10
    for seed in range(20):
        cut = T.CutMix(alpha=1.0, num_classes=10, generator=gen(seed))
        images, soft = cut(batch, labels)
        y1, x1, y2, x2 = cut.box
        pasted = np.zeros(batch.shape[2:], bool)
        pasted[y1:y2, x1:x2] = True
        np.testing.assert_array_equal(images[:, :, pasted], np.roll(batch, 1, 0)[:, :, pasted])
        np.testing.assert_array_equal(images[:, :, ~pasted], batch[:, :, ~pasted])
        assert cut.lam == pytest.approx(1 - pasted.sum() / pasted.size)
        np.testing.assert_allclose(soft, cut.lam * onehot(labels, 10)
                                   + (1 - cut.lam) * onehot(np.roll(labels, 1), 10), rtol=1e-6)
        np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)


def test_mixing_tensors_and_errors(batch):
    x, y = minicnn.tensor(batch), minicnn.tensor(np.arange(16) % 3)
    images, soft = T.CutMix(num_classes=3)(x, y)
    assert isinstance(images, minicnn.Tensor) and soft.shape == (16, 3)
    with pytest.raises(ValueError, match="num_classes"):
        T.Mixup()(batch, np.zeros(16, np.int64))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        T.Mixup(num_classes=3)(batch, np.full(16, 3))
    with pytest.raises(ValueError, match="16 images but 4 labels"):
        T.Mixup(num_classes=3)(batch, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="alpha"):
        T.CutMix(alpha=0)


# ---------------------------------------------------------------- generators and Compose


def test_generators_reproducible(batch):
    pipe = T.Compose([T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(), T.RandomErasing()])
    minicnn.manual_seed(5)
    a = pipe(batch)
    minicnn.manual_seed(5)
    np.testing.assert_array_equal(pipe(batch), a)
    with T.use_generator(gen(11)):
        b = pipe(batch)
    with T.use_generator(gen(11)):
        np.testing.assert_array_equal(pipe(batch), b)
    assert not np.array_equal(a, b)
    own = T.RandomHorizontalFlip(generator=gen(12))
    with T.use_generator(gen(13)):  # a transform's own generator comes first
        np.testing.assert_array_equal(own(batch), T.RandomHorizontalFlip(generator=gen(12))(batch))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        T.RandomCrop(4, generator=3)


def test_compose_batched_flag():
    assert T.Compose([T.ToTensor(), T.Normalize(0.5, 0.5)]).batched
    assert not T.Compose([T.ToTensor(), lambda x: x]).batched
    with pytest.raises(TypeError, match="callable"):
        T.Compose([T.ToTensor(), 3])


def test_to_tensor_has_torchvisions_bits(torch):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    expected = torch.from_numpy(values).permute(2, 0, 1).float().div(255).numpy()
    np.testing.assert_array_equal(T.ToTensor()(values), expected)  # x / 255, not x * (1 / 255)
