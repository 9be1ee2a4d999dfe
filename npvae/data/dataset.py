"""The data set type and its errors, shared by every loader; pixels made binary."""

import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from ..utils.validation import check_random_state

# Errors that reading a damaged file can raise: a corrupt gzip or zip stream raises zlib.error or
# zipfile.BadZipFile (neither is an OSError), a short one EOFError.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zlib.error, zipfile.BadZipFile)


class DataError(ValueError):
    """A data set could not be loaded; the message says why and what to do."""


class DownloadError(DataError):
    """A data set could not be downloaded; ``reason`` says why in a few words."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


class Dataset(NamedTuple):
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    image_shape: tuple  # (height, width), for pictures
    factors_train: np.ndarray = None  # (N_train, F) generative factors' classes, if known
    factors_test: np.ndarray = None
    factor_names: tuple = ()


def _as_pixels(images):
    """Pixel values 0..255 of any numeric dtype (N, ...) -> uint8 (N, D), checked."""
    images = np.asarray(images)
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(f"pixel values must lie in [0, 255]; got [{images.min()}, {images.max()}]")
    return images.astype(np.uint8).reshape(len(images), -1)


def _scale(pixels):
    """uint8 pixels -> float32 in [0, 1]."""
    return pixels.astype(np.float32) / np.float32(255)


def binarize(X, random_state=None, out=None):
    """A Bernoulli sample of each pixel: ``x_b = [u < x]``, u ~ U(0, 1). Same shape and dtype.

    ``out``: an array (not X itself) to write the sample into, as the training loop does.
    Pixels kept as bytes are 0 or 1 (``is_byte_pixels``): their own sample, returned as they are.
    """
    if X.dtype == np.uint8:
        return X
    rng = check_random_state(random_state)
    u = rng.random(X.shape, dtype=X.dtype, out=out)
    return np.less(u, X, out=u, casting="unsafe")  # 1.0 where u < x, else 0.0


def is_byte_pixels(model, X):
    """True for images kept as uint8 0/1 pixels (N, D), which training gathers batch by batch
    into the model's dtype (``take_rows``) rather than as one float array: the full sprites set is
    3 GB as bytes, 12 GB as float32. ValueError if such an array does not fit the model."""
    if not (isinstance(X, np.ndarray) and X.dtype == np.uint8):
        return False
    if X.ndim != 2 or X.shape[1] != model.input_dim or len(X) == 0:
        raise ValueError(f"x must be 2-D (n_samples, {model.input_dim}); got shape {X.shape}")
    if X.max() > 1:
        raise ValueError("uint8 images must hold pixels 0 or 1 (scale 0..255 pixels to [0, 1] "
                         f"floats); got values up to {X.max()}")
    return True


def take_rows(X, rows, out):
    """``X[rows]`` written into ``out`` (the model's dtype), as ``np.take`` does when the dtypes
    match; uint8 pixels are converted on the way."""
    if X.dtype == out.dtype:
        return np.take(X, rows, axis=0, out=out)
    np.copyto(out, X[rows], casting="safe")
    return out
