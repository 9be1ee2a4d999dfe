import numpy as np
import pytest

from npvae import SGD, Adam, Dense, Parameters
from npvae.nn import optim


def two_parameters(values):
    layer = Dense(1, 1)
    params = Parameters([("layer", layer)], np.float64)
    params.vector[...] = values
    return params


def test_adams_first_two_steps_equal_a_hand_computed_example():
    params = two_parameters([1.0, -2.0])
    opt = Adam(params, lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    params.grad[...] = [0.5, -1.0]
    opt.step()
    # t = 1: m = 0.1 g, v = 0.001 g^2, so m_hat = g, v_hat = g^2 and the step is lr * sign(g).
    np.testing.assert_allclose(params.vector, [1 - 0.1 * 0.5 / (0.5 + 1e-8),
                                               -2 + 0.1 * 1.0 / (1.0 + 1e-8)], rtol=1e-15)
    params.grad[...] = [0.1, 0.3]
    opt.step()
    # t = 2: m = 0.9 * m1 + 0.1 * g2 = [0.055, -0.06]; v = 0.999 * v1 + 0.001 * g2^2
    #        = [0.00025975, 0.001089]; m_hat = m / 0.19; v_hat = v / 0.001999.
    m_hat = np.array([0.055, -0.06]) / 0.19
    v_hat = np.array([0.00025975, 0.001089]) / 0.001999
    expected = np.array([0.9, -1.9]) - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(params.vector, expected, rtol=1e-7)
    assert opt.t == 2


@pytest.mark.parametrize("scale", [1.0, 1e-8])  # 1e-8: eps is as large as sqrt(v_hat)
def test_adam_follows_the_textbook_equations(scale, rng):
    params = two_parameters([1.0, -2.0])
    opt = Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-8)
    theta, m, v = params.vector.copy(), np.zeros(2), np.zeros(2)
    for t in range(1, 7):
        g = scale * rng.standard_normal(2)
        params.grad[...] = g
        opt.step()
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        theta -= 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-8)
        np.testing.assert_allclose(params.vector, theta, rtol=1e-13)


def test_sgd_with_momentum():
    params = two_parameters([1.0, 1.0])
    opt = SGD(params, lr=0.5, momentum=0.9)
    params.grad[...] = [1.0, -2.0]
    opt.step()
    opt.step()  # velocity = 0.9 * g + g = 1.9 g
    np.testing.assert_allclose(params.vector, [1 - 0.5 * 2.9, 1 + 0.5 * 2.9 * 2])


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.01), lambda p: SGD(p, lr=0.01)])
def test_optimizer_state_round_trips_exactly(make, rng):
    a, b = two_parameters([1.0, 2.0]), two_parameters([1.0, 2.0])
    opt_a, opt_b = make(a), make(b)
    for _ in range(3):
        a.grad[...] = b.grad[...] = rng.standard_normal(2)
        opt_a.step()
        opt_b.step()
    fresh = make(two_parameters(b.vector))
    fresh.load_state_dict({k: np.copy(v) for k, v in opt_b.state_dict().items()})
    a.grad[...] = fresh.params.grad[...] = [0.3, -0.2]
    opt_a.step()
    fresh.step()
    assert np.array_equal(a.vector, fresh.params.vector)


def test_bad_learning_rate_is_refused():
    with pytest.raises(ValueError, match="lr must be a finite number > 0; got 0"):
        Adam(two_parameters([0.0, 0.0]), lr=0)


def test_adam_with_a_given_work_vector_takes_the_same_steps(rng):
    a, b = two_parameters([1.0, 2.0]), two_parameters([1.0, 2.0])
    work = np.full(2, np.nan)  # whatever it holds before a step does not matter
    opt_a, opt_b = Adam(a, lr=0.01), Adam(b, lr=0.01, work=work)
    for _ in range(3):
        a.grad[...] = b.grad[...] = rng.standard_normal(2)
        opt_a.step()
        opt_b.step()
        assert np.array_equal(a.vector, b.vector)
    assert np.isfinite(work).all()  # it was the work space


@pytest.mark.parametrize("work", [np.zeros(3), np.zeros(2, np.float32), "grad"])
def test_a_work_vector_that_does_not_fit_is_refused(work):
    params = two_parameters([1.0, 2.0])
    work = params.grad if isinstance(work, str) else work
    with pytest.raises(ValueError, match="work must be a vector of its own"):
        Adam(params, work=work)


def test_adam_in_many_chunks_and_threads_follows_the_textbook_equations(monkeypatch, rng):
    # 250,500 parameters: two threads; 8 KB chunks cut each thread's slice into many pieces, so a
    # chunk skipped or updated twice would show.
    monkeypatch.setattr(optim, "CHUNK_BYTES", 8192)
    params = Parameters([("layer", Dense(500, 500, random_state=rng))], np.float64)
    opt = Adam(params, lr=0.01, threads=2)
    assert len(opt._thread_chunks) == 2 and len(opt._thread_chunks[0]) > 10
    theta, m, v = params.vector.copy(), 0.0, 0.0
    for t in range(1, 4):
        g = rng.standard_normal(theta.shape)
        params.grad[...] = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(params.vector, theta, rtol=1e-12, atol=1e-15)
