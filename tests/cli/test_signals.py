"""Pipes and signals: a closed stdout ends quietly, SIGTERM keeps the checkpoint."""

import signal
import subprocess
import sys
import time

from conftest import TRAIN

from npvae.models.registry import load_model


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
