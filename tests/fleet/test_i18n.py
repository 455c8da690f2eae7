"""Messages in the user's language: the catalog keeps every placeholder, every template in the sources has its
Chinese, and `translate`, `negotiate` and `pydantic_message` do what `fleet.i18n` says."""

from __future__ import annotations

import ast
import pickle
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from fleet import i18n
from fleet.enums import Category, TripStatus
from fleet.errors import FieldError, InvalidInput, QuotaExceeded
from fleet.i18n import (
    CHINESE,
    ENGLISH,
    Message,
    Text,
    catalog,
    field_label,
    msg,
    negotiate,
    pydantic_message,
    translate,
)
from fleet.rules import check_quota
from fleet.schemas import TripIn

ROOT = Path(__file__).resolve().parents[2]
PO = i18n.LOCALES / "zh_CN" / "LC_MESSAGES" / "gongche.po"
POT = i18n.LOCALES / "gongche.pot"
SOURCES = ("fleet", "dispatch", "api", "scenarios", "telematics", "gongche")  # as `make messages` extracts them


def placeholders(template: str) -> list[tuple[str, str, str]]:
    """Every ``{name!conversion:spec}`` of a template, sorted (literal ``{{`` and ``}}`` are not placeholders)."""
    return sorted((name, conversion or "", spec or "") for _, name, spec, conversion in Formatter().parse(template)
                  if name is not None)


def entries() -> list[tuple[str, str]]:
    with PO.open("rb") as handle:
        po = read_po(handle, locale="zh_CN")
    return [(m.id, m.string) for m in po if isinstance(m.id, str) and m.id and isinstance(m.string, str)]


ENTRIES = entries()


def source_templates() -> dict[str, str]:
    """Every ``msg("...")`` template in the project's sources, as Babel extracts it, with where it was found."""
    found: dict[str, str] = {}
    for folder in SOURCES:
        for filename, lineno, message, _, _ in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords={"msg": None}, comment_tags=()):
            assert isinstance(message, str), f"{folder}/{filename}:{lineno}: msg() takes one template"
            found.setdefault(message, f"{folder}/{filename}:{lineno}")
    return found


def value_for(spec: str, draw: Any) -> Any:
    """A parameter value that a placeholder with format ``spec`` can format."""
    if "%" in spec and any(c.isalpha() for c in spec.replace("%", "")):  # strftime: {at:%H:%M}
        return draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
    if spec.endswith(("f", "g", "e", "%")):
        return draw(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
    if spec.endswith(("d", "x", "X")) or "#" in spec:
        return draw(st.integers(min_value=-10**6, max_value=10**6))
    return draw(st.one_of(st.integers(min_value=0, max_value=10**6),
                          st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-鄂湖北", min_size=1, max_size=12)))


class TestTheCatalog:
    def test_it_has_entries_and_every_one_is_translated(self) -> None:
        assert len(ENTRIES) > 100
        assert [msgid for msgid, string in ENTRIES if not string.strip()] == []

    @given(entry=st.sampled_from(ENTRIES))
    def test_every_translation_keeps_exactly_the_placeholders_of_its_template(self, entry: tuple[str, str]) -> None:
        msgid, string = entry
        assert placeholders(string) == placeholders(msgid), msgid

    @given(data=st.data(), entry=st.sampled_from(ENTRIES))
    def test_every_parameter_reads_the_same_in_both_languages(self, data: st.DataObject,
                                                              entry: tuple[str, str]) -> None:
        """The field, the numbers, the plates, the ids: whatever a message is given shows in Chinese as in
        English, formatted alike."""
        msgid, _ = entry
        formatter = Formatter()
        fields = {name: (conversion, spec) for name, conversion, spec in placeholders(msgid)}
        params = {name: value_for(spec, data.draw) for name, (_, spec) in fields.items()}
        english = msg(msgid, **params)
        chinese = translate(english, CHINESE)
        for name, (conversion, spec) in fields.items():
            shown = formatter.format_field(formatter.convert_field(params[name], conversion or None), spec)
            assert shown in english
            assert shown in chinese, (msgid, name)

    def test_every_template_in_the_sources_has_its_chinese(self) -> None:
        """A new ``msg("...")`` without a translation fails here: run ``make messages`` and translate it in
        ``fleet/locales/zh_CN/LC_MESSAGES/gongche.po``."""
        templates = source_templates()
        assert len(templates) > 100
        untranslated = {where: template for template, where in templates.items() if template not in catalog(CHINESE)}
        assert untranslated == {}

    def test_the_catalog_was_updated_from_the_template(self) -> None:
        with POT.open("rb") as handle:
            pot = {m.id for m in read_po(handle) if m.id}
        assert pot - {msgid for msgid, _ in ENTRIES} == set()

    def test_every_msg_call_is_a_literal_template(self) -> None:
        """``msg(template_variable, ...)`` would hide its template from the extractor (and so from translators)."""
        offenders = [f"{path.relative_to(ROOT)}:{node.lineno}" for folder in SOURCES
                     for path in sorted((ROOT / folder).rglob("*.py"))
                     for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "msg"
                     and not (node.args and isinstance(node.args[0], ast.Constant)
                              and isinstance(node.args[0].value, str))]
        assert offenders == []


class TestTranslate:
    def test_a_message_reads_in_chinese_with_its_numbers(self) -> None:
        with pytest.raises(QuotaExceeded) as caught:
            check_quota(agency="WH-GA", category=Category.emergency, limit=2, held=2, adding=1)
        detail = caught.value.detail
        assert detail.startswith("agency WH-GA would hold 3 emergency (应急保障) vehicles against a quota of 2")
        chinese = translate(detail, CHINESE)
        assert chinese.startswith("单位 WH-GA 的 emergency（应急保障）车辆将达 3 辆，"
                                  "超出编制 2 辆（现有 2 辆，本次 +1 辆）")
        assert translate(detail, ENGLISH) == detail

    def test_an_enum_parameter_keeps_its_code_and_gains_its_label_in_chinese(self) -> None:
        said = msg("plan {plan_id} is {status}; only a draft can be submitted", plan_id=7, status=TripStatus.approved)
        assert said == "plan 7 is approved; only a draft can be submitted"
        assert translate(said, CHINESE) == "计划 7 当前为 approved（已审批）；仅草稿可以提交"

    def test_messages_inside_messages_are_translated_too(self) -> None:
        inner = msg("is before the {field}", field=field_label("earliest_pickup"))
        said = msg("field '{field}': {reason}", field="latest_pickup", reason=inner)
        assert translate(said, CHINESE) == "字段“latest_pickup”：早于最早上车时间"

    def test_a_template_missing_from_the_catalog_and_a_plain_string_stay_english(self) -> None:
        assert translate(msg("no such sentence {n}", n=3), CHINESE) == "no such sentence 3"
        assert translate("plain text", CHINESE) == "plain text"
        assert translate(msg("Field required"), "fr") == "Field required"

    def test_a_translation_that_breaks_its_placeholders_falls_back_to_english(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(i18n, "catalog", lambda language: {"held {held}": "现有 {count} 辆"})
        assert translate(msg("held {held}", held=2), CHINESE) == "held 2"

    def test_a_message_survives_pickling_with_its_template(self) -> None:
        said = pydantic_message({"type": "missing", "msg": "Field required", "loc": ("x",)})
        again = pickle.loads(pickle.dumps(msg("field '{field}': {reason}", field="x", reason=said)))
        assert isinstance(again, Message)
        assert again == "field 'x': Field required"
        assert translate(again, CHINESE) == "字段“x”：必须填写"

    def test_a_text_field_keeps_its_message(self) -> None:
        class Out(BaseModel):
            detail: Text

        kept = Out(detail=msg("trip {trip_id} holds no vehicle to release", trip_id=5)).detail
        assert isinstance(kept, Message)
        assert Out(detail="plain").detail == "plain"
        with pytest.raises(ValidationError):
            Out.model_validate({"detail": 5})


class Shape(BaseModel):
    name: str = Field(min_length=2, max_length=4)
    seats: int = Field(ge=1, le=60)
    price: Decimal = Field(max_digits=5, decimal_places=2)
    on: date | None = None
    at: time | None = None
    categories: list[Category] = Field(default_factory=list, max_length=2)


class TestPydanticMessages:
    @pytest.mark.parametrize(("data", "chinese"), [
        ({"seats": 1, "price": 1}, "必须填写"),
        ({"name": "a", "seats": 1, "price": 1}, "长度至少为 2 个字符"),
        ({"name": "abcde", "seats": 1, "price": 1}, "长度至多为 4 个字符"),
        ({"name": "ab", "seats": 0, "price": 1}, "应大于或等于 1"),
        ({"name": "ab", "seats": 61, "price": 1}, "应小于或等于 60"),
        ({"name": "ab", "seats": "x", "price": 1}, "应为整数"),
        ({"name": "ab", "seats": 1.5, "price": 1}, "应为整数，不得带有小数部分"),
        ({"name": "ab", "seats": 1, "price": "1.234"}, "小数位数不得超过 2 位"),
        ({"name": "ab", "seats": 1, "price": 1, "on": "soon"}, "应为有效日期（如 2026-11-24）"),
        ({"name": "ab", "seats": 1, "price": 1, "categories": ["vip"]},
         "应为 'confidential_comms', 'emergency', 'law_enforcement', 'special_technical' 或 'general'"),
        ({"name": "ab", "seats": 1, "price": 1, "categories": ["general"] * 3}, "应至多有 2 项"),
    ])
    def test_the_common_errors_read_in_chinese_and_stay_pydantics_in_english(
            self, data: dict[str, Any], chinese: str) -> None:
        with pytest.raises(ValidationError) as caught:
            Shape.model_validate(data)
        error = caught.value.errors()[0]
        said = pydantic_message(error)
        assert said == error["msg"]
        assert translate(said, CHINESE) == chinese

    def test_an_unknown_error_type_stays_pydantics_english(self) -> None:
        error = {"type": "union_tag_invalid", "msg": "Input tag 'x' found using 'shape' does not match", "loc": ()}
        assert translate(pydantic_message(error), CHINESE) == error["msg"]

    def test_a_validators_own_message_is_used(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            TripIn.parse({"purpose": "执法检查", "pickup": {"lat": 30, "lon": 114, "address": "甲"},
                          "dropoff": {"lat": 30.1, "lon": 114, "address": "乙"},
                          "earliest_pickup": "2030-03-12T10:00:00+08:00", "latest_pickup": "2030-03-12T09:00:00+08:00"})
        assert caught.value.detail == "field 'latest pickup': is before the earliest pickup"
        assert translate(caught.value.detail, CHINESE) == "字段“最晚上车时间”：早于最早上车时间"

    def test_a_field_error_keeps_its_message(self) -> None:
        said = msg("{first} and {second} go together", first=field_label("home_lat"), second=field_label("home_lon"))
        error = {"type": "value_error", "msg": f"Value error, {said}", "loc": (),
                 "ctx": {"error": FieldError("home_lat", said)}}
        assert pydantic_message(error) == "yard latitude and yard longitude go together"
        assert translate(pydantic_message(error), CHINESE) == "车场纬度与车场经度须同时填写"


class TestNegotiate:
    @pytest.mark.parametrize(("header", "language"), [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh-Hans", "zh_CN"),
        ("zh-TW", "zh_CN"),
        ("zh-Hant-HK", "zh_CN"),
        ("ZH-cn", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("en", "en"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.1, zh-Hans", "zh_CN"),
        ("fr-FR, de;q=0.9, zh;q=0.5", "zh_CN"),
        ("fr-FR, de;q=0.9", "en"),
        ("zh;q=0, en", "en"),
        ("zh-CN;q=0", "en"),
        ("zh;q=0.0, *", "en"),
        ("*", "en"),
        ("*;q=0.5, zh;q=0.6", "zh_CN"),
        ("*, zh;q=0.6", "en"),
        ("zh;q=abc, en", "en"),
        ("zh;q=1.5", "en"),
        ("zh;q=0.5;q=0.9", "en"),
        ("zh ; q = 0.5 , en ; q=0.4", "zh_CN"),
        ("zh;level=1", "zh_CN"),
        ("en;q=0.3, fr, zh-CN;q=0.30", "en"),
        (",,;;", "en"),
        ("zh-CN-x-very-very-long-tag-of-nonsense", "zh_CN"),
        ("中文", "en"),
        ("zh-CN" + ", fr" * 1000, "zh_CN"),
    ])
    def test_headers(self, header: str | None, language: str) -> None:
        assert negotiate(header) == language

    @given(st.text(max_size=200))
    def test_any_header_gives_a_language_we_speak(self, header: str) -> None:
        assert negotiate(header) in ("zh_CN", "en")
