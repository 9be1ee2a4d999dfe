"""fit with the IWAE objective: the two engines agree, a resumed run is bit-exact, and the
objective travels in checkpoints and model files."""

import numpy as np
import pytest

from npvae import VAE
from npvae.data.catalog import load_digits_split
from npvae.models.registry import load, load_model
from npvae.training.fit import fit


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def iwae(seed=0, **options):
    options = {"objective": "iwae", "k": 4, "gradient": "dreg", **options}
    return VAE(64, (32,), 4, random_state=seed, **options)


@pytest.mark.parametrize("estimator", ["reparam", "stl", "dreg"])
def test_the_reference_engine_follows_the_fast_one_in_float64(digits, estimator):
    vectors, histories = [], []
    for engine in ("fast", "reference"):
        model = iwae(gradient=estimator, dtype=np.float64)
        histories.append(fit(model, digits.X_train, epochs=2, batch_size=100, engine=engine,
                             warmup_epochs=1))
        vectors.append(model.params.vector)
    assert np.abs(vectors[0] - vectors[1]).max() < 1e-9
    assert histories[0][-1]["train_bound"] == pytest.approx(histories[1][-1]["train_bound"],
                                                            rel=1e-9)


def test_resume_is_bit_exact_and_the_objective_is_saved(digits, tmp_path):
    options = dict(batch_size=50, X_test=digits.X_test[:50], binarize_mode="dynamic")
    straight = iwae(seed=3)
    h4 = fit(straight, digits.X_train, epochs=4, **options)
    path = tmp_path / "checkpoint.npz"
    fit(iwae(seed=3), digits.X_train, epochs=2, checkpoint_path=path, **options)
    resumed = iwae(seed=99)
    h22 = fit(resumed, digits.X_train, epochs=4, checkpoint_path=path, resume=True, **options)
    assert np.array_equal(resumed.params.vector, straight.params.vector)
    assert [r["train_bound"] for r in h22] == [r["train_bound"] for r in h4]
    model, _ = load_model(path)
    assert (model.objective, model.k, model.kl, model.gradient) == ("iwae", 4, "monte-carlo",
                                                                     "dreg")
    straight.save(tmp_path / "model.npz")
    again = load(tmp_path / "model.npz")
    assert again.config() == straight.config()
    with pytest.raises(ValueError, match="does not match"):  # another k is another objective
        fit(iwae(seed=3, k=5), digits.X_train, epochs=5, checkpoint_path=path, resume=True)


def test_the_bound_trained_on_lies_below_the_elbo_and_k_draws_train_it_higher(digits):
    """At beta = 1 the K-sample bound is tighter than the ELBO estimated from the same draws."""
    history = fit(iwae(k=8, gradient="reparam"), digits.X_train, epochs=3, batch_size=100)
    assert all(r["train_bound"] < r["train_loss"] for r in history)
    one = fit(iwae(k=1, gradient="reparam"), digits.X_train, epochs=3, batch_size=100)
    assert all(abs(r["train_bound"] - r["train_loss"]) < 5 for r in one)  # MC vs closed-form KL


def test_k_draws_too_many_for_the_memory_are_refused_before_training(digits, monkeypatch):
    monkeypatch.setattr("npvae.utils.memory.available_memory", lambda: 10**6)
    model = iwae(k=1000)
    before = model.params.vector.copy()
    with pytest.raises(ValueError, match="k=1000 draws per image on 128 images at once"):
        fit(model, digits.X_train, epochs=1)
    assert np.array_equal(model.params.vector, before)
    with pytest.raises(ValueError, match="fewer draws"):
        model.loss(digits.X_test[:500])
