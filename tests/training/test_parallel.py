import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from npvae import VAE, Parameters
from npvae.training.parallel import DataParallel


def blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.mark.parametrize("n", [1, 2, 7, 64])
@pytest.mark.parametrize("n_classes", [0, 3])
def test_the_shares_add_up_to_the_whole_batch(n, n_classes, rng):
    """The gradient and loss of the batch, computed in shares, equal the whole batch's to
    round-off (float64)."""
    model = VAE(9, (8, 6), 3, beta=0.7, dtype=np.float64, random_state=0, n_classes=n_classes)
    x, eps = rng.random((n, 9)), rng.standard_normal((n, 3))
    y = rng.integers(0, 3, n) if n_classes else None
    whole = model.forward_backward(x, eps, y=y)
    expected = model.params.grad.copy()
    model.params.grad[...] = np.nan  # every entry must be written again
    shared = DataParallel(model, cores=2).forward_backward(x, eps, y=y)
    np.testing.assert_allclose(model.params.grad, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(shared, whole, rtol=1e-12)


def test_one_core_gives_the_same_numbers_as_two(rng):
    x, eps = rng.random((10, 9)).astype(np.float32), rng.standard_normal((10, 3), np.float32)
    grads = []
    for cores in (1, 2):
        model = VAE(9, (8,), 3, random_state=0)
        parts = DataParallel(model, cores=cores).forward_backward(x, eps)
        grads.append((parts, model.params.grad.copy()))
    assert grads[0][0] == grads[1][0]
    assert np.array_equal(grads[0][1], grads[1][1])


def test_a_twin_shares_the_parameters_but_not_the_gradient():
    model = VAE(9, (8,), 3, random_state=0)
    twin = model.twin()
    assert twin.params.vector is model.params.vector
    assert all(np.shares_memory(twin.params.values[name], model.params.vector)
               for name in model.params.names)
    assert not np.shares_memory(twin.params.grad, model.params.grad)
    model.params.values["decoder.0.W"][0, 0] = 5.0
    assert twin.decoder.layers[0].params["W"][0, 0] == 5.0
    assert twin.config() == model.config()


def test_a_shared_vector_of_the_wrong_size_is_refused():
    model = VAE(9, (8,), 3, random_state=0)
    with pytest.raises(ValueError, match="shared_vector must have shape"):
        Parameters(model._named_layers(), np.float32, shared_vector=np.zeros(3, np.float32))


def test_blas_gets_one_thread_per_share_and_back():
    with threadpool_limits(2, user_api="blas"):
        parallel = DataParallel(VAE(9, (8,), 3, random_state=0))
        assert parallel.threads == 2
        with parallel.blas_per_thread():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {2}


def test_the_engine_keeps_work_arrays_on_its_twins_not_on_the_model(rng):
    model = VAE(9, (8,), 3, random_state=0)
    parallel = DataParallel(model, cores=2)
    parallel.forward_backward(rng.random((10, 9)).astype(np.float32),
                              rng.standard_normal((10, 3), np.float32))
    assert model.decoder.layers[0].work_arrays is None and model.nll.work_arrays is None
    assert all(twin.decoder.layers[0].work_arrays for twin in parallel.models)
    assert parallel.models[0].params.grad is model.params.grad
    assert parallel.spare is parallel.models[1].params.grad
