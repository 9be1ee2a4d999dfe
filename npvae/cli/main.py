"""``npvae``: the command line's entry point. ``npvae.cli.parser`` reads the arguments; each
command lives in a module of its own beside this one.

Errors in what a user typed or pointed at print one line on stderr and exit with status 2.
"""

import os
import signal
import sys
import warnings

from .gradcheck import exercise_only
from .stopping import Terminated, terminate


def one_line_warning(message, *args, **kwargs):
    """A warning as the command line prints it: one line, no source line."""
    return f"npvae: warning: {message}\n"


def main(argv=None):
    """Entry point of the ``npvae`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = exercise_only(argv)  # a student's check needs NumPy alone: it skips what follows
    errors = (ValueError, OSError)  # DataError and CheckpointError are ValueErrors
    if args is None:
        os.environ["MPLBACKEND"] = "Agg"  # figures go to files: no screen needed
        from ..training.divergence import TrainingDiverged  # every command: the whole of npvae
        from .parser import build_parser

        errors += (TrainingDiverged,)
        if not argv:  # a bare `npvae`: what it can do, not only what is missing
            build_parser().print_help(sys.stderr)
            return 2
        args = build_parser().parse_args(argv)
    Terminated.requested = False
    previous = signal.signal(signal.SIGTERM, terminate)  # unwinds like Ctrl-C: no half files
    formatwarning = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        with warnings.catch_warnings():  # NumPy's overflow notes on absurd inputs: the
            warnings.simplefilter("ignore", RuntimeWarning)  # errors that follow say it
            return args.func(args)
    except BrokenPipeError:  # stdout closed (`npvae evaluate ... | head`): stop quietly, as a
        devnull = os.open(os.devnull, os.O_WRONLY)  # program killed by SIGPIPE would (128 + 13)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's final flush raises no more
        return 141
    except errors as error:
        print(f"npvae {args.command}: error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"npvae {args.command}: error: not enough memory for what was asked (smaller "
              "sizes?)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: files are written atomically
        terminated = isinstance(stop, Terminated)
        print(f"npvae {args.command}: {'terminated' if terminated else 'interrupted'}",
              file=sys.stderr)
        return 143 if terminated else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        warnings.formatwarning = formatwarning


if __name__ == "__main__":
    sys.exit(main())
