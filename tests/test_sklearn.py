import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from npvae import VAETransformer, fit
from npvae.sklearn import example_noise

# Seeded: some of scikit-learn's checks fit without setting random_state, and one seed in about
# sixty makes 2 epochs on their 20 rows of uniform noise look diverged to the guard.
SMALL = dict(hidden_dims=(16,), latent_dim=2, likelihood="gaussian", epochs=2, random_state=0)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits, pixels 0..16, split 3:1 with every class in both parts."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def scaled(digits):
    """The digits' pixels scaled to [0, 1]: (X_train, X_test)."""
    X_train, X_test, _, _ = digits
    return X_train / 16, X_test / 16


@parametrize_with_checks([VAETransformer(**SMALL)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", ["check_transformer_get_feature_names_out",
                                  "check_set_output_transform",
                                  "check_transformer_get_feature_names_out_pandas",
                                  "check_set_output_transform_pandas"])
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")  # on purpose
def test_scikit_learn_feature_name_and_set_output_checks(name):
    """Checks of scikit-learn's that check_estimator leaves out (the pandas ones need pandas)."""
    if name.endswith("pandas"):
        pytest.importorskip("pandas")
    getattr(estimator_checks, name)("VAETransformer", VAETransformer(**SMALL))


def test_a_pipeline_classifies_digits_from_the_latent_code(digits):
    X_train, X_test, y_train, y_test = digits
    pipeline = make_pipeline(MinMaxScaler(clip=True),
                             VAETransformer(hidden_dims=(128,), latent_dim=8, epochs=10,
                                            batch_size=32, random_state=0),
                             LogisticRegression(max_iter=1000))
    accuracy = pipeline.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy > 0.8  # chance is 0.1
    assert list(pipeline[:-1].get_feature_names_out()) == [f"vaetransformer{k}" for k in range(8)]


def test_grid_search_over_beta_selects_by_the_elbo(digits):
    X_train = digits[0][:400]
    pipeline = make_pipeline(MinMaxScaler(clip=True),
                             VAETransformer(hidden_dims=(16,), latent_dim=2, epochs=5,
                                            batch_size=32, random_state=0))
    search = GridSearchCV(pipeline, {"vaetransformer__beta": [1.0, 8.0]}, cv=2).fit(X_train)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)  # ELBOs, in nats per example
    assert search.best_params_ == {"vaetransformer__beta": 1.0}  # beta = 1 trains for the ELBO
    assert search.best_score_ == scores[0] > scores[1]


def test_the_score_is_the_elbo_whatever_beta_with_noise_fixed_per_example(scaled):
    X_train, X_test = scaled
    vae = VAETransformer(hidden_dims=(16,), latent_dim=3, beta=4.0, epochs=2, dtype="float64",
                         random_state=0).fit(X_train)
    reconstruction, kl = vae.model_.per_example_loss(X_test, example_noise(X_test, 3))
    assert np.array_equal(vae.score_samples(X_test), -(reconstruction + kl))  # not rec + 4 kl
    assert vae.score(X_test) == pytest.approx(-(reconstruction + kl).mean(), rel=1e-12)
    # the noise of an example is its own: the same alone, among others, in any order
    eps = example_noise(X_test[:5], 3)
    assert np.array_equal(example_noise(X_test[4:5], 3), eps[4:5])
    assert np.array_equal(example_noise(X_test[4::-1], 3), eps[::-1])
    assert not np.array_equal(eps[0], eps[1])
    assert abs(example_noise(X_test, 3).mean()) < 0.1  # standard normal over the examples


def test_bernoulli_data_outside_the_unit_interval_says_how_to_scale_it(digits, scaled):
    X_raw = digits[0]  # pixels 0..16
    message = r"X must lie in \[0, 1\] for likelihood='bernoulli'; got values in \[0, 16\]. " \
              r"Scale it first, e.g. with sklearn.preprocessing.MinMaxScaler\(clip=True\)" \
              r" in a Pipeline, or choose likelihood='gaussian'."
    with pytest.raises(ValueError, match=message):
        VAETransformer(epochs=1).fit(X_raw)
    vae = VAETransformer(hidden_dims=(8,), latent_dim=2, epochs=1).fit(scaled[0])
    for method in (vae.transform, vae.score_samples, vae.score):
        with pytest.raises(ValueError, match="MinMaxScaler"):
            method(X_raw)
    VAETransformer(hidden_dims=(8,), latent_dim=2, likelihood="gaussian", epochs=1,
                   random_state=0).fit(X_raw / 4)  # values in [0, 4]: fine for a Gaussian


@pytest.mark.parametrize("params, message", [
    (dict(hidden_dims=16), "hidden_dims must be a sequence of positive integers"),
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(likelihood="poisson"), "likelihood must be one of"),
    (dict(dtype="int32"), "dtype must be float32 or float64"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(random_state="seed"), "random_state must be None, an int >= 0 or a numpy Generator"),
    (dict(random_state=-1), "random_state must be None, an int >= 0 or a numpy Generator; got -1"),
    (dict(k=5), "objective='iwae'"),
    (dict(objective="iwae", gradient="score"), "gradient must be one of"),
])
def test_bad_hyperparameters_are_reported_by_fit(params, message, scaled):
    vae = VAETransformer(**params)  # scikit-learn's rule: no checks in __init__
    with pytest.raises(ValueError, match=message):
        vae.fit(scaled[0][:10])


def test_the_same_seed_gives_the_same_model_and_transform(scaled):
    X_train, X_test = scaled
    fits = [VAETransformer(hidden_dims=(16,), latent_dim=2, epochs=2, random_state=seed)
            .fit(X_train) for seed in (7, 7, 8)]
    same, again, other = (vae.transform(X_test) for vae in fits)
    assert np.array_equal(same, again)
    assert not np.allclose(same, other)
    assert np.array_equal(fits[0].sample(3, random_state=1), fits[1].sample(3, random_state=1))


def test_a_generator_is_stored_unchanged_and_drawn_from_by_each_fit(scaled):
    X_train = scaled[0]
    rng = np.random.default_rng(0)
    vae = VAETransformer(hidden_dims=(16,), latent_dim=2, epochs=1, random_state=rng)
    assert vae.get_params()["random_state"] is rng
    first = vae.fit(X_train).transform(X_train)
    second = vae.fit(X_train).transform(X_train)  # the Generator moved on: another model
    assert not np.allclose(first, second)
    assert vae.random_state is rng


def test_transform_inverse_transform_and_sample_shapes_and_dtype(scaled):
    X_train, X_test = scaled
    vae = VAETransformer(hidden_dims=(16,), latent_dim=3, epochs=2, random_state=0).fit(X_train)
    Z = vae.transform(X_test)
    assert Z.shape == (len(X_test), 3) and Z.dtype == np.float32
    means = vae.inverse_transform(Z)
    assert means.shape == X_test.shape and means.dtype == np.float32
    assert 0 <= means.min() and means.max() <= 1  # pixel probabilities
    assert np.allclose(means, vae.model_.decode(Z), atol=1e-6)  # float64 vs float32 decoding
    samples = vae.sample(5, random_state=0)
    assert samples.shape == (5, 64) and samples.dtype == np.float32
    assert len(vae.history_) == 2 and vae.n_features_in_ == 64
    with pytest.raises(ValueError, match=r"Z must be 2-D \(n_samples, 3\); got shape \(4, 2\)"):
        vae.inverse_transform(np.zeros((4, 2)))


def test_a_pickled_estimator_transforms_and_trains_on_the_same(scaled):
    X_train, X_test = scaled
    vae = VAETransformer(hidden_dims=(16,), latent_dim=2, epochs=1, random_state=0).fit(X_train)
    loaded = pickle.loads(pickle.dumps(vae))
    before = vae.transform(X_test)
    assert np.array_equal(loaded.transform(X_test), before)
    for model in (vae.model_, loaded.model_):  # the weights, the Generator: all came along
        fit(model, X_train, epochs=1)
    assert np.array_equal(loaded.transform(X_test), vae.transform(X_test))
    assert not np.array_equal(vae.transform(X_test), before)


def test_import_npvae_leaves_scikit_learn_until_vae_transformer_is_used():
    code = "import sys, npvae; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_refit_that_fails_leaves_the_fitted_transformer_whole():
    from npvae.training.divergence import TrainingDiverged

    X = load_digits().data[:200] / 16
    v = VAETransformer(hidden_dims=(8,), latent_dim=2, epochs=1, random_state=0).fit(X)
    before = v.transform(X)
    with pytest.raises((TrainingDiverged, ValueError)):
        v.set_params(lr=1e6, epochs=3).fit(X[:, :32])
    assert v.n_features_in_ == 64
    np.testing.assert_array_equal(v.transform(X), before)


def test_a_grid_search_over_the_iwae_draws_trains_each_objective(digits):
    X_train = digits[0][:300] / 16
    search = GridSearchCV(VAETransformer(hidden_dims=(16,), latent_dim=2, epochs=3,
                                         batch_size=32, random_state=0, objective="iwae",
                                         gradient="dreg"),
                          {"k": [1, 5]}, cv=2).fit(X_train)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    model = search.best_estimator_.model_
    assert (model.objective, model.kl, model.gradient) == ("iwae", "monte-carlo", "dreg")
    assert "train_bound" in search.best_estimator_.history_[-1]
