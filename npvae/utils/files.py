"""Files written atomically: a reader sees the old file or the complete new one."""

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_file(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; on success rename it into place, on any
    error (Ctrl-C too) delete it. A reader sees the old file or the complete new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a run file is for all to read
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
