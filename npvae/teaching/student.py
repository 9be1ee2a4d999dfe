"""Loading and running a user's own code (``npvae gradcheck --layer/--optimizer/--exercise``).

Whatever the user's code does (a syntax error, an exception, even ``sys.exit()``) must not end
the check with a traceback or, worse, exit status 0. ``Student.call`` turns anything it raises
into ``CouldNotCheck``: one line that names the user's file and line. The command line prints it
and exits with status 2, "could not check", distinct from 1, "checked, and wrong".
"""

import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path


class CouldNotCheck(ValueError):
    """The user's code could not be checked: it could not be loaded, built or run."""


class Student:
    """A user's class or function named ``module:Name`` or ``path/to/file.py:Name``.

    Attributes: ``spec`` as given, ``obj`` the class or function, ``module`` and ``file``
    where it came from.
    """

    def __init__(self, spec):
        self.spec = spec
        location, _, name = spec.rpartition(":")
        if not location or not name:
            raise CouldNotCheck(f"expected module:Class or path/to/file.py:Class; got {spec!r}")
        self.module = module = self._import(location)
        self.file = Path(getattr(module, "__file__", None) or location).resolve()
        if not hasattr(module, name):
            raise CouldNotCheck(f"{location} has no {name}")
        self.obj = getattr(module, name)

    def _import(self, location):
        try:
            if location.endswith(".py") or os.sep in location:
                path = Path(location)
                if not path.is_file():
                    raise CouldNotCheck(f"no file {path}")
                folder = str(path.resolve().parent)  # as `python file.py` would: its folder's
                if folder not in sys.path:  # modules (the student's other pieces) import
                    sys.path.insert(0, folder)
                loader = importlib.machinery.SourceFileLoader(path.stem, str(path))
                spec = importlib.util.spec_from_file_location(path.stem, path, loader=loader)
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                return module
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            return importlib.import_module(location)
        except (CouldNotCheck, KeyboardInterrupt):
            raise
        except BaseException as error:  # SyntaxError, SystemExit, ...: theirs, in one line
            if isinstance(error, SyntaxError) and error.lineno:  # its text names no place
                where = f" ({Path(error.filename or location).name}, line {error.lineno})"
                text = error.msg
            else:
                where = _where(error, lambda filename: Path(filename).name != "student.py"
                               and "importlib" not in filename)
                text = _text(error)
            raise CouldNotCheck(f"cannot import {location}: {type(error).__name__}: "
                                f"{text}{where}") from None

    def call(self, what, func, *args, **kwargs):
        """``func(*args, **kwargs)``, turning anything it raises (but Ctrl-C) into
        CouldNotCheck: "<spec>: <what> raised <error> (<file>, line <n>)"."""
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # SystemExit included: sys.exit() in their code
            folder = self.file.parent  # their file, or another of theirs beside it
            where = (_where(error, lambda filename: Path(filename).resolve().parent == folder)
                     or _defined_at(func))
            raise CouldNotCheck(f"{self.spec}: {what} raised {type(error).__name__}: "
                                f"{_text(error)}{where}") from None


def _defined_at(func):
    """" (file.py, line n)" where ``func`` (a class, function or method) is defined, or "": for
    an error raised before any of its lines ran, such as a call with the wrong arguments."""
    code = getattr(func.__init__ if inspect.isclass(func) else func, "__code__", None)
    if code is None:
        return ""
    return f" ({Path(code.co_filename).name}, line {code.co_firstlineno})"


def _text(error):
    """The first line of an error's message (or its exit code, for SystemExit)."""
    text = str(error.code if isinstance(error, SystemExit) else error)
    return text.splitlines()[0] if text.strip() else "(no message)"


def _where(error, is_theirs):
    """" (file.py, line n)" for the innermost frame of the traceback that is the user's."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if is_theirs(f.filename)]
    if not frames:
        return ""
    return f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"
