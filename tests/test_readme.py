import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_library_example_runs(capsys):
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    exec(compile(code, "README example", "exec"), {})
    out = capsys.readouterr().out
    assert "LossParts(total=" in out and "10 of 10 passed" in out


def test_the_readme_experiment_runs(capsys, tmp_path, monkeypatch):
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    experiment = next(block for block in code if "model.save" in block)
    monkeypatch.chdir(tmp_path)  # it writes model.npz
    exec(compile(experiment, "README experiment", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert "epochs; best validation loss" in lines[0] and lines[1] == "True"
    assert all(float(value) > 0 for value in lines[2].split())
