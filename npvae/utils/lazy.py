"""Names a package imports from its modules when first used: ``import npvae`` stays quick, and
a student checking an exercise needs NumPy alone."""

import importlib


def lazy_names(package, homes):
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) for ``homes``, name -> the module
    (relative to ``package``) that defines it. A name, once imported, stays in the package."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{homes[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
