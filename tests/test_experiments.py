"""What a researcher's small experiment needs from the library: an encoder and a
decoder of different shapes, validation and early stopping, learning-rate and KL schedules,
callbacks that stop, a learned Gaussian standard deviation, free bits, save and load."""

import json
import subprocess
import sys

import numpy as np
import pytest

import npvae
from npvae import TCVAE, VAE, fit
from npvae.data.catalog import load_digits_split
from npvae.evaluation.elbo import evaluate, kl_per_dimension
from npvae.models.registry import load_model
from npvae.nn.checkpoint import read_checkpoint
from npvae.nn.losses import LOG_STD_MIN, LOG_STD_SCALE, GaussianNLL
from npvae.training.parallel import CoupledParallel
from npvae.training.schedules import ReduceOnPlateau
from npvae.utils.files import save_npz_atomically


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def without_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


# ---- architectures ---------------------------------------------------------------------------

def asymmetric(seed=0, **kwargs):
    return VAE(64, (32,), 4, decoder_hidden_dims=(48, 40), random_state=seed, **kwargs)


def test_a_decoder_of_its_own_shape(digits):
    model = asymmetric()
    assert [model.params.values[f"decoder.{i}.W"].shape for i in (0, 2, 4)] == [
        (4, 48), (48, 40), (40, 64)]
    assert model.config()["decoder_hidden_dims"] == [48, 40]
    assert VAE(64, (32, 16), 4).config()["decoder_hidden_dims"] is None  # the mirror
    linear = VAE(64, (32,), 4, decoder_hidden_dims=())
    assert [name for name, _ in linear.named_parameters()][-2:] == ["decoder.0.W", "decoder.0.b"]
    with pytest.raises(ValueError, match="decoder hidden size must be a positive integer"):
        VAE(64, (32,), 4, decoder_hidden_dims=(0,))


def test_an_asymmetric_model_trains_on_two_cores_resumes_and_loads(digits, tmp_path):
    """fit's two-core twins rebuild the model from its config: they must get its decoder."""
    straight = asymmetric(seed=3)
    fit(straight, digits.X_train, epochs=3, batch_size=64)
    path = tmp_path / "checkpoint.npz"
    fit(asymmetric(seed=3), digits.X_train, epochs=2, batch_size=64, checkpoint_path=path)
    resumed = asymmetric(seed=7)
    fit(resumed, digits.X_train, epochs=3, batch_size=64, checkpoint_path=path, resume=True)
    assert np.array_equal(resumed.params.vector, straight.params.vector)
    loaded, _ = load_model(path)
    assert loaded.config() == straight.config() and np.array_equal(
        loaded.params.vector, straight.params.vector)


def test_the_reference_engine_trains_an_asymmetric_decoder_like_the_fast_one(digits):
    fast = asymmetric(seed=1, dtype=np.float64)
    plain = asymmetric(seed=1, dtype=np.float64)
    fit(fast, digits.X_train[:300], epochs=2, batch_size=64)
    fit(plain, digits.X_train[:300], epochs=2, batch_size=64, engine="reference")
    np.testing.assert_allclose(plain.params.vector, fast.params.vector, rtol=0, atol=1e-12)


# ---- validation, early stopping, schedules, callbacks ----------------------------------------

def overfitting_run(digits, **kwargs):
    """A small training set and a large model: the validation loss turns within a few epochs."""
    model = VAE(64, (128,), 8, random_state=2, dtype=np.float64)
    epochs = kwargs.pop("epochs", 80)
    options = dict(batch_size=20, lr=3e-3, X_val=digits.X_train[200:600], patience=3, **kwargs)
    return model, fit(model, digits.X_train[:200], epochs=epochs, **options)


def test_early_stopping_stops_and_keeps_the_best_epoch(digits):
    model, history = overfitting_run(digits)
    losses = [r["val_loss"] for r in history]
    best = int(np.argmin(losses))
    assert len(history) < 80 and len(history) - 1 - best == 3  # 3 epochs without a new best
    assert evaluate(model, digits.X_train[200:600])["loss"] == losses[best]  # its weights
    assert set(history[0]) >= {"lr", "beta", "val_loss", "val_reconstruction", "val_kl"}


def test_early_stopping_needs_a_validation_set(digits):
    with pytest.raises(ValueError, match="pass X_val"):
        fit(VAE(64, (8,), 2), digits.X_train, epochs=1, patience=2)


def test_early_stopping_and_schedules_resume_bit_exactly(digits, tmp_path):
    """Interrupted anywhere, a run with early stopping, a plateau schedule and a fractional
    warm-up continues to the same weights, history and stopping epoch as an uninterrupted one;
    the checkpoint holds the best epoch's weights as the model and the last epoch's to go on."""
    options = dict(lr_schedule=ReduceOnPlateau(patience=1), warmup_epochs=1.5)
    straight, h_straight = overfitting_run(digits, **options)
    path = tmp_path / "checkpoint.npz"
    overfitting_run(digits, epochs=4, checkpoint_path=path, **options)
    meta = read_checkpoint(path)[0]
    assert "last_params" in meta["fit_arrays"]
    model = VAE(64, (128,), 8, random_state=5, dtype=np.float64)
    h_resumed = fit(model, digits.X_train[:200], 80, 20, 3e-3, X_val=digits.X_train[200:600],
                    patience=3, checkpoint_path=path, resume=True, **options)
    assert without_seconds(h_resumed) == without_seconds(h_straight)
    assert np.array_equal(model.params.vector, straight.params.vector)
    assert min(r["lr"] for r in h_straight) < 3e-3  # the plateau schedule did act
    # resumed once more, a run that stopped early stays stopped, with its best weights
    again = VAE(64, (128,), 8, random_state=6, dtype=np.float64)
    h_again = fit(again, digits.X_train[:200], 80, 20, 3e-3, X_val=digits.X_train[200:600],
                  patience=3, checkpoint_path=path, resume=True, **options)
    assert len(h_again) == len(h_straight) and np.array_equal(again.params.vector,
                                                              straight.params.vector)
    assert np.array_equal(load_model(path)[0].params.vector, straight.params.vector)


def test_cosine_sets_the_optimizers_rate_each_epoch(digits):
    history = fit(VAE(64, (8,), 2, random_state=0), digits.X_train, epochs=4, lr=1e-3,
                  lr_schedule="cosine")
    np.testing.assert_allclose([r["lr"] for r in history],
                               [1e-3 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)])


def test_a_callback_sees_each_record_and_the_model_and_can_stop(digits, tmp_path):
    seen = []

    def stop_after_two(record, model):
        seen.append((record["epoch"], model.params.vector.copy()))
        return record["epoch"] == 2

    model = VAE(64, (8,), 2, random_state=0)
    path = tmp_path / "checkpoint.npz"
    history = fit(model, digits.X_train, epochs=5, callback=stop_after_two, checkpoint_path=path)
    assert len(history) == 2 and [epoch for epoch, _ in seen] == [1, 2]
    assert np.array_equal(seen[-1][1], model.params.vector)
    assert read_checkpoint(path)[0]["epoch"] == 2  # the epoch it stopped at is saved whole


def test_the_warm_up_is_per_step_and_ends_at_beta(digits):
    """--epochs 2 --warmup 2 used to train its whole first epoch at beta 0 and never at 1."""
    history = fit(VAE(64, (8,), 2, random_state=0), digits.X_train, epochs=2, batch_size=128,
                  warmup_epochs=2)
    steps = -(-len(digits.X_train) // 128)
    assert history[0]["beta"] == pytest.approx(np.mean(np.arange(1, steps + 1)) / (2 * steps))
    assert history[1]["beta"] == pytest.approx(np.mean(np.arange(steps + 1, 2 * steps + 1))
                                               / (2 * steps))
    cyclical = fit(VAE(64, (8,), 2, random_state=0), digits.X_train, epochs=4, kl_cycles=2)
    assert cyclical[0]["beta"] == pytest.approx(cyclical[2]["beta"])  # 2 cycles of 2 epochs
    assert cyclical[0]["beta"] < cyclical[1]["beta"] == 1
    with pytest.raises(ValueError, match="choose one KL schedule"):
        fit(VAE(64, (8,), 2), digits.X_train, epochs=2, warmup_epochs=1, kl_cycles=2)


# ---- free bits --------------------------------------------------------------------------------

def test_free_bits_keep_every_dimension_at_its_floor(digits):
    """Without free bits, some dimensions of this model carry almost nothing; with a floor of
    0.5 nats, every dimension's KL on the training set ends at or above it."""
    plain = VAE(64, (128,), 10, random_state=0)
    fit(plain, digits.X_train, epochs=100, batch_size=64)
    floored = VAE(64, (128,), 10, random_state=0, free_bits=0.5)
    fit(floored, digits.X_train, epochs=100, batch_size=64)
    assert kl_per_dimension(plain, digits.X_train).min() < 0.1
    assert kl_per_dimension(floored, digits.X_train).min() >= 0.5


def test_free_bits_on_two_cores_equal_the_whole_batch(digits, rng):
    """The floor is on the batch mean, so the engine cannot add two shares' gradients: it runs
    the coupled engine's three stages, and must give the whole batch's numbers."""
    model = VAE(64, (16,), 3, random_state=0, dtype=np.float64, free_bits=0.2)
    x, eps = digits.X_train[:64].astype(np.float64), rng.standard_normal((64, 3))
    whole = model.forward_backward(x, eps)
    expected = model.params.grad.copy()
    parts = CoupledParallel(model).forward_backward(x, eps)
    assert parts.total == pytest.approx(whole.total, rel=1e-13)
    np.testing.assert_allclose(model.params.grad, expected, rtol=1e-11, atol=1e-14)
    with pytest.raises(ValueError, match="needs the whole batch"):
        model.forward_backward(x[:32], eps[:32], batch_size=64)


def test_free_bits_is_an_option_of_the_plain_vae_only(digits):
    with pytest.raises(ValueError, match="free_bits is an option of npvae.VAE, not of TCVAE"):
        TCVAE(64, (8,), 2, dataset_size=100, free_bits=0.5)
    with pytest.raises(ValueError, match="with free bits trains with engine='fast'"):
        fit(VAE(64, (8,), 2, free_bits=0.5), digits.X_train, epochs=1, engine="reference")


# ---- a learned Gaussian standard deviation ---------------------------------------------------

def stored(log_s):
    """The parameter that gives log s = ``log_s`` (the inverse of the soft floor and scale)."""
    return (LOG_STD_MIN + np.log(np.expm1(log_s - LOG_STD_MIN))) / LOG_STD_SCALE


@pytest.mark.parametrize("learned", ["shared", "per-dim"])
def test_the_learned_std_is_optimal_where_its_square_is_the_mean_squared_error(rng, learned):
    """d nll / d log s = sum (1 - (x - mean)^2 / s^2) vanishes at s^2 = the mean squared error
    (over the batch, and the dimensions if shared), and not elsewhere."""
    x, mean = rng.random((50, 6)), rng.random((50, 6))
    squares = (x - mean) ** 2
    mse = squares.mean() if learned == "shared" else squares.mean(axis=0)
    loss = GaussianNLL(learned=learned, dim=6)
    for log_s, gradient_is_zero in ((np.log(mse) / 2, True), (np.log(mse) / 2 + 0.3, False)):
        loss.params["scaled_log_std"][...] = stored(log_s)
        loss.forward(mean, x)
        loss.backward(1.0)
        assert np.allclose(loss.grads["scaled_log_std"], 0, atol=1e-9) == gradient_is_zero


def test_a_learned_std_keeps_pixels_from_collapsing_where_a_std_of_1_does_not(digits):
    """std 1 on pixels in [0, 1]: a reconstruction error worth far less than the KL, and not one
    latent dimension in use. Learned, s falls to the scale of the errors and the codes carry
    information again."""
    carrying = {}
    for std in (1.0, "learned"):
        model = VAE(64, (128,), 8, likelihood="gaussian", gaussian_std=std, random_state=0)
        fit(model, digits.X_train, epochs=20, batch_size=64)
        carrying[std] = int((kl_per_dimension(model, digits.X_test) > 0.1).sum())
        if std == "learned":
            assert 0.05 < np.exp(model.nll.log_std()[0]) < 0.5
    assert carrying == {1.0: 0, "learned": carrying["learned"]} and carrying["learned"] >= 4


def test_a_learned_std_stays_finite_where_the_data_are_constant(rng):
    """A pixel that is always 0 and predicted exactly: s meets its floor, the loss stays
    finite in float32."""
    loss = GaussianNLL(learned="per-dim", dim=3, dtype=np.float32)
    loss.params["scaled_log_std"][...] = -50  # as far down as Adam could push it
    x = np.zeros((4, 3), np.float32)
    nll = loss.forward(x.copy(), x)
    assert nll.dtype == np.float32 and np.isfinite(nll).all()
    assert np.allclose(loss.log_std(), LOG_STD_MIN)
    assert np.isfinite(loss.backward(np.ones(4, np.float32))).all()


def test_the_log_std_scale_is_an_option_with_exact_gradients(digits, rng):
    """The stored parameter is log s / log_std_scale: a larger scale moves s faster under Adam,
    and the gradient check (its step scaled the same way) still holds."""
    from npvae.teaching.gradcheck import check_model
    model = VAE(12, (8,), 3, likelihood="gaussian", log_std_scale=40, dtype=np.float64,
                random_state=0, activation="tanh")
    assert model.nll.scale == 40 and model.config()["log_std_scale"] == 40
    model.params.values["likelihood.scaled_log_std"][...] = -0.02  # s = e^-0.8
    assert model.nll.log_std()[0] == pytest.approx(LOG_STD_MIN + np.logaddexp(0, -0.8 -
                                                                             LOG_STD_MIN))
    x, eps = rng.random((6, 12)), rng.standard_normal((6, 3))
    rows = check_model(model, x, eps)
    assert all(r.passed for r in rows), [(r.name, r.worst_error) for r in rows]
    stds = {}
    for scale in (10, 50):
        model = VAE(64, (64,), 4, likelihood="gaussian", log_std_scale=scale, random_state=0)
        fit(model, digits.X_train, epochs=3, batch_size=128)
        stds[scale] = float(np.exp(model.nll.log_std()[0]))
    assert stds[50] < stds[10] - 0.1  # (0.31 against 0.76: the optimum is near 0.3)
    for bad in (0, -1, float("inf"), "10", True):
        with pytest.raises(ValueError, match="log_std_scale must be a number > 0"):
            VAE(12, (8,), 3, likelihood="gaussian", log_std_scale=bad)


def test_the_optimal_std_is_the_root_mean_squared_error_and_minimises_the_loss(digits):
    from npvae.evaluation.elbo import optimal_gaussian_std
    model = VAE(64, (32,), 4, likelihood="gaussian", dtype=np.float64, random_state=0)
    fit(model, digits.X_train, epochs=3, batch_size=128)
    X = digits.X_test.astype(np.float64)
    mu, logvar = model.encode(X)
    eps = np.random.default_rng(0).standard_normal(mu.shape)  # the noise random_state=0 gives
    squares = (X - model.decode(mu + np.exp(logvar / 2) * eps)) ** 2
    best = optimal_gaussian_std(model, X, batch_size=10_000)
    assert best == pytest.approx(np.sqrt(squares.mean()), rel=1e-12)
    np.testing.assert_allclose(optimal_gaussian_std(model, X, per_dim=True, batch_size=10_000),
                               np.sqrt(squares.mean(axis=0)), rtol=1e-12)

    with pytest.raises(ValueError, match="the std of a Gaussian p\\(x \\| z\\); the model's "
                       "likelihood is 'bernoulli'"):
        optimal_gaussian_std(VAE(64, (8,), 2), X)

    def reconstruction(s):  # the Gaussian negative log-likelihood with std s, same noise
        return (squares / (2 * s * s) + np.log(s)).sum()
    assert reconstruction(best) < min(reconstruction(best * 0.99), reconstruction(best * 1.01))


# ---- save and load ----------------------------------------------------------------------------

def test_save_and_load_in_a_fresh_process_give_identical_codes(digits, tmp_path):
    model = VAE(64, (32,), 3, likelihood="gaussian", gaussian_std="learned-per-dim",
                decoder_hidden_dims=(40,), random_state=0)
    fit(model, digits.X_train, epochs=2, X_val=digits.X_test, patience=5)
    path = tmp_path / "model.npz"
    model.save(path)
    codes = tmp_path / "codes.npy"
    script = (f"import numpy as np, npvae; from npvae.data import load_digits_split; "
              f"m = npvae.load({str(path)!r}); "
              f"np.save({str(codes)!r}, m.encode(load_digits_split().X_test)[0])")
    subprocess.run([sys.executable, "-c", script], check=True)
    np.testing.assert_array_equal(np.load(codes), model.encode(digits.X_test)[0])
    loaded = npvae.load(path)
    assert loaded.config() == model.config() and type(loaded) is VAE


def test_a_model_file_is_not_a_checkpoint_to_resume(digits, tmp_path):
    model = VAE(64, (8,), 2, random_state=0)
    path = tmp_path / "model.npz"
    model.save(path)
    with pytest.raises(ValueError, match="holds a model alone"):
        fit(VAE(64, (8,), 2), digits.X_train, epochs=2, checkpoint_path=path, resume=True)


def test_a_checkpoint_from_before_these_options_still_loads(digits, tmp_path):
    """Written before decoder_hidden_dims and free_bits existed: it means a mirrored decoder and
    no free bits."""
    path = tmp_path / "checkpoint.npz"
    model = VAE(64, (8,), 2, random_state=0)
    fit(model, digits.X_train, epochs=1, checkpoint_path=path)
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files}
    meta = json.loads(str(arrays["meta"]))
    for key in ("decoder_hidden_dims", "free_bits"):
        del meta["model"][key]
    arrays["meta"] = np.array(json.dumps(meta))
    save_npz_atomically(path, **arrays)
    assert np.array_equal(npvae.load(path).params.vector, model.params.vector)
    fit(VAE(64, (8,), 2, random_state=0), digits.X_train, epochs=2, checkpoint_path=path,
        resume=True)


def test_a_users_own_optimizer_keeps_the_two_core_engine(digits, monkeypatch):
    from npvae import SGD
    from npvae.training.parallel import DataParallel

    engines = []
    real = DataParallel.__init__

    def spy(self, model, cores=None):
        engines.append(type(self).__name__)
        real(self, model, cores)
    monkeypatch.setattr(DataParallel, "__init__", spy)
    model = VAE(64, (8,), 2, random_state=0)
    optimizer = SGD(model.params, lr=1e-2)
    history = fit(model, digits.X_train, epochs=2, optimizer=optimizer, lr_schedule="cosine")
    assert engines == ["DataParallel"] and history[1]["lr"] == optimizer.lr == pytest.approx(5e-3)


def test_an_iwae_runs_loss_figure_draws_the_bound_it_trains_on():
    from npvae.evaluation.plots import loss_curves
    history = [{"epoch": e, "train_loss": 30.0 - e, "train_reconstruction": 28.0 - e,
                "train_kl": 2.0, "train_bound": 29.0 - e, "beta": 1.0} for e in (1, 2)]
    labels = [line.get_label() for line in loss_curves(history).axes[0].get_lines()]
    assert "train, minus the bound trained on" in labels
