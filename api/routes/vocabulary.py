"""The closed vocabularies with their Chinese labels (`fleet.enums`, and the usage audit's finding and geofence
kinds), read-only: what the console shows.

One list per enum, keyed by the enum's name in snake case (``TripStatus`` -> ``trip_status``), its members in
declaration order (which is meaning for some: priorities are listed in dispatch order). The labels are the enums'
own ``.zh``, so that the console never keeps a second copy of them.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import UserDep
from api.errors import ErrorOut
from fleet import enums
from fleet.usage_audit import FindingKind, GeofenceKind

router = APIRouter(tags=["vocabulary"], responses={401: {"model": ErrorOut}})


class TermOut(BaseModel):
    value: str
    zh: str


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def vocabularies() -> dict[str, list[TermOut]]:
    """Every `LabelledEnum` of `fleet.enums`, and the usage audit's two (a finding's rule as the provincial platforms
    name it: 非调度用车, 越界 …), by snake-case name."""
    found = [value for value in vars(enums).values()
             if isinstance(value, type) and issubclass(value, enums.LabelledEnum) and value is not enums.LabelledEnum]
    found += [FindingKind, GeofenceKind]
    return {_snake(enum.__name__): [TermOut(value=m.value, zh=m.zh) for m in enum] for enum in found}


VOCABULARIES = vocabularies()


@router.get("/vocabulary", response_model=dict[str, list[TermOut]],
            summary="Every closed vocabulary (statuses, priorities, categories, roles…) with its Chinese labels",
            response_description="enum name (snake case) -> its values, in order, each with its Chinese label")
def vocabulary(user: UserDep) -> dict[str, list[TermOut]]:
    return VOCABULARIES
