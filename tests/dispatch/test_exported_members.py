"""``dispatch.__all__`` is exactly the engine's public surface (after encode/httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import dispatch


def test_all_is_importable() -> None:
    for name in dispatch.__all__:
        assert getattr(importlib.import_module("dispatch"), name, None) is not None, name
    namespace: dict[str, object] = {}
    exec(f"from dispatch import {', '.join(dispatch.__all__)}", namespace)  # the import statement users write
    assert set(dispatch.__all__) <= namespace.keys()


def test_all_is_sorted_and_unique() -> None:
    assert len(set(dispatch.__all__)) == len(dispatch.__all__)
    assert dispatch.__all__ == sorted(dispatch.__all__)


def test_every_public_member_is_exported() -> None:
    # Submodules become attributes of the package as they are imported, by whoever imports them; they are not
    # members the package chose to export.
    members = {
        name for name, value in vars(dispatch).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert members == set(dispatch.__all__)


def test_every_name_the_init_binds_is_exported() -> None:
    """What ``dispatch/__init__.py`` imports or defines, read from its source (whatever else is loaded)."""
    tree = ast.parse(Path(dispatch.__file__).read_text(encoding="utf-8"))
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {t.id for t in targets if isinstance(t, ast.Name)}
    assert {name for name in bound if not name.startswith("_")} == set(dispatch.__all__)
