"""Damaged data files and caches: each is read right, downloaded again or refused in one line."""

import gzip

import numpy as np
import pytest
from conftest import assert_one_line_error, fake_openml, flipped

from npvae.cli.main import one_line_warning
from npvae.data.dataset import DataError
from npvae.data.mnist import read_idx, write_idx


def test_every_single_bit_flip_of_a_gzipped_idx_file_reads_right_or_is_refused(tmp_path):
    path = tmp_path / "images.gz"
    images = np.random.default_rng(1).integers(0, 256, (20, 5, 5), dtype=np.uint8)
    write_idx(path, images)
    raw, rng = path.read_bytes(), np.random.default_rng(0)
    for _ in range(300):
        path.write_bytes(flipped(raw, rng))
        try:
            assert np.array_equal(read_idx(path), images)
        except DataError as error:
            assert str(path) in str(error)


def test_a_truncated_dataset_cache_is_downloaded_again_with_a_one_line_warning(tmp_path, cli,
                                                                               monkeypatch):

    from npvae.data import mnist
    monkeypatch.setattr(mnist, "fetch_openml", fake_openml([])[0])
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    cache = tmp_path / "npvae" / "mnist.npz"
    mnist.load_openml("mnist")
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.warns(UserWarning) as warned:
        status, _, err = cli("train", "--dataset", "mnist", "--epochs", "1", "--hidden", "8",
                             "--latent-dim", "2", "--quiet", "--out", str(tmp_path / "run"))
    assert status == 0, err
    [message] = [str(w.message) for w in warned]
    assert message.startswith(f"the cached {cache} is unreadable (")
    assert message.endswith("downloaded mnist again") and "\n" not in message
    assert one_line_warning(message, UserWarning, "data.py", 1) == f"npvae: warning: {message}\n"


@pytest.mark.parametrize("damage", ["truncated", "float pixels", "labels out of range"])
def test_a_bad_cache_offline_is_one_line(tmp_path, cli, monkeypatch, damage):
    """Unreadable or not what npvae wrote (pixels already scaled, labels beyond 9): refused, and
    offline the download error says so in the same one line."""
    from urllib.error import URLError

    from npvae.data import mnist
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    cache = tmp_path / "npvae" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    X, y = np.zeros((60_000, 784), np.uint8), np.zeros(60_000, np.int64)
    X_test, y_test = np.zeros((10_000, 784), np.uint8), np.zeros(10_000, np.int64)
    if damage == "float pixels":
        X = X.astype(np.float32)
    if damage == "labels out of range":
        y[0] = 10
    np.savez(cache, X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    if damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:1000])

    def offline(*args, **kwargs):
        raise URLError("no network")
    monkeypatch.setattr(mnist, "fetch_openml", offline)
    status, _, err = cli("train", "--dataset", "mnist", "--epochs", "1", "--quiet",
                         "--out", str(tmp_path / "run"))
    assert_one_line_error(status, err, "could not be downloaded", f"the cached {cache} is "
                          "unreadable")


@pytest.mark.parametrize("change, fragment", [
    ({"t10k-images-idx3-ubyte": np.zeros((3, 27, 27), np.uint8)},
     "the training images are 28x28 but the test images 27x27"),
    ({"train-images-idx3-ubyte": np.zeros((0, 28, 28), np.uint8),
      "train-labels-idx1-ubyte": np.zeros(0, np.uint8)}, "hold no images"),
    ("negative", "negative size"),
])
def test_a_bad_idx_folder_is_refused_before_anything_is_written(tmp_path, cli, change, fragment):
    folder = tmp_path / "idx"
    folder.mkdir()
    files = {"train-images-idx3-ubyte": np.zeros((4, 28, 28), np.uint8),
             "train-labels-idx1-ubyte": np.zeros(4, np.uint8),
             "t10k-images-idx3-ubyte": np.zeros((3, 28, 28), np.uint8),
             "t10k-labels-idx1-ubyte": np.zeros(3, np.uint8)}
    if change != "negative":
        files.update(change)
    for name, array in files.items():
        write_idx(folder / name, array)
    if change == "negative":
        raw = bytearray((folder / "t10k-images-idx3-ubyte").read_bytes())
        raw[4:8] = (-3).to_bytes(4, "big", signed=True)
        (folder / "t10k-images-idx3-ubyte").write_bytes(bytes(raw))
    status, _, err = cli("train", "--data-dir", str(folder), "--out", str(tmp_path / "run"))
    assert_one_line_error(status, err, fragment)
    assert not (tmp_path / "run").exists()


def test_a_gzip_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(b"plain bytes")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)
    with gzip.open(tmp_path / "ok.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x02ab")
    assert read_idx(tmp_path / "ok.gz").tolist() == [97, 98]


@pytest.mark.parametrize("dims, fragment", [
    ([2**30, 2**30, 16], "IDX header says shape (1073741824, 1073741824, 16)"),
    ([1] * 255, "the IDX header gives 255 dimensions"),
])
def test_an_idx_header_of_absurd_dimensions_is_named(tmp_path, dims, fragment):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, len(dims)]) + np.array(dims, ">i4").tobytes() + bytes(64))
    with pytest.raises(DataError, match=str(path)) as error:
        read_idx(path)
    assert fragment in str(error.value)
