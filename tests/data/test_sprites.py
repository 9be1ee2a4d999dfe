import json
import math

import numpy as np
import pytest

from npvae import VAE, fit
from npvae.data.catalog import load_dataset
from npvae.data.dataset import DataError
from npvae.data.sprites import (FACTOR_SIZES, FILE_NAME, ORIENTATIONS, draw, grid_factors,
                                load_sprites, pool)  # deepmind_file: tests/conftest.py


def test_the_grid_is_the_originals_order():
    factors = grid_factors()
    assert factors.shape == (737_280, 5)
    assert factors[1].tolist() == [0, 0, 0, 0, 1]  # posY varies fastest
    assert factors[32].tolist() == [0, 0, 0, 1, 0]
    assert factors[-1].tolist() == [2, 5, 39, 31, 31]
    index = np.ravel_multi_index(factors.T, FACTOR_SIZES)
    assert np.array_equal(index, np.arange(737_280))
    assert len(grid_factors((1, 1, 4, 2, 2))) == 3 * 6 * 10 * 16 * 16


def test_drawn_sprites_move_scale_and_turn_as_their_factors_say():
    def image(*factors):
        return draw(np.array([factors]))[0].reshape(64, 64)

    square = image(0, 5, 0, 0, 0)
    rows, cols = np.nonzero(square)
    assert square.dtype == np.uint8 and set(np.unique(square)) == {0, 1}
    assert np.ptp(rows) == np.ptp(cols) and 19 <= np.ptp(cols) + 1 <= 21  # 0.32 of 64 pixels
    moved = image(0, 5, 0, 31, 0)
    assert np.array_equal(np.nonzero(moved)[0], rows)  # the same rows, further right
    assert np.nonzero(moved)[1].min() > cols.max()
    assert image(0, 0, 0, 0, 0).sum() < square.sum() / 3  # scale 0.5: a quarter of the area
    turned = image(0, 5, 5, 0, 0)  # 46 degrees: wider
    assert np.ptp(np.nonzero(turned)[1]) > np.ptp(cols)
    assert np.array_equal(image(0, 5, 39, 0, 0), square)  # 2 pi draws as 0
    ellipse, heart = image(1, 5, 0, 16, 16), image(2, 5, 0, 16, 16)
    assert np.ptp(np.nonzero(ellipse)[1]) > 1.8 * np.ptp(np.nonzero(ellipse)[0])  # wide and low
    rows = np.flatnonzero(heart.any(axis=1))
    widths = heart[rows].sum(axis=1)
    assert heart.sum() > ellipse.sum() and widths[2] > 2 * widths[-2]  # round top, pointed end
    assert ORIENTATIONS[-1] == pytest.approx(2 * np.pi)


def test_pooling_averages_blocks():
    images = np.arange(16, dtype=np.uint8).reshape(1, 16) % 2
    np.testing.assert_array_equal(pool(images, 4, 2), [[0.5, 0.5, 0.5, 0.5]])


def test_deepmind_files_are_read_without_pickle(deepmind_file):
    data = load_sprites("sprites-full", deepmind_file)
    assert len(data.X_train) + len(data.X_test) == 96 and len(data.X_test) == 9
    assert data.X_train.dtype == np.uint8 and data.image_shape == (64, 64)
    factors = np.concatenate([data.factors_train, data.factors_test])
    assert sorted(map(tuple, factors)) == sorted(map(tuple, data.factors_train.tolist()
                                                     + data.factors_test.tolist()))
    index = np.ravel_multi_index(data.factors_train.T, FACTOR_SIZES)
    assert np.all(np.diff(index) > 0)  # in the original's order
    np.testing.assert_array_equal(data.X_train, draw(data.factors_train))
    assert np.array_equal(data.y_train, data.factors_train[:, 0])
    grid = load_sprites("sprites", deepmind_file / FILE_NAME)  # the file itself will do
    assert len(grid.X_train) + len(grid.X_test) == 36  # orientation 5 and posX 3 are off it
    assert grid.X_train.dtype == np.float32 and grid.image_shape == (32, 32)
    np.testing.assert_array_equal(grid.X_train, pool(draw(grid.factors_train), 64, 2))
    assert load_dataset("sprites", str(deepmind_file)).factor_names[0] == "shape"


def test_a_bad_file_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match=f"no {FILE_NAME}"):
        load_sprites("sprites", tmp_path)
    np.savez(tmp_path / FILE_NAME, imgs=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(DataError, match="no latents_classes, latents_values in the archive"):
        load_sprites("sprites", tmp_path)
    (tmp_path / FILE_NAME).write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="not a readable dSprites file"):
        load_sprites("sprites", tmp_path)
    np.savez(tmp_path / FILE_NAME, imgs=np.zeros((3, 8, 8), np.uint8),
             latents_classes=np.zeros((3, 6), int), latents_values=np.zeros((3, 6)))
    with pytest.raises(DataError, match=r"expected imgs \(N, 64, 64\)"):
        load_sprites("sprites", tmp_path)


def sprites_file(folder, images=None, classes=None, values=None, **more):
    """A small dSprites file in ``folder``: 4 empty images, each factor's class 0; any array
    replaced by the one given."""
    arrays = {"imgs": np.zeros((4, 64, 64), np.uint8) if images is None else images,
              "latents_classes": np.zeros((4, 6), np.int64) if classes is None else classes,
              "latents_values": np.zeros((4, 6)) if values is None else values, **more}
    np.savez(folder / FILE_NAME, **{k: v for k, v in arrays.items() if v is not False})
    return folder


def classes_with(column, value, dtype=np.int64):
    classes = np.zeros((4, 6), dtype)
    classes[2, column] = value
    return classes


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.full((4, 64, 64), 0.5)}, "imgs must hold 0/1 pixels (dSprites' are binary); "
                                            "image 0 holds 0.5"),
    ({"images": np.full((4, 64, 64), 0.999, np.float32)}, "image 0 holds 0.999"),
    ({"images": np.full((4, 64, 64), np.nan)}, "image 0 holds nan"),
    ({"images": np.full((4, 64, 64), -1, np.int8)}, "image 0 holds -1"),
    ({"images": np.full((4, 64, 64), 2, np.uint8)}, "image 0 holds 2"),
    ({"images": np.zeros((4, 64, 64), complex)}, "imgs must hold 0/1 pixels as numbers; got "
                                                 "dtype complex128"),
    ({"images": np.full((4, 64, 64), "1")}, "got dtype <U1"),
    ({"images": np.array(1)}, "expected imgs (N, 64, 64)"),
    ({"images": np.zeros((0, 64, 64), np.uint8), "classes": np.zeros((0, 6), int),
      "values": np.zeros((0, 6))}, "with N > 0; got (0, 64, 64)"),
    ({"classes": classes_with(3, 1.5, float)}, "latents_classes must hold class indices, whole "
                                               "numbers; got 1.5"),
    ({"classes": classes_with(3, np.nan, float)}, "whole numbers; got nan"),
    ({"classes": np.zeros((4, 6), complex)}, "got dtype complex128"),
    ({"classes": classes_with(4, 32)}, "latents_classes' posX column holds 32; dSprites' posX "
                                       "classes are 0 to 31"),
    ({"classes": classes_with(1, -1)}, "shape column holds -1; dSprites' shape classes are 0 to 2"),
    ({"classes": classes_with(0, 1)}, "color column holds 1"),
    ({"classes": np.zeros((4, 5), int)}, "latents_values (N, 6) with N > 0; got (4, 64, 64), "
                                         "(4, 5), (4, 6)"),
    ({"values": False}, "no latents_values in the archive; a dSprites file holds imgs, "
                        "latents_classes, latents_values"),
])
def test_every_array_of_a_sprites_file_is_checked(tmp_path, arrays, message):
    sprites_file(tmp_path, **arrays)
    with pytest.raises(DataError) as error:
        load_sprites("sprites-full", tmp_path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_single_array_under_the_npz_name_is_one_clear_error(tmp_path):
    with open(tmp_path / FILE_NAME, "wb") as f:
        np.save(f, np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(DataError, match=r"one array \(as np.save writes\), not an .npz archive"):
        load_sprites("sprites-full", tmp_path)


def test_whole_float_classes_and_bool_pixels_are_read(tmp_path):
    classes = classes_with(4, 31.0, float)
    sprites_file(tmp_path, images=np.ones((4, 64, 64), bool), classes=classes)
    data = load_sprites("sprites-full", tmp_path)
    assert data.X_train.dtype == np.uint8 and data.X_train.max() == 1
    assert np.concatenate([data.factors_train, data.factors_test])[:, 3].max() == 31


def test_the_command_line_says_what_is_wrong_with_a_sprites_file(tmp_path, cli):
    sprites_file(tmp_path, images=np.full((4, 64, 64), 0.5))
    status, out, err = cli("train", "--dataset", "sprites-full", "--data-dir", str(tmp_path),
                           "--out", str(tmp_path / "run"))
    assert status == 2 and len(err.strip().splitlines()) == 1 and "image 0 holds 0.5" in err


def test_training_on_byte_pixels_equals_training_on_their_floats(deepmind_file):
    data = load_sprites("sprites-full", deepmind_file)
    X = data.X_train[:, ::8]  # 512 pixels: a small model
    models = [VAE(512, (16,), 2, random_state=0) for _ in range(2)]
    for model, pixels in zip(models, (X, X.astype(np.float32))):
        fit(model, pixels, epochs=2, batch_size=20, binarize_mode="static")
    assert np.array_equal(models[0].params.vector, models[1].params.vector)
    with pytest.raises(ValueError, match="pixels 0 or 1"):
        fit(models[0], X * 255, epochs=1)


def test_the_command_line_trains_evaluates_and_traverses(deepmind_file, tmp_path, cli):
    run = tmp_path / "run"
    status, out, err = cli("train", "--dataset", "sprites-full", "--data-dir", str(deepmind_file),
                           "--model", "tcvae", "--estimator", "mws", "--hidden", "16",
                           "--latent-dim", "3", "--epochs", "2", "--batch-size", "8", "--quiet",
                           "--out", str(run))
    assert status == 0, err
    assert "78 train, 9 validation, 9 test images; 4096-16-3, tcvae" in out
    status, out, err = cli("evaluate", "--run", str(run), "--json")
    assert status == 0, err
    assert "MIG " in out and "posY" in out and "minibatch MWS" in out and "whole set" in out
    assert "the whole set's MI can be at most log 9 = 2.20" in out
    report = json.loads((run / "evaluation.json").read_text())  # all of what it prints
    assert report["mi_cap"] == pytest.approx(math.log(9))
    assert set(report["mig_per_factor"]) <= {"shape", "scale", "orientation", "posX", "posY"}
    assert "posY" in report["mig_per_factor"] and "gap" in report["mig_per_factor"]["posY"]
    status, out, err = cli("traverse", "--run", str(run), "--steps", "5")
    assert status == 0 and (run / "traversal.png").stat().st_size > 1000
    assert out.startswith("latent dimensions by KL (nats per image): z")
