"""Files written atomically: a reader sees the old file or the complete new one."""

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_file(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; on success rename it into place, on any
    error (Ctrl-C too) delete it. A reader sees the old file or the complete new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with signals_held():  # a Ctrl-C or SIGTERM arrives once tmp names the file made
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a run file is for all to read
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM back within the block (in the main thread, where Python runs
    their handlers): they are delivered when it ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not \
            threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _umask():
    """The process's umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_npz_atomically(path, **arrays):
    """Write a compressed .npz through ``atomic_file``."""
    with atomic_file(path) as f:
        np.savez_compressed(f, **arrays)


def write_text_atomically(path, text):
    """Write a text file through ``atomic_file``."""
    with atomic_file(path, "w") as f:
        f.write(text)
