"""The ``npvae`` command line: one module per command or command group; ``main`` parses."""

from .main import main

__all__ = ["main"]
