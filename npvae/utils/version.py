"""npvae's version: pyproject.toml holds it (the one place); the installed package's metadata
carries it to ``npvae.__version__`` and ``npvae --version``."""

from importlib.metadata import PackageNotFoundError, version


def installed_version():
    """The installed npvae's version, e.g. "0.1.0"."""
    try:
        return version("npvae")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "unknown (not installed)"
