"""Files written atomically (a reader sees the old file or the complete new one), and folders
held by one process at a time."""

import contextlib
import errno
import os
import signal
import tempfile
import threading
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_file(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; on success rename it into place, on any
    error delete it. A reader sees the old file or the complete new one, never half.

    A Ctrl-C or SIGTERM waits until the file is in place (or deleted): an exception raised in
    the middle of a write would leave the writer (a zip file, say) half closed."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"a file path must be a str or a path-like object; got "
                        f"{type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder: name a file to write", str(path))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with signals_held():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; for all to read
            with os.fdopen(fd, mode) as f:
                yield f
            os.replace(tmp, path)
    except BaseException as error:
        if isinstance(error, OSError) and error.filename in (None, tmp):  # a full disk, a
            error.filename, error.filename2 = str(path), None  # read-only folder: name the file
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM back within the block: their handlers run when it ends.

    For the block's length a handler that only notes the signal stands in for each; at the end
    the old handlers are back and a noted signal is raised again for them. (Masking the signal
    would not do: the operating system then hands it to another thread, and Python runs the
    handler in the main thread all the same.) Outside the main thread, where Python cannot set
    handlers, it holds nothing back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(s, lambda signum, frame: noted.append(signum)) for s in held]
    try:
        yield
    finally:
        for s, handler in zip(held, previous):
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        if noted:
            signal.raise_signal(noted[0])


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


LOCK_NAME = ".npvae.lock"


class FolderInUse(OSError):
    """Another process holds the folder (``hold_folder``)."""


def hold_folder(folder):
    """Hold ``folder`` (made if need be) for this process until ``close()`` (or the end of a
    ``with`` block): FolderInUse if another process holds it. The lock is the operating
    system's (flock), which lets go when the process ends, however it ends (kill -9 too), so a
    killed run blocks no one. A folder it made is removed on close if nothing else was written
    into it. (Without fcntl, on Windows, nothing is held.)"""
    return FolderHold(Path(folder))


class FolderHold:
    """What ``hold_folder`` returns: an open, locked file in the folder."""

    def __init__(self, folder):
        self.folder, self.made = folder, not folder.exists()
        try:
            import fcntl
        except ImportError:
            self.file = None
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.file = None
        try:
            self._lock(folder, fcntl)
        except BaseException:
            self.close()  # a start that failed (a full disk, say) leaves no folder
            raise

    def _lock(self, folder, fcntl):
        try:  # never through a symbolic link: the lock file is written to
            fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ValueError(f"{folder / LOCK_NAME} is a symbolic link: npvae writes its "
                                 "lock there, so remove it or choose another folder") from None
            raise
        self.file = os.fdopen(fd, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self.file.seek(0)
            holder = self.file.read().strip()
            self.file.close()
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise FolderInUse(f"{folder} is in use by another npvae process"
                              f"{f' (pid {holder})' if holder.isdigit() else ''}: wait for it "
                              "to end, or choose another folder") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()

    def close(self):
        if self.file is not None and self.file.closed:
            return
        if self.made and self.folder.is_dir() \
                and [p.name for p in self.folder.iterdir()] in ([LOCK_NAME], []):
            (self.folder / LOCK_NAME).unlink(missing_ok=True)  # a start that failed leaves
            self.folder.rmdir()  # no folder
        if self.file is not None:
            self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
