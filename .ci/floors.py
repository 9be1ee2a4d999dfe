"""The lowest version of every dependency that pyproject.toml declares, as pip constraints.

    python .ci/floors.py            prints name==floor, one a line (for pip install -c)
    python .ci/floors.py --check    exits 1 unless every installed version is its floor

Every requirement must have a floor (name>=version): CI installs them all at their floors and
runs the tests, so that a floor that no longer works is found here, not by a user.
"""

import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
requirements = project["dependencies"] + [
    r for extra in project.get("optional-dependencies", {}).values() for r in extra]
floors = {}
for requirement in requirements:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", requirement.strip())
    if not match:
        sys.exit(f"{requirement!r} has no floor (name>=version)")
    floors[match.group(1)] = match.group(2)

if "--check" in sys.argv[1:]:
    wrong = [f"{name} {version(name)} (floor {floor})" for name, floor in floors.items()
             if [int(p) for p in version(name).split(".")] != [int(p) for p in floor.split(".")]
             + [0] * (len(version(name).split(".")) - len(floor.split(".")))]
    print("floors installed:", ", ".join(f"{n}=={v}" for n, v in floors.items()))
    sys.exit(f"not at their floors: {', '.join(wrong)}" if wrong else 0)
print("\n".join(f"{name}=={floor}" for name, floor in floors.items()))
