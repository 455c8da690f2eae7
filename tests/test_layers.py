"""Imports run downward only: the shell (gongche) → api, scenarios, telematics → fleet → dispatch.

Every import statement counts, including those inside functions: a lazy upward import is still an upward one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = frozenset({"gongche", "api", "scenarios", "telematics", "fleet", "dispatch"})
# What each package may import of the project, itself included. The shell composes everything.
ALLOWED: dict[str, frozenset[str]] = {
    "dispatch": frozenset({"dispatch"}),
    "fleet": frozenset({"fleet", "dispatch"}),
    "scenarios": frozenset({"scenarios", "fleet", "dispatch"}),
    "telematics": frozenset({"telematics", "fleet", "dispatch"}),
    "api": frozenset({"api", "fleet", "dispatch"}),
    "gongche": PROJECT,
}


def project_imports(source: str) -> set[str]:
    """The project's top-level packages a module's source imports (absolute imports; relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & PROJECT
    return found


def upward(package: str, source: str) -> set[str]:
    return project_imports(source) - ALLOWED[package]


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts or p.name == "env.py")


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_runs_upward(package: str) -> None:
    offenders = {str(path.relative_to(ROOT)): sorted(bad) for path in modules(package)
                 if (bad := upward(package, path.read_text(encoding="utf-8")))}
    assert offenders == {}, f"{package} may import only {sorted(ALLOWED[package])}"


def test_every_package_is_ruled() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(ALLOWED), f"packages without an import rule: {sorted(packages - set(ALLOWED))}"


class TestTheCheckItself:
    def test_finds_a_lazy_upward_import(self) -> None:
        source = "def main():\n    from api import demo\n    import gongche.cli\n"
        assert upward("fleet", source) == {"api", "gongche"}

    def test_dispatch_may_import_nothing_of_the_project(self) -> None:
        assert upward("dispatch", "from fleet.enums import Category\nimport numpy\n") == {"fleet"}
        assert upward("dispatch", "from dispatch.problem import Problem\nfrom . import plan\n") == set()

    def test_third_party_names_that_start_alike_are_not_the_project(self) -> None:
        assert project_imports("import fleetwood\nimport dispatcher\nfrom apis import x\n") == set()
