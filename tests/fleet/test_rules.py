"""Pure tests of fleet.rules: quota, equipment standards, renewal age, new-energy share, plan lines."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.enums import Category, EarlyRenewalBasis, PlanLineKind, Powertrain
from fleet.errors import (
    NewEnergyShareTooLow,
    PlanLineMismatch,
    QuotaExceeded,
    RenewalTooEarly,
    RuleViolation,
    StandardExceeded,
)
from fleet.policy import NATIONAL, BusStandard, Policy
from fleet.rules import (
    LineSpec,
    check_matches_line,
    check_new_energy_share,
    check_quota,
    check_renewal_age,
    check_standard,
    new_energy_counts,
    renewal_due,
)

# No example database: the tests must not write .hypothesis/ into the project.
PROPERTY = settings(database=None, max_examples=300, deadline=None)

NEV = (Powertrain.bev, Powertrain.phev, Powertrain.fcev)
SEDAN_CATEGORIES = (
    Category.confidential_comms, Category.emergency, Category.general, Category.law_enforcement,
)


def spec(
    category: Category = Category.general, powertrain: Powertrain = Powertrain.ice, *, seats: int = 5,
    price: int | str = 150_000, litres: str | None = "1.5", justification: str | None = None,
    label: str = "line",
) -> LineSpec:
    """A LineSpec; engineless powertrains get no displacement unless one is asked for explicitly."""
    if powertrain in (Powertrain.bev, Powertrain.fcev) and litres == "1.5":
        litres = None
    return LineSpec(
        category=category, powertrain=powertrain, seats=seats, unit_price_cny=Decimal(price),
        displacement_l=None if litres is None else Decimal(litres), justification=justification, label=label,
    )


class TestQuota:
    def test_exactly_at_the_limit_passes(self) -> None:
        """held 3 + committed 1 + adding 1 == limit 5: allowed."""
        check_quota(agency="A01", category=Category.general, limit=5, held=3, committed=1, adding=1)

    def test_one_over_the_limit_raises_quota_exceeded(self) -> None:
        with pytest.raises(QuotaExceeded) as info:
            check_quota(agency="A01", category=Category.general, limit=5, held=5, adding=1)
        exc = info.value
        assert exc.rule == "quota"
        assert exc.status == 409
        assert exc.context == {
            "agency": "A01", "category": "general", "limit": 5, "held": 5, "after": 6,
        }

    def test_refusal_detail_names_agency_numbers_and_fix(self) -> None:
        with pytest.raises(QuotaExceeded) as info:
            check_quota(agency="HB-GOV-07", category=Category.emergency, limit=4, held=3, committed=2,
                        adding=2, removing=1)
        detail = info.value.detail
        assert "HB-GOV-07" in detail
        assert "would hold 6" in detail
        assert "quota of 4" in detail
        assert "held 3" in detail
        assert "already approved +2" in detail
        assert "this change +2" in detail
        assert "disposals -1" in detail
        assert "emergency (应急保障)" in detail
        assert "fix:" in detail
        assert "reduce the change by 2" in detail
        assert "dispose of 2 vehicle(s)" in detail

    def test_committed_vehicles_count_against_the_quota(self) -> None:
        """Approved-but-not-acquired vehicles use quota: held 2 + committed 3 + adding 1 > 5."""
        check_quota(agency="A", category=Category.general, limit=5, held=2, adding=3)
        with pytest.raises(QuotaExceeded):
            check_quota(agency="A", category=Category.general, limit=5, held=2, committed=3, adding=1)

    def test_disposals_free_quota_for_the_change(self) -> None:
        """held 5 at limit 5 may add 2 when removing 2 in the same change, but not when removing 1."""
        check_quota(agency="A", category=Category.general, limit=5, held=5, adding=2, removing=2)
        with pytest.raises(QuotaExceeded) as info:
            check_quota(agency="A", category=Category.general, limit=5, held=5, adding=2, removing=1)
        assert info.value.context["after"] == 6

    def test_zero_quota_refuses_any_addition(self) -> None:
        with pytest.raises(QuotaExceeded):
            check_quota(agency="A", category=Category.confidential_comms, limit=0, held=0, adding=1)

    @PROPERTY
    @given(
        limit=st.integers(0, 60), held=st.integers(0, 60), committed=st.integers(0, 20),
        adding=st.integers(0, 20), removing=st.integers(0, 20),
    )
    def test_raises_iff_total_after_change_exceeds_limit(
        self, limit: int, held: int, committed: int, adding: int, removing: int
    ) -> None:
        """Property: check_quota raises iff held + committed + adding - removing > limit."""
        after = held + committed + adding - removing
        kwargs = {"agency": "A", "category": Category.general, "limit": limit, "held": held,
                  "committed": committed, "adding": adding, "removing": removing}
        if after > limit:
            with pytest.raises(QuotaExceeded) as info:
                check_quota(**kwargs)
            assert info.value.context["after"] == after
            assert f"reduce the change by {after - limit}" in info.value.detail
        else:
            check_quota(**kwargs)


class TestStandard:
    def test_national_standards_are_the_2017_numbers(self) -> None:
        """The rules are checked against the Policy defaults: confidential_comms 120,000 CNY / 1.6 L."""
        cc = NATIONAL.standards[Category.confidential_comms]
        assert cc is not None
        assert (cc.max_price_cny, cc.max_displacement_l) == (Decimal(120000), Decimal("1.6"))

    @pytest.mark.parametrize(
        ("category", "price", "litres"),
        [
            (Category.confidential_comms, 120_000, "1.6"),
            (Category.emergency, 180_000, "1.8"),
            (Category.general, 180_000, "1.8"),
            (Category.law_enforcement, 120_000, "1.6"),
        ],
    )
    def test_exactly_at_the_cap_passes(self, category: Category, price: int, litres: str) -> None:
        check_standard(NATIONAL, spec(category, price=price, litres=litres))

    @pytest.mark.parametrize(
        ("category", "cap"),
        [
            (Category.confidential_comms, 120_000),
            (Category.emergency, 180_000),
            (Category.general, 180_000),
            (Category.law_enforcement, 120_000),
        ],
    )
    def test_one_yuan_over_the_price_cap_fails_on_unit_price(self, category: Category, cap: int) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(category, price=cap + 1, litres="1.0"))
        exc = info.value
        assert exc.field == "unit_price_cny"
        assert exc.context["limit"] == str(cap)
        assert exc.rule == "equipment_standard"
        assert f"{cap + 1:,} CNY" in exc.detail
        assert f"standard of {cap:,} CNY" in exc.detail
        assert "fix:" in exc.detail

    @pytest.mark.parametrize(
        ("category", "litres", "over"),
        [
            (Category.confidential_comms, "1.6", "1.601"),
            (Category.emergency, "1.8", "1.801"),
            (Category.general, "1.8", "1.9"),
            (Category.law_enforcement, "1.6", "1.7"),
        ],
    )
    def test_larger_engine_than_the_cap_fails_on_displacement(
        self, category: Category, litres: str, over: str
    ) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(category, price=100_000, litres=over))
        assert info.value.field == "displacement_l"
        assert info.value.context["limit"] == litres

    def test_label_is_named_in_the_detail(self) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.general, price=180_001, label="plan line 7"))
        assert info.value.detail.startswith("plan line 7: general (其他) ice")

    def test_law_enforcement_higher_tier_with_justification_passes_at_180000_and_1_8(self) -> None:
        check_standard(NATIONAL, spec(Category.law_enforcement, price=180_000, litres="1.8",
                                      justification="criminal investigation duty"))

    def test_law_enforcement_higher_tier_without_justification_fails_and_says_so(self) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.law_enforcement, price=150_000, litres="1.6"))
        assert info.value.field == "unit_price_cny"
        assert info.value.context["limit"] == "120000"
        assert "needs a recorded justification" in info.value.detail
        assert "180,000 CNY" in info.value.detail

    def test_law_enforcement_1_8_litres_without_justification_fails_on_displacement(self) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.law_enforcement, price=120_000, litres="1.8"))
        assert info.value.field == "displacement_l"
        assert "needs a recorded justification" in info.value.detail

    @pytest.mark.parametrize(("price", "litres", "field"), [(180_001, "1.8", "unit_price_cny"),
                                                             (180_000, "1.9", "displacement_l")])
    def test_law_enforcement_higher_tier_has_its_own_cap(self, price: int, litres: str, field: str) -> None:
        """Even with a justification, 180,001 CNY or 1.9 L is over the higher tier."""
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.law_enforcement, price=price, litres=litres,
                                          justification="special duty"))
        assert info.value.field == field

    @pytest.mark.parametrize("category", [Category.confidential_comms, Category.emergency, Category.general])
    def test_justification_raises_no_cap_outside_law_enforcement(self, category: Category) -> None:
        cap = 120_000 if category is Category.confidential_comms else 180_000
        with pytest.raises(StandardExceeded):
            check_standard(NATIONAL, spec(category, price=cap + 1, justification="we really need it"))

    @pytest.mark.parametrize("category", SEDAN_CATEGORIES)
    @pytest.mark.parametrize("powertrain", NEV)
    def test_new_energy_sedan_capped_at_180000_regardless_of_category(
        self, category: Category, powertrain: Powertrain
    ) -> None:
        """A NEV sedan may cost 180,000 even where the category's own cap is 120,000; 180,001 fails."""
        check_standard(NATIONAL, spec(category, powertrain, price=180_000, litres="1.5"
                                      if powertrain is Powertrain.phev else None))
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(category, powertrain, price=180_001, litres="1.5"
                                          if powertrain is Powertrain.phev else None))
        assert info.value.field == "unit_price_cny"
        assert info.value.context["limit"] == "180000"

    def test_hev_is_not_new_energy_so_the_category_cap_applies(self) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.confidential_comms, Powertrain.hev, price=120_001))
        assert info.value.context["limit"] == "120000"

    def test_hev_gets_the_new_energy_cap_where_the_policy_counts_it(self) -> None:
        policy = Policy(new_energy_powertrains=frozenset({*NEV, Powertrain.hev}))
        check_standard(policy, spec(Category.confidential_comms, Powertrain.hev, price=180_000))

    @pytest.mark.parametrize("powertrain", [Powertrain.ice, Powertrain.bev])
    def test_special_technical_has_no_national_cap(self, powertrain: Powertrain) -> None:
        check_standard(NATIONAL, spec(Category.special_technical, powertrain, price=5_000_000,
                                      litres="6.0" if powertrain is Powertrain.ice else None))

    @pytest.mark.parametrize(("seats", "cap"), [(10, 300_000), (19, 300_000), (20, 400_000), (45, 400_000)])
    def test_bus_at_the_bus_table_cap_passes_and_one_yuan_over_fails(self, seats: int, cap: int) -> None:
        check_standard(NATIONAL, spec(Category.general, seats=seats, price=cap, litres="4.0"))
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.general, seats=seats, price=cap + 1, litres="4.0"))
        assert info.value.field == "unit_price_cny"
        assert info.value.context["limit"] == str(cap)
        assert f"{seats} seats" in info.value.detail

    def test_bus_table_replaces_the_category_sedan_standard(self) -> None:
        """A 12-seat confidential_comms bus at 250,000 CNY / 3.0 L is within the bus table."""
        check_standard(NATIONAL, spec(Category.confidential_comms, seats=12, price=250_000, litres="3.0"))

    def test_nine_seats_is_still_a_sedan(self) -> None:
        with pytest.raises(StandardExceeded) as info:
            check_standard(NATIONAL, spec(Category.general, seats=9, price=180_001))
        assert info.value.context["limit"] == "180000"

    def test_bus_with_no_table_entry_fails_on_seats(self) -> None:
        policy = Policy(buses=(BusStandard(min_seats=10, max_seats=19, max_price_cny=Decimal(300000)),))
        with pytest.raises(StandardExceeded) as info:
            check_standard(policy, spec(Category.general, seats=25, price=100_000))
        assert info.value.field == "seats"
        assert "no bus standard" in info.value.detail


class TestRenewalAge:
    ACQUIRED = date(2017, 6, 15)
    DUE = date(2025, 6, 15)

    def test_default_renewal_age_is_eight_years(self) -> None:
        assert NATIONAL.renewal_years == 8
        assert renewal_due(self.ACQUIRED, NATIONAL.renewal_years) == self.DUE

    def test_exactly_on_the_due_date_passes(self) -> None:
        check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED, on=self.DUE,
                          basis=None, reason=None)

    def test_a_day_before_the_due_date_fails(self) -> None:
        with pytest.raises(RenewalTooEarly) as info:
            check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED,
                              on=self.DUE - timedelta(days=1), basis=None, reason=None)
        exc = info.value
        assert exc.field == "replaces"
        assert exc.context == {"plate": "鄂A12345", "due": "2025-06-15"}
        assert "鄂A12345" in exc.detail
        assert "8 years" in exc.detail
        assert "2025-06-15" in exc.detail
        assert "fix:" in exc.detail

    def test_renewal_years_come_from_the_policy(self) -> None:
        policy = Policy(renewal_years=10)
        with pytest.raises(RenewalTooEarly):
            check_renewal_age(policy, plate="鄂A12345", acquired_on=self.ACQUIRED, on=self.DUE,
                              basis=None, reason=None)
        check_renewal_age(policy, plate="鄂A12345", acquired_on=self.ACQUIRED, on=date(2027, 6, 15),
                          basis=None, reason=None)

    def test_29_february_due_on_29_february_of_a_leap_year(self) -> None:
        assert renewal_due(date(2016, 2, 29), 8) == date(2024, 2, 29)

    def test_29_february_due_on_1_march_of_a_common_year(self) -> None:
        assert renewal_due(date(2016, 2, 29), 7) == date(2023, 3, 1)
        policy = Policy(renewal_years=7)
        with pytest.raises(RenewalTooEarly) as info:
            check_renewal_age(policy, plate="鄂A12345", acquired_on=date(2016, 2, 29), on=date(2023, 2, 28),
                              basis=None, reason=None)
        assert info.value.context["due"] == "2023-03-01"
        check_renewal_age(policy, plate="鄂A12345", acquired_on=date(2016, 2, 29), on=date(2023, 3, 1),
                          basis=None, reason=None)

    @pytest.mark.parametrize("basis", sorted(set(EarlyRenewalBasis) - {EarlyRenewalBasis.post_change}))
    def test_early_renewal_with_basis_and_reason_passes(self, basis: EarlyRenewalBasis) -> None:
        check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED, on=date(2019, 1, 1),
                          basis=basis, reason="frame cracked in the 2018 collision")

    @pytest.mark.parametrize("reason", [None, ""])
    def test_early_renewal_basis_without_reason_fails(self, reason: str | None) -> None:
        with pytest.raises(RenewalTooEarly) as info:
            check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED, on=date(2019, 1, 1),
                              basis=EarlyRenewalBasis.safety_hazard, reason=reason)
        assert info.value.field == "replaces"

    def test_reason_without_basis_fails(self) -> None:
        with pytest.raises(RenewalTooEarly):
            check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED, on=date(2019, 1, 1),
                              basis=None, reason="it is old-fashioned")

    @pytest.mark.parametrize("on", [date(2018, 1, 1), DUE - timedelta(days=1)])
    def test_post_change_basis_is_always_refused_before_the_due_date(self, on: date) -> None:
        """A change of the user's post is never a ground for early renewal, reason or not."""
        with pytest.raises(RenewalTooEarly) as info:
            check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED, on=on,
                              basis=EarlyRenewalBasis.post_change, reason="the director was promoted")
        assert info.value.field == "early_renewal_basis"
        assert "never a ground" in info.value.detail
        assert info.value.context["due"] == "2025-06-15"

    @pytest.mark.parametrize(
        ("basis", "reason"),
        [(None, None), (EarlyRenewalBasis.post_change, "promoted"), (EarlyRenewalBasis.safety_hazard, None)],
    )
    @pytest.mark.parametrize("on", [DUE, DUE + timedelta(days=1), date(2031, 1, 1)])
    def test_on_or_after_the_due_date_anything_passes(
        self, on: date, basis: EarlyRenewalBasis | None, reason: str | None
    ) -> None:
        check_renewal_age(NATIONAL, plate="鄂A12345", acquired_on=self.ACQUIRED, on=on,
                          basis=basis, reason=reason)

    @PROPERTY
    @given(acquired=st.dates(date(2000, 1, 1), date(2060, 12, 31)), years=st.integers(1, 30))
    def test_due_date_is_the_boundary(self, acquired: date, years: int) -> None:
        """Property: renewal passes on renewal_due, fails the day before; due is `years` calendar years on."""
        policy = Policy(renewal_years=years)
        due = renewal_due(acquired, years)
        assert due.year == acquired.year + years
        assert (due.month, due.day) in {(acquired.month, acquired.day), (3, 1)}
        check_renewal_age(policy, plate="鄂A12345", acquired_on=acquired, on=due, basis=None, reason=None)
        with pytest.raises(RenewalTooEarly):
            check_renewal_age(policy, plate="鄂A12345", acquired_on=acquired, on=due - timedelta(days=1),
                              basis=None, reason=None)


class TestNewEnergyShare:
    def test_minimum_is_30_percent_from_2025_and_zero_before(self) -> None:
        assert NATIONAL.min_new_energy_share(2024) == 0
        assert NATIONAL.min_new_energy_share(2025) == pytest.approx(0.30)
        assert NATIONAL.min_new_energy_share(2030) == pytest.approx(0.30)

    def test_exactly_3_of_10_passes(self) -> None:
        check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(0, 0), plan=(3, 10))

    def test_2_of_10_fails_and_says_make_1_more(self) -> None:
        with pytest.raises(NewEnergyShareTooLow) as info:
            check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(0, 0), plan=(2, 10))
        exc = info.value
        assert exc.rule == "new_energy_share"
        assert exc.context == {"jurisdiction": "42", "year": 2025, "new_energy": 2, "total": 10,
                               "minimum": pytest.approx(0.3)}
        assert "2 of 10" in exc.detail
        assert "20.0%" in exc.detail
        assert "30%" in exc.detail
        assert "make 1 more" in exc.detail
        assert "bev, fcev, phev" in exc.detail

    def test_shortfall_of_several_says_how_many(self) -> None:
        """0 of 7: 30 % of 7 is 2.1, so 3 more are needed."""
        with pytest.raises(NewEnergyShareTooLow) as info:
            check_new_energy_share(NATIONAL, jurisdiction="42", year=2026, approved=(0, 0), plan=(0, 7))
        assert "make 3 more" in info.value.detail

    def test_before_2025_any_share_passes(self) -> None:
        check_new_energy_share(NATIONAL, jurisdiction="42", year=2024, approved=(0, 0), plan=(0, 10))

    def test_no_vehicles_at_all_passes(self) -> None:
        check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(0, 0), plan=(0, 0))

    def test_approved_and_plan_are_summed(self) -> None:
        """2 of 5 approved + 1 of 5 in this plan = 3 of 10: passes; 1 of 5 + 1 of 5 = 2 of 10: fails."""
        check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(2, 5), plan=(1, 5))
        with pytest.raises(NewEnergyShareTooLow) as info:
            check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(1, 5), plan=(1, 5))
        assert "approved so far 1 of 5, this plan 1 of 5" in info.value.detail
        assert "make 1 more" in info.value.detail

    def test_counts_nev_and_total(self) -> None:
        lines = [(Powertrain.bev, 2, False), (Powertrain.phev, 1, False), (Powertrain.fcev, 1, False),
                 (Powertrain.ice, 6, False)]
        assert new_energy_counts(NATIONAL, lines) == (4, 10)

    def test_exempted_lines_are_excluded_from_the_denominator(self) -> None:
        lines = [(Powertrain.bev, 3, False), (Powertrain.ice, 7, False), (Powertrain.ice, 20, True)]
        assert new_energy_counts(NATIONAL, lines) == (3, 10)
        check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(0, 0),
                               plan=new_energy_counts(NATIONAL, lines))
        unexempted = [(p, n, False) for p, n, _ in lines]
        with pytest.raises(NewEnergyShareTooLow):
            check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(0, 0),
                                   plan=new_energy_counts(NATIONAL, unexempted))

    def test_exempted_new_energy_line_counts_neither_way(self) -> None:
        assert new_energy_counts(NATIONAL, [(Powertrain.bev, 4, True), (Powertrain.ice, 1, False)]) == (0, 1)

    def test_hev_is_not_counted_by_default(self) -> None:
        lines = [(Powertrain.hev, 3, False), (Powertrain.ice, 7, False)]
        assert new_energy_counts(NATIONAL, lines) == (0, 10)
        with pytest.raises(NewEnergyShareTooLow):
            check_new_energy_share(NATIONAL, jurisdiction="42", year=2025, approved=(0, 0),
                                   plan=new_energy_counts(NATIONAL, lines))

    def test_hev_is_counted_where_the_policy_says_so(self) -> None:
        policy = Policy(new_energy_powertrains=frozenset({*NEV, Powertrain.hev}))
        lines = [(Powertrain.hev, 3, False), (Powertrain.ice, 7, False)]
        assert new_energy_counts(policy, lines) == (3, 10)
        check_new_energy_share(policy, jurisdiction="42", year=2025, approved=(0, 0),
                               plan=new_energy_counts(policy, lines))

    @PROPERTY
    @given(
        year=st.integers(2020, 2030),
        approved=st.integers(0, 40).flatmap(lambda t: st.tuples(st.integers(0, t), st.just(t))),
        plan=st.integers(0, 40).flatmap(lambda t: st.tuples(st.integers(0, t), st.just(t))),
    )
    def test_raises_iff_share_below_minimum_and_fix_is_exact(
        self, year: int, approved: tuple[int, int], plan: tuple[int, int]
    ) -> None:
        """Property: raises iff nev/total < minimum (Fraction); 'make k more' is the least k that passes."""
        minimum = Fraction(3, 10) if year >= 2025 else Fraction(0)
        nev, total = approved[0] + plan[0], approved[1] + plan[1]
        if total == 0 or Fraction(nev, total) >= minimum:
            check_new_energy_share(NATIONAL, jurisdiction="42", year=year, approved=approved, plan=plan)
            return
        with pytest.raises(NewEnergyShareTooLow) as info:
            check_new_energy_share(NATIONAL, jurisdiction="42", year=year, approved=approved, plan=plan)
        match = re.search(r"make (\d+) more", info.value.detail)
        assert match is not None
        needed = int(match.group(1))
        assert needed == math.ceil(minimum * total - nev)
        assert Fraction(nev + needed, total) >= minimum
        assert Fraction(nev + needed - 1, total) < minimum


class TestMatchesLine:
    LINE: ClassVar[dict[str, object]] = {
        "line_id": 17, "kind": PlanLineKind.new, "category": Category.general, "powertrain": Powertrain.ice,
        "seats": 5, "unit_price_cny": Decimal(150000), "displacement_l": Decimal("1.5"), "remaining": 2,
    }

    def test_vehicle_as_approved_passes(self) -> None:
        check_matches_line(**self.LINE, vehicle=spec(price=150_000, litres="1.5"))

    def test_cheaper_and_smaller_engine_passes(self) -> None:
        check_matches_line(**self.LINE, vehicle=spec(price=140_000, litres="1.2"))

    def test_engineless_line_and_vehicle_pass(self) -> None:
        line = {**self.LINE, "powertrain": Powertrain.bev, "displacement_l": None}
        check_matches_line(**line, vehicle=spec(powertrain=Powertrain.bev))

    @pytest.mark.parametrize(
        ("line_changes", "vehicle", "field"),
        [
            ({"remaining": 0}, spec(), "plan_line_id"),
            ({}, spec(Category.emergency), "category"),
            ({}, spec(powertrain=Powertrain.hev), "powertrain"),
            ({}, spec(seats=7), "seats"),
            ({}, spec(price=150_001), "price_cny"),
            ({}, spec(litres="1.6"), "displacement_l"),
        ],
        ids=["no-remaining", "category", "powertrain", "seats", "dearer", "larger-engine"],
    )
    def test_each_mismatch_raises_with_its_field(
        self, line_changes: dict[str, object], vehicle: LineSpec, field: str
    ) -> None:
        with pytest.raises(PlanLineMismatch) as info:
            check_matches_line(**{**self.LINE, **line_changes}, vehicle=vehicle)
        exc = info.value
        assert isinstance(exc, RuleViolation)
        assert exc.field == field
        assert exc.context == {"plan_line": 17}
        assert exc.detail.startswith("plan line 17 (new):")
        assert "fix:" in exc.detail

    def test_dearer_detail_names_both_prices(self) -> None:
        with pytest.raises(PlanLineMismatch) as info:
            check_matches_line(**self.LINE, vehicle=spec(price=150_001))
        assert "at most 150,000 CNY, not 150,001 CNY" in info.value.detail
