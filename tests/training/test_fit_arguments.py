"""fit refuses a mistake before it trains on it, naming the argument and what it expected."""

import numpy as np
import pytest

from npvae import TCVAE, VAE, Adam, fit


@pytest.fixture
def data(rng):
    return rng.random((40, 6)).astype(np.float32)


def vae(**kwargs):
    return VAE(6, (8,), 2, random_state=0, **kwargs)


@pytest.mark.parametrize("schedule, fragment", [
    (lambda epoch, epochs, lr, history: -0.1, "lr_schedule's value at epoch 1 must be a finite "
                                              "number > 0; got -0.1"),
    (lambda epoch, epochs, lr, history: None, "got None"),
    (lambda epoch, epochs, lr, history: "fast", "got 'fast'"),
    (lambda epoch, epochs, lr, history: float("nan"), "got nan"),
    (lambda epoch, epochs, lr, history: lr if epoch == 0 else float("inf"),
     "lr_schedule's value at epoch 2 must be a finite number > 0; got inf"),
])
def test_a_schedule_is_refused_at_the_step_where_it_returns_a_bad_value(data, schedule, fragment):
    model = vae()
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        fit(model, data, epochs=3, lr_schedule=schedule)


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(lr="fast"), ValueError, "lr must be a finite number > 0; got 'fast'"),
    (dict(lr=0.0), ValueError, "lr must be a finite number > 0; got 0.0"),
    (dict(lr_schedule=lambda: 1e-3), ValueError, "does not take those four arguments"),
    (dict(callback=5), TypeError, "callback must be a callable callback(record, model)"),
    (dict(resume=True), ValueError, "resume=True continues from checkpoint_path"),
    (dict(optimizer=object()), TypeError, "object lacks step, state_dict, load_state_dict"),
    (dict(y_train=np.zeros(40, int)), ValueError, "y_train holds labels, but VAE is not "
                                                  "conditional"),
])
def test_bad_arguments_are_refused_up_front(data, kwargs, error, fragment):
    model = vae()
    before = model.params.vector.copy()
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        fit(model, data, epochs=1, **kwargs)
    assert np.array_equal(model.params.vector, before)  # nothing trained


def test_an_optimizer_of_another_model_is_refused(data):
    model, other = vae(), vae()
    with pytest.raises(ValueError, match="the optimizer updates another model's parameters"):
        fit(model, data, epochs=1, optimizer=Adam(other.params))
    fit(model, data, epochs=1, optimizer=Adam(model.params))  # its own: trains


@pytest.mark.parametrize("size", [20, 10**9])
def test_a_tcvae_whose_dataset_size_is_not_the_training_sets_is_refused(data, size):
    model = TCVAE(6, (8,), 2, dataset_size=size, random_state=0)
    with pytest.raises(ValueError, match=f"dataset_size is {size}, but X_train has 40 rows"):
        fit(model, data, epochs=1, batch_size=16)
    fit(TCVAE(6, (8,), 2, dataset_size=40, random_state=0), data, epochs=1, batch_size=16)


def test_a_callback_that_returns_numpys_true_stops_training(data):
    history = fit(vae(), data, epochs=3, callback=lambda record, model: np.bool_(True))
    assert len(history) == 1


def test_an_optimizer_state_that_overflows_is_divergence_and_the_last_good_checkpoint_stays(
        tmp_path, data):
    from npvae.models.registry import load_model
    from npvae.training.divergence import TrainingDiverged

    path = tmp_path / "checkpoint.npz"
    model = vae()
    optimizer = Adam(model.params)
    fit(model, data, epochs=1, optimizer=optimizer, checkpoint_path=path)
    step = optimizer.step

    def overflowing_step():  # the loss stays finite; Adam's second moment does not
        step()
        optimizer.v[0] = np.inf

    optimizer.step = overflowing_step
    with pytest.raises(TrainingDiverged, match="optimizer.v held NaN or inf after epoch 2; the "
                       "checkpoint of epoch 1 is kept"):
        fit(model, data, epochs=2, optimizer=optimizer, checkpoint_path=path, resume=True)
    assert load_model(path)[1]["epoch"] == 1


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(kl_cycles=2, kl_cycle_ratio="a"), ValueError, "kl_cycle_ratio must lie in (0, 1]"),
    (dict(train_config={"when": object()}), TypeError, "train_config must hold only what JSON"),
    (dict(checkpoint_path=b"x.npz"), TypeError, "checkpoint_path must be a str or a path-like"),
])
def test_more_mistakes_are_refused_before_any_epoch(data, kwargs, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace("]", r"\]")):
        fit(vae(), data, epochs=1, **kwargs)


def test_a_checkpoint_path_that_is_a_folder_is_refused_before_any_epoch(data, tmp_path):
    with pytest.raises(ValueError, match="is a folder: name the file"):
        fit(vae(), data, epochs=1, checkpoint_path=tmp_path)


def test_a_schedule_may_return_a_fraction(data):
    from fractions import Fraction
    history = fit(vae(), data, epochs=1, lr_schedule=lambda e, n, lr, h: Fraction(1, 1000))
    assert history[0]["lr"] == 0.001
