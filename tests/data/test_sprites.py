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
    with pytest.raises(DataError, match="not a readable dSprites file"):
        load_sprites("sprites", tmp_path)
    np.savez(tmp_path / FILE_NAME, imgs=np.zeros((3, 8, 8), np.uint8),
             latents_classes=np.zeros((3, 6), int), latents_values=np.zeros((3, 6)))
    with pytest.raises(DataError, match=r"expected imgs \(N, 64, 64\)"):
        load_sprites("sprites", tmp_path)


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
