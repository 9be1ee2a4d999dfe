import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_library_example_runs(capsys):
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    exec(compile(code, "README example", "exec"), {})
    out = capsys.readouterr().out
    assert "LossParts(total=" in out and "10 of 10 passed" in out
