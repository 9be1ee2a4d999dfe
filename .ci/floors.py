"""The lowest version of every dependency that pyproject.toml declares, as pip constraints.

    python .ci/floors.py            prints name==floor, one a line (for pip install -c)
    python .ci/floors.py --check    exits 1 unless every installed version is its floor
    python .ci/floors.py --python   prints the oldest Python that requires-python allows (3.9)

Every requirement must have a floor (name>=version): CI installs them all at their floors and
runs the tests, so that a floor that no longer works is found here, not by a user. Reads the
file with regular expressions, so that it runs on every Python the project supports.
"""

import re
import sys
from importlib.metadata import version
from pathlib import Path

text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
lists = re.findall(r"^(?:dependencies|test)\s*=\s*\[(.*?)\]", text, re.M | re.S)
requirements = [r for block in lists for r in re.findall(r'"([^"]+)"', block)]
floors = {}
for requirement in requirements:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", requirement.strip())
    if not match:
        sys.exit(f"{requirement!r} has no floor (name>=version)")
    floors[match.group(1)] = match.group(2)


def numbers(v):
    return [int(part) for part in v.split(".")]


if "--python" in sys.argv[1:]:
    print(re.search(r'^requires-python\s*=\s*">=\s*([0-9.]+)"', text, re.M).group(1))
elif "--check" in sys.argv[1:]:
    wrong = [f"{name} {version(name)} (floor {floor})" for name, floor in floors.items()
             if numbers(version(name))[:len(numbers(floor))] != numbers(floor)
             or any(numbers(version(name))[len(numbers(floor)):])]
    print(f"Python {sys.version.split()[0]}; floors installed:",
          ", ".join(f"{name}=={floor}" for name, floor in floors.items()))
    sys.exit(f"not at their floors: {', '.join(wrong)}" if wrong else 0)
else:
    print("\n".join(f"{name}=={floor}" for name, floor in floors.items()))
