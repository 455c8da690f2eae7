"""Domain errors. Every refusal names the rule, the numbers and the fix, and carries its HTTP status.

    FleetError                      (base; never raised itself)
    ├── InvalidInput          422   a field is malformed (VIN check digit, negative price, ...)
    ├── NotFound              404   unknown agency, vehicle, plan, ...
    ├── NotPermitted          403   the caller's role may not do this (e.g. a driver back-filling a time)
    ├── Conflict              409   the request contradicts what is stored
    │   ├── AlreadyExists           plate, VIN or code already registered
    │   ├── InvalidState            e.g. approving a plan that is still a draft
    │   └── YearClosed              a plan for a year that is closed
    ├── RuleViolation         409   an official-vehicle rule refuses the change
    │   ├── QuotaExceeded           编制: held + additions - disposals > quota
    │   ├── StandardExceeded        配备标准: price or displacement above the standard
    │   ├── RenewalTooEarly         更新年限: replaced vehicle younger than the renewal age
    │   ├── NewEnergyShareTooLow    新能源比例: the year's share would fall below the minimum
    │   ├── PlanLineMismatch        acquired vehicle does not match its approved plan line
    │   └── RegistrationRefused     registered vehicle acquired after go-live (it comes through a plan line)
    ├── PolicyError           422   a policy file is malformed (names the file, line and field)
    └── Busy                  503   the database cannot take the request in time; retry after ``retry_after`` s
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class FleetError(Exception):
    """Base of every domain error: ``status`` is the HTTP status the API answers with."""

    status: ClassVar[int] = 400

    def __init__(self, detail: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.context = context

    @property
    def code(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": ..., "detail": ..., "field": ..., **context}``."""
        body: dict[str, Any] = {"error": self.code, "detail": self.detail, "field": self.field}
        body.update(self.context)
        return body


class InvalidInput(FleetError):
    status = 422


class NotFound(FleetError):
    status = 404


class NotPermitted(FleetError):
    """The caller's role may not do this (a driver back-filling times, an agency recording an approval basis)."""

    status = 403


class Conflict(FleetError):
    status = 409


class AlreadyExists(Conflict):
    pass


class InvalidState(Conflict):
    pass


class YearClosed(Conflict):
    pass


class RuleViolation(FleetError):
    status = 409

    rule: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "rule": self.rule}


class QuotaExceeded(RuleViolation):
    rule = "quota"


class StandardExceeded(RuleViolation):
    rule = "equipment_standard"


class RenewalTooEarly(RuleViolation):
    rule = "renewal_age"


class NewEnergyShareTooLow(RuleViolation):
    rule = "new_energy_share"


class PlanLineMismatch(RuleViolation):
    rule = "plan_line"


class RegistrationRefused(RuleViolation):
    """Registration is for the fleet held at go-live: a vehicle acquired later comes through a plan line."""

    rule = "registration"


class PolicyError(FleetError):
    status = 422


class Busy(FleetError):
    """The database could not take the request in time (a queue or pool wait ran out, a deadlock, a lock or
    statement timeout): its transaction was rolled back, and the same request may be sent again."""

    status = 503

    def __init__(self, detail: str, *, retry_after: int = 1, **context: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **context)
        self.retry_after = retry_after


class FieldError(ValueError):
    """Raised inside a pydantic validator that checks several fields, to say which one is wrong:
    the parsers read it back so the refusal still names its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def error_location(err: Mapping[str, Any]) -> tuple[str | int, ...]:
    """The location of one pydantic error, with a ``FieldError``'s field appended when it names one."""
    loc = tuple(err.get("loc", ()))
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc = (*loc, *(int(p) if p.isdigit() else p for p in cause.field.split(".")))
    return loc
