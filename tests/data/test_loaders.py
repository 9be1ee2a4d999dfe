import gzip
import hashlib
import io
import json
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

import numpy as np
import pytest
from conftest import fake_openml
from hypothesis import given, settings
from hypothesis import strategies as st

from npvae.data import mnist
from npvae.data.catalog import load_digits_split
from npvae.data.dataset import DataError, binarize
from npvae.data.mnist import load_idx_dir, load_idx_test, read_idx, write_idx


def test_load_openml_scales_splits_and_caches(tmp_path, monkeypatch):
    calls = []
    fetch, pixels = fake_openml(calls)
    monkeypatch.setattr(mnist, "fetch_openml", fetch)
    d = mnist.load_openml("mnist", data_home=tmp_path)
    assert calls[0][0] == "mnist_784" and calls[0][1]["as_frame"] is False
    assert calls[0][1]["parser"] == "liac-arff"  # needs no pandas
    assert d.X_train.shape == (60_000, 784) and d.X_test.shape == (10_000, 784)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.X_test[:, 300:310] * 255, pixels[60_000:, 300:310])
    assert 0 <= d.X_train.min() and d.X_train.max() <= 1 and d.X_train.max() > 0.99
    assert list(d.y_train[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert d.y_test[0] == 0  # row 60,000
    assert (tmp_path / "npvae" / "mnist.npz").is_file()

    def offline(name, **kwargs):
        raise AssertionError("the cache should have been used")
    monkeypatch.setattr(mnist, "fetch_openml", offline)
    again = mnist.load_openml("mnist", data_home=tmp_path)
    assert np.array_equal(again.X_train, d.X_train) and np.array_equal(again.y_test, d.y_test)


def test_fashion_mnist_has_its_openml_name(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(mnist, "fetch_openml", fake_openml(calls)[0])
    mnist.load_openml("fashion-mnist", data_home=tmp_path)
    assert calls[0][0] == "Fashion-MNIST"


def test_no_network_gives_one_clear_message_and_writes_nothing(tmp_path, monkeypatch):
    def fetch(name, **kwargs):
        raise URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(mnist, "fetch_openml", fetch)
    with pytest.raises(DataError) as info:
        mnist.load_openml("mnist", data_home=tmp_path)
    message = str(info.value)
    assert "mnist could not be downloaded" in message
    assert "--dataset digits" in message and "--data-dir" in message
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@settings(deadline=None, max_examples=20)
@given(n=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6), gz=st.booleans())
def test_idx_files_read_back_exactly(tmp_path_factory, n, h, w, gz):
    folder = tmp_path_factory.mktemp("idx")
    images = np.random.default_rng(n * h * w).integers(0, 256, (n, h, w), dtype=np.uint8)
    path = folder / ("images.gz" if gz else "images")
    write_idx(path, images)
    assert np.array_equal(read_idx(path), images)


@pytest.mark.parametrize("corrupt, message", [
    (lambda raw: b"\x01\x02" + raw[2:], "bad magic number"),
    (lambda raw: raw[:2] + b"\x0d" + raw[3:], "type code"),
    (lambda raw: raw[:-5], "truncated or corrupt"),
    (lambda raw: raw + b"\x00", "truncated or corrupt"),
    (lambda raw: raw[:6], "truncated IDX header"),
    (lambda raw: b"", "bad magic number"),
])
def test_corrupt_idx_files_get_a_clear_error(tmp_path, corrupt, message):
    path = tmp_path / "images"
    write_idx(path, np.zeros((3, 4, 5), dtype=np.uint8))
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_a_truncated_gzip_file_gets_a_clear_error(tmp_path):
    path = tmp_path / "images.gz"
    write_idx(path, np.zeros((30, 4, 5), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)


def write_mnist_folder(folder, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def test_load_idx_dir(tmp_path):
    write_mnist_folder(tmp_path)
    d = load_idx_dir(tmp_path)
    assert d.X_train.shape == (30, 784) and d.X_test.shape == (10, 784)
    assert d.X_train.dtype == np.float32 and d.X_train.max() <= 1 and d.image_shape == (28, 28)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz") as f:
        first = np.frombuffer(f.read()[16:16 + 784], dtype=np.uint8)
    np.testing.assert_array_equal(d.X_train[0] * 255, first)


def test_load_idx_dir_names_a_missing_or_mismatched_file(tmp_path):
    write_mnist_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="no t10k-labels-idx1-ubyte"):
        load_idx_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(11) % 10)
    with pytest.raises(DataError, match="do not match"):
        load_idx_dir(tmp_path)


def test_load_idx_test_needs_only_the_t10k_files(tmp_path):
    write_mnist_folder(tmp_path, n_test=12)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte"):
        (tmp_path / name).unlink()
    X, y, image_shape = load_idx_test(tmp_path)
    assert X.shape == (12, 784) and X.dtype == np.float32 and image_shape == (28, 28)
    assert y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        load_idx_dir(tmp_path)  # training still needs the train files
    with pytest.raises(DataError, match=f"^--ood-data-dir {tmp_path / 'none'} is not a folder$"):
        load_idx_test(tmp_path / "none")


def test_digits_split_is_fixed_scaled_and_stratified():
    a, b = load_digits_split(), load_digits_split()
    assert np.array_equal(a.X_train, b.X_train) and a.X_train.dtype == np.float32
    assert a.X_train.shape[1] == 64 and len(a.X_train) + len(a.X_test) == 1797
    assert a.X_train.min() == 0 and a.X_train.max() == 1
    assert np.bincount(a.y_test).min() >= 35  # every class in the test set


def test_binarize_draws_bernoulli_pixels(rng):
    X = np.full((200, 100), 0.3, dtype=np.float32)
    B = binarize(X, rng)
    assert B.dtype == np.float32 and set(np.unique(B)) <= {0.0, 1.0}
    assert abs(B.mean() - 0.3) < 0.01


class FakeResponse:
    """What urllib's urlopen returns, as far as scikit-learn reads it: a gzipped body."""

    def __init__(self, body):
        self._body = io.BytesIO(gzip.compress(body))

    def read(self, *args):
        return self._body.read(*args)

    def info(self):
        return {"Content-Encoding": "gzip"}

    def close(self):
        pass


def fake_openml_site(n_rows=12):
    """An OpenML server holding a small mnist_784 (id 554) as scikit-learn's fetch_openml asks for
    it: its search result, description, features, qualities and ARFF data. Returns (urlopen,
    pixels (n_rows, 784), labels (n_rows,))."""
    rng = np.random.default_rng(0)
    pixels = np.zeros((n_rows, 784), dtype=np.int64)
    pixels[:, 100:110] = rng.integers(0, 256, (n_rows, 10))
    labels = np.arange(n_rows) % 10
    arff = "\n".join(["@RELATION mnist_784", ""]
                     + [f"@ATTRIBUTE pixel{i + 1} NUMERIC" for i in range(784)]
                     + ["@ATTRIBUTE class {0,1,2,3,4,5,6,7,8,9}", "", "@DATA"]
                     + [",".join(map(str, row)) + f",{label}"
                        for row, label in zip(pixels, labels)]) + "\n"
    features = [{"index": str(i), "name": f"pixel{i + 1}", "data_type": "numeric",
                 "is_target": "false", "is_ignore": "false", "is_row_identifier": "false",
                 "number_of_missing_values": "0"} for i in range(784)]
    features.append({"index": "784", "name": "class", "data_type": "nominal",
                     "nominal_value": [str(c) for c in range(10)], "is_target": "true",
                     "is_ignore": "false", "is_row_identifier": "false",
                     "number_of_missing_values": "0"})
    api = "https://www.openml.org/api/v1/json/data"
    download = "https://api.openml.org/data/v1/download/52667/mnist_784.arff"
    pages = {
        f"{api}/list/data_name/mnist_784/limit/2/data_version/1":
            {"data": {"dataset": [{"did": 554, "name": "mnist_784", "version": 1,
                                   "status": "active", "format": "ARFF"}]}},
        f"{api}/554": {"data_set_description": {
            "id": "554", "name": "mnist_784", "version": "1", "format": "ARFF",
            "description": "A small stand-in for MNIST.", "status": "active", "url": download,
            "file_id": "52667", "default_target_attribute": "class",
            "md5_checksum": hashlib.md5(arff.encode()).hexdigest()}},
        f"{api}/features/554": {"data_features": {"feature": features}},
        f"{api}/qualities/554": {"data_qualities": {"quality": [
            {"name": "NumberOfInstances", "value": f"{n_rows}.0"}]}},
    }
    requested = []

    def urlopen(request, *args, **kwargs):
        """Answers by the URL's path: scikit-learn's releases ask www.openml.org or
        api.openml.org, and download the file by its id with or without its name."""
        url = getattr(request, "full_url", request)
        requested.append(url)
        path = urlparse(url).path
        if path in (urlparse(download).path, "/data/v1/download/52667"):
            return FakeResponse(arff.encode())
        by_path = {urlparse(page).path: answer for page, answer in pages.items()}
        if path in by_path:
            return FakeResponse(json.dumps(by_path[path]).encode())
        raise HTTPError(url, 404, "not on this fake OpenML", {}, None)
    return urlopen, pixels, labels, requested


def test_the_real_fetch_openml_against_a_fake_openml(tmp_path, monkeypatch):
    """scikit-learn's own fetch_openml, talking to a fake server through its URL opener: the
    arguments npvae passes and its conversion of pixels and labels run for real."""
    from sklearn.datasets import _openml
    urlopen, pixels, labels, requested = fake_openml_site(n_rows=12)
    monkeypatch.setattr(_openml, "urlopen", urlopen)
    monkeypatch.setattr(mnist, "OPENML_SIZE", 12)
    monkeypatch.setattr(mnist, "N_TRAIN", 9)
    d = mnist.load_openml("mnist", data_home=tmp_path)
    assert "/data/v1/download/52667" in requested[-1]
    assert d.X_train.shape == (9, 784) and d.X_test.shape == (3, 784)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.rint(d.X_train * 255), pixels[:9])
    assert d.y_train.tolist() == labels[:9].tolist() and d.y_test.tolist() == labels[9:].tolist()
    assert (tmp_path / "npvae" / "mnist.npz").is_file()
    assert not (tmp_path / "openml").exists()  # cache=False: only npvae's own cache is written
