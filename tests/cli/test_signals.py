"""Pipes and signals: a closed stdout ends quietly, SIGTERM keeps the checkpoint."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import TRAIN

from npvae.cli.main import main
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


class SignalledInDel:
    """An object whose ``__del__`` receives a SIGTERM: Python drops the handler's exception
    there (it prints "Exception ignored in ...") as it does in a C callback."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        for _ in range(1000):  # Python steps at which the handler runs
            pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # that one
def test_a_sigterm_whose_exception_python_dropped_still_stops_training(tmp_path, monkeypatch):
    from npvae.cli import train
    epoch_line = train.epoch_line

    def line_then_a_lost_sigterm(record, config):
        if record["epoch"] == 2:
            SignalledInDel()  # made and collected at once
        return epoch_line(record, config)

    monkeypatch.setattr(train, "epoch_line", line_then_a_lost_sigterm)
    folder = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "6", "--out", str(folder)]) == 143
    assert load_model(folder / "checkpoint.npz")[1]["epoch"] == 2
