"""Run folders: resume keeps its settings, nothing a run did not write is overwritten, files are
readable by all."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import TRAIN, assert_one_line_error

from npvae.data.mnist import write_idx


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
    (["--objective", "iwae"], "--objective iwae (the run has elbo)"),
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


def test_run_files_are_readable_by_all_under_umask_022(run):
    old = os.umask(0o022)
    os.umask(old)
    for name in ("checkpoint.npz", "config.json", "history.json", "samples.png"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~old, name


def test_out_is_refused_if_a_run_would_overwrite_files_npvae_did_not_write(cli, tmp_path):
    (tmp_path / "config.json").write_text('{"my": 1}')
    status, _, err = cli(*TRAIN, "--epochs", "1", "--out", str(tmp_path))
    assert_one_line_error(status, err, "holds config.json", "no npvae run wrote")
    assert (tmp_path / "config.json").read_text() == '{"my": 1}'
    stopped = tmp_path / "stopped"  # a run stopped before its first epoch ended: npvae's own
    stopped.mkdir()
    (stopped / "config.json").write_text('{"dataset": "digits", "epochs": 1, "latent_dim": 2}')
    assert cli(*TRAIN, "--epochs", "1", "--out", str(stopped))[0] == 0


def test_a_run_folder_is_held_by_one_process_and_let_go_when_it_is_killed(tmp_path):
    """Two real processes: while a run trains, a second start and a --resume on its folder are
    refused in one line; after kill -9 the folder is free again and the run resumes."""
    out = tmp_path / "run"
    npvae = [sys.executable, "-m", "npvae", "train", "--dataset", "digits", "--hidden", "16",
             "--latent-dim", "2", "--quiet", "--out", str(out)]
    first = subprocess.Popen(npvae + ["--epochs", "100000"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists():  # its first epoch is written
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        second = subprocess.run(npvae + ["--epochs", "2"], capture_output=True, text=True,
                                timeout=120)
        assert_one_line_error(second.returncode, second.stderr, f"{out} already holds a run")
        resume = subprocess.run(npvae + ["--resume"], capture_output=True, text=True,
                                timeout=120)
        assert_one_line_error(resume.returncode, resume.stderr,
                              f"{out} is in use by another npvae process (pid {first.pid})")
    finally:
        first.kill()  # SIGKILL: no handler runs, the lock file stays behind
        first.wait()
    resumed = subprocess.run(npvae + ["--resume", "--epochs", "1"], capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr  # holds at least 1: nothing to train, no error


def test_two_starts_on_one_empty_folder_cannot_both_write_it(tmp_path):
    """The race the lock closes: a folder with no run yet, held by another process (here this
    one), is refused to a second start, which writes nothing into it."""
    from npvae.utils.files import hold_folder
    out = tmp_path / "run"
    with hold_folder(out):
        second = subprocess.run([sys.executable, "-m", "npvae", *TRAIN, "--epochs", "1",
                                 "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert_one_line_error(second.returncode, second.stderr,
                              f"{out} is in use by another npvae process (pid {os.getpid()})")
        assert [p.name for p in out.iterdir()] == [".npvae.lock"]
    assert not out.exists()  # the holder made it and wrote nothing: it is gone


def test_out_is_refused_if_a_run_would_overwrite_a_users_figures(cli, tmp_path):
    (tmp_path / "samples.png").write_bytes(b"my figure")
    status, _, err = cli(*TRAIN, "--epochs", "1", "--out", str(tmp_path))
    assert_one_line_error(status, err, "holds samples.png", "no npvae run wrote")
    assert (tmp_path / "samples.png").read_bytes() == b"my figure"


def test_a_lock_file_that_is_a_symbolic_link_is_not_followed(cli, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".npvae.lock").symlink_to(target)
    status, _, err = cli(*TRAIN, "--epochs", "1", "--out", str(out))
    assert_one_line_error(status, err, ".npvae.lock is a symbolic link")
    assert target.read_text() == "keep me"


def test_an_iwae_run_trains_resumes_and_says_what_it_trains(tmp_path, cli):
    out = tmp_path / "iwae"
    options = TRAIN + ["--objective", "iwae", "--k", "3", "--gradient", "dreg", "--out", str(out)]
    status, printed, _ = cli(*options, "--epochs", "1")
    assert status == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["objective"], config["k"], config["kl"], config["gradient"]) == (
        "iwae", 3, "monte-carlo", "dreg")
    status, printed, _ = cli(*TRAIN, "--out", str(out), "--resume", "--epochs", "2")
    assert status == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2 and all("train_bound" in r for r in history)


@pytest.mark.parametrize("argv, fragment", [
    (["--k", "5"], "add --objective iwae"),
    (["--gradient", "stl"], "--gradient stl needs the KL estimated from the draws"),
    (["--objective", "iwae", "--kl", "analytic"], "it has no --kl analytic"),
    (["--objective", "iwae", "--model", "tcvae"], "train a plain --model vae"),
    (["--objective", "iwae", "--k", "5000"], "--k must be from 1 to 1,000"),
])
def test_objective_flags_without_a_meaning_are_one_line_errors(cli, argv, fragment, tmp_path):
    status, _, err = cli(*TRAIN, "--epochs", "1", "--out", str(tmp_path / "r"), *argv)
    assert_one_line_error(status, err, fragment)
    assert not (tmp_path / "r").exists()
