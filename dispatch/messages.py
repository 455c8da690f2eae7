"""Sentences that can be rendered again in another language: `msg` and `Message`.

They live here because the engine imports nothing of the project, yet its refusals (`ProblemError`) reach users
too; `fleet.i18n` re-exports both names and holds the catalogs and the translation. ``msg(template, **params)`` *is*
the English sentence (a ``str``) and remembers its template and parameters.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ValidatorFunctionWrapHandler, WrapValidator


class Message(str):
    """An English sentence that remembers the template and parameters it was made from."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Message:
        return cls.worded(template.format(**params) if params else template, template, params)

    @classmethod
    def worded(cls, english: str, template: str, params: dict[str, Any]) -> Message:
        """A message whose English is given as is (pydantic's own sentence, say) rather than rendered from
        ``template``, which still keys its translation."""
        made = super().__new__(cls, english)
        made.template, made.params = template, params
        return made

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (the engine's worker) intact
        return _rebuild, (str(self), self.template, self.params)


def _rebuild(english: str, template: str, params: dict[str, Any]) -> Message:
    return Message.worded(english, template, params)


def _keep_message(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    checked = handler(value)
    return value if isinstance(value, Message) and checked == value else checked


Text = Annotated[str, WrapValidator(_keep_message)]
"""A ``str`` field of a pydantic model that keeps a `Message` as it is (pydantic would make it a plain ``str``), so
that the model can still be translated where it is shown (an unserved trip's reason, a usage-audit finding)."""


def msg(template: str, /, **params: Any) -> Message:
    """A sentence for users: English here, translated at the edge. Placeholders are named: ``{trip_id}``,
    ``{km:.1f}``; an expression becomes a named parameter (``role=user.role.value``)."""
    return Message(template, **params)
