from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded Generator: every test draws from its own, never from the global np.random."""
    return np.random.default_rng(12345)


TRAIN = ["train", "--dataset", "digits", "--hidden", "16", "--latent-dim", "2", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder of two epochs on digits, trained once per test module."""
    from npvae.cli.main import main
    folder = tmp_path_factory.mktemp("runs") / "digits"
    assert main(TRAIN + ["--epochs", "2", "--out", str(folder)]) == 0
    return folder


def flipped(raw, rng):
    """``raw`` with one random bit flipped."""
    data = bytearray(raw)
    i = int(rng.integers(len(data)))
    data[i] ^= 1 << int(rng.integers(8))
    return bytes(data)


@pytest.fixture
def cli(capsys):
    """Run the command line as a shell would: returns (exit status, stdout, stderr). Usage errors
    end in SystemExit, as from a shell."""
    from npvae.cli.main import main

    def run(*argv):
        try:
            status = main(list(argv))
        except SystemExit as exit:
            status = exit.code
        out, err = capsys.readouterr()
        return status, out, err
    return run


def assert_one_line_error(status, err, *fragments):
    """The command line's answer to a mistake: exit status 2 and one line on stderr, no
    traceback, holding each fragment."""
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture
def deepmind_file(tmp_path):
    """A folder with a small file in DeepMind's dSprites format (keys imgs, latents_classes,
    latents_values; its metadata needs pickle): 96 combinations, out of order, some on the CPU
    grid of --dataset sprites and some not."""
    from npvae.data.sprites import FILE_NAME, draw

    factors = np.array([[s, c, o, x, y] for s in range(3) for c in (0, 5) for o in (0, 4, 5, 8)
                        for x in (0, 3) for y in (0, 2)])[::-1]
    classes = np.column_stack([np.zeros(len(factors), int), factors])
    np.savez(tmp_path / FILE_NAME, imgs=draw(factors).reshape(-1, 64, 64),
             latents_classes=classes, latents_values=classes / 10,
             metadata=np.array(["objects would need pickle"], dtype=object))
    return tmp_path


def fake_openml(calls):
    """A stand-in for fetch_openml: MNIST's shapes and types (float pixels, string labels)."""
    rng = np.random.default_rng(0)
    pixels = np.zeros((70_000, 784))
    pixels[:, 300:310] = rng.integers(0, 256, size=(70_000, 10))
    labels = (np.arange(70_000) % 10).astype(str).astype(object)

    def fetch(name, **kwargs):
        calls.append((name, kwargs))
        return SimpleNamespace(data=pixels, target=labels)
    return fetch, pixels
