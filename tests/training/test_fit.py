import numpy as np
import pytest

from npvae import VAE
from npvae.data.catalog import load_digits_split
from npvae.evaluation.elbo import evaluate
from npvae.models.registry import load_model
from npvae.nn.checkpoint import CheckpointError, read_checkpoint, restore
from npvae.nn.optim import Adam
from npvae.training.divergence import TrainingDiverged
from npvae.training.fit import fit
from npvae.training.parallel import DataParallel


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def small_vae(seed=0, **kwargs):
    return VAE(64, kwargs.pop("hidden", (32,)), kwargs.pop("latent", 4), random_state=seed,
               **kwargs)


def test_test_loss_falls_on_digits(digits):
    history = fit(small_vae(), digits.X_train, epochs=4, batch_size=64, X_test=digits.X_test)
    losses = [r["test_loss"] for r in history]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    record = history[-1]
    assert record["test_loss"] == pytest.approx(record["test_reconstruction"] + record["test_kl"])
    assert set(record) >= {"epoch", "train_loss", "train_reconstruction", "train_kl",
                           "test_loss", "seconds"}


@pytest.mark.parametrize("binarize_mode, warmup", [("none", 0), ("dynamic", 3), ("static", 0)])
def test_resume_is_bit_exact(digits, tmp_path, binarize_mode, warmup):
    options = dict(batch_size=50, X_test=digits.X_test[:50], binarize_mode=binarize_mode,
                   warmup_epochs=warmup)
    straight = small_vae(seed=3)
    h4 = fit(straight, digits.X_train, epochs=4, **options)

    path = tmp_path / "checkpoint.npz"
    fit(small_vae(seed=3), digits.X_train, epochs=2, checkpoint_path=path, **options)
    resumed = small_vae(seed=99)  # a different start: everything must come from the checkpoint
    h22 = fit(resumed, digits.X_train, epochs=4, checkpoint_path=path, resume=True, **options)
    assert np.array_equal(resumed.params.vector, straight.params.vector)
    assert [r["train_loss"] for r in h22] == [r["train_loss"] for r in h4]
    assert read_checkpoint(path)[0]["epoch"] == 4


def test_a_nan_loss_stops_training_and_keeps_the_last_checkpoint(digits, tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    model = small_vae()
    fit(model, digits.X_train, epochs=1, batch_size=100, checkpoint_path=path)
    saved = path.read_bytes()
    calls = []
    real = DataParallel.forward_backward

    def poisoned(self, x, eps, beta=None, y=None):  # each batch
        calls.append(1)
        parts = real(self, x, eps, beta, y)
        return parts._replace(total=float("nan")) if len(calls) == 3 else parts
    monkeypatch.setattr(DataParallel, "forward_backward", poisoned)
    with pytest.raises(TrainingDiverged, match="at epoch 2, batch 3; the checkpoint of epoch 1"):
        fit(model, digits.X_train, epochs=3, batch_size=100, checkpoint_path=path, resume=True)
    assert path.read_bytes() == saved


def test_checkpoint_round_trip(digits, tmp_path):
    path = tmp_path / "checkpoint.npz"
    model = small_vae(dtype=np.float64, likelihood="bernoulli", beta=0.5)
    fit(model, digits.X_train, epochs=1, checkpoint_path=path, train_config={"note": "hi"})
    loaded, meta = load_model(path)
    assert np.array_equal(loaded.params.vector, model.params.vector)
    assert loaded.params.vector.dtype == np.float64 and loaded.config() == model.config()
    assert meta["train"] == {"note": "hi"} and meta["epoch"] == 1
    assert loaded.rng.bit_generator.state == model.rng.bit_generator.state
    assert model.params.all_views_attached() and loaded.params.all_views_attached()


@pytest.mark.parametrize("other", [dict(hidden=(16,)), dict(dtype=np.float64), dict(latent=3)])
def test_a_mismatched_checkpoint_is_refused(digits, tmp_path, other):
    path = tmp_path / "checkpoint.npz"
    fit(small_vae(), digits.X_train, epochs=1, checkpoint_path=path)
    model = small_vae(**other)
    before = model.params.vector.copy()
    with pytest.raises(CheckpointError, match="does not match"):
        restore(model, Adam(model.params), path)
    assert np.array_equal(model.params.vector, before)


@pytest.mark.parametrize("damage", [lambda raw: raw[: len(raw) // 2], lambda raw: b"junk" * 10])
def test_a_corrupt_checkpoint_is_refused(digits, tmp_path, damage):
    path = tmp_path / "checkpoint.npz"
    fit(small_vae(), digits.X_train, epochs=1, checkpoint_path=path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match="not (a readable|an) npvae checkpoint"):
        load_model(path)


def test_a_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, params=np.zeros(3), meta=np.array('{"format": "something else"}'))
    with pytest.raises(CheckpointError, match="not an npvae checkpoint"):
        load_model(path)


def test_a_checkpoint_of_another_format_version_is_refused(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, params=np.zeros(3), meta=np.array('{"format": "npvae-checkpoint-1"}'))
    with pytest.raises(CheckpointError, match="another version of npvae .format "
                                              "npvae-checkpoint-1; this version reads"):
        load_model(path)


def test_evaluate_is_deterministic_and_bad_options_are_refused(digits):
    model = small_vae()
    assert evaluate(model, digits.X_test) == evaluate(model, digits.X_test)
    with pytest.raises(ValueError, match="epochs must be a positive integer; got 0"):
        fit(model, digits.X_train, epochs=0)
    with pytest.raises(ValueError, match="binarize_mode must be one of"):
        fit(model, digits.X_train, binarize_mode="sometimes")


def test_the_reference_engine_follows_the_fast_one_in_float64(digits):
    """Digits, 2 epochs of the CLI's default model in float64: the same test loss to 1e-9."""
    losses, vectors = [], []
    for engine in ("fast", "reference"):
        model = VAE(64, (400, 400), 20, dtype=np.float64, random_state=0)
        history = fit(model, digits.X_train, epochs=2, X_test=digits.X_test, engine=engine)
        losses.append(history[-1]["test_loss"])
        vectors.append(model.params.vector)
    assert losses[1] == pytest.approx(losses[0], rel=1e-9)
    assert losses[0] != losses[1] or not np.array_equal(*vectors)  # two computations, not one
    assert np.abs(vectors[0] - vectors[1]).max() < 1e-9


def test_the_reference_engine_resumes_bit_exactly(digits, tmp_path):
    options = dict(batch_size=100, engine="reference")
    straight = small_vae(seed=3, dtype=np.float64)
    fit(straight, digits.X_train, epochs=2, **options)
    path = tmp_path / "checkpoint.npz"
    fit(small_vae(seed=3, dtype=np.float64), digits.X_train, epochs=1, checkpoint_path=path,
        **options)
    resumed = small_vae(seed=99, dtype=np.float64)
    fit(resumed, digits.X_train, epochs=2, checkpoint_path=path, resume=True, **options)
    assert np.array_equal(resumed.params.vector, straight.params.vector)


@pytest.mark.parametrize("kwargs", [dict(likelihood="gaussian"), dict(activation="tanh")])
def test_the_reference_engine_refuses_what_reference_py_does_not_write(digits, kwargs):
    with pytest.raises(ValueError, match="the reference engine trains the VAE of npvae/reference"):
        fit(small_vae(**kwargs), digits.X_train, epochs=1, engine="reference")
