"""The layout holds: packages import only the packages below them, no module imports itself in a
circle, and every room stays small. Read from the source with ``ast``: nothing is imported."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "npvae"

# From the ground up; a package may import its own modules and those of the floors below it.
FLOORS = [
    {"utils"},
    {"reference", "reference_iwae", "data", "nn"},
    {"models"},
    {"evaluation", "teaching"},
    {"training"},
    {"sklearn", "cli"},
    {"__init__", "__main__"},
]
MAX_LINES = 450
MAX_TOP_LEVEL_MODULES = 8


def module_name(path):
    """npvae/nn/layers.py -> "npvae.nn.layers"; npvae/nn/__init__.py -> "npvae.nn"."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def resolve(node, importer):
    """The npvae modules an import statement names, as dotted names (a name imported from a
    package counts as the package's submodule when there is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "npvae"]
    if node.level:
        is_package = MODULES[importer].name == "__init__.py"
        base = importer.split(".")[:len(importer.split(".")) - node.level + is_package]
        target = ".".join(base + ([node.module] if node.module else []))
    elif node.module and node.module.split(".")[0] == "npvae":
        target = node.module
    else:
        return []
    names = [f"{target}.{alias.name}" for alias in node.names]
    return [name if name in MODULES else target for name in names]


def imports(name, top_level_only=True):
    """The npvae modules that module ``name`` imports (at its top level, or anywhere)."""
    tree = ast.parse(MODULES[name].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    return {target for node in nodes if isinstance(node, (ast.Import, ast.ImportFrom))
            for target in resolve(node, name) if target != name}


def function_level_imports(name):
    top = imports(name)
    return imports(name, top_level_only=False) - top


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def floor(name):
    """The floor of a module: that of its package directly under npvae."""
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return next(i for i, names in enumerate(FLOORS) if top in names)


def test_the_import_graph_has_no_cycle():
    graph = {name: imports(name, top_level_only=False) for name in MODULES}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_point_down():
    upward = [f"{name} -> {target}" for name in MODULES for target in imports(name, False)
              if floor(target) > floor(name)]
    assert upward == []


# The only imports of npvae modules inside functions, each there for speed, never to dodge a
# cycle (the graph above includes them, and has none): a student's `npvae gradcheck --exercise`
# needs NumPy and the teaching code alone, so the command line imports the rest (scikit-learn,
# matplotlib, the models and training) only for the commands that use it. (``npvae`` and
# ``npvae.nn`` import their names on first use, by importlib, for the same reason.)
LATE_IMPORTS = {"npvae.cli.main": {"npvae.cli.parser", "npvae.training.divergence"},
                "npvae.cli.gradcheck": {"npvae.teaching.checks"}}


def test_no_function_level_import_of_npvae_dodges_a_cycle():
    late = {name: function_level_imports(name) for name in MODULES}
    assert {name: targets for name, targets in late.items() if targets} == LATE_IMPORTS


def test_every_module_is_small_and_the_top_holds_few():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
    top = [path.name for path in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_every_package_is_on_a_floor():
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    packages |= {path.stem for path in PACKAGE.glob("*.py")}
    assert packages == set().union(*FLOORS)
