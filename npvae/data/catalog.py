"""Every data set by name: ``load_dataset(name)`` for MNIST and Fashion-MNIST
(``npvae.data.mnist``: OpenML, IDX files, the shipped test set), scikit-learn's digits and the
sprites (``npvae.data.sprites``).

Every loader returns a ``Dataset`` whose images are rows of float32 pixels scaled to [0, 1],
with integer labels. Shapes: X_train (N_train, D), y_train (N_train,), likewise for test.
``load_digits_split()`` uses the 8x8 digits that ship with scikit-learn: no network, ever.
"""

import numpy as np

from .dataset import DataError, Dataset
from .mnist import load_idx_dir, load_mnist_t10k, load_openml
from .sprites import load_sprites

SPRITES = ("sprites", "sprites-full")  # npvae.data.sprites: dSprites, drawn or from DeepMind's file
DATASETS = ("mnist", "fashion-mnist", "digits", "mnist-t10k") + SPRITES


def load_digits_split(test_size=0.2, random_state=0):
    """scikit-learn's 1,797 8x8 digits, pixels scaled to [0, 1], a fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=test_size, stratify=digits.target, random_state=random_state)
    return Dataset(X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64), "digits",
                   (8, 8))


def load_dataset(name, data_dir=None, data_home=None):
    """The command line's entry point: a data set by name, or IDX files from ``data_dir``
    (``name`` then only labels them; for the sprites, DeepMind's dSprites file)."""
    if name in SPRITES:
        return load_sprites(name, data_dir)
    if data_dir is not None:
        return load_idx_dir(data_dir, name)
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")
    if name == "digits":
        return load_digits_split()
    if name == "mnist-t10k":
        return load_mnist_t10k()
    return load_openml(name, data_home)


