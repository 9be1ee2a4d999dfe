"""The parser: every flag has help with its default, unbounded work is refused."""

import pytest
from conftest import assert_one_line_error


def test_every_flag_of_every_command_has_help_with_its_default():
    from npvae.cli.parser import build_parser
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


def test_version_is_the_installed_packages(cli):
    from importlib.metadata import version

    import npvae
    status, out, _ = cli("--version")
    assert status == 0 and out == f"npvae {version('npvae')}\n"
    assert npvae.__version__ == version("npvae")


def test_a_bare_npvae_prints_the_commands(cli):
    status, out, err = cli()
    assert status == 2 and "usage: npvae" in err
    for command in ("train", "evaluate", "sample", "anomaly", "gradcheck"):
        assert f"\n    {command}" in err


def test_every_command_help_opens_with_what_it_does_and_a_common_use(cli):
    from npvae.cli.parser import DESCRIPTIONS, build_parser
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == set(DESCRIPTIONS) - {"npvae"}
    for name in commands:
        status, out, _ = cli(name, "--help")
        paragraph = out.split("\n\n")[1]
        assert status == 0 and paragraph == DESCRIPTIONS[name].split("\n\n")[0], name
        assert f"Most common:  npvae {name}" in out


def test_train_help_groups_its_options_with_the_common_ones_first(cli):
    out = cli("train", "--help")[1]
    groups = ["\nthe data:\n", "\nthe model:\n", "\ntraining:\n", "\nthe run folder:\n"]
    assert [out.index(group) for group in groups] == sorted(out.index(g) for g in groups)
    data = out.split("\nthe data:\n")[1].split("\n\n")[0]
    assert data.lstrip().startswith("--dataset")
    loop = out.split("\ntraining:\n")[1].split("\n\n")[0]
    assert loop.lstrip().startswith("--epochs")


def test_no_help_points_to_a_file_an_installed_package_lacks(cli):
    from npvae.cli.parser import build_parser
    parser = build_parser()
    texts = [parser.format_help()] + [sub.format_help() for sub in
                                      parser._subparsers._group_actions[0].choices.values()]
    for text in texts:
        assert ".md" not in text and "README" not in text


def test_the_exercise_list_names_every_exercise_and_its_command(cli):
    from npvae.teaching.judge import EXERCISES
    status, out, _ = cli("gradcheck", "--list")
    assert status == 0 and "npvae gradcheck --exercise NAME mine.py:CLASS" in out
    for name in EXERCISES:
        assert f" {name} " in out or f" {name}," in out, name
