"""The divergence rule: what cannot recover stops with the last good checkpoint kept; what
recovers trains on."""

import numpy as np
import pytest
from conftest import TRAIN, assert_one_line_error

from npvae import VAE, evaluate, fit
from npvae.data.catalog import load_digits_split
from npvae.training.divergence import TrainingDiverged


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    """lr 0.5 drives the posteriors to the log-variance cap (a KL of 1e13 nats, which the cap
    keeps finite) in epoch 2 and keeps them there: divergence at epoch 3, and the file still
    holds epoch 1 (epoch 2, a bad epoch, was never written)."""
    X = load_digits_split().X_train
    path = tmp_path / "checkpoint.npz"
    model = VAE(64, (400, 400), 20, random_state=0)
    fit(model, X, epochs=1, checkpoint_path=path)
    saved = path.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"epochs 2 and 3 \(.*e\+1.*2 times the untrained"
                       r" model's .*; the checkpoint of epoch 1 is kept\. Try a smaller"):
        fit(model, X, epochs=3, lr=0.5, checkpoint_path=path, resume=True)
    assert path.read_bytes() == saved


def test_a_first_epoch_that_blows_up_and_recovers_is_not_divergence(tmp_path):
    """lr 0.05: epoch 1's mean loss is 1e12 nats (one batch's steps overshoot), epoch 2's is
    below the untrained model's. The guard of one batch's spike stopped this run; now it goes
    on, and epoch 1's checkpoint, a bad epoch, is not written."""
    from npvae.nn.checkpoint import read_checkpoint
    from npvae.training.divergence import limit
    X = load_digits_split().X_train
    path = tmp_path / "checkpoint.npz"
    written = []
    history = fit(VAE(64, (400, 400), 20, random_state=0), X, epochs=2, lr=0.05,
                  checkpoint_path=path, callback=lambda record, model: written.append(
                      path.exists()))
    untrained = float(read_checkpoint(path)[0]["fit_arrays"]["untrained_loss"])
    assert history[0]["train_loss"] > 1e6 * untrained and written == [False, True]
    assert history[1]["train_loss"] < untrained < limit(untrained)
    with pytest.raises(TrainingDiverged, match="epoch 1 .* is above"):  # the same, as last epoch
        fit(VAE(64, (400, 400), 20, random_state=0), X, epochs=1, lr=0.05)


def test_early_stopping_never_keeps_a_bad_epoch(tmp_path):
    """Three good epochs at lr 1e-3, then lr 1: epoch 4 is bad (1e13 nats). Early stopping
    (patience 1) goes back to epoch 3, the checkpoint holds epoch 3's weights, and nothing
    raises. With every epoch bad (lr 0.2) there is no good epoch to go back to: divergence, and
    no checkpoint."""
    from npvae.models.registry import load_model
    data = load_digits_split()
    X, X_val = data.X_train[:1200], data.X_train[1200:]
    path = tmp_path / "checkpoint.npz"
    model = VAE(64, (400, 400), 20, random_state=0)
    history = fit(model, X, epochs=8, X_val=X_val, patience=1, checkpoint_path=path,
                  lr_schedule=lambda epoch, *_: 1e-3 if epoch < 3 else 1.0)
    assert len(history) == 4 and history[3]["train_loss"] > 1e6
    assert evaluate(model, X_val)["loss"] == pytest.approx(history[2]["val_loss"], rel=1e-6)
    assert np.array_equal(load_model(path)[0].params.vector, model.params.vector)
    with pytest.raises(TrainingDiverged, match="epoch 2 .* when training ended; no epoch was good "
                       "enough to write a checkpoint"):
        fit(VAE(64, (400, 400), 20, random_state=0), X, epochs=10, lr=0.2, X_val=X_val,
            patience=1, checkpoint_path=tmp_path / "none.npz")
    assert not (tmp_path / "none.npz").exists()


def test_a_callback_may_stop_on_a_bad_epoch():
    """The caller's stop is the caller's: fit returns the history, bad epoch and all."""
    X = load_digits_split().X_train
    history = fit(VAE(64, (400, 400), 20, random_state=0), X, epochs=10, lr=0.05,
                  callback=lambda record, model: True)
    assert len(history) == 1 and history[0]["train_loss"] > 1e6


def test_a_slow_learner_is_not_divergence():
    """lr 1e-8 barely moves: the epochs' losses sit at the untrained model's, above it by the
    noise (the two are measured with different draws)."""
    X = load_digits_split().X_train
    history = fit(VAE(64, (400, 400), 20, random_state=0), X, epochs=2, lr=1e-8)
    assert len(history) == 2


def test_a_learning_rate_that_blows_the_loss_up_is_divergence(cli, tmp_path):
    """lr 5 on digits: a reconstruction of 1e7 nats, finite and far below the cap, that used to
    finish with exit 0 and a model far worse than an untrained one."""
    status, out, err = cli(*TRAIN, "--epochs", "3", "--lr", "5", "--out", str(tmp_path / "run"))
    assert_one_line_error(status, err, "training diverged: the mean negative ELBO of epoch",
                          "times the untrained model's")
    assert "epoch   3/3" in out  # the epoch that ended it is reported before the error


def test_a_warm_up_run_that_blows_up_and_recovers_trains_on(cli, tmp_path):
    """lr 0.1 with a KL warm-up: epoch 1 at 3e5 nats, epoch 2 at 191 (three times the untrained
    model's, the KL grown while beta was small) but falling, epoch 3 at 45. Stopping at two bad
    epochs in a row ended this run; a bad epoch that falls goes on."""
    status, out, err = cli("train", "--dataset", "digits", "--epochs", "4", "--warmup", "2",
                           "--lr", "0.1", "--quiet", "--out", str(tmp_path / "run"))
    assert status == 0 and "epoch   4/4" in out, err


def test_a_run_that_ends_worse_than_untrained_says_so(cli, tmp_path):
    """A Gaussian run at lr 0.05: its last epoch is worse than the untrained model (261 against
    178 nats) but not twice as bad: exit 0, with a warning, and not the advice to raise
    --log-std-scale (its learned std, 24 on pixels in [0, 1], is no lag)."""
    status, out, err = cli("train", "--dataset", "digits", "--likelihood", "gaussian", "--lr",
                           "0.05", "--epochs", "3", "--quiet", "--out", str(tmp_path / "run"))
    assert status == 0 and "worse than the untrained model's" in err and "Traceback" not in err
    assert "--log-std-scale" not in out


def test_the_untrained_loss_survives_a_resume(tmp_path):
    from npvae.nn.checkpoint import read_checkpoint
    digits_data = load_digits_split()
    path = tmp_path / "checkpoint.npz"
    fit(VAE(64, (8,), 2, random_state=0), digits_data.X_train, epochs=1, checkpoint_path=path)
    saved = float(read_checkpoint(path)[0]["fit_arrays"]["untrained_loss"])
    # the untrained model's mean negative ELBO on all 1,437 images, with seed-0 noise
    rec, kl = VAE(64, (8,), 2, random_state=0).per_example_loss(digits_data.X_train)
    assert saved == pytest.approx(float(rec.mean() + kl.mean()), rel=1e-5)
    assert 40 < saved < 80  # about 64 log 2 = 44 for an untrained Bernoulli model of digits
    fit(VAE(64, (8,), 2, random_state=0), digits_data.X_train, epochs=2, checkpoint_path=path,
        resume=True)
    assert float(read_checkpoint(path)[0]["fit_arrays"]["untrained_loss"]) == saved
