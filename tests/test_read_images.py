"""How minicnn.training.read_images (behind ``minicnn predict`` and ``viz``) prepares image
files that differ from the training images, and the InputConversionWarning it gives for each
one it converts. The images are tiny PNG/JPEG files made with Pillow."""
import warnings

import numpy as np
import pytest

from minicnn.training import DARK_BACKGROUND, InputConversionWarning, read_images

Image = pytest.importorskip("PIL.Image")

FASHION = {"name": "fashion-mnist", "channels": 1, "image_size": [28, 28], "mean": [0.0],
           "std": [1.0]}
CIFAR = {"name": "cifar10", "channels": 3, "image_size": [32, 32], "mean": [0.0] * 3,
         "std": [1.0] * 3}


def save(path, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def read_quietly(paths, info):
    """read_images, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_images(paths, info)


@pytest.fixture
def garment():
    """A light object on black, as Fashion-MNIST's images: 28x28 grey."""
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 4:24] = 200
    image[10:18, 8:20] = 90
    return image


def test_a_matching_image_is_read_as_is(garment, tmp_path):
    x = read_quietly([save(tmp_path / "a.png", garment)], FASHION)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], garment / 255.0, atol=1e-7)
    # a grey picture stored as RGB (JPEG's colour noise included) is not "colour"
    rgb = np.repeat(garment[..., None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "b.jpg", quality=95)
    assert read_quietly([tmp_path / "b.jpg"], FASHION).shape == (1, 1, 28, 28)


def test_a_light_background_is_inverted_for_dark_background_data_sets(garment, tmp_path):
    assert set(DARK_BACKGROUND) == {"mnist", "fashion-mnist"}
    dark = read_quietly([save(tmp_path / "dark.png", garment)], FASHION)
    light = save(tmp_path / "light.png", 255 - garment)
    with pytest.warns(InputConversionWarning) as record:
        x = read_images([light], FASHION)
    assert [str(w.message) for w in record] == [
        (f"{light}: inverted (light background); the model expects 28x28 grey images with a "
         "dark background (as in fashion-mnist), so predictions may be poor")]
    np.testing.assert_allclose(x, dark, atol=1e-6)
    # CIFAR-10's images have no such background: a light picture stays light
    white = save(tmp_path / "white.png", np.full((32, 32, 3), 230))
    np.testing.assert_allclose(read_quietly([white], CIFAR), 230 / 255, atol=1e-6)


def test_each_converted_image_warns_once_saying_what_was_done(garment, tmp_path):
    photo = np.full((30, 40, 3), 250, np.uint8)
    photo[5:25, 8:32] = (140, 40, 30)  # a red shoe on white paper, 40 wide, 30 high
    paths = [save(tmp_path / "shoe.png", photo), save(tmp_path / "a.png", garment),
             save(tmp_path / "big.png", np.kron(garment, np.ones((2, 2))))]
    with pytest.warns(InputConversionWarning) as record:
        x = read_images(paths, FASHION)
    assert x.shape == (3, 1, 28, 28)
    assert [str(w.message).split("; ")[0] for w in record] == [
        (f"{paths[0]}: converted colour to grey, resized 40x30 to 28x28, inverted (light "
         "background)"),
        f"{paths[2]}: resized 56x56 to 28x28"]
    assert x[0, 0, 0, 0] < 0.1 and x[0, 0, 15, 20] > 0.5  # black paper, a light shoe
    with pytest.warns(InputConversionWarning) as record:
        read_images([paths[1]], CIFAR)
    assert str(record[0].message) == (
        f"{paths[1]}: converted grey to RGB, resized 28x28 to 32x32; the model expects 32x32 "
        "RGB images (as in cifar10), so predictions may be poor")
