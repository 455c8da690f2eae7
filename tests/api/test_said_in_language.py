"""What the API words for people reaches them in their language (``Accept-Language``): the engine's reasons (kept as
a stable code and its parameters, or read back from a note stored as English), why a run stopped, who ran it, the
fields a refusal names (by their human label, the ``field`` key staying the machine's), roles with their article,
and the console's own 404s."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from fleet import clock
from fleet.db import unit_of_work
from fleet.models import DispatchRun, Trip
from tests.api.conftest import AGENCY_A, Api, at, trip_body

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": "en"}
WINDOW = {"start": at(0).isoformat(), "end": (at(0) + timedelta(days=1)).isoformat(), "time_limit": 1}
NO_CAR = "no confidential_comms vehicle in the fleet"  # the city has no such car
NO_CAR_ZH = "车队中没有 confidential_comms 类车辆"
UNREACHABLE = "window unreachable from every depot within shift hours"
UNREACHABLE_ZH = "班次时间内从任何车场出发均无法在时间窗内到达"


def booked(api: Api, **overrides: Any) -> int:
    r = api.as_("requester-a").post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    trip = int(r.json()["id"])
    assert api.as_("approver-a").post(f"/trips/{trip}/approve", json={"note": "同意"}).status_code == 200
    return trip


class TestTheEnginesReasons:
    def test_a_runs_unserved_reason_and_why_it_stopped_read_in_the_callers_language(self, api: Api) -> None:
        trip = booked(api, categories=["confidential_comms"])
        zh = api.as_("dispatcher").post("/dispatch", json=WINDOW, headers=CHINESE)
        assert zh.status_code == 200, zh.text
        unserved = {row["trip_id"]: row for row in zh.json()["unserved"]}[trip]
        assert unserved["reason"] == NO_CAR_ZH
        assert unserved["code"] == "no_vehicle_of_category"
        assert unserved["params"] == {"categories": "confidential_comms"}
        assert zh.json()["stopped_by"] in ("optimal", "work budget", "time limit")  # the code stays the code
        assert zh.json()["stopped_by_text"] in ("已得到最优方案", "计算量预算已用完", "已达到时间上限")
        run_id = zh.json()["run_id"]

        # the note on the trip, the queue on the day board and the run read back later: Chinese for a Chinese
        # reader, English for anyone else
        assert api.as_("dispatcher").get(f"/trips/{trip}", headers=CHINESE).json()["dispatch_note"] == NO_CAR_ZH
        assert api.as_("dispatcher").get(f"/trips/{trip}", headers=ENGLISH).json()["dispatch_note"] == NO_CAR
        assert api.as_("dispatcher").get(f"/trips/{trip}").json()["dispatch_note"] == NO_CAR
        run = api.as_("dispatcher").get(f"/dispatch/runs/{run_id}", headers=CHINESE).json()
        assert run["summary"]["unserved"][0]["reason"] == NO_CAR_ZH
        assert run["actor"] == "dispatcher（平台调度员）"
        english = api.as_("dispatcher").get(f"/dispatch/runs/{run_id}", headers=ENGLISH).json()
        assert english["summary"]["unserved"][0]["reason"] == NO_CAR
        assert english["actor"] == "dispatcher (dispatcher)"
        assert english["summary"]["stopped_by_text"] in ("the plan is optimal", "the work budget was spent",
                                                         "the time limit was reached")
        listed = api.as_("dispatcher").get("/dispatch/runs", headers=CHINESE).json()["items"]
        assert listed[0]["actor"] == "dispatcher（平台调度员）"

    def test_a_note_and_a_run_stored_as_english_text_read_in_chinese(self, api: Api, city_engine: Engine) -> None:
        """Rows written before the reasons were kept as codes hold English text: it is read back and translated."""
        trip = booked(api, categories=["confidential_comms"])  # left in the queue
        run_id = api.as_("dispatcher").post("/dispatch", json=WINDOW).json()["run_id"]
        with unit_of_work(city_engine) as session:
            session.get_one(Trip, trip).dispatch_note = UNREACHABLE
            record = session.get_one(DispatchRun, run_id)
            record.summary = {**record.summary, "unserved": [
                {"trip_id": trip, "priority": "routine", "reason": "all 3 eligible vehicles busy 09:00-10:30"}]}
        assert api.as_("dispatcher").get(f"/trips/{trip}", headers=CHINESE).json()["dispatch_note"] == UNREACHABLE_ZH
        assert api.as_("dispatcher").get(f"/trips/{trip}", headers=ENGLISH).json()["dispatch_note"] == UNREACHABLE
        board = api.as_("dispatcher").get("/board", params={"day": "2030-03-12"}, headers=CHINESE)
        assert board.status_code == 200, board.text
        assert {t["id"]: t["dispatch_note"] for t in board.json()["queue"]}[trip] == UNREACHABLE_ZH
        run = api.as_("dispatcher").get(f"/dispatch/runs/{run_id}", headers=CHINESE).json()
        assert run["summary"]["unserved"][0]["reason"] == "符合条件的 3 辆车在 09:00-10:30 均已有任务"
        assert run["summary"]["unserved"][0]["code"] == "all_busy"

    def test_an_unplaced_emergencys_reason_reads_in_chinese(self, api: Api) -> None:
        body = trip_body(priority="emergency", categories=["confidential_comms"], purpose="防汛抢险",
                         earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 20).isoformat(), dwell_min=30,
                         agency=AGENCY_A, approval_basis="单位审批人电话同意")
        r = api.as_("dispatcher").post("/trips", json=body, headers=CHINESE)
        assert r.status_code == 201, r.text
        assert r.json()["urgent"]["vehicle"] is None
        assert r.json()["urgent"]["reason"] == NO_CAR_ZH
        assert r.json()["dispatch_note"] == NO_CAR_ZH


class TestFieldsByTheirLabels:
    def test_a_window_ending_before_it_starts(self, api: Api) -> None:
        body = trip_body(latest_pickup=at(8).isoformat())
        zh = api.as_("requester-a").post("/trips", json=body, headers=CHINESE)
        en = api.as_("requester-a").post("/trips", json=body, headers=ENGLISH)
        assert zh.status_code == en.status_code == 422
        assert zh.json() == {"error": "InvalidInput", "field": "latest_pickup",
                             "detail": "字段“最晚上车时间”：早于最早上车时间"}
        assert en.json() == {"error": "InvalidInput", "field": "latest_pickup",
                             "detail": "field 'latest pickup': is before the earliest pickup"}

    def test_a_past_pickup_names_the_back_fill_reason_by_its_label(self, api: Api) -> None:
        body = trip_body(earliest_pickup=at(8).isoformat(), latest_pickup=at(9).isoformat())
        with clock.travel(at(12)):
            zh = api.as_("requester-a").post("/trips", json=body, headers=CHINESE)
            en = api.as_("requester-a").post("/trips", json=body, headers=ENGLISH)
        assert zh.status_code == en.status_code == 422
        assert zh.json()["field"] == en.json()["field"] == "latest_pickup"
        assert zh.json()["detail"].endswith("须由调度员填写补录原因"), zh.json()["detail"]
        assert en.json()["detail"].endswith("a dispatcher records with the back-fill reason"), en.json()["detail"]
        assert "backfill_reason" not in zh.json()["detail"] + en.json()["detail"]


    def test_a_place_outside_china_names_its_field_and_why(self, api: Api) -> None:
        body = trip_body(pickup={"lat": 0, "lon": 0, "address": "江岸区沿江大道"})
        zh = api.as_("requester-a").post("/trips", json=body, headers=CHINESE)
        en = api.as_("requester-a").post("/trips", json=body, headers=ENGLISH)
        assert zh.status_code == en.status_code == 422
        assert zh.json() == {"error": "InvalidInput", "field": "pickup.lat",
                             "detail": "字段“上车地点纬度”：0 不在中国境内（中国的纬度在北纬 3.5° 至 53.6° 之间）"}
        assert en.json() == {"error": "InvalidInput", "field": "pickup.lat", "detail": "field 'pickup latitude': 0 "
                             "is outside China, whose latitudes run from 3.5° to 53.6° north"}
        yard = api.as_("admin").patch(f"/vehicles/{api.city.vehicles['le-a2']}", json={"home_lon": -114.3},
                                      headers=CHINESE)
        assert yard.status_code == 422
        assert yard.json() == {"error": "InvalidInput", "field": "home_lon",
                               "detail": "字段“车场经度”：-114.3 不在中国境内（中国的经度在东经 73.4° 至 135.1° 之间）"}

    def test_a_shift_time_with_an_offset_names_its_field_and_why(self, api: Api) -> None:
        driver = api.city.drivers["driver-a"]
        shifts = {d["id"]: (d["shift_start"], d["shift_end"]) for d in api.as_("admin").get("/drivers").json()["items"]}
        zh = api.as_("admin").patch(f"/drivers/{driver}", json={"shift_start": "07:00-05:00"}, headers=CHINESE)
        en = api.as_("admin").patch(f"/drivers/{driver}", json={"shift_start": "07:00-05:00"}, headers=ENGLISH)
        assert zh.status_code == en.status_code == 422
        assert zh.json() == {"error": "InvalidInput", "field": "shift_start",
                             "detail": "字段“班次开始时间”：是当地时间：请去掉时区偏移或 Z，例如 07:00"}
        assert en.json() == {"error": "InvalidInput", "field": "shift_start", "detail": "field 'shift start': is a "
                             "local time of day: write it without an offset or Z, e.g. 07:00"}
        after = {d["id"]: (d["shift_start"], d["shift_end"]) for d in api.as_("admin").get("/drivers").json()["items"]}
        assert after == shifts
        added = api.as_("admin").post("/drivers", json={"name": "王师傅", "licence_class": "C1", "agency": AGENCY_A,
                                                       "shift_start": "07:00", "shift_end": "19:00+08:00"})
        assert added.status_code == 422
        assert added.json()["field"] == "shift_end"


class TestTheAuditTrail:
    def test_who_did_it_has_the_role_in_the_callers_language(self, api: Api) -> None:
        trip = booked(api)
        query = {"entity": "trip", "entity_id": str(trip)}
        zh = api.as_("supervisor").get("/audit", params=query, headers=CHINESE)
        en = api.as_("supervisor").get("/audit", params=query, headers=ENGLISH)
        assert zh.status_code == en.status_code == 200
        assert [r["actor"] for r in zh.json()["items"]] == ["requester-a（用车申请人）", "approver-a（单位审批人）"]
        assert [r["actor"] for r in en.json()["items"]] == ["requester-a (requester)", "approver-a (approver)"]
        assert [r["actor"] for r in api.as_("supervisor").get("/audit", params=query).json()["items"]] == \
            ["requester-a (requester)", "approver-a (approver)"]
        # the filter still takes the name, and the name with its role as stored
        for actor in ("requester-a", "requester-a (requester)"):
            found = api.as_("supervisor").get("/audit", params={**query, "actor": actor}, headers=CHINESE).json()
            assert [r["actor"] for r in found["items"]] == ["requester-a（用车申请人）"]


class TestRoles:
    def test_a_role_in_a_sentence_has_its_article_in_english_and_its_name_in_chinese(self, api: Api) -> None:
        en = api.as_("admin").post("/dispatch", json=WINDOW, headers=ENGLISH)
        zh = api.as_("admin").post("/dispatch", json=WINDOW, headers=CHINESE)
        assert en.status_code == zh.status_code == 403
        assert en.json()["detail"] == "an admin may not do this; it needs: dispatcher"
        assert zh.json()["detail"] == "车辆管理员 无权执行此操作；须为以下角色之一：平台调度员"
        approver = api.as_("approver-a").post("/dispatch", json=WINDOW, headers=ENGLISH)
        assert approver.json()["detail"].startswith("an approver may not do this")


class TestTheConsolesNotFound:
    def test_a_missing_file_reads_in_chinese(self, city_engine: Engine, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "assets").mkdir()
        (tmp_path / "index.html").write_text("<!doctype html><title>公车</title>", encoding="utf-8")
        (tmp_path / "vendor.json").write_text("{}", encoding="utf-8")
        monkeypatch.setenv("GONGCHE_CONSOLE_DIR", str(tmp_path))
        with TestClient(create_app(city_engine)) as client:
            zh = client.get("/assets/gone.js", headers=CHINESE)
            en = client.get("/assets/gone.js", headers=ENGLISH)
        assert zh.status_code == en.status_code == 404
        assert en.json()["detail"] == "no file /assets/gone.js"
        assert zh.json()["detail"] == "文件 /assets/gone.js 不存在"
