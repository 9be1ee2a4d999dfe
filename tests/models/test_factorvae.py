import json
import pickle

import numpy as np
import pytest

from npvae import FactorVAE, fit
from npvae.data.catalog import load_digits_split
from npvae.models.discriminator import Discriminator, LeakyReLU, permute_dims
from npvae.models.registry import load_model
from npvae.nn.checkpoint import CheckpointError
from npvae.teaching.checks import away_from_kink
from npvae.teaching.gradcheck import check_array, check_layer, check_model, resolvable_floor
from npvae.training.parallel import CoupledParallel


def test_leaky_relu_forward_and_backward(rng):
    layer = LeakyReLU(0.2)
    x = np.array([[-2.0, 0.5, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(x), [[-0.4, 0.5, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 4))), [[0.2, 1, 0.2, 1]])
    assert all(r.passed for r in check_layer(LeakyReLU(0.2), away_from_kink(rng, (4, 6)),
                                             random_state=rng))
    assert layer.forward(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(RuntimeError, match="before forward"):
        LeakyReLU().backward(np.ones((1, 4)))


def test_the_discriminator_gradients_into_z_and_into_its_weights(rng):
    disc = Discriminator(3, (6, 5), random_state=0)
    z, w = away_from_kink(rng, (8, 3)), rng.standard_normal(8)
    disc.forward(z)
    dz = disc.backward(w).copy()
    f = lambda: np.dot(disc.forward(z), w)  # noqa: E731
    assert check_array("z", f, z, dz, floor=resolvable_floor(f())).passed
    shuffled = permute_dims(z, rng)
    disc.loss_and_grads(z, shuffled)
    grads = {name: disc.params.grads[name].copy() for name in disc.params.names}
    loss = lambda: disc.loss_and_grads(z, shuffled)[0]  # noqa: E731
    for name in disc.params.names:
        assert check_array(name, loss, disc.params.values[name], grads[name],
                           floor=resolvable_floor(loss())).passed, name


def test_the_discriminator_loss_is_the_binary_cross_entropy(rng):
    disc = Discriminator(2, (4,), random_state=0)
    z, other = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    t_real, t_fake = disc.forward(z), disc.forward(other)
    d_real, d_fake = 1 / (1 + np.exp(-t_real)), 1 / (1 + np.exp(-t_fake))
    expected = -(np.log(d_real).sum() + np.log(1 - d_fake).sum()) / 10
    assert disc.loss_and_grads(z, other)[0] == pytest.approx(expected, rel=1e-12)


def test_permute_dims_shuffles_each_column_on_its_own(rng):
    z = np.arange(200.0).reshape(100, 2) * [1, -1]
    shuffled = permute_dims(z, rng)
    for d in range(2):
        assert sorted(shuffled[:, d] * [1, -1][d]) == sorted(z[:, d] * [1, -1][d])
    order0, order1 = shuffled[:, 0] / 2, -shuffled[:, 1] / 2 - 0.5  # the row each came from
    assert not np.array_equal(order0, order1) and not np.array_equal(order0, np.arange(100))


def test_the_whole_factorvae_gradient_equals_finite_differences(rng):
    model = FactorVAE(10, (7,), 3, gamma=6.0, beta=1.3, discriminator_hidden=(6,),
                      dtype=np.float64, random_state=0, activation="tanh")
    x, eps = rng.random((5, 10)), rng.standard_normal((5, 3))
    rows = check_model(model, x, eps)
    assert all(r.passed for r in rows), [(r.name, r.worst_error) for r in rows]
    assert [r.name for r in rows] == model.params.names  # the VAE's weights, not the critic's


def test_a_batch_step_trains_the_discriminator_and_nothing_else(rng):
    model = FactorVAE(10, (7,), 3, discriminator_hidden=(16,), dtype=np.float64, random_state=0)
    vae_before = model.params.vector.copy()
    disc_before = model.discriminator.params.vector.copy()
    z = rng.standard_normal((16, 1)) * [1.0, 1.0, -1.0]  # three copies of one number
    model.batch_step(z)
    assert np.array_equal(model.params.vector, vae_before)
    assert not np.array_equal(model.discriminator.params.vector, disc_before)
    first = model.discriminator_loss
    for _ in range(200):
        model.batch_step(z)
    assert model.discriminator_loss < first - 0.01  # it learns to tell correlated codes apart


def test_the_engine_gives_the_whole_batchs_numbers_and_steps_the_discriminator(rng):
    model = FactorVAE(9, (8,), 3, gamma=4.0, dtype=np.float64, random_state=0)
    x, eps = rng.random((11, 9)), rng.standard_normal((11, 3))
    whole = model.forward_backward(x, eps)
    expected = model.params.grad.copy()
    disc_before = model.discriminator.params.vector.copy()
    shared = CoupledParallel(model, cores=2).forward_backward(x, eps)
    np.testing.assert_allclose(model.params.grad, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(shared, whole, rtol=1e-12)
    assert model.discriminator_optimizer.t == 1
    assert not np.array_equal(model.discriminator.params.vector, disc_before)


def test_resume_is_bit_exact_with_the_discriminator_and_its_adam(tmp_path):
    data = load_digits_split()

    def model(seed):
        return FactorVAE(64, (32,), 4, gamma=5.0, discriminator_hidden=(16,), random_state=seed)
    straight = model(3)
    fit(straight, data.X_train, epochs=3, batch_size=100)
    path = tmp_path / "checkpoint.npz"
    fit(model(3), data.X_train, epochs=1, batch_size=100, checkpoint_path=path)
    resumed = model(99)
    fit(resumed, data.X_train, epochs=3, batch_size=100, checkpoint_path=path, resume=True)
    assert np.array_equal(resumed.params.vector, straight.params.vector)
    assert np.array_equal(resumed.discriminator.params.vector,
                          straight.discriminator.params.vector)
    assert resumed.discriminator_optimizer.t == straight.discriminator_optimizer.t == 45
    loaded, _ = load_model(path)
    assert isinstance(loaded, FactorVAE) and loaded.config() == straight.config()
    assert np.array_equal(loaded.discriminator.params.vector,
                          straight.discriminator.params.vector)
    copy = pickle.loads(pickle.dumps(straight))
    assert np.array_equal(copy.discriminator_optimizer.m, straight.discriminator_optimizer.m)
    assert copy.params.all_views_attached() and copy.discriminator.params.all_views_attached()


def test_a_checkpoint_without_the_discriminator_is_refused(tmp_path):
    data = load_digits_split()
    path = tmp_path / "checkpoint.npz"
    fit(FactorVAE(64, (8,), 2, random_state=0), data.X_train[:100], epochs=1, checkpoint_path=path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "model.discriminator.params"}
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="discriminator's arrays do not match"):
        load_model(path)


def test_the_command_line_trains_and_resumes_a_factorvae(tmp_path, cli):
    run = str(tmp_path / "run")
    options = ["--dataset", "digits", "--hidden", "16", "--latent-dim", "2", "--quiet"]
    status, out, err = cli("train", *options, "--model", "factorvae", "--epochs", "1",
                           "--out", run)
    assert status == 0 and "64-16-2, factorvae" in out, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["model"], config["beta"], config["gamma"]) == ("factorvae", 1.0, 10.0)
    status, out, err = cli("train", "--out", run, "--epochs", "2", "--resume", "--quiet")
    assert status == 0 and "epoch   2/2" in out, err
    status, _, err = cli("train", "--out", run, "--epochs", "3", "--resume", "--gamma", "3")
    assert status == 2 and "--gamma 3.0 (the run has 10.0)" in err


@pytest.mark.parametrize("flags, message", [
    (["--alpha", "2"], "--alpha is an option of --model tcvae, not of --model vae"),
    (["--model", "factorvae", "--estimator", "mws"], "--estimator is an option of --model tcvae"),
    (["--model", "tcvae", "--engine", "reference"], "--engine reference trains the VAE of"),
    (["--model", "tcvae", "--gamma", "-1"], "--gamma must be a number from 0 to 1,000,000 (the weight of a loss term); got -1.0"),
    (["--model", "gan"], "invalid choice: 'gan'"),
    (["--model", "tcvae", "--alpha", "1e308"], "--alpha must be a number from 0 to 1,000,000"),
    (["--model", "factorvae", "--gamma", "1e7"], "--gamma must be a number from 0 to 1,000,000"),
    (["--beta", "1e308"], "--beta must be a number from 0 to 1,000,000"),
    (["--beta", "nan"], "--beta must be a number from 0 to 1,000,000"),
])
def test_model_flags_that_do_not_fit_are_one_line_errors(flags, message, cli, tmp_path):
    status, _, err = cli("train", "--dataset", "digits", "--out", str(tmp_path / "r"), *flags)
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_the_discriminator_learning_rate_is_an_option_and_old_files_keep_theirs(tmp_path):
    from npvae.models.registry import model_from_config
    model = FactorVAE(10, (7,), 3, discriminator_lr=5e-3, random_state=0)
    assert model.discriminator_optimizer.lr == 5e-3 and model.config()["discriminator_lr"] == 5e-3
    path = tmp_path / "model.npz"
    model.save(path)
    assert load_model(path)[0].discriminator_optimizer.lr == 5e-3
    old = {k: v for k, v in model.config().items() if k != "discriminator_lr"}
    assert model_from_config(old).discriminator_optimizer.lr == 1e-4  # what they trained with
    assert FactorVAE(10, (7,), 3).discriminator_optimizer.lr == 1e-3  # the default
    for bad in (0, -1e-3, float("nan"), "fast", True):
        with pytest.raises(ValueError, match="discriminator_lr must be a finite number > 0"):
            FactorVAE(10, (7,), 3, discriminator_lr=bad)


def test_each_epoch_records_the_discriminators_loss_accuracy_and_tc_estimate(rng):
    """batch_step's numbers are those of the logits its step started from: the loss, the share
    of the 2N codes on the right side of 0, the mean of t over the real codes."""
    model = FactorVAE(10, (7,), 3, discriminator_hidden=(16,), dtype=np.float64,
                      random_state=0)
    totals = np.zeros(3)
    for _ in range(3):
        z = rng.standard_normal((20, 1)) * [1.0, 2.0, -1.0] + rng.standard_normal((20, 3)) / 4
        state = model.rng.bit_generator.state
        shuffled = permute_dims(z, model.rng)
        model.rng.bit_generator.state = state  # batch_step draws the same permutation
        t = model.discriminator.forward(np.concatenate([z, shuffled]))
        loss = np.mean(np.logaddexp(0, -t[:20])) / 2 + np.mean(np.logaddexp(0, t[20:])) / 2
        totals += [loss, (np.sum(t[:20] > 0) + np.sum(t[20:] < 0)) / 40, t[:20].mean()]
        model.batch_step(z)
    record = model.epoch_record()
    np.testing.assert_allclose([record["discriminator_loss"], record["discriminator_accuracy"],
                                record["tc_estimate"]], totals / 3, rtol=1e-12)
    assert np.isnan(model.epoch_record()["discriminator_loss"])  # reset: no batch since


def test_fit_puts_the_discriminators_epoch_in_the_history():
    data = load_digits_split()
    model = FactorVAE(64, (32,), 4, discriminator_hidden=(16,), random_state=0)
    history = fit(model, data.X_train, epochs=2, batch_size=100)
    for record in history:
        assert 0 < record["discriminator_loss"] < 2 and 0 <= record["discriminator_accuracy"] <= 1
        assert np.isfinite(record["tc_estimate"])
    assert history[0]["discriminator_loss"] != history[1]["discriminator_loss"]


def test_the_command_line_sets_the_discriminator(tmp_path, cli):
    run = tmp_path / "run"
    status, out, err = cli("train", "--dataset", "digits", "--hidden", "16", "--latent-dim", "2",
                           "--model", "factorvae", "--disc-lr", "2e-3", "--disc-hidden", "8",
                           "8", "--epochs", "1", "--out", str(run))
    assert status == 0, err
    assert "disc CE" in out and " acc " in out and " TC " in out
    model, _ = load_model(run / "checkpoint.npz")
    assert model.discriminator_optimizer.lr == 2e-3 and model.discriminator.hidden_dims == (8, 8)
    history = json.loads((run / "history.json").read_text())
    assert {"discriminator_loss", "discriminator_accuracy", "tc_estimate"} <= set(history[0])
    status, _, err = cli("train", "--out", str(run), "--epochs", "2", "--resume",
                         "--disc-lr", "1e-3")
    assert status == 2 and "--disc-lr 0.001 (the run has 0.002)" in err
    status, _, err = cli("train", "--dataset", "digits", "--disc-hidden", "8",
                         "--out", str(tmp_path / "vae"))
    assert status == 2 and "--disc-hidden is an option of --model factorvae" in err
    status, _, err = cli("train", "--dataset", "digits", "--model", "factorvae", "--disc-lr",
                         "0", "--out", str(tmp_path / "zero"))
    assert status == 2 and "--disc-lr must be a finite number > 0" in err


def test_a_factorvae_run_from_before_the_options_resumes_as_it_trained(tmp_path, cli):
    from npvae.cli.run_folder import saved_config
    run = tmp_path / "run"
    cli("train", "--dataset", "digits", "--hidden", "16", "--latent-dim", "2", "--model",
        "factorvae", "--epochs", "1", "--quiet", "--out", str(run))
    meta = {"train": {k: v for k, v in json.loads((run / "config.json").read_text()).items()
                      if k not in ("disc_lr", "disc_hidden")}}
    config = saved_config(meta)
    assert config.disc_lr == 1e-4 and config.disc_hidden == (256, 256)
