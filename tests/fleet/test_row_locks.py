"""Every row lock the fleet takes is FOR NO KEY UPDATE (or FOR SHARE), as `fleet.queries.lock_in_order` says why:
one FOR UPDATE left among them would make a terminal's fixes wait behind a dispatcher's car again, and a writer
holding the weaker lock that asked for FOR UPDATE on the same row would wait on such inserts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from fleet.models import Vehicle

FLEET = Path(__file__).resolve().parents[2] / "fleet"


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def row_locks(source: str) -> list[tuple[int, bool]]:
    """Each row lock in ``source`` (its line), and whether it is the house's: ``with_for_update(key_share=True)``
    or ``read=True`` on a select, ``with_for_update={"key_share": True}`` on `Session.get`."""
    found: list[tuple[int, bool]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "with_for_update":
            given = {k.arg: k.value for k in node.keywords}
            found.append((node.lineno, _true(given.get("key_share")) or _true(given.get("read"))))
        for keyword in node.keywords:
            if keyword.arg == "with_for_update" and not (isinstance(keyword.value, ast.Constant)
                                                         and keyword.value.value is None):
                value = keyword.value.body if isinstance(keyword.value, ast.IfExp) else keyword.value
                house = isinstance(value, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value == "key_share" and _true(v)
                    for k, v in zip(value.keys, value.values, strict=True))
                found.append((node.lineno, house))
    return found


def test_the_checker_tells_the_house_lock_from_for_update() -> None:
    assert row_locks("q.with_for_update()") == [(1, False)]
    assert row_locks("q.with_for_update(of=Trip)") == [(1, False)]
    assert row_locks("q.with_for_update(key_share=True)") == [(1, True)]
    assert row_locks("q.with_for_update(read=True)") == [(1, True)]
    assert row_locks("s.get(Trip, 1, with_for_update=True)") == [(1, False)]
    assert row_locks('s.get(Trip, 1, with_for_update={"key_share": True} if lock else None)') == [(1, True)]
    assert row_locks("s.get(Trip, 1)") == []


@pytest.mark.parametrize("path", sorted(FLEET.rglob("*.py")), ids=lambda p: str(p.relative_to(FLEET)))
def test_every_row_lock_of_the_fleet_is_for_no_key_update(path: Path) -> None:
    strong = [line for line, house in row_locks(path.read_text(encoding="utf-8")) if not house]
    assert not strong, f"{path.name}: FOR UPDATE at lines {strong}; take FOR NO KEY UPDATE (key_share=True)"


def test_the_house_lock_is_for_no_key_update_on_postgresql() -> None:
    """What ``key_share=True`` says to PostgreSQL (SQLAlchemy spells it so)."""
    statement = sa.select(Vehicle.id).with_for_update(key_share=True)
    assert "FOR NO KEY UPDATE" in str(statement.compile(dialect=postgresql.dialect()))
