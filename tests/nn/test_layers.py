import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npvae.nn.layers import Dense, ReLU, Sequential, Sigmoid, Tanh, mlp
from npvae.teaching.checks import away_from_kink
from npvae.teaching.gradcheck import check_layer


def assert_layer_passes(layer, x):
    rows = check_layer(layer, x, random_state=0)
    assert rows and all(r.passed for r in rows), rows
    assert max(r.worst_error for r in rows) < 1e-6


@settings(deadline=None, max_examples=15)
@given(n=st.integers(1, 6), n_in=st.integers(1, 7), n_out=st.integers(1, 7))
def test_dense_backward_matches_finite_differences(n, n_in, n_out):
    rng = np.random.default_rng(n * 100 + n_in * 10 + n_out)
    layer = Dense(n_in, n_out, rng, np.float64)
    layer.params["b"][...] = rng.standard_normal(n_out)
    assert_layer_passes(layer, rng.standard_normal((n, n_in)))


@pytest.mark.parametrize("layer_class", [ReLU, Tanh, Sigmoid])
def test_activation_backward_matches_finite_differences(layer_class, rng):
    assert_layer_passes(layer_class(), away_from_kink(rng, (5, 4)))


def test_sequential_backward_matches_finite_differences(rng):
    net = mlp((4, 6, 3), "tanh", random_state=rng)
    x = rng.standard_normal((5, 4))
    dy = rng.standard_normal((5, 3))
    net.forward(x)
    dx = net.backward(dy)
    h = 1e-6
    numerical = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        numerical[i] = (np.sum(net.forward(xp) * dy) - np.sum(net.forward(xm) * dy)) / (2 * h)
    np.testing.assert_allclose(dx, numerical, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("layer", [Dense(3, 2), ReLU(), Tanh(), Sigmoid()])
def test_backward_before_forward_is_an_error(layer):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2)))


def test_dense_first_layer_can_skip_input_gradient(rng):
    layer = Dense(3, 2, rng, input_grad=False)
    layer.forward(rng.standard_normal((4, 3)))
    assert layer.backward(np.ones((4, 2))) is None
    np.testing.assert_allclose(layer.grads["b"], [4.0, 4.0])


def test_sigmoid_is_finite_and_exact_at_extreme_inputs():
    x = np.array([-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = Sigmoid().forward(x)
    np.testing.assert_allclose(y, [0, 0, np.exp(-30) / (1 + np.exp(-30)), 0.5,
                                   1 / (1 + np.exp(-30)), 1, 1], rtol=1e-15)


def test_sequential_names_only_layers_with_parameters():
    net = Sequential([Dense(2, 3), ReLU(), Dense(3, 1)])
    assert [name for name, _ in net.named_layers("enc")] == ["enc.0", "enc.2"]


@pytest.mark.parametrize("make", [lambda: Dense(4, 3, 0), ReLU, Tanh, Sigmoid,
                                  lambda: mlp((4, 5, 3), random_state=0)])
def test_a_second_call_leaves_the_first_result_intact(make, rng):
    layer = make()
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    y1 = layer.forward(a)
    kept = y1.copy()
    dx1 = layer.backward(np.ones_like(y1))
    kept_dx = dx1.copy()
    y2 = layer.forward(b)
    layer.backward(2 * np.ones_like(y2))
    assert y1 is not y2 and np.array_equal(y1, kept) and np.array_equal(dx1, kept_dx)


def test_work_arrays_are_kept_only_when_asked(rng):
    layer = Dense(4, 3, 0)
    assert layer.work_arrays is None
    layer.keep_work_arrays()
    y1 = layer.forward(rng.standard_normal((6, 4)))
    y2 = layer.forward(rng.standard_normal((6, 4)))
    assert y1 is y2 and layer.work_arrays["y"] is y2
