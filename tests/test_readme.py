"""The README's and the docs pages' Python blocks run as they are written."""

import re
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
