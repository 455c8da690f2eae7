"""The registry's vocabularies (`fleet.enums`) and the dispatch engine's (`dispatch.problem`) agree value for value.

The engine imports nothing of the platform, so each side declares its own enums; the registry hands the engine
plain values (``.value``) in exchange-format documents, which only works while both sides spell every member alike.
"""

from __future__ import annotations

from enum import StrEnum

import pytest

import dispatch
import fleet.enums

PAIRS = [(fleet.enums.Category, dispatch.Category), (fleet.enums.Priority, dispatch.Priority),
         (fleet.enums.Powertrain, dispatch.Powertrain)]


@pytest.mark.parametrize(("registry", "engine"), PAIRS, ids=lambda enum: f"{enum.__module__}.{enum.__name__}")
def test_same_values(registry: type[StrEnum], engine: type[StrEnum]) -> None:
    assert {m.value for m in registry} == {m.value for m in engine}
    assert all(registry(member.value) == engine(member.value) for member in engine)  # StrEnums compare as str


def test_same_priority_rank() -> None:
    # Order is meaning here: the engine serves priorities lexicographically in declaration order, and the registry
    # lists them in dispatch order.
    assert [p.value for p in fleet.enums.Priority] == [p.value for p in dispatch.Priority]
