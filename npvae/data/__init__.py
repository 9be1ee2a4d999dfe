"""Data sets: MNIST and Fashion-MNIST (OpenML or IDX files), the shipped MNIST test set,
scikit-learn's digits, and sprites with known factors."""

from .catalog import DATASETS, load_dataset, load_digits_split
from .dataset import DataError, Dataset, DownloadError, binarize
from .mnist import load_idx_dir, load_idx_test, load_mnist_t10k, load_openml, read_idx, write_idx
from .sprites import load_sprites

__all__ = ["DATASETS", "Dataset", "DataError", "DownloadError", "load_dataset",
           "load_digits_split", "load_openml", "load_idx_dir", "load_idx_test",
           "load_mnist_t10k", "load_sprites", "read_idx", "write_idx", "binarize"]
