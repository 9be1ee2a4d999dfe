"""Bad input, damaged files and signals: every case ends with a correct result or one clear line
(exit status 2 on the command line), never a traceback, and nothing already written is lost."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from npvae import VAE, Adam, evaluate, fit
from npvae.cli.main import one_line_warning
from npvae.data.catalog import load_digits_split
from npvae.data.dataset import DataError
from npvae.data.mnist import read_idx, write_idx
from npvae.models.registry import load_model
from npvae.nn.checkpoint import CheckpointError, save_checkpoint
from npvae.training.divergence import TrainingDiverged

TRAIN = ["train", "--dataset", "digits", "--hidden", "16", "--latent-dim", "2", "--quiet"]



@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from npvae.cli.main import main
    folder = tmp_path_factory.mktemp("runs") / "digits"
    assert main(TRAIN + ["--epochs", "2", "--out", str(folder)]) == 0
    return folder


# ---- damaged files -----------------------------------------------------------------------------

def flipped(raw, rng):
    """``raw`` with one random bit flipped."""
    data = bytearray(raw)
    i = int(rng.integers(len(data)))
    data[i] ^= 1 << int(rng.integers(8))
    return bytes(data)


def test_every_single_bit_flip_of_a_checkpoint_loads_right_or_is_refused(tmp_path):
    path = tmp_path / "checkpoint.npz"
    model = VAE(12, (6,), 2, random_state=0)
    save_checkpoint(path, model, Adam(model.params), 1, [{"epoch": 1}], {"dataset": "x"})
    raw, rng, refused = path.read_bytes(), np.random.default_rng(0), 0
    for _ in range(150):
        path.write_bytes(flipped(raw, rng))
        try:
            loaded, meta = load_model(path)
        except CheckpointError:
            refused += 1
            continue
        assert np.array_equal(loaded.params.vector, model.params.vector) and meta["epoch"] == 1
    assert refused > 50  # most flips land in the compressed data and are caught


def test_every_single_bit_flip_of_a_gzipped_idx_file_reads_right_or_is_refused(tmp_path):
    path = tmp_path / "images.gz"
    images = np.random.default_rng(1).integers(0, 256, (20, 5, 5), dtype=np.uint8)
    write_idx(path, images)
    raw, rng = path.read_bytes(), np.random.default_rng(0)
    for _ in range(300):
        path.write_bytes(flipped(raw, rng))
        try:
            assert np.array_equal(read_idx(path), images)
        except DataError as error:
            assert str(path) in str(error)


@pytest.mark.parametrize("damage, fragment", [
    (lambda path: np.save(open(path, "wb"), np.arange(3)), "not a .npz archive"),
    (lambda path: path.write_text("hello"), "not a .npz archive"),
    ("no epoch", "lacks a valid 'epoch'"),
])
def test_a_damaged_checkpoint_is_one_line(run, cli, tmp_path, damage, fragment):
    folder = tmp_path / "copy"
    folder.mkdir()
    path = folder / "checkpoint.npz"
    if damage == "no epoch":
        with np.load(run / "checkpoint.npz") as f:
            arrays = dict(f)
        meta = json.loads(str(arrays["meta"]))
        del meta["epoch"]
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(path, **arrays)
    else:
        damage(path)
    for argv in (["train", "--out", str(folder), "--resume", "--epochs", "3"],
                 ["evaluate", "--run", str(folder)]):
        status, _, err = cli(*argv)
        assert_one_line_error(status, err, fragment)
        assert "allow_pickle" not in err


def test_a_truncated_dataset_cache_is_downloaded_again_with_a_one_line_warning(tmp_path, cli,
                                                                               monkeypatch):
    from test_data import fake_openml

    from npvae.data import mnist
    monkeypatch.setattr(mnist, "fetch_openml", fake_openml([])[0])
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    cache = tmp_path / "npvae" / "mnist.npz"
    mnist.load_openml("mnist")
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.warns(UserWarning) as warned:
        status, _, err = cli("train", "--dataset", "mnist", "--epochs", "1", "--hidden", "8",
                             "--latent-dim", "2", "--quiet", "--out", str(tmp_path / "run"))
    assert status == 0, err
    [message] = [str(w.message) for w in warned]
    assert message.startswith(f"the cached {cache} is unreadable (")
    assert message.endswith("downloaded mnist again") and "\n" not in message
    assert one_line_warning(message, UserWarning, "data.py", 1) == f"npvae: warning: {message}\n"


@pytest.mark.parametrize("damage", ["truncated", "float pixels", "labels out of range"])
def test_a_bad_cache_offline_is_one_line(tmp_path, cli, monkeypatch, damage):
    """Unreadable or not what npvae wrote (pixels already scaled, labels beyond 9): refused, and
    offline the download error says so in the same one line."""
    from urllib.error import URLError

    from npvae.data import mnist
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    cache = tmp_path / "npvae" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    X, y = np.zeros((60_000, 784), np.uint8), np.zeros(60_000, np.int64)
    X_test, y_test = np.zeros((10_000, 784), np.uint8), np.zeros(10_000, np.int64)
    if damage == "float pixels":
        X = X.astype(np.float32)
    if damage == "labels out of range":
        y[0] = 10
    np.savez(cache, X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    if damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:1000])

    def offline(*args, **kwargs):
        raise URLError("no network")
    monkeypatch.setattr(mnist, "fetch_openml", offline)
    status, _, err = cli("train", "--dataset", "mnist", "--epochs", "1", "--quiet",
                         "--out", str(tmp_path / "run"))
    assert_one_line_error(status, err, "could not be downloaded", f"the cached {cache} is "
                          "unreadable")


@pytest.mark.parametrize("change, fragment", [
    ({"t10k-images-idx3-ubyte": np.zeros((3, 27, 27), np.uint8)},
     "the training images are 28x28 but the test images 27x27"),
    ({"train-images-idx3-ubyte": np.zeros((0, 28, 28), np.uint8),
      "train-labels-idx1-ubyte": np.zeros(0, np.uint8)}, "hold no images"),
    ("negative", "negative size"),
])
def test_a_bad_idx_folder_is_refused_before_anything_is_written(tmp_path, cli, change, fragment):
    folder = tmp_path / "idx"
    folder.mkdir()
    files = {"train-images-idx3-ubyte": np.zeros((4, 28, 28), np.uint8),
             "train-labels-idx1-ubyte": np.zeros(4, np.uint8),
             "t10k-images-idx3-ubyte": np.zeros((3, 28, 28), np.uint8),
             "t10k-labels-idx1-ubyte": np.zeros(3, np.uint8)}
    if change != "negative":
        files.update(change)
    for name, array in files.items():
        write_idx(folder / name, array)
    if change == "negative":
        raw = bytearray((folder / "t10k-images-idx3-ubyte").read_bytes())
        raw[4:8] = (-3).to_bytes(4, "big", signed=True)
        (folder / "t10k-images-idx3-ubyte").write_bytes(bytes(raw))
    status, _, err = cli("train", "--data-dir", str(folder), "--out", str(tmp_path / "run"))
    assert_one_line_error(status, err, fragment)
    assert not (tmp_path / "run").exists()


# ---- arguments -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda m, X: evaluate(m, X, batch_size=-1), "batch_size must be a positive integer"),
    (lambda m, X: evaluate(m, X, batch_size=0), "batch_size must be a positive integer"),
    (lambda m, X: fit(m, X, epochs=1, warmup_epochs=-1), "warmup_epochs must be a number >= 0"),
    (lambda m, X: fit(m, X, epochs=1.5), "epochs must be a positive integer"),
    (lambda m, X: Adam(m.params, eps=-1), "eps must be a finite number >= 0"),
    (lambda m, X: Adam(m.params, lr=float("inf")), "lr must be a finite number > 0"),
    (lambda m, X: Adam(m.params, betas=(0.9,)), "betas must be two numbers"),
    (lambda m, X: VAE(64, (10**9,), 2), "136,000,000,068 parameters needs 1,013 GiB"),
])
def test_the_library_refuses_bad_arguments(call, message):
    X = load_digits_split().X_train[:50]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call(VAE(64, (8,), 2, random_state=0), X)


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


@pytest.mark.parametrize("argv, fragment", [
    (["--dataset", "fashion-mnist"], "--dataset fashion-mnist (the run has digits)"),
    (["--hidden", "32"], "--hidden (32,) (the run has (16,))"),
    (["--latent-dim", "5"], "--latent-dim 5 (the run has 2)"),
    (["--beta", "2"], "--beta 2.0 (the run has 1.0)"),
    (["--lr", "0.01"], "--lr 0.01 (the run has 0.001)"),
    (["--conditional"], "--conditional True (the run has False)"),
    (["--decoder-hidden", "8"], "--decoder-hidden (8,) (the run has None)"),
    (["--free-bits", "0.5"], "--free-bits 0.5 (the run has 0.0)"),
    (["--val-fraction", "0.2"], "--val-fraction 0.2 (the run has 0.1)"),
    (["--lr-schedule", "cosine"], "--lr-schedule cosine (the run has none)"),
])
def test_resume_refuses_a_flag_that_differs_from_the_saved_run(run, cli, argv, fragment):
    before = (run / "config.json").read_text()
    status, _, err = cli("train", "--out", str(run), "--resume", "--epochs", "3", *argv)
    assert_one_line_error(status, err, fragment)
    assert (run / "config.json").read_text() == before


def test_resume_with_fewer_epochs_changes_nothing(run, cli):
    before = (run / "config.json").read_text()
    status, out, _ = cli("train", "--out", str(run), "--resume", "--epochs", "1", "--dataset",
                         "digits")
    assert status == 0 and "already holds 2 epochs; nothing to train" in out
    assert (run / "config.json").read_text() == before


def test_a_relative_data_dir_is_stored_absolute(tmp_path, cli, monkeypatch):
    folder = tmp_path / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 4, 4)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 3, n))
    monkeypatch.chdir(tmp_path)
    assert cli("train", "--data-dir", "idx", "--epochs", "1", "--hidden", "4", "--latent-dim",
               "2", "--quiet", "--out", "run")[0] == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data_dir"] == str(folder) and config["dataset"] == "idx"
    monkeypatch.chdir(tmp_path / "run")
    assert cli("evaluate", "--run", ".")[0] == 0


def test_every_flag_of_every_command_has_help_with_its_default():
    from npvae.cli.main import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest in ("help", "run", "exercise", "layer", "optimizer"):
                continue
            assert action.help and "(default: " in action.help, (name, action.dest)


# ---- files, pipes and signals ----------------------------------------------------------------

def test_run_files_are_readable_by_all_under_umask_022(run):
    old = os.umask(0o022)
    os.umask(old)
    for name in ("checkpoint.npz", "config.json", "history.json", "samples.png"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~old, name


def test_a_closed_stdout_ends_the_command_quietly(run):
    process = subprocess.Popen([sys.executable, "-m", "npvae", "gradcheck"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head` does when it has read enough
    _, err = process.communicate(timeout=120)
    assert process.returncode == 141 and err == b"", err


def test_sigterm_during_training_keeps_the_checkpoint_and_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "npvae", *TRAIN, "--epochs", "2000", "--out", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # wait for a first checkpoint, then stop it at some point
        if line.startswith("epoch   3/"):
            break
    time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert load_model(folder / "checkpoint.npz")[1]["epoch"] >= 3


def test_a_gzip_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(b"plain bytes")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)
    with gzip.open(tmp_path / "ok.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x02ab")
    assert read_idx(tmp_path / "ok.gz").tolist() == [97, 98]


# ---- a second fault run: broken user code, hand-edited metadata, a blown-up loss ---------------

@pytest.mark.parametrize("init, fragment", [
    ("import sys; sys.exit(0)", "X() raised SystemExit: 0 (mine.py, line 4)"),
    ("raise RuntimeError('boom')", "X() raised RuntimeError: boom (mine.py, line 4)"),
    ("int('x')", "X() raised ValueError"),
])
@pytest.mark.parametrize("how", [["--layer"], ["--exercise", "relu"], ["--exercise", "dense"]])
def test_a_constructor_without_arguments_that_raises_exits_2(cli, tmp_path, init, fragment, how):
    source = (f"import numpy as np\nclass X:\n    def __init__(self):\n        {init}\n"
              "    def forward(self, x):\n        return x\n"
              "    def backward(self, dy):\n        return dy\n")
    (tmp_path / "mine.py").write_text(source)
    status, out, err = cli("gradcheck", *how, f"{tmp_path / 'mine.py'}:X")
    assert_one_line_error(status, err, fragment)
    assert out == ""


@pytest.mark.parametrize("body, fragment", [
    ('    params = {"W": [1.0, 2.0]}\n    grads = {"W": [0.0, 0.0]}\n',
     "params['W'] must be a NumPy array"),
    ("    def __getattr__(self, name):\n        raise RuntimeError('no ' + name)\n",
     "could not check"),
    ("    @property\n    def params(self):\n        raise KeyError('p')\n    grads = {}\n",
     "could not check"),
])
def test_a_layer_whose_attributes_misbehave_exits_2(cli, tmp_path, body, fragment):
    source = (f"import numpy as np\nclass X:\n{body}"
              "    def forward(self, x):\n        return np.array(x, dtype=object)\n"
              "    def backward(self, dy):\n        return dy\n")
    (tmp_path / "mine.py").write_text(source)
    status, _, err = cli("gradcheck", "--layer", f"{tmp_path / 'mine.py'}:X")
    assert_one_line_error(status, err, fragment)


def test_a_vae_answer_returning_none_or_no_gradients_is_wrong_not_a_crash(cli, tmp_path):
    right = (Path(__file__).parent / "answers" / "right.py").read_text()
    for change, reason in (("return np.mean(rec + self.beta * kl)", "forward returns the loss"),
                           ("        self.enc.backward(self.relu1.backward(dh))\n",
                            "backward fills grads")):
        wrong = right.replace(change, "return None" if "mean" in change else
                              "        return\n" + change)
        (tmp_path / "mine.py").write_text(wrong)
        status, out, err = cli("gradcheck", "--exercise", "vae", f"{tmp_path / 'mine.py'}:MyVAE")
        assert status == 1 and reason in out and err == "", (out, err)


def test_broken_does_not_combine_with_a_users_code(cli):
    status, _, err = cli("gradcheck", "--broken", "kl-without-half", "--layer", "npvae:Dense")
    assert_one_line_error(status, err, "does not combine with")


def edit_meta(path, edit):
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files}
    meta = json.loads(str(arrays["meta"]))
    edit(meta, arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("edit, command, fragment", [
    (lambda m, a: m["train"].update(data_dir=3), "evaluate", "data_dir = 3"),
    (lambda m, a: m["train"].update(hidden="16"), "resume", "hidden = '16'"),
    (lambda m, a: m["train"].update(lr="fast"), "resume", "lr = 'fast'"),
    (lambda m, a: m.update(train=None), "sample", "holds no training options"),
    (lambda m, a: m["train"].update(image_shape="ab"), "sample", "image_shape = 'ab'"),
    (lambda m, a: m["train"].update(image_shape=[3, 3]), "sample", "image_shape = (3, 3)"),
    (lambda m, a: m.update(history=[{}]), "resume", "its metadata is damaged"),
    (lambda m, a: a.update({"optimizer.t": np.array(-5)}), "resume", "step count t"),
    (lambda m, a: a.update({"optimizer.v": -a["optimizer.v"] - 1}), "resume", "v must hold"),
])
def test_hand_edited_metadata_is_one_line(run, cli, tmp_path, edit, command, fragment):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("checkpoint.npz", "config.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    edit_meta(copy / "checkpoint.npz", edit)
    argv = (["train", "--out", str(copy), "--resume", "--epochs", "3", "--quiet"]
            if command == "resume" else [command, "--run", str(copy)])
    status, _, err = cli(*argv)
    assert_one_line_error(status, err, fragment)


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


def test_out_is_refused_if_a_run_would_overwrite_files_npvae_did_not_write(cli, tmp_path):
    (tmp_path / "config.json").write_text('{"my": 1}')
    status, _, err = cli(*TRAIN, "--epochs", "1", "--out", str(tmp_path))
    assert_one_line_error(status, err, "holds config.json", "no npvae run wrote")
    assert (tmp_path / "config.json").read_text() == '{"my": 1}'
    stopped = tmp_path / "stopped"  # a run stopped before its first epoch ended: npvae's own
    stopped.mkdir()
    (stopped / "config.json").write_text('{"dataset": "digits", "epochs": 1, "latent_dim": 2}')
    assert cli(*TRAIN, "--epochs", "1", "--out", str(stopped))[0] == 0


@pytest.mark.parametrize("argv, fragment", [
    (["evaluate", "--iwae-k", "1000000"], "must be at most 100,000"),
    (["uncertainty", "--samples", "1000000000"], "must be at most 100,000"),
    (["traverse", "--limit", "1e308"], "--limit must be a number in (0, 100]"),
])
def test_flags_that_ask_for_unbounded_work_are_refused(run, cli, argv, fragment):
    status, _, err = cli(argv[0], "--run", str(run), *argv[1:])
    assert_one_line_error(status, err, fragment)


def test_a_layer_too_wide_to_check_is_refused(cli):
    status, _, err = cli("gradcheck", "--layer", "npvae.nn.layers:Dense", "--inputs", "3000")
    assert_one_line_error(status, err, "must be at most 1,000")


def test_a_layer_that_adds_to_its_gradients_fails_the_overwrite_row(cli, tmp_path):
    source = ("import numpy as np\nclass X:\n    def __init__(self, n_in, n_out):\n"
              "        self.params = {'W': np.ones((n_in, n_out))}\n"
              "        self.grads = {'W': np.zeros((n_in, n_out))}\n"
              "    def forward(self, x):\n        self.x = x\n        return x @ self.params['W']\n"
              "    def backward(self, dy):\n        self.grads['W'] += self.x.T @ dy\n"
              "        return dy @ self.params['W'].T\n")
    (tmp_path / "mine.py").write_text(source)
    status, out, _ = cli("gradcheck", "--layer", f"{tmp_path / 'mine.py'}:X")
    assert status == 1 and "do not add to them (+=)" in out


def test_a_checkpoint_of_nan_parameters_is_refused(run, cli, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("checkpoint.npz", "config.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    edit_meta(copy / "checkpoint.npz", lambda m, a: a["params"].__setitem__(0, np.nan))
    for argv in (["evaluate", "--run", str(copy)], ["sample", "--run", str(copy)]):
        assert_one_line_error(*cli(*argv)[::2], "hold NaN or inf")
