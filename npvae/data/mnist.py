"""MNIST and Fashion-MNIST: from OpenML (cached), from IDX files, or the shipped MNIST test set.

- ``load_openml("mnist")`` downloads once through scikit-learn's ``fetch_openml`` and keeps the
  pixels (uint8) in ``<data home>/npvae/<name>.npz`` (written atomically), so the next load is
  fast and needs no network. The standard split: the first 60,000 images train, the last
  10,000 test.
- ``load_idx_dir(folder)`` reads the original distribution files (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``) from a folder, with no network at all;
  ``load_idx_test(folder)`` reads only the ``t10k`` pair (a test set to score, not to train on).
- ``load_mnist_t10k()``: the real MNIST test set, shipped inside npvae (``npvae/data/mnist_t10k``,
  CC BY-SA 3.0, see its README): 10,000 images, the first 8,000 train and the last 2,000 test.
  ``npvae train`` falls back to it when MNIST cannot be downloaded.

Shapes: X_train (N_train, 784), y_train (N_train,), likewise for test.
"""

import gzip
import math
import warnings
from pathlib import Path

import numpy as np

from ..utils.files import save_npz_atomically
from .dataset import READ_ERRORS, DataError, Dataset, DownloadError, _as_pixels, _scale

OPENML_NAMES = {"mnist": "mnist_784", "fashion-mnist": "Fashion-MNIST"}
OPENML_SIZE = 70_000  # images in each OpenML data set; the first N_TRAIN train
N_TRAIN = 60_000
MNIST_T10K = Path(__file__).resolve().parent / "mnist_t10k"  # the shipped MNIST test set
T10K_TRAIN = 8_000  # of its 10,000 images, the first 8,000 train and the last 2,000 test


def fetch_openml(*args, **kwargs):
    """scikit-learn's ``fetch_openml``, imported when first needed: importing scikit-learn takes
    a second or two, which ``import npvae`` and ``npvae gradcheck`` need not pay."""
    from sklearn.datasets import fetch_openml as fetch

    return fetch(*args, **kwargs)


def load_openml(name="mnist", data_home=None):
    """MNIST or Fashion-MNIST from OpenML, cached as .npz after the first download."""
    if name not in OPENML_NAMES:
        raise DataError(f"unknown OpenML data set {name!r}; expected one of {list(OPENML_NAMES)}")
    from sklearn.datasets import get_data_home

    data_home = Path(get_data_home() if data_home is None else data_home)
    cache = data_home / "npvae" / f"{name}.npz"
    unreadable = ""
    if cache.exists():
        try:
            return _read_cache(cache, name)
        except READ_ERRORS + (DataError,) as error:
            unreadable = f"; the cached {cache} is unreadable ({type(error).__name__}: {error})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # sklearn's "retrying" notes
            bunch = fetch_openml(OPENML_NAMES[name], version=1, as_frame=False, parser="liac-arff",
                                 data_home=str(data_home), cache=False, n_retries=2, delay=1.0)
    except OSError as error:  # URLError and socket errors are OSErrors
        reason = f"{name} could not be downloaded from OpenML ({error}){unreadable}"
        raise DownloadError(
            f"{reason}. With no network, use the MNIST test set that ships with npvae "
            "(--dataset mnist-t10k), scikit-learn's digits (--dataset digits) or a folder of the "
            "original IDX files (--data-dir DIR)", reason) from None
    if unreadable:
        warnings.warn(f"{unreadable[2:]}: downloaded {name} again")
    X, y = _as_pixels(bunch.data), np.asarray(bunch.target).astype(np.int64)
    if X.shape != (OPENML_SIZE, 784) or y.shape != (OPENML_SIZE,):
        raise DataError(f"{name} from OpenML has shape {X.shape}; expected ({OPENML_SIZE}, 784)")
    save_npz_atomically(cache, X_train=X[:N_TRAIN], y_train=y[:N_TRAIN],  # uint8: 4x smaller
                        X_test=X[N_TRAIN:], y_test=y[N_TRAIN:])
    return Dataset(_scale(X[:N_TRAIN]), y[:N_TRAIN], _scale(X[N_TRAIN:]), y[N_TRAIN:], name,
                   (28, 28))


def _read_cache(cache, name):
    """The Dataset in npvae's cache of an OpenML download; DataError unless it holds what
    ``load_openml`` writes (uint8 pixels, 60,000 + 10,000 rows of 784, labels 0 to 9)."""
    with open(cache, "rb") as file, np.load(file, allow_pickle=False) as f:
        arrays = {key: f[key] for key in ("X_train", "y_train", "X_test", "y_test")}
    for split, rows in (("train", N_TRAIN), ("test", OPENML_SIZE - N_TRAIN)):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if X.dtype != np.uint8 or X.shape != (rows, 784) or y.shape != (rows,) \
                or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise DataError(f"its {split} arrays are {X.dtype} {X.shape} and {y.dtype} {y.shape};"
                            f" expected uint8 pixels ({rows}, 784) and labels 0 to 9")
    return Dataset(_scale(arrays["X_train"]), arrays["y_train"].astype(np.int64),
                   _scale(arrays["X_test"]), arrays["y_test"].astype(np.int64), name, (28, 28))


def read_idx(path):
    """Read one IDX file (optionally gzipped) of unsigned bytes: images (N, H, W) or labels (N,).

    Format: two zero bytes, a type code (0x08 for unsigned byte), the number of dimensions,
    then each dimension as a big-endian int32, then the data.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except READ_ERRORS as error:  # a damaged gzip stream raises zlib.error, not OSError
        raise DataError(f"{path}: cannot read ({error or type(error).__name__})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise DataError(f"{path}: IDX type code {raw[2]:#04x} is not 0x08 (unsigned byte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim > 3:
        raise DataError(f"{path}: the IDX header gives {ndim} dimensions; images have 3 and "
                        "labels 1 (corrupt, or not MNIST's format)")
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if min(shape) < 0:
        raise DataError(f"{path}: the IDX header gives a negative size, shape {shape} (corrupt)")
    expected = header + math.prod(shape)  # Python's integers: no overflow
    if len(raw) != expected:
        raise DataError(f"{path}: IDX header says shape {shape} ({expected} bytes); "
                        f"the file has {len(raw)} bytes (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path, array):
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def _find_idx(folder, stem):
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {stem} or {stem}.gz (expected the original MNIST IDX files)")


def read_idx_pair(folder, prefix):
    """Images (N, H*W) in [0, 1] and labels (N,) from ``<prefix>-images-idx3-ubyte[.gz]`` and
    ``<prefix>-labels-idx1-ubyte[.gz]`` in a folder, checked; and the image shape (H, W)."""
    images = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{folder}: {prefix} images {images.shape} and labels {labels.shape} "
                        "do not match (expected (N, H, W) and (N,))")
    if len(images) == 0 or images.shape[1] * images.shape[2] == 0:
        raise DataError(f"{folder}: the {prefix} files hold no images (shape {images.shape})")
    return _scale(_as_pixels(images)), labels.astype(np.int64), images.shape[1:]


def load_idx_dir(folder, name=None):
    """MNIST-format IDX files from a folder: train-images-idx3-ubyte, train-labels-idx1-ubyte,
    t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)."""
    folder = _check_folder(folder, "--data-dir")
    X_train, y_train, shape = read_idx_pair(folder, "train")
    X_test, y_test, test_shape = read_idx_pair(folder, "t10k")
    if test_shape != shape:
        raise DataError(f"{folder}: the training images are {shape[0]}x{shape[1]} but the test "
                        f"images {test_shape[0]}x{test_shape[1]}")
    return Dataset(X_train, y_train, X_test, y_test, name or folder.name, shape)


def load_mnist_t10k():
    """The real MNIST test set shipped with npvae: the first 8,000 images train, the last
    2,000 test (a fixed split, for working offline)."""
    X, y, shape = read_idx_pair(MNIST_T10K, "t10k")
    return Dataset(X[:T10K_TRAIN], y[:T10K_TRAIN], X[T10K_TRAIN:], y[T10K_TRAIN:], "mnist-t10k",
                   shape)


def _check_folder(folder, option):
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{option} {folder} is not a folder")
    return folder


def load_idx_test(folder, option="--ood-data-dir"):
    """Only the test split of an IDX folder (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
    each optionally .gz): a folder without the train files will do. Returns X (N, D) float32 in
    [0, 1], y (N,) and the image shape (H, W). ``option`` names the folder in error messages."""
    return read_idx_pair(_check_folder(folder, option), "t10k")
