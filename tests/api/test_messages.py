"""Every error's ``detail`` in the caller's language: Chinese for ``Accept-Language: zh…``, English otherwise, with
the same error code, the same field and the same numbers; usage-audit findings likewise."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from fleet.enums import Category, MarkingStatus
from tests.api.conftest import AGENCY_A, AGENCY_B, Api, at, trip_body
from tests.factories import vehicle_in

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": "en"}
HAN = re.compile(r"[\u4e00-\u9fff]")


def numbers(text: str) -> Counter[str]:
    return Counter(re.findall(r"\d+(?:\.\d+)?", text))


def without_detail(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "detail"}


def vehicle(**overrides: Any) -> dict[str, Any]:
    return vehicle_in(**overrides).model_dump(mode="json")


def three_ways(send: Any) -> tuple[Any, Any, Any]:
    """The same request in Chinese, in English and without the header."""
    return send(CHINESE), send(ENGLISH), send({})


def over_quota(api: Api) -> Any:
    """Agency A holds one of its two emergency vehicles: a second one fits, the third is over quota."""
    admin = api.as_("admin")
    first = admin.post("/vehicles", json={"agency": AGENCY_A, "vehicle": vehicle(category=Category.emergency)})
    assert first.status_code == 201, first.text
    body = {"agency": AGENCY_A, "vehicle": vehicle(category=Category.emergency)}
    return lambda headers: admin.post("/vehicles", json=body, headers=headers)


class TestARefusal:
    def test_reads_in_chinese_with_the_same_code_field_and_numbers(self, api: Api) -> None:
        zh, en, plain = three_ways(over_quota(api))
        assert zh.status_code == en.status_code == plain.status_code == 409
        assert plain.json() == en.json()
        chinese, english = zh.json(), en.json()
        assert without_detail(chinese) == without_detail(english)
        assert english["error"] == "QuotaExceeded"
        assert english["rule"] == "quota"
        assert english["detail"].startswith("agency WH-GA would hold 3 emergency (应急保障) vehicles against a "
                                            "quota of 2")
        assert chinese["detail"].startswith("单位 WH-GA 的 emergency（应急保障）车辆将达 3 辆，超出编制 2 辆")
        assert numbers(chinese["detail"]) == numbers(english["detail"])
        assert zh.headers["Content-Language"] == "zh-CN"
        assert en.headers["Content-Language"] == plain.headers["Content-Language"] == "en"
        assert "Accept-Language" in zh.headers["Vary"]

    def test_a_state_conflict_keeps_the_status_codes_with_their_labels(self, api: Api) -> None:
        r = api.as_("requester-a").post("/trips", json=trip_body())
        trip = r.json()["id"]
        assert api.as_("approver-a").post(f"/trips/{trip}/approve", json={}).status_code == 200
        zh, en, _ = three_ways(lambda h: api.as_("approver-a").post(f"/trips/{trip}/approve", json={}, headers=h))
        assert zh.status_code == en.status_code == 409
        assert en.json()["detail"] == f"trip {trip} is approved; approve needs requested"
        assert zh.json()["detail"] == f"行程 {trip} 当前为 approved（已审批）；仅 requested（已申请）状态的行程可以批准"
        assert zh.json()["field"] == en.json()["field"] == "status"

    def test_an_unknown_language_is_english(self, api: Api) -> None:
        send = over_quota(api)
        assert send({"Accept-Language": "fr-FR, de;q=0.8"}).json()["detail"].startswith("agency WH-GA")
        assert send({"Accept-Language": "zh;q=0, en;q=0.5"}).json()["detail"].startswith("agency WH-GA")
        assert send({"Accept-Language": "de, zh-TW;q=0.5"}).json()["detail"].startswith("单位 WH-GA")


class TestValidation:
    def test_a_validators_sentence_in_chinese_names_the_same_field(self, api: Api) -> None:
        body = trip_body(latest_pickup=at(8).isoformat())
        zh, en, plain = three_ways(lambda h: api.as_("requester-a").post("/trips", json=body, headers=h))
        assert zh.status_code == en.status_code == 422
        assert en.json() == plain.json() == {"error": "InvalidInput", "field": "latest_pickup",
                                             "detail": "field 'latest pickup': is before the earliest pickup"}
        assert zh.json() == {"error": "InvalidInput", "field": "latest_pickup",
                             "detail": "字段“最晚上车时间”：早于最早上车时间"}

    # the field by its human label in the sentence, by its name in "field"
    @pytest.mark.parametrize(("overrides", "field", "labels", "english", "chinese"), [
        ({"passengers": 0}, "passengers", ("number of passengers", "乘车人数"),
         "Input should be greater than or equal to 1", "应大于或等于 1"),
        ({"passengers": 61}, "passengers", ("number of passengers", "乘车人数"),
         "Input should be less than or equal to 60", "应小于或等于 60"),
        ({"purpose": "a"}, "purpose", ("purpose of the trip", "用车事由"), "String should have at least 2 characters",
         "长度至少为 2 个字符"),
        ({"priority": "vip"}, "priority", ("priority level", "优先级"),
         "Input should be 'emergency', 'law_enforcement' or 'routine'",
         "应为 'emergency', 'law_enforcement' 或 'routine'"),
        ({"dwell_min": "long"}, "dwell_min", ("time at the destination", "目的地停留时间"),
         "Input should be a valid integer", "应为整数"),
        ({"surprise": 1}, "surprise", ("surprise", "surprise"), "Extra inputs are not permitted", "不允许填写此字段"),
        ({"pickup": None}, "pickup", ("pickup place", "上车地点"), "Input should be a valid dictionary", "应为对象"),
    ])
    def test_pydantics_errors_in_chinese(self, api: Api, overrides: dict[str, Any], field: str,
                                         labels: tuple[str, str], english: str, chinese: str) -> None:
        body = trip_body(**overrides)
        zh, en, _ = three_ways(lambda h: api.as_("requester-a").post("/trips", json=body, headers=h))
        assert zh.status_code == en.status_code == 422
        assert en.json()["field"] == zh.json()["field"] == field
        assert en.json()["detail"].startswith(f"field '{labels[0]}': {english}")
        assert zh.json()["detail"] == f"字段“{labels[1]}”：{chinese}"

    def test_a_missing_field(self, api: Api) -> None:
        body = {k: v for k, v in trip_body().items() if k != "purpose"}
        zh = api.as_("requester-a").post("/trips", json=body, headers=CHINESE)
        assert zh.json() == {"error": "InvalidInput", "field": "purpose", "detail": "字段“用车事由”：必须填写"}

    def test_a_body_that_is_not_json(self, api: Api) -> None:
        zh = api.as_("requester-a").post("/trips", content=b"{not json", headers={**CHINESE,
                                                                                   "Content-Type": "application/json"})
        assert zh.status_code == 422
        assert zh.json()["detail"] == "请求体不是有效的 JSON"


class TestHttpErrors:
    def test_an_unknown_route(self, api: Api) -> None:
        zh, en, _ = three_ways(lambda h: api.as_("admin").get("/no-such-thing", headers=h))
        assert zh.status_code == en.status_code == 404
        assert en.json()["detail"] == "Not Found"
        assert zh.json()["detail"] == "未找到"
        assert zh.json()["error"] == en.json()["error"] == "NotFound"


class TestFindings:
    def test_a_finding_reads_in_the_callers_language(self, api: Api) -> None:
        unmarked = vehicle(category=Category.general, marking=MarkingStatus.unmarked)
        r = api.as_("admin").post("/vehicles", json={"agency": AGENCY_B, "vehicle": unmarked})
        assert r.status_code == 201, r.text
        plate = r.json()["plate"]
        query = {"since": at(0).isoformat(), "until": at(23).isoformat(), "kind": "unmarked"}

        def found(headers: dict[str, str]) -> dict[str, Any]:
            answer = api.as_("supervisor").get("/violations", params=query, headers=headers)
            assert answer.status_code == 200, answer.text
            items = answer.json()
            items = items["items"] if isinstance(items, dict) else items
            return next(item for item in items if item["plate"] == plate)

        zh, en, plain = found(CHINESE), found(ENGLISH), found({})
        assert en == plain
        assert en["detail"] == (f"Vehicle {plate} of {AGENCY_B} (general, active) carries no official-vehicle marking "
                                f"and has no recorded exemption.")
        assert zh["detail"] == (f"{AGENCY_B} 的车辆 {plate}（general（其他），active（在用））未喷涂公务用车标识，"
                                f"且无免于标识的记录。")
        assert without_detail(zh) == without_detail(en)
        assert not HAN.search(en["detail"].replace(plate, ""))
