"""The README's and the docs pages' Python blocks run as they are written."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path):
    """The code of every ```python block of a markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


BLOCKS = [(page, i) for page in PAGES for i in range(len(python_blocks(page)))]


def test_the_readme_library_example_runs(capsys):
    code = python_blocks(README)[0]
    exec(compile(code, "README example", "exec"), {})
    out = capsys.readouterr().out
    assert "LossParts(total=" in out and "10 of 10 passed" in out


def test_the_readme_experiment_runs(capsys, tmp_path, monkeypatch):
    code = [block for page in PAGES for block in python_blocks(page)]
    experiment = next(block for block in code if "model.save" in block)
    monkeypatch.chdir(tmp_path)  # it writes model.npz
    exec(compile(experiment, "README experiment", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert "epochs; best validation loss" in lines[0] and lines[1] == "True"
    assert all(float(value) > 0 for value in lines[2].split())


@pytest.mark.parametrize("page, index", BLOCKS,
                         ids=[f"{page.relative_to(ROOT)}-{i}" for page, i in BLOCKS])
def test_every_python_block_runs(page, index, tmp_path, monkeypatch):
    code = python_blocks(page)[index]
    monkeypatch.chdir(tmp_path)  # a block may write files
    exec(compile(code, f"{page.relative_to(ROOT)}, python block {index}", "exec"), {})


# A pasted command is not run here when it holds a placeholder (DIR, NAME, K, ...), a file the
# reader writes (mine.py), or when it is the test command itself or the hour-long results script.
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_0-9]*\b|mine\.py|<|python -m pytest|readme_results\.sh")


def pasted_commands(path):
    """Every npvae or python command of the ```bash blocks of a markdown file, in order (a line
    of commands joined by && counts each; comments are dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
        for line in block.splitlines():
            for part in line.split("#")[0].split("&&"):
                if part.strip().startswith(("npvae ", "python ")) or part.strip() == "npvae":
                    commands.append(part.strip())
    return commands


def test_the_pasted_commands_of_the_readme_and_docs_run_in_order(cli, tmp_path, monkeypatch):
    """Every runnable command of the README, then of each docs page, pasted in one folder in
    order, with no network (the README's main command falls back to the shipped MNIST test
    set), exits with status 0 (1 for --broken, which shows a failing check on purpose)."""
    from urllib.error import URLError

    from npvae.data import mnist

    def offline(*args, **kwargs):
        raise URLError("no network in the tests")
    monkeypatch.setattr(mnist, "fetch_openml", offline)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn"))
    monkeypatch.chdir(tmp_path)
    ran = []
    for page in PAGES:
        for command in pasted_commands(page):
            if PLACEHOLDER.search(command):
                continue
            if command.startswith("npvae"):
                status, _, err = cli(*command.split()[1:])
            else:  # python scripts/...: the repository's script, run from the folder
                argv = command.split()[1:]
                argv[0] = str(ROOT / argv[0])
                result = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                                        timeout=600)
                status, err = result.returncode, result.stderr
            expected = 1 if "--broken" in command else 0  # a failing report, on purpose
            assert status == expected, f"{page.name}: {command}\n{err}"
            ran.append(command)
    assert "npvae train" in ran and "npvae sample --run runs/digits" in ran


def test_the_package_page_has_no_relative_links_or_images():
    """docs/PACKAGE.md is the description on the package's page, where a relative link leads
    nowhere: pyproject.toml names it as the readme."""
    page = (ROOT / "docs" / "PACKAGE.md").read_text()
    assert 'readme = "docs/PACKAGE.md"' in (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"\]\((?!https?://)|<img|src=", page)
