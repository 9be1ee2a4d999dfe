"""The parser: every flag has help with its default, unbounded work is refused."""

import pytest
from conftest import assert_one_line_error


def test_every_flag_of_every_command_has_help_with_its_default():
    from npvae.cli.main import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest in ("help", "run", "exercise", "layer", "optimizer"):
                continue
            assert action.help and "(default: " in action.help, (name, action.dest)


@pytest.mark.parametrize("argv, fragment", [
    (["evaluate", "--iwae-k", "1000000"], "must be at most 100,000"),
    (["uncertainty", "--samples", "1000000000"], "must be at most 100,000"),
    (["traverse", "--limit", "1e308"], "--limit must be a number in (0, 100]"),
])
def test_flags_that_ask_for_unbounded_work_are_refused(run, cli, argv, fragment):
    status, _, err = cli(argv[0], "--run", str(run), *argv[1:])
    assert_one_line_error(status, err, fragment)
