import copy
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits

from npvae import VAE, Adam
from npvae.models.vae import LOGVAR_MAX
from npvae.teaching.gradcheck import check_model


def small_model(likelihood="bernoulli", activation="relu", beta=1.0, seed=0):
    return VAE(7, (5,), 3, likelihood=likelihood, beta=beta, dtype=np.float64,
               random_state=seed, activation=activation)


def assert_all_pass(rows, below=1e-6):
    assert all(r.passed for r in rows), "\n".join(map(str, rows))
    assert max(r.worst_error for r in rows) < below


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_every_coordinate_of_a_small_model_matches_finite_differences(likelihood, activation,
                                                                      beta, rng):
    model = small_model(likelihood, activation, beta)
    x, eps = rng.random((4, 7)), rng.standard_normal((4, 3))
    rows = check_model(model, x, eps)
    assert [r.name for r in rows] == [name for name, _ in model.named_parameters()]
    assert sum(r.n_checked for r in rows) == len(model.params)
    assert_all_pass(rows)


def test_a_model_with_two_hidden_layers_and_no_hidden_layers(rng):
    for hidden in [(6, 5), ()]:
        model = VAE(7, hidden, 2, dtype=np.float64, random_state=1)
        assert_all_pass(check_model(model, rng.random((3, 7)), rng.standard_normal((3, 2))))


def test_random_coordinates_of_the_mnist_sized_model(rng):
    """784-400-400-20 at 30 random coordinates per tensor, with tanh: with 8 x 800 ReLU inputs a
    step of h crosses some kink now and then, which is no bug (the small ReLU models above are
    checked at every coordinate). The loss is ~900 nats here, so round-off makes the numerical
    gradient uncertain by ~1e-9; the floor on |a| + |n| (resolvable_floor, ~0.2 here) judges
    smaller gradients by their absolute error. Expected worst error here: ~1e-7."""
    model = VAE(784, (400, 400), 20, dtype=np.float64, random_state=0, activation="tanh")
    x, eps = rng.random((8, 784)), rng.standard_normal((8, 20))
    rows = check_model(model, x, eps, n_coords=30, random_state=0)
    assert_all_pass(rows)


def test_the_gradient_check_fails_on_a_wrong_gradient(rng):
    """Negative control: drop the KL's gradient with respect to logvar, and the check must fail."""
    model = small_model(activation="tanh")
    x, eps = rng.random((4, 7)), rng.standard_normal((4, 3))
    original = model.logvar_head.backward
    model.logvar_head.backward = lambda dy: original(dy * 0.5)
    rows = {r.name: r for r in check_model(model, x, eps)}
    assert not rows["logvar_head.W"].passed and rows["logvar_head.W"].worst_error > 1e-3
    assert rows["mu_head.W"].passed


def test_loss_is_deterministic_with_fixed_eps_and_matches_its_parts(rng):
    model = small_model(beta=0.5)
    x, eps = rng.random((4, 7)), rng.standard_normal((4, 3))
    loss, _ = model.loss_and_grads(x, eps)
    parts = model.loss(x, eps)
    assert loss == parts.total == model.loss_and_grads(x, eps)[0]
    assert parts.total == pytest.approx(parts.reconstruction + 0.5 * parts.kl, rel=1e-15)
    rec, kl = model.per_example_loss(x, eps)
    assert rec.shape == kl.shape == (4,) and np.mean(rec) == pytest.approx(parts.reconstruction)


def test_grads_are_copies_with_the_parameters_shapes_and_dtype(rng):
    model = VAE(7, (5,), 3, random_state=0)
    loss, grads = model.loss_and_grads(rng.random((4, 7)))
    assert isinstance(loss, float)
    for name, value in model.named_parameters():
        assert grads[name].shape == value.shape and grads[name].dtype == np.float32
        assert not np.shares_memory(grads[name], model.params.grad)


def test_named_parameters_are_in_forward_order():
    model = VAE(6, (5, 4), 2)
    assert [name for name, _ in model.named_parameters()] == [
        "encoder.0.W", "encoder.0.b", "encoder.2.W", "encoder.2.b", "mu_head.W", "mu_head.b",
        "logvar_head.W", "logvar_head.b", "decoder.0.W", "decoder.0.b", "decoder.2.W",
        "decoder.2.b", "decoder.4.W", "decoder.4.b"]
    shapes = dict((n, v.shape) for n, v in model.named_parameters())
    assert shapes["encoder.0.W"] == (6, 5) and shapes["decoder.4.W"] == (5, 6)


def test_float32_stays_float32_and_agrees_with_float64(rng):
    m32 = VAE(64, (32, 16), 4, dtype=np.float32, random_state=0)
    m64 = VAE(64, (32, 16), 4, dtype=np.float64, random_state=0)
    m64.params.vector[...] = m32.params.vector
    x, eps = rng.random((16, 64)), rng.standard_normal((16, 4))
    _, g32 = m32.loss_and_grads(x, eps)
    _, g64 = m64.loss_and_grads(x, eps)
    for name in g32:
        assert g32[name].dtype == np.float32
        err = np.linalg.norm(g32[name] - g64[name]) / np.linalg.norm(g64[name])
        assert err < 1e-4, name
    mu, logvar = m32.encode(x)
    outputs = [mu, logvar, m32.decode(mu), m32.sample(3), m32.reconstruct(x),
               m32.reparameterize(mu, logvar, eps.astype(np.float32)), *m32.per_example_loss(x)]
    assert all(a.dtype == np.float32 for a in outputs)


def test_the_same_seed_gives_the_same_numbers(rng):
    x = rng.random((16, 7))

    def run():
        model = VAE(7, (5,), 3, random_state=42)
        opt = Adam(model.params)
        losses = []
        for _ in range(5):
            losses.append(model.forward_backward(x, model.draw_eps(16)).total)
            opt.step()
        return model.params.vector.copy(), losses

    (p1, l1), (p2, l2) = run(), run()
    assert np.array_equal(p1, p2) and l1 == l2


@pytest.mark.parametrize("copy_of", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy])
def test_a_pickled_or_deep_copied_model_keeps_its_weights_in_the_vector(copy_of):
    model = VAE(7, (5,), 3, dtype=np.float64, random_state=0)
    model.draw_eps(2)  # the Generator moves on from its seed
    twin = copy_of(model)
    assert twin.params.all_views_attached()  # else training would update a vector no layer reads
    assert twin.config() == model.config()
    assert np.array_equal(twin.params.vector, model.params.vector)
    assert np.array_equal(twin.draw_eps(3), model.draw_eps(3))  # the Generator's state came too


def test_a_batch_of_64_overfits_under_adam():
    x = load_digits().data[:64] / 16.0
    model = VAE(64, (64,), 8, random_state=0)
    opt = Adam(model.params, lr=3e-3)
    losses = []
    for _ in range(400):
        losses.append(model.forward_backward(model.check_input(x), model.draw_eps(64)).total)
        opt.step()
    windows = np.array(losses).reshape(8, 50).mean(axis=1)
    assert np.all(np.diff(windows) < 0), windows
    assert windows[-1] < 0.75 * windows[0]
    assert model.params.all_views_attached()


def test_extreme_log_variance_stays_finite(rng):
    model = small_model()
    model.params.values["logvar_head.b"][...] = 1e4  # an encoder gone wild
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grads = model.loss_and_grads(rng.random((4, 7)), rng.standard_normal((4, 3)))
        _, logvar = model.encode(rng.random((2, 7)))
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    assert np.all(logvar == LOGVAR_MAX)


@pytest.mark.parametrize("x, message", [
    (np.zeros(7), r"2-D \(n_samples, 7\); got shape \(7,\)"),
    (np.zeros((3, 6)), r"got shape \(3, 6\)"),
    (np.full((2, 7), np.nan), "finite"),
    (np.full((2, 7), np.inf), "finite"),
    (np.full((2, 7), 1.5), r"\[0, 1\]"),
    (np.full((2, 7), -0.1), r"\[0, 1\]"),
    (np.zeros((0, 7)), "at least one"),
])
def test_bad_x_gets_a_clear_error(x, message):
    with pytest.raises(ValueError, match=message):
        small_model().loss_and_grads(x)


def test_gaussian_accepts_values_outside_the_unit_interval(rng):
    loss, _ = small_model("gaussian").loss_and_grads(rng.standard_normal((3, 7)) * 5)
    assert np.isfinite(loss)


def test_eps_of_the_wrong_shape_is_refused(rng):
    with pytest.raises(ValueError, match=r"eps must have shape .*\(4, 3\); got \(4, 2\)"):
        small_model().loss_and_grads(rng.random((4, 7)), rng.standard_normal((4, 2)))


@pytest.mark.parametrize("kwargs, message", [
    ({"likelihood": "poisson"}, "likelihood must be one of"),
    ({"latent_dim": 0}, "latent_dim must be a positive integer; got 0"),
    ({"hidden_dims": (4, -1)}, "hidden size must be a positive integer; got -1"),
    ({"input_dim": 2.5}, "input_dim must be a positive integer"),
    ({"beta": -1}, "beta must be"),
    ({"dtype": np.int32}, "dtype must be float32 or float64"),
    ({"activation": "gelu"}, "activation must be one of"),
])
def test_bad_constructor_arguments_get_a_clear_error(kwargs, message):
    args = {"input_dim": 7, "hidden_dims": (5,), "latent_dim": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        VAE(**args)


def test_the_conditional_model_matches_finite_differences(rng):
    model = VAE(7, (5,), 3, dtype=np.float64, random_state=0, activation="tanh", n_classes=4)
    x, eps, y = rng.random((6, 7)), rng.standard_normal((6, 3)), np.array([0, 1, 2, 3, 1, 2])
    assert model.encoder.layers[0].params["W"].shape == (7 + 4, 5)
    assert model.decoder.layers[0].params["W"].shape == (3 + 4, 5)
    assert_all_pass(check_model(model, x, eps, y=y))


def test_the_label_changes_what_a_conditional_model_draws(rng):
    model = VAE(7, (5,), 3, random_state=0, n_classes=3)
    a, b = model.sample(4, random_state=1, y=0), model.sample(4, random_state=1, y=2)
    assert a.shape == (4, 7) and not np.allclose(a, b)
    assert model.reconstruct(rng.random((2, 7)), y=[1, 2]).shape == (2, 7)


@pytest.mark.parametrize("y, message", [
    (None, "needs labels"), (np.array([0, 3]), r"labels must lie in \[0, 3\)"),
    (np.array([0.5, 1.0]), "integer labels"), (np.array([0, 1, 2]), "2 integer labels"),
])
def test_bad_labels_are_refused(y, message, rng):
    model = VAE(7, (5,), 3, random_state=0, n_classes=3)
    with pytest.raises(ValueError, match=message):
        model.loss_and_grads(rng.random((2, 7)), y=y)


def test_labels_for_a_plain_model_are_refused(rng):
    with pytest.raises(ValueError, match="not conditional"):
        small_model().loss_and_grads(rng.random((2, 7)), y=np.array([0, 1]))


def test_public_methods_return_fresh_arrays(rng):
    model = VAE(9, (8,), 3, random_state=0)
    a, b = rng.random((5, 9)), rng.random((5, 9))
    for method in (model.encode, model.reconstruct, lambda x: model.decode(x[:, :3]),
                   lambda x: model.per_example_loss(x, np.zeros((5, 3)))):
        first = method(a)
        kept = [np.copy(v) for v in (first if isinstance(first, tuple) else (first,))]
        method(b)
        again = first if isinstance(first, tuple) else (first,)
        assert all(np.array_equal(k, v) for k, v in zip(kept, again))
