"""npvae.reference_iwae, the importance-weighted bound and its three encoder gradients: each
estimator against central differences of the surrogate it is the gradient of, in float64."""

import numpy as np
import pytest

from npvae import reference, reference_iwae
from npvae.teaching.gradcheck import compare, numerical_gradient, resolvable_floor


@pytest.fixture
def problem(rng):
    params = reference.init_params(9, (7,), 3, random_state=1)
    for name in params:
        params[name] += 0.1 * rng.standard_normal(params[name].shape)
    return params, rng.random((5, 9)), rng.standard_normal((4, 5, 3))  # K = 4, N = 5, L = 3


@pytest.mark.parametrize("beta", [1.0, 0.3])
@pytest.mark.parametrize("estimator", reference_iwae.ESTIMATORS)
def test_each_estimator_is_the_gradient_of_its_surrogate(problem, estimator, beta):
    params, x, eps = problem
    _, grads = reference_iwae.loss_and_grads(params, x, eps, estimator, beta)
    held = {name: value.copy() for name, value in params.items()}
    f = lambda: reference_iwae.surrogate(params, x, eps, estimator, held, beta)  # noqa: E731
    floor = resolvable_floor(f())
    for name in params:
        row = compare(name, grads[name], numerical_gradient(f, params[name]), floor=floor)
        assert row.passed, (name, row.worst_error)


def test_the_estimators_share_the_decoders_gradient_and_differ_on_the_encoders(problem):
    params, x, eps = problem
    grads = {e: reference_iwae.loss_and_grads(params, x, eps, e)[1]
             for e in reference_iwae.ESTIMATORS}
    for name in params:
        same = [np.allclose(grads["reparam"][name], grads[e][name], rtol=1e-12, atol=0)
                for e in ("stl", "dreg")]
        assert same == ([True, True] if name.startswith("decoder.") else [False, False]), name


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_with_one_draw_the_bound_is_the_elbo_with_a_one_sample_kl(problem, beta):
    params, x, eps = problem
    bound = reference_iwae.forward(params, x, eps[:1], beta)["bound"]
    cache = reference.forward(params, x, eps[0])
    log_q = -0.5 * np.sum(eps[0] ** 2 + cache["logvar"] + np.log(2 * np.pi), axis=1)
    log_p = -0.5 * np.sum(cache["z"] ** 2 + np.log(2 * np.pi), axis=1)
    np.testing.assert_allclose(bound, -(cache["rec"] + beta * (log_q - log_p)), rtol=1e-13)


def test_the_bound_rises_with_k_on_average_and_is_finite_at_extreme_weights(problem):
    params, x, _ = problem
    rng = np.random.default_rng(3)
    bounds = [np.mean([reference_iwae.forward(params, x, rng.standard_normal((k, 5, 3)))
                       ["bound"].mean() for _ in range(200)]) for k in (1, 10)]
    assert bounds[1] > bounds[0]
    eps = np.zeros((3, 5, 3))
    eps[0] = 40.0  # log w of draw 0 some thousands of nats below the others: wt_0 = 0
    cache = reference_iwae.forward(params, x, eps)
    assert np.isfinite(cache["bound"]).all() and np.allclose(cache["wt"].sum(axis=0), 1)


def test_an_unknown_estimator_is_refused(problem):
    with pytest.raises(ValueError, match="estimator must be one of"):
        reference_iwae.loss_and_grads(*problem, estimator="score")


@pytest.mark.parametrize("beta", [0.3, 1.0, 2.0])
def test_dreg_has_the_bounds_expected_gradient_at_any_beta_and_stl_does_not(beta):
    """The mean over 4,000 noise draws of each estimator's encoder gradient minus the bound's
    own (the same draws): 0 within 5 standard errors for dreg; for stl, a bias."""
    rng = np.random.default_rng(7)
    params = reference.init_params(4, (3,), 2, random_state=3)
    for name in params:
        params[name] += 0.3 * rng.standard_normal(params[name].shape)
    x = rng.random((2, 4))
    encoder = [name for name in params if not name.startswith("decoder.")]
    gaps = {"stl": [], "dreg": []}
    for _ in range(4000):
        eps = rng.standard_normal((3, 2, 2))
        cache = reference_iwae.forward(params, x, eps, beta)
        own = reference_iwae.backward(params, cache, "reparam")
        for estimator in gaps:
            grads = reference_iwae.backward(params, cache, estimator)
            gaps[estimator].append(np.concatenate([(grads[n] - own[n]).ravel() for n in encoder]))
    z = {e: np.abs(np.mean(g, axis=0)) / (np.std(g, axis=0) / np.sqrt(len(g)) + 1e-300)
         for e, g in gaps.items()}
    assert z["dreg"].max() < 5
    assert z["stl"].max() > 10  # biased for K > 1 (Tucker et al. 2018)
