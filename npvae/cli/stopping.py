"""How a command is stopped: SIGTERM, what a job scheduler sends, unwinds like Ctrl-C."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, what a job scheduler sends: the command line raises it in its handler, so that it
    unwinds like Ctrl-C (temporary files deleted, the last checkpoint kept).

    ``requested`` stays True once one was sent: where Python drops an exception raised by a
    signal handler (in a ``__del__`` or a C callback), training stops at the end of the epoch."""

    requested = False


def terminate(signum, frame):
    """The SIGTERM handler ``npvae.cli.main`` installs."""
    Terminated.requested = True
    raise Terminated()
