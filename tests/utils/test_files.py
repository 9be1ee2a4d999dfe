"""Signals held back while a file is written, so that an interrupted write leaves no half."""

import os
import signal
import threading
import time

import pytest

from npvae.utils.files import atomic_file, signals_held


class Stop(Exception):
    pass


@pytest.fixture
def sigterm_raises_stop():
    def stop(signum, frame):
        raise Stop()

    previous = signal.signal(signal.SIGTERM, stop)
    yield
    signal.signal(signal.SIGTERM, previous)


def busy():
    """Time for the signal to arrive, then Python steps at which a pending handler runs."""
    time.sleep(0.05)
    for _ in range(1000):
        pass


def test_a_signal_within_the_block_waits_for_its_end_even_with_other_threads(sigterm_raises_stop):
    """Another thread is running (as BLAS's and the engine's are): masking the signal in this
    thread would let the operating system hand it to that one, and the handler would run here
    in the middle of the block all the same."""
    waiting = threading.Event()
    other = threading.Thread(target=waiting.wait)
    other.start()
    try:
        reached_the_end = False
        with pytest.raises(Stop):
            with signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                busy()
                reached_the_end = True
            busy()
        assert reached_the_end
    finally:
        waiting.set()
        other.join()
    assert signal.getsignal(signal.SIGTERM).__name__ == "stop"  # the handler is back


def test_no_signal_no_change(sigterm_raises_stop):
    with signals_held():
        busy()
    assert signal.getsignal(signal.SIGTERM).__name__ == "stop"


def test_a_signal_in_the_middle_of_a_write_comes_after_the_whole_file(tmp_path,
                                                                      sigterm_raises_stop):
    path = tmp_path / "file.txt"
    path.write_text("old")
    with pytest.raises(Stop):
        with atomic_file(path, "w") as f:
            f.write("new, ")
            os.kill(os.getpid(), signal.SIGTERM)
            busy()
            f.write("whole")
    assert path.read_text() == "new, whole"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_an_error_in_the_middle_of_a_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with atomic_file(path, "w") as f:
            f.write("half")
            1 / 0
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_a_failed_write_names_its_file_not_the_temporary(tmp_path):
    import errno

    target = tmp_path / "checkpoint.npz"
    with pytest.raises(OSError, match=r"No space left on device: '.*checkpoint\.npz'"):
        with atomic_file(target) as f:
            f.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")  # as a full disk's write
    assert list(tmp_path.iterdir()) == []
