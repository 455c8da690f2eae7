"""Pure tests of fleet.schemas: VIN and plate checks, and the consistency rules of the service inputs."""

from __future__ import annotations

import unicodedata
from datetime import time
from decimal import Decimal
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fleet.enums import EarlyRenewalBasis, MarkingStatus, Powertrain
from fleet.errors import InvalidInput
from fleet.i18n import field_label
from fleet.schemas import (
    DisposalIn,
    DriverIn,
    DriverPatch,
    Input,
    PlanIn,
    PlanLineIn,
    TripIn,
    VehicleIn,
    VehiclePatch,
    normalise_plate,
    trimmed,
    vin_check_digit,
)

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def with_check_digit(vin: str) -> str:
    """``vin`` with position 9 replaced by its correct check digit (position 9 weighs 0 in the sum)."""
    return vin[:8] + vin_check_digit(vin) + vin[9:]


VALID_VIN = with_check_digit("LSVAU2180N2183294")


def vehicle(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plate": "鄂A12345", "vin": VALID_VIN, "model": "大众帕萨特", "category": "general",
        "powertrain": "ice", "seats": 5, "price_cny": "150000", "displacement_l": "1.5",
        "acquired_on": "2020-03-01",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def renewal_line(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "renewal", "category": "general", "powertrain": "bev", "count": 2, "unit_price_cny": "160000",
        "replaces": ["鄂A12345", "鄂A23456"],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def refused(model: type[Input], data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        model.parse(data)
    assert info.value.status == 422
    return info.value


class TestVin:
    def test_built_vin_parses(self) -> None:
        assert VehicleIn.parse(vehicle()).vin == VALID_VIN

    def test_known_real_world_vin_with_check_digit_x(self) -> None:
        assert vin_check_digit("1M8GDM9AXKP042788") == "X"
        assert VehicleIn.parse(vehicle(vin="1M8GDM9AXKP042788")).vin == "1M8GDM9AXKP042788"

    def test_lower_case_vin_is_upper_cased(self) -> None:
        assert VehicleIn.parse(vehicle(vin=VALID_VIN.lower())).vin == VALID_VIN

    def test_wrong_check_digit_is_refused(self) -> None:
        wrong = next(d for d in "0123456789X" if d != VALID_VIN[8])
        exc = refused(VehicleIn, vehicle(vin=VALID_VIN[:8] + wrong + VALID_VIN[9:]))
        assert exc.field == "vin"
        assert "check digit" in exc.detail
        assert f"should be {VALID_VIN[8]}" in exc.detail

    @pytest.mark.parametrize("letter", ["I", "O", "Q"])
    def test_letters_i_o_q_are_refused(self, letter: str) -> None:
        exc = refused(VehicleIn, vehicle(vin=VALID_VIN[:3] + letter + VALID_VIN[4:]))
        assert exc.field == "vin"
        assert "never I, O or Q" in exc.detail

    @pytest.mark.parametrize("vin", [VALID_VIN[:16], VALID_VIN + "1", ""], ids=["16", "18", "empty"])
    def test_wrong_length_is_refused(self, vin: str) -> None:
        exc = refused(VehicleIn, vehicle(vin=vin))
        assert exc.field == "vin"
        assert exc.detail.startswith("field 'vin': ")

    @settings(database=None, max_examples=200, deadline=None)
    @given(st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17))
    def test_any_vin_with_its_check_digit_parses(self, raw: str) -> None:
        """Property: every 17-character VIN (no I/O/Q) carrying vin_check_digit at position 9 is accepted."""
        vin = with_check_digit(raw)
        assert vin[8] in "0123456789X"
        assert VehicleIn.parse(vehicle(vin=vin)).vin == vin


class TestPlate:
    @pytest.mark.parametrize(
        ("plate", "expected"),
        [
            ("鄂A12345", "鄂A12345"),
            ("鄂AD12345", "鄂AD12345"),
            ("鄂A1234警", "鄂A1234警"),
            ("鄂A·12345", "鄂A12345"),
            ("鄂A 12345", "鄂A12345"),
            ("鄂a-12345", "鄂A12345"),
            ("京BF1234X", "京BF1234X"),
        ],
        ids=["fuel", "new-energy", "police", "middle-dot", "space", "lower-dash", "beijing"],
    )
    def test_valid_plates_parse_normalised(self, plate: str, expected: str) -> None:
        assert VehicleIn.parse(vehicle(plate=plate)).plate == expected

    def test_normalise_plate(self) -> None:
        assert normalise_plate("鄂a · 1234-5") == "鄂A12345"

    @pytest.mark.parametrize(
        "plate",
        ["AB12345", "鄂I12345", "鄂O12345", "鄂A123", "鄂A1234567", "鄂112345", "港A12345", "鄂A123警",
         "鄂A12I45"],
        ids=["no-province", "office-I", "office-O", "short", "long", "digit-office", "not-a-province",
             "police-short", "letter-I"],
    )
    def test_invalid_plates_are_refused(self, plate: str) -> None:
        exc = refused(VehicleIn, vehicle(plate=plate))
        assert exc.field == "plate"
        assert "is not a Chinese licence plate" in exc.detail


class TestVehicleIn:
    def test_valid_fuel_vehicle(self) -> None:
        parsed = VehicleIn.parse(vehicle())
        assert parsed.price_cny == Decimal(150000)
        assert parsed.displacement_l == Decimal("1.5")
        assert parsed.marking is MarkingStatus.marked

    def test_valid_bev_and_fcev(self) -> None:
        assert VehicleIn.parse(vehicle(powertrain="bev", displacement_l=None, range_km=500)).range_km == 500
        assert VehicleIn.parse(vehicle(powertrain="fcev", displacement_l=None)).powertrain is Powertrain.fcev

    @pytest.mark.parametrize(
        ("changes", "named"),
        [
            ({"powertrain": "bev", "range_km": 400}, "displacement_l"),
            ({"powertrain": "fcev"}, "displacement_l"),
            ({"displacement_l": None}, "displacement_l"),
            ({"powertrain": "phev", "displacement_l": None, "range_km": 80}, "displacement_l"),
            ({"powertrain": "bev", "displacement_l": None}, "range_km"),
            ({"marking": "exempt"}, "marking_exemption"),
            ({"marking": "exempt", "marking_exemption": ""}, "marking_exemption"),
            ({"home_lat": 30.5}, "home_lon"),
        ],
        ids=["bev-with-displacement", "fcev-with-displacement", "ice-without-displacement",
             "phev-without-displacement", "bev-without-range", "exempt-without-reason", "exempt-empty-reason",
             "lat-without-lon"],
    )
    def test_inconsistent_vehicle_is_refused_naming_the_field(
        self, changes: dict[str, Any], named: str
    ) -> None:
        exc = refused(VehicleIn, vehicle(**changes))
        assert exc.field == named
        assert field_label(named) in exc.detail  # by its human label where it has one

    def test_exempt_marking_with_reason_passes(self) -> None:
        parsed = VehicleIn.parse(vehicle(category="confidential_comms", price_cny="110000",
                                         marking="exempt", marking_exemption="机要通信 work"))
        assert parsed.marking is MarkingStatus.exempt

    @pytest.mark.parametrize("price", ["-1", "0", "-150000.00"])
    def test_non_positive_price_is_refused(self, price: str) -> None:
        exc = refused(VehicleIn, vehicle(price_cny=price))
        assert exc.field == "price_cny"
        assert exc.detail.startswith("field 'price_cny': ")

    def test_price_with_fractions_of_a_fen_is_refused(self) -> None:
        assert refused(VehicleIn, vehicle(price_cny="150000.001")).field == "price_cny"

    @pytest.mark.parametrize(("field", "value"), [("seats", 0), ("seats", 61), ("odometer_km", -1),
                                                  ("category", "vip"), ("powertrain", "diesel"),
                                                  ("acquired_on", "2020-02-30")])
    def test_out_of_range_field_is_refused_with_its_name(self, field: str, value: Any) -> None:
        exc = refused(VehicleIn, vehicle(**{field: value}))
        assert exc.field == field
        assert exc.detail.startswith(f"field '{field}': ")

    def test_missing_field_is_refused_with_its_name(self) -> None:
        data = vehicle()
        del data["acquired_on"]
        assert refused(VehicleIn, data).field == "acquired_on"

    def test_unknown_field_is_refused(self) -> None:
        exc = refused(VehicleIn, vehicle(colour="red"))
        assert exc.field == "colour"
        assert exc.detail == "field 'colour': Extra inputs are not permitted"

    def test_input_is_immutable(self) -> None:
        parsed = VehicleIn.parse(vehicle())
        with pytest.raises(ValueError, match="frozen"):
            parsed.seats = 7  # type: ignore[misc]

    def test_consistency_refusal_sets_the_field_attribute(self) -> None:
        exc = refused(VehicleIn, vehicle(powertrain="bev", range_km=400))
        assert exc.field == "displacement_l"


class TestPlanLineIn:
    def test_valid_renewal_line(self) -> None:
        line = PlanLineIn.parse(renewal_line(replaces=["鄂A·12345", "鄂a23456"]))
        assert line.replaces == ["鄂A12345", "鄂A23456"]

    def test_valid_early_renewal_line(self) -> None:
        line = PlanLineIn.parse(renewal_line(early_renewal_basis="accident_beyond_repair",
                                             early_renewal_reason="written off after a collision"))
        assert line.early_renewal_basis is EarlyRenewalBasis.accident_beyond_repair

    def test_valid_new_line(self) -> None:
        assert PlanLineIn.parse(renewal_line(kind="new", count=3, replaces=[])).count == 3

    @pytest.mark.parametrize("replaces", [["鄂A12345"], ["鄂A12345", "鄂A23456", "鄂A34567"], []])
    def test_renewal_count_must_equal_replaced_vehicles(self, replaces: list[str]) -> None:
        exc = refused(PlanLineIn, renewal_line(count=2, replaces=replaces))
        assert f"count is 2 but replaces lists {len(replaces)} vehicle(s)" in exc.detail
        assert exc.field == "replaces"

    def test_renewal_count_mismatch_names_the_field(self) -> None:
        exc = refused(PlanLineIn, renewal_line(count=2, replaces=["鄂A12345"]))
        assert exc.field == "replaces"
        assert "count is 2 but replaces lists 1 vehicle(s)" in exc.detail

    def test_new_line_with_replaces_is_refused(self) -> None:
        exc = refused(PlanLineIn, renewal_line(kind="new", count=2))
        assert "replaces none" in exc.detail
        assert "use kind 'renewal'" in exc.detail

    def test_same_plate_twice_in_one_line_is_refused(self) -> None:
        exc = refused(PlanLineIn, renewal_line(replaces=["鄂A12345", "鄂A·12345"]))
        assert exc.field == "replaces"
        assert "listed twice" in exc.detail

    @pytest.mark.parametrize(
        "changes",
        [{"early_renewal_basis": "safety_hazard"}, {"early_renewal_reason": "brakes failing repeatedly"}],
        ids=["basis-without-reason", "reason-without-basis"],
    )
    def test_early_renewal_basis_and_reason_go_together(self, changes: dict[str, Any]) -> None:
        exc = refused(PlanLineIn, renewal_line(**changes))
        assert "early renewal basis and early renewal reason go together" in exc.detail

    def test_early_renewal_on_a_new_line_is_refused(self) -> None:
        exc = refused(PlanLineIn, renewal_line(kind="new", replaces=[], early_renewal_basis="safety_hazard",
                                               early_renewal_reason="brakes failing"))
        assert "'early renewal basis': applies to renewal lines only" in exc.detail

    def test_early_renewal_reason_too_short_is_refused(self) -> None:
        exc = refused(PlanLineIn, renewal_line(early_renewal_basis="safety_hazard", early_renewal_reason="x"))
        assert exc.field == "early_renewal_reason"

    @pytest.mark.parametrize(
        ("changes", "named"),
        [({"displacement_l": "1.5"}, "displacement_l"), ({"powertrain": "ice"}, "displacement_l")],
        ids=["bev-with-displacement", "ice-without-displacement"],
    )
    def test_displacement_consistency(self, changes: dict[str, Any], named: str) -> None:
        assert named in refused(PlanLineIn, renewal_line(**changes)).detail

    @pytest.mark.parametrize(("field", "value"), [("count", 0), ("unit_price_cny", "-5"), ("kind", "lease")])
    def test_bad_field_is_refused_with_its_name(self, field: str, value: Any) -> None:
        assert refused(PlanLineIn, renewal_line(**{field: value})).field == field


class TestPlanIn:
    def plan(self, *lines: dict[str, Any]) -> dict[str, Any]:
        return {"agency": "HB-01", "year": 2025, "lines": list(lines)}

    def test_valid_plan(self) -> None:
        plan = PlanIn.parse(self.plan(renewal_line(), renewal_line(kind="new", count=1, replaces=[])))
        assert len(plan.lines) == 2

    @pytest.mark.parametrize("second", ["鄂A12345", "鄂A·12345"])
    def test_same_plate_replaced_by_two_lines_is_refused(self, second: str) -> None:
        exc = refused(PlanIn, self.plan(renewal_line(),
                                        renewal_line(count=1, replaces=[second])))
        assert "is already replaced by line 0 of the plan" in exc.detail

    def test_same_plate_replaced_twice_names_the_field(self) -> None:
        exc = refused(PlanIn, self.plan(renewal_line(), renewal_line(count=1, replaces=["鄂A12345"])))
        assert exc.field == "lines.1.replaces"
        assert "鄂A12345 is already replaced by line 0" in exc.detail

    def test_error_inside_a_line_names_the_line(self) -> None:
        exc = refused(PlanIn, self.plan(renewal_line(), renewal_line(unit_price_cny="0")))
        assert exc.field == "lines.1.unit_price_cny"

    def test_plan_without_lines_is_refused(self) -> None:
        assert refused(PlanIn, self.plan()).field == "lines"

    def test_year_out_of_range_is_refused(self) -> None:
        assert refused(PlanIn, {**self.plan(renewal_line()), "year": 1999}).field == "year"


class TestDisposalIn:
    def test_transfer_out_without_recipient_is_refused(self) -> None:
        exc = refused(DisposalIn, {"method": "transfer_out", "disposed_on": "2025-05-01"})
        assert "recipient" in exc.detail

    def test_transfer_out_with_recipient_passes(self) -> None:
        disposal = DisposalIn.parse({"method": "transfer_out", "disposed_on": "2025-05-01",
                                     "recipient": "武汉市机关事务管理局"})
        assert disposal.proceeds_cny == Decimal(0)

    @pytest.mark.parametrize("method", ["auction", "manufacturer_recycling", "scrap"])
    def test_other_methods_need_no_recipient(self, method: str) -> None:
        DisposalIn.parse({"method": method, "disposed_on": "2025-05-01", "proceeds_cny": "12000.50"})

    def test_negative_proceeds_are_refused(self) -> None:
        exc = refused(DisposalIn, {"method": "auction", "disposed_on": "2025-05-01", "proceeds_cny": "-1"})
        assert exc.field == "proceeds_cny"


@given(st.text(max_size=8))
def test_trimmed_text_has_nothing_invisible_at_its_ends_and_keeps_the_rest(text: str) -> None:
    out = trimmed(text)
    assert out in text
    assert trimmed(out) == out
    if out:
        for end in (out[0], out[-1]):
            assert not end.isspace()
            assert unicodedata.category(end) not in ("Cf", "Cc")
    assert trimmed("\u200b" + text + "\ufeff") == out


def _inputs(cls: type[Input] = Input) -> list[type[Input]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _inputs(direct))]


def test_json_true_is_no_number_date_or_text_in_any_input() -> None:
    """pydantic's lax mode read JSON true as 1 (passengers, a quota's limit): in every field of every input that
    does not take true or false, it is refused there; where a field does take it, it is not refused for that."""
    checked = 0
    for model in _inputs():
        for name, info in model.model_fields.items():
            try:
                model.model_validate({name: True})
            except ValidationError as refused:
                here = [e for e in refused.errors() if e["loc"][:1] == (name,)]
            else:
                here = []
            takes = "true or false" not in str(here)
            assert takes == ("bool" in str(info.annotation) or info.annotation is Any), (model.__name__, name, here)
            checked += 1
            try:  # ... and a day or a time is never a number of seconds since 1970
                model.model_validate({name: 0})
            except ValidationError as refused:
                here = [e for e in refused.errors() if e["loc"][:1] == (name,)]
            else:
                here = []
            timed = any(word in str(info.annotation) for word in ("date", "time", "Datetime"))
            assert ("written as text" in str(here)) == (timed and "int" not in str(info.annotation)), (name, here)
    assert checked > 100


def trip(pickup: dict[str, Any], dropoff: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"purpose": "执法检查", "pickup": {**pickup, "address": "甲"},
            "dropoff": {"lat": 30.6, "lon": 114.3, "address": "乙", **(dropoff or {})},
            "earliest_pickup": "2030-03-12T09:00:00+08:00", "latest_pickup": "2030-03-12T09:30:00+08:00"}


class TestPlacesInChina:
    """A point people type outside China's extent is a typo (0,0 the classic one, a sign or a digit lost): refused,
    naming the field, instead of sending a car to the Gulf of Guinea."""

    @pytest.mark.parametrize(("pickup", "field"), [
        ({"lat": 0, "lon": 0}, "pickup.lat"),
        ({"lat": 30.59, "lon": 0}, "pickup.lon"),
        ({"lat": -30.59, "lon": 114.3}, "pickup.lat"),  # a sign lost
        ({"lat": 30.59, "lon": -114.3}, "pickup.lon"),
        ({"lat": 3.0, "lon": 114.3}, "pickup.lat"),
        ({"lat": 60.0, "lon": 114.3}, "pickup.lat"),
        ({"lat": 30.59, "lon": 14.3}, "pickup.lon"),  # a digit lost
        ({"lat": 30.59, "lon": 140.0}, "pickup.lon"),
    ])
    def test_a_trip_place_outside_china_is_refused_naming_it(self, pickup: dict[str, Any], field: str) -> None:
        exc = refused(TripIn, trip(pickup))
        assert exc.field == field
        assert exc.detail.startswith(f"field '{field_label(field)}': ")
        assert "outside China" in exc.detail

    def test_the_destination_is_held_to_it_too(self) -> None:
        assert refused(TripIn, trip({"lat": 30.6, "lon": 114.3}, {"lat": 0, "lon": 0})).field == "dropoff.lat"

    @pytest.mark.parametrize(("lat", "lon"), [
        (53.48, 122.37),   # 漠河 Mohe, the far north
        (3.97, 112.28),    # 曾母暗沙 Zengmu Ansha, the far south
        (39.40, 73.60),    # 乌恰 Wuqia on the Pamirs, the far west
        (48.36, 134.77),   # 抚远 Fuyuan, the far east
        (18.25, 109.51),   # 三亚 Sanya
        (30.5928, 114.3055),
    ])
    def test_places_at_chinas_ends_are_accepted(self, lat: float, lon: float) -> None:
        parsed = TripIn.parse(trip({"lat": lat, "lon": lon}))
        assert (parsed.pickup.lat, parsed.pickup.lon) == (lat, lon)

    @pytest.mark.parametrize("model", [VehicleIn, VehiclePatch])
    @pytest.mark.parametrize(("yard", "field"), [({"home_lat": 0, "home_lon": 0}, "home_lat"),
                                                 ({"home_lat": 30.6, "home_lon": 0}, "home_lon")])
    def test_a_vehicles_yard_outside_china_is_refused_naming_it(self, model: type[Input], yard: dict[str, Any],
                                                               field: str) -> None:
        exc = refused(model, vehicle(**yard) if model is VehicleIn else yard)
        assert exc.field == field
        assert "outside China" in exc.detail

    def test_every_coordinate_of_every_input_is_held_to_it(self) -> None:
        checked = set()
        for model in _inputs():
            for name in model.model_fields:
                if name not in ("lat", "lon") and not name.endswith(("_lat", "_lon")):
                    continue
                with pytest.raises(ValidationError) as info:
                    model.model_validate({name: 0})
                assert any(e["loc"] == (name,) and "outside China" in str(e["msg"]) for e in info.value.errors()), \
                    (model.__name__, name, info.value.errors())
                checked.add((model.__name__, name))
        assert {("PlaceIn", "lat"), ("PlaceIn", "lon"), ("VehicleIn", "home_lat"),
                ("VehiclePatch", "home_lon")} <= checked


def _holds_a_time_of_day(annotation: Any) -> bool:
    inner = get_args(annotation)
    return annotation is time if not inner else any(_holds_a_time_of_day(a) for a in inner)


class TestWallClockTimes:
    """A time of day (a shift's start and end) is China's wall-clock time: an offset or Z with it was dropped
    silently when stored, so 07:00-05:00 became 07:00 in Wuhan. It is refused, naming the field."""

    @pytest.mark.parametrize("written", ["07:00-05:00", "07:00+08:00", "07:00Z", "07:00:00+0000", "07:00:00.5Z"])
    def test_a_time_of_day_with_an_offset_is_refused_in_every_input(self, written: str) -> None:
        checked = set()
        for model in _inputs():
            for name, info in model.model_fields.items():
                if not _holds_a_time_of_day(info.annotation):
                    continue
                with pytest.raises(ValidationError) as refusal:
                    model.model_validate({name: written})
                here = [str(e["msg"]) for e in refusal.value.errors() if e["loc"] == (name,)]
                assert any("offset" in said for said in here), (model.__name__, name, here)
                checked.add((model.__name__, name))
        assert {("DriverIn", "shift_start"), ("DriverIn", "shift_end"), ("DriverPatch", "shift_start"),
                ("DriverPatch", "shift_end")} <= checked

    def test_the_refusal_names_the_field(self) -> None:
        exc = refused(DriverIn, {"name": "王师傅", "licence_class": "C1", "shift_start": "07:00-05:00",
                                 "shift_end": "19:00"})
        assert exc.field == "shift_start"
        assert exc.detail.startswith(f"field '{field_label('shift_start')}': ")
        exc = refused(DriverPatch, {"shift_end": "19:00Z"})
        assert exc.field == "shift_end"

    def test_a_wall_clock_time_is_taken_as_it_is(self) -> None:
        driver = DriverIn.parse({"name": "王师傅", "licence_class": "C1", "shift_start": "07:00",
                                 "shift_end": "19:00:30"})
        assert (driver.shift_start, driver.shift_end) == (time(7, 0), time(19, 0, 30))
        assert driver.shift_start.tzinfo is None
