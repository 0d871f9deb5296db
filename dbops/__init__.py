"""dbops: database migrations and operations for SQLModel / SQLAlchemy 2 apps.

Public names are imported lazily (PEP 562) so ``import dbops`` stays cheap.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Config": "dbops.config",
    "load_config": "dbops.config",
    "DbopsError": "dbops.errors",
    "command": "dbops.command",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dbops' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    return module if module_name.endswith(name) else getattr(module, name)
