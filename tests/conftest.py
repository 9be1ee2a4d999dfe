import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded Generator: every test draws from its own, never from the global np.random."""
    return np.random.default_rng(12345)


@pytest.fixture
def cli(capsys):
    """Run the command line as a shell would: returns (exit status, stdout, stderr). Usage errors
    end in SystemExit, as from a shell."""
    from npvae.cli import main

    def run(*argv):
        try:
            status = main(list(argv))
        except SystemExit as exit:
            status = exit.code
        out, err = capsys.readouterr()
        return status, out, err
    return run
