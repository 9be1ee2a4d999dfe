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


def assert_one_line_error(status, err, *fragments):
    """The command line's answer to a mistake: exit status 2 and one line on stderr, no
    traceback, holding each fragment."""
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
