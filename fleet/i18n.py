"""Messages in the user's language.

Code writes every sentence a user may read as ``msg("unknown trip id {trip_id}", trip_id=trip_id)``: the result
*is* the English sentence (a ``str``, so logs, the CLI and ``str(error)`` read as before) and remembers its template
and parameters, so the API can render it again in the caller's language from the message catalog
(``fleet/locales/<lang>/LC_MESSAGES/gongche.po``, gettext format, kept with Babel: ``make messages``).

* `translate` renders a message in a language: its template's translation with its parameters, parameters that are
  messages themselves translated too, and enum members as their code with the Chinese label beside it
  (``emergency（应急保障）``). A template the catalog lacks, or a plain ``str``, stays English.
* `negotiate` picks the language of an ``Accept-Language`` header: ``zh_CN`` for any Chinese, else English.
* `pydantic_message` words one pydantic error as a message keyed on its type and context (pydantic's own English,
  a translation from the catalog), and `field_message` puts the field in front of it.

The catalogs are read with Babel at run time (no compiled ``.mo``, no build step) and cached.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from babel.messages.pofile import read_po

from dispatch.messages import Message, Text, msg

__all__ = [
    "CHINESE",
    "ENGLISH",
    "LOCALES",
    "Language",
    "Message",
    "Text",
    "alternatives",
    "catalog",
    "content_language",
    "field_label",
    "field_message",
    "listing",
    "msg",
    "negotiate",
    "parsed",
    "pydantic_message",
    "role_name",
    "said",
    "translate",
    "unsaid",
    "with_article",
]

log = logging.getLogger("gongche.i18n")

Language = Literal["zh_CN", "en"]
ENGLISH: Final[Language] = "en"
CHINESE: Final[Language] = "zh_CN"
LOCALES: Final = Path(__file__).with_name("locales")
DOMAIN: Final = "gongche"


@cache
def catalog(language: str) -> Mapping[str, str]:
    """Template -> translation for ``language`` (a folder under `LOCALES`), fuzzy and empty entries left out."""
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == ENGLISH or not path.is_file():
        return {}
    with path.open("rb") as handle:
        entries = read_po(handle, locale=language, domain=DOMAIN)
    return {m.id: m.string for m in entries
            if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string and not m.fuzzy}


def translate(text: str, language: str) -> str:
    """``text`` in ``language``: a `Message` whose template the catalog holds, rendered with its parameters
    (translated too where they are messages or labelled enums); anything else as it is (English)."""
    if not isinstance(text, Message) or language == ENGLISH:
        return text
    template = catalog(language).get(text.template)
    if template is None:
        return text
    if not text.params:
        return template
    params = {name: _param(value, language) for name, value in text.params.items()}
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):  # a translation that breaks its placeholders: say so, read English
        log.warning("the %s translation of %r does not format; answering in English", language, text.template)
        return text


def _param(value: Any, language: str) -> Any:
    if isinstance(value, Message):
        return translate(value, language)
    if isinstance(value, Enum):
        label = getattr(value, "zh", "")
        return f"{value.value}（{label}）" if label and language == CHINESE else value.value
    return value


_TAG = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*)$")
_QUALITY = re.compile(r"^[qQ]\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def negotiate(accept_language: str | None) -> Language:
    """The language to answer in: ``zh_CN`` when the header's most preferred acceptable language we speak is any
    Chinese (zh, zh-CN, zh-Hans, zh-TW ...), else English (also when the header is absent, empty or malformed).

    Ranges with ``q=0`` are refused, malformed ones ignored; ``*`` means whatever we prefer, English."""
    if not accept_language:
        return ENGLISH
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:64]):
        tag, *parameters = (part.strip() for part in item.split(";"))
        if not _TAG.match(tag):
            continue
        qualities = [p for p in parameters if p.partition("=")[0].strip().lower() == "q"]
        if len(qualities) > 1:
            continue
        weight = _QUALITY.match(qualities[0]) if qualities else None
        if qualities and weight is None:
            continue
        quality = float(weight.group(1)) if weight else 1.0
        if quality > 0:
            ranked.append((-quality, index, tag.lower()))
    for _, _, tag in sorted(ranked):
        primary = re.split(r"[-_]", tag)[0]
        if primary == "zh":
            return CHINESE
        if primary in ("en", "*"):
            return ENGLISH
    return ENGLISH


def content_language(language: str) -> str:
    """The ``Content-Language`` value (BCP 47) of a catalog language: ``zh_CN`` -> ``zh-CN``."""
    return language.replace("_", "-")


# pydantic's errors, keyed on their type: the template the catalog translates and the parameters it takes from the
# error's context. The English stays pydantic's own sentence (which knows its plurals).
_Ctx = Mapping[str, Any]
_PYDANTIC: dict[str, Callable[[_Ctx], Message]] = {
    "missing": lambda c: msg("Field required"),
    "extra_forbidden": lambda c: msg("Extra inputs are not permitted"),
    "string_type": lambda c: msg("Input should be a valid string"),
    "string_unicode": lambda c: msg("Input should be a valid string"),
    "string_too_short": lambda c: msg("String should have at least {min_length} characters",
                                      min_length=c.get("min_length")),
    "string_too_long": lambda c: msg("String should have at most {max_length} characters",
                                     max_length=c.get("max_length")),
    "string_pattern_mismatch": lambda c: msg("String should match pattern '{pattern}'", pattern=c.get("pattern")),
    "int_type": lambda c: msg("Input should be a valid integer"),
    "int_parsing": lambda c: msg("Input should be a valid integer"),
    "int_parsing_size": lambda c: msg("Input should be a valid integer"),
    "int_from_float": lambda c: msg("Input should be a valid integer, got a number with a fractional part"),
    "float_type": lambda c: msg("Input should be a valid number"),
    "float_parsing": lambda c: msg("Input should be a valid number"),
    "finite_number": lambda c: msg("Input should be a finite number"),
    "bool_type": lambda c: msg("Input should be a valid boolean"),
    "bool_parsing": lambda c: msg("Input should be a valid boolean"),
    "greater_than": lambda c: msg("Input should be greater than {gt}", gt=c.get("gt")),
    "greater_than_equal": lambda c: msg("Input should be greater than or equal to {ge}", ge=c.get("ge")),
    "less_than": lambda c: msg("Input should be less than {lt}", lt=c.get("lt")),
    "less_than_equal": lambda c: msg("Input should be less than or equal to {le}", le=c.get("le")),
    "multiple_of": lambda c: msg("Input should be a multiple of {multiple_of}", multiple_of=c.get("multiple_of")),
    "enum": lambda c: msg("Input should be {expected}", expected=_choices(c.get("expected"))),
    "literal_error": lambda c: msg("Input should be {expected}", expected=_choices(c.get("expected"))),
    "too_short": lambda c: msg("should have at least {min_length} items, not {actual_length}",
                               min_length=c.get("min_length"), actual_length=c.get("actual_length")),
    "too_long": lambda c: msg("should have at most {max_length} items", max_length=c.get("max_length")),
    "list_type": lambda c: msg("Input should be a valid list"),
    "tuple_type": lambda c: msg("Input should be a valid list"),
    "set_type": lambda c: msg("Input should be a valid list"),
    "dict_type": lambda c: msg("Input should be an object"),
    "model_type": lambda c: msg("Input should be an object"),
    "model_attributes_type": lambda c: msg("Input should be an object"),
    "date_type": lambda c: msg("Input should be a valid date"),
    "date_parsing": lambda c: msg("Input should be a valid date"),
    "date_from_datetime_parsing": lambda c: msg("Input should be a valid date"),
    "date_from_datetime_inexact": lambda c: msg("Input should be a valid date"),
    "time_type": lambda c: msg("Input should be a valid time"),
    "time_parsing": lambda c: msg("Input should be a valid time"),
    "datetime_type": lambda c: msg("Input should be a valid datetime"),
    "datetime_parsing": lambda c: msg("Input should be a valid datetime"),
    "datetime_from_date_parsing": lambda c: msg("Input should be a valid datetime"),
    "datetime_object_invalid": lambda c: msg("Input should be a valid datetime"),
    "timezone_aware": lambda c: msg("Input should have timezone info"),
    "timezone_naive": lambda c: msg("Input should not have timezone info"),
    "decimal_type": lambda c: msg("Input should be a valid decimal"),
    "decimal_parsing": lambda c: msg("Input should be a valid decimal"),
    "decimal_max_digits": lambda c: msg("Decimal input should have no more than {max_digits} digits in total",
                                        max_digits=c.get("max_digits")),
    "decimal_max_places": lambda c: msg("Decimal input should have no more than {decimal_places} decimal places",
                                        decimal_places=c.get("decimal_places")),
    "decimal_whole_digits": lambda c: msg("Decimal input should have no more than {whole_digits} digits before "
                                          "the decimal point", whole_digits=c.get("whole_digits")),
    "url_type": lambda c: msg("Input should be a valid URL"),
    "url_parsing": lambda c: msg("Input should be a valid URL"),
    "url_syntax_violation": lambda c: msg("Input should be a valid URL"),
    "url_too_long": lambda c: msg("URL should have at most {max_length} characters", max_length=c.get("max_length")),
    "url_scheme": lambda c: msg("URL scheme should be {expected_schemes}",
                                expected_schemes=_choices(c.get("expected_schemes"))),
    "uuid_type": lambda c: msg("Input should be a valid UUID"),
    "uuid_parsing": lambda c: msg("Input should be a valid UUID"),
    "json_invalid": lambda c: msg("Invalid JSON"),
    "json_type": lambda c: msg("Invalid JSON"),
}
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")


def _choices(expected: Any) -> Any:
    """pydantic's ``'a', 'b' or 'c'`` as a message (the ``or`` translated), or as it is."""
    if not isinstance(expected, str):
        return expected
    options = _QUOTED.findall(expected)
    if len(options) < 2 or expected != f"{', '.join(options[:-1])} or {options[-1]}":
        return expected
    return msg("{choices} or {last}", choices=", ".join(options[:-1]), last=options[-1])


def pydantic_message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a sentence without its field.

    A validator's own `Message` (raised as ``ValueError(msg(...))`` or in a `fleet.errors.FieldError`) is that
    message; a known error type becomes a message keyed on it, whose English is pydantic's; anything else is
    pydantic's English sentence."""
    english = str(error.get("msg", "invalid input")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    context = error.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, BaseException):
        said = cause.args[0] if cause.args else None
        return said if isinstance(said, Message) else english
    make = _PYDANTIC.get(str(error.get("type")))
    if make is None:
        return english
    made = make(context)
    return Message.worded(english, made.template, made.params)


def listing(parts: Sequence[str]) -> str:
    """``a, b, c`` as a message (the separator translated); ``parts`` must not be empty."""
    listed = parts[0]
    for part in parts[1:]:
        listed = msg("{first}, {second}", first=listed, second=part)
    return listed


def alternatives(options: Sequence[Any]) -> Any:
    """``a or b or c`` as a message (each option translated as a parameter: an enum keeps its code and gains its
    label); ``options`` must not be empty."""
    either = options[0]
    for option in options[1:]:
        either = msg("{first} or {second}", first=either, second=option)
    return either


# The human name of an input field, for sentences that name a field (``is before the earliest pickup``) and for the
# refusal's ``field 'x':`` in front; the error body's ``field`` key keeps the machine name. A field without a label
# (a policy or scenario file's key path, say) is named as it is.
FIELD_LABELS: Final[Mapping[str, Message]] = {
    "purpose": msg("purpose of the trip"),
    "priority": msg("priority level"),
    "priority_reason": msg("emergency reason"),
    "categories": msg("allowed vehicle categories"),
    "passengers": msg("number of passengers"),
    "pickup": msg("pickup place"),
    "dropoff": msg("destination"),
    "pickup.lat": msg("pickup latitude"),
    "pickup.lon": msg("pickup longitude"),
    "dropoff.lat": msg("destination latitude"),
    "dropoff.lon": msg("destination longitude"),
    "earliest_pickup": msg("earliest pickup"),
    "latest_pickup": msg("latest pickup"),
    "dwell_min": msg("time at the destination"),
    "approval_basis": msg("approval given outside the platform"),
    "backfill_reason": msg("back-fill reason"),
    "shift_start": msg("shift start"),
    "shift_end": msg("shift end"),
    "home_lat": msg("yard latitude"),
    "home_lon": msg("yard longitude"),
    "registration_basis": msg("registration basis"),
    "registration_note": msg("registration note"),
    "early_renewal_basis": msg("early renewal basis"),
    "early_renewal_reason": msg("early renewal reason"),
}


def field_label(field: str) -> str:
    """The human name of ``field`` (a message: ``earliest pickup``, 最早上车时间), or ``field`` itself."""
    return FIELD_LABELS.get(field, field)


def field_message(field: str | None, reason: str) -> str:
    """``field 'x': reason`` (x the field's human label, where it has one), or the reason alone when there is no
    field."""
    return msg("field '{field}': {reason}", field=field_label(field), reason=reason) if field else reason


# Role names in sentences: alone (``dispatcher``, 平台调度员) and with the article English needs (``an admin``).
_ROLE_NAMES: Final[Mapping[str, Message]] = {
    "requester": msg("requester"), "approver": msg("approver"), "dispatcher": msg("dispatcher"),
    "driver": msg("driver"), "supervisor": msg("supervisor"), "admin": msg("admin"), "system": msg("system"),
}
_WITH_ARTICLE: Final[Mapping[str, Message]] = {
    "requester": msg("a requester"), "approver": msg("an approver"), "dispatcher": msg("a dispatcher"),
    "driver": msg("a driver"), "supervisor": msg("a supervisor"), "admin": msg("an admin"), "system": msg("the system"),
}


def _role_code(role: Any) -> str:
    return str(role.value if isinstance(role, Enum) else role)


def role_name(role: Any) -> str:
    """A role (a `fleet.enums.Role` or its code) named in a sentence: ``dispatcher``, in Chinese 平台调度员."""
    code = _role_code(role)
    return _ROLE_NAMES.get(code, code)


def with_article(role: Any) -> str:
    """A role with its indefinite article: ``a dispatcher``, ``an admin`` (in Chinese the role's name alone)."""
    code = _role_code(role)
    found = _WITH_ARTICLE.get(code)
    if found is not None:
        return found
    return msg("an {role}", role=code) if code[:1].lower() in "aeiou" else msg("a {role}", role=code)


# --- messages kept as data: a stable code and its parameters --------------------------------------------------------


def said(text: str, codes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A message as JSON data: ``{"code": ..., "params": {...}}``, the code being ``codes[template]`` where given
    (the engine's stable reason codes, `dispatch.reasons.CODES`) and the template otherwise; messages among the
    parameters nested the same way, enums by their value. A plain ``str`` is ``{"code": None, "text": ...}``."""
    if not isinstance(text, Message):
        return {"code": None, "text": str(text)}
    params = {name: said(value, codes) if isinstance(value, Message)
              else value.value if isinstance(value, Enum) else value for name, value in text.params.items()}
    return {"code": (codes or {}).get(text.template, text.template), "params": params}


def unsaid(data: Mapping[str, Any], templates: Mapping[str, str] | None = None) -> str:
    """The message `said` made (``templates``: code -> template, the inverse of its ``codes``); its English text
    when the data no longer renders (an unknown code whose parameters do not fit)."""
    code = data.get("code")
    if not isinstance(code, str):
        return str(data.get("text", ""))
    template = (templates or {}).get(code, code)
    params = {name: unsaid(value, templates) if isinstance(value, Mapping) else value
              for name, value in (data.get("params") or {}).items()}
    try:
        return Message(template, **params)
    except (KeyError, IndexError, ValueError):
        return str(data.get("text", template))


_FORMAT = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_ALTERNATIVES = re.compile(r"\w+(?: or \w+)+")


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts, last = [], 0
    for found in _FORMAT.finditer(template):
        parts += [re.escape(template[last:found.start()]), f"(?P<{found.group(1)}>.+?)"]
        last = found.end()
    return re.compile("".join([*parts, re.escape(template[last:])]), re.DOTALL)


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    if _ALTERNATIVES.fullmatch(value):  # ``law_enforcement or emergency``: the ``or`` translated
        return alternatives(value.split(" or "))
    return value


def parsed(text: str | None, templates: Sequence[str]) -> str | None:
    """``text`` as the message of the first of ``templates`` it was rendered from (numbers read back as numbers),
    so that a sentence stored as English text (a trip's ``dispatch_note``) can be translated again; a `Message`, or
    a text none of them renders, as it is."""
    if text is None or isinstance(text, Message):
        return text
    for template in templates:
        found = _pattern(template).fullmatch(text)
        if found is None:
            continue
        made = Message(template, **{name: _number(value) for name, value in found.groupdict().items()})
        if made == text:
            return made
    return text
