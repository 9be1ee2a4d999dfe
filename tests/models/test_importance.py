"""The IWAE objective in the model (npvae.models.importance): held to npvae/reference_iwae.py
number by number, each estimator against central differences of its surrogate (float64),
and the ELBO with a Monte Carlo KL as its one-draw case."""

import numpy as np
import pytest

from npvae import VAE, TCVAE, reference_iwae
from npvae.models import importance
from npvae.models.importance import ESTIMATORS, surrogate
from npvae.teaching.gradcheck import check_model, compare, numerical_gradient, resolvable_floor

def iwae_model(k=3, estimator="reparam", beta=1.0, **options):
    model = VAE(9, (7,), 3, dtype=np.float64, random_state=1, objective="iwae", k=k,
                gradient=estimator, beta=beta, **options)
    model.params.vector += 0.1 * np.random.default_rng(2).standard_normal(len(model.params))
    return model


@pytest.mark.parametrize("beta", [1.0, 0.4])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_the_engine_gives_the_references_loss_and_gradients(estimator, k, beta, rng):
    model = iwae_model(k, estimator, beta)
    x, eps = rng.random((6, 9)), rng.standard_normal((k, 6, 3))
    loss, grads = model.loss_and_grads(x, eps)
    ref_loss, ref_grads = reference_iwae.loss_and_grads(model.params.values, x, eps, estimator,
                                                        beta)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    assert model.loss(x, eps).total == pytest.approx(ref_loss, rel=1e-13)
    for name in ref_grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-11,
                                   atol=1e-13 * np.abs(ref_grads[name]).max(), err_msg=name)


@pytest.mark.parametrize("estimator", ["stl", "dreg"])
@pytest.mark.parametrize("options", [{"likelihood": "gaussian"}, {"n_classes": 2},
                                     {"activation": "tanh"}])
def test_stl_and_dreg_are_the_gradients_of_their_surrogates_for_every_model(estimator, options,
                                                                            rng):
    model = iwae_model(3, estimator, 0.7, **options)
    x, eps = rng.random((5, 9)), rng.standard_normal((3, 5, 3))
    y = rng.integers(0, 2, 5) if options.get("n_classes") else None
    _, grads = model.loss_and_grads(x, eps, y=y)
    held = model.params.vector.copy()
    f = lambda: surrogate(model, x, eps, held, y)  # noqa: E731
    floor = resolvable_floor(f())
    for name, value in model.named_parameters():
        row = compare(name, grads[name], numerical_gradient(f, value), floor=floor)
        assert row.passed and row.worst_error < 1e-6, (name, row.worst_error)


@pytest.mark.parametrize("options", [{"likelihood": "gaussian"}, {"n_classes": 2},
                                     {"gaussian_std": "learned-per-dim", "likelihood": "gaussian"},
                                     {"activation": "tanh"}, {"hidden_dims": ()}])
def test_the_bounds_own_gradient_matches_central_differences(options, rng):
    options = {"hidden_dims": (7,), **options}
    model = VAE(9, latent_dim=3, dtype=np.float64, random_state=1, objective="iwae", k=4,
                **options)
    x, eps = rng.random((5, 9)), rng.standard_normal((4, 5, 3))
    y = {"y": rng.integers(0, 2, 5)} if options.get("n_classes") else {}
    rows = check_model(model, x, eps, **y)
    assert all(r.passed for r in rows) and max(r.worst_error for r in rows) < 1e-6, rows


def test_with_one_draw_the_monte_carlo_elbo_is_the_iwae_bound_and_the_elbo_but_its_kl(rng):
    x, eps = rng.random((6, 9)), rng.standard_normal((1, 6, 3))
    iwae = iwae_model(1)
    mc = VAE(**{**iwae.config(), "objective": "elbo", "kl": "monte-carlo"}, random_state=0)
    mc.params.vector[...] = iwae.params.vector
    analytic = VAE(**{**iwae.config(), "objective": "elbo", "kl": "analytic"}, random_state=0)
    analytic.params.vector[...] = iwae.params.vector
    loss, grads = iwae.loss_and_grads(x, eps)
    mc_loss, mc_grads = mc.loss_and_grads(x, eps)
    assert loss == mc_loss and all(np.array_equal(grads[n], mc_grads[n]) for n in grads)
    parts = analytic.loss(x, eps[0])
    mu, logvar = analytic.encode(x)
    z = mu + np.exp(logvar / 2) * eps[0]
    one_sample_kl = np.mean(0.5 * np.sum(z**2 - eps[0] ** 2 - logvar, axis=1))
    assert loss == pytest.approx(parts.reconstruction + one_sample_kl, rel=1e-13)
    assert mc.loss(x, eps).kl == pytest.approx(parts.kl, rel=1e-13)  # the KL reported: exact
    # dreg with one draw is stl: the squared weight of the only draw is 1
    stl, dreg = iwae_model(1, "stl"), iwae_model(1, "dreg")
    a, b = stl.loss_and_grads(x, eps)[1], dreg.loss_and_grads(x, eps)[1]
    assert all(np.array_equal(a[n], b[n]) for n in a)


def test_the_bound_is_finite_at_extreme_weights_and_float32_stays_float32(rng):
    model = iwae_model(5, "dreg")
    x, eps = rng.random((4, 9)), rng.standard_normal((5, 4, 3))
    eps[0] = 60.0  # draw 0's log w thousands of nats below the others: its weight is 0
    loss, grads = model.loss_and_grads(x, eps)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    small = VAE(9, (7,), 3, random_state=0, objective="iwae", k=5, gradient="stl")
    parts = small.forward_backward(small.check_input(x), small.draw_eps(4))
    assert small.draw_eps(4).shape == (5, 4, 3) and small.params.grad.dtype == np.float32
    every = importance.bound(small, small.check_input(x), small.draw_eps(4), 0.7)
    assert {name: a.dtype for name, a in every.items()} == {name: np.float32 for name in every}
    assert all(isinstance(v, float) and np.isfinite(v) for v in parts)


def test_the_encoder_runs_once_per_image_whatever_k(rng):
    model = VAE(9, (7,), 3, random_state=0, objective="iwae", k=6)
    shapes = []
    forward = model.encoder.forward
    model.encoder.forward = lambda a: shapes.append(a.shape) or forward(a)
    model.loss(rng.random((4, 9)))
    assert shapes == [(4, 9)]


@pytest.mark.parametrize("options, message", [
    ({"objective": "iwae", "kl": "analytic"}, "monte-carlo"),
    ({"k": 5}, "objective='iwae'"),
    ({"gradient": "stl"}, "kl='monte-carlo'"),
    ({"objective": "iwae", "k": 0}, "draws per image"),
    ({"objective": "iwae", "k": 2.0}, "draws per image"),
    ({"objective": "vi"}, "objective must be"),
    ({"objective": "iwae", "gradient": "score"}, "gradient must be"),
    ({"objective": "iwae", "free_bits": 1.0}, "free bits"),
])
def test_combinations_without_a_meaning_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        VAE(9, (7,), 3, **options)


def test_eps_of_the_wrong_shape_is_refused_with_the_shape_wanted(rng):
    model = iwae_model(3)
    with pytest.raises(ValueError, match=r"\(k, n_samples, latent_dim\) = \(3, 4, 3\)"):
        model.loss(rng.random((4, 9)), rng.standard_normal((4, 3)))
    rec, kl = model.per_example_loss(rng.random((4, 9)), rng.standard_normal((4, 3)))
    assert rec.shape == kl.shape == (4,)  # the ELBO of each image: one draw, as for any VAE


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_the_models_surrogate_is_the_references(estimator, rng):
    model = iwae_model(3, estimator, 0.6)
    x, eps = rng.random((5, 9)), rng.standard_normal((3, 5, 3))
    held = model.params.vector.copy()
    model.params.vector += 0.01 * rng.standard_normal(len(held))
    moving = model.params.vector.copy()
    model.params.vector[...] = held
    reference_held = {n: v.copy() for n, v in model.params.values.items()}
    model.params.vector[...] = moving
    assert surrogate(model, x, eps, held) == pytest.approx(reference_iwae.surrogate(
        model.params.values, x, eps, estimator, reference_held, 0.6), rel=1e-12)
    assert np.array_equal(model.params.vector, moving)  # the model's parameters as they were


def test_weights_too_small_to_matter_make_no_subnormal_numbers_in_the_decoder(rng):
    """A draw whose weight is 1e-30 changes no float32 digit, but its products in the decoder's
    backward pass would be subnormal, where a CPU computes many times slower."""
    model = VAE(9, (7,), 3, random_state=0, objective="iwae", k=4)
    model.params.values["logvar_head.b"][...] = -4.0  # std 0.14: log w gains (1 - std^2) eps^2 / 2
    x = model.check_input(rng.random((5, 9)))
    eps = model.draw_eps(5)
    eps[0], eps[1:] = 0.0, 7.0  # draw 0's log w some 70 nats below the others'
    assert (importance.bound(model, x, eps, 1.0)["wt"][0] < 1e-25).all()
    seen = []
    backward = model.decoder.backward
    model.decoder.backward = lambda dout: seen.append(dout.copy()) or backward(dout)
    model.forward_backward(x, eps)
    tiny = np.finfo(np.float32).tiny
    assert not np.any((seen[0] != 0) & (np.abs(seen[0]) < tiny))
    assert np.all(seen[0][:5] == 0)  # draw 0's rows (rows k N + n): weight 0


def test_the_iwae_bound_takes_five_draws_unless_told_and_errors_name_the_model():
    assert VAE(9, (7,), 3, objective="iwae").k == 5 and VAE(9, (7,), 3).k == 1
    with pytest.raises(ValueError, match="got free_bits=0.5"):
        VAE(9, (7,), 3, objective="iwae", free_bits=0.5)
    with pytest.raises(ValueError, match="got a TCVAE"):
        TCVAE(9, (7,), 3, dataset_size=10, objective="iwae")
