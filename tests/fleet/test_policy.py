"""Pure tests of fleet.policy: national defaults, YAML policy files, merging along a jurisdiction chain."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleet.enums import Category, Powertrain
from fleet.errors import PolicyError
from fleet.policy import NATIONAL, Policy, PolicyBook, PolicyFile, Standard, load_policy_file
from fleet.rules import LineSpec, check_standard


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def book(tmp_path: Path, **files: str) -> PolicyBook:
    """A PolicyBook loaded with from_dir from ``name=yaml text`` files written to tmp_path."""
    for name, text in files.items():
        write(tmp_path, f"{name}.yaml", text)
    return PolicyBook.from_dir(tmp_path)


class TestNationalDefaults:
    def test_module_default_is_a_plain_policy(self) -> None:
        assert Policy() == NATIONAL

    def test_renewal_age_is_eight_years(self) -> None:
        assert NATIONAL.renewal_years == 8

    def test_new_energy_is_bev_phev_fcev_not_hev(self) -> None:
        assert NATIONAL.new_energy_powertrains == {Powertrain.bev, Powertrain.phev, Powertrain.fcev}
        assert not NATIONAL.is_new_energy(Powertrain.hev)
        assert not NATIONAL.is_new_energy(Powertrain.ice)

    @pytest.mark.parametrize(("year", "share"), [(2000, 0.0), (2024, 0.0), (2025, 0.30), (2035, 0.30)])
    def test_new_energy_share_is_30_percent_from_2025(self, year: int, share: float) -> None:
        assert NATIONAL.min_new_energy_share(year) == pytest.approx(share)

    @pytest.mark.parametrize(
        ("category", "standard"),
        [
            (Category.confidential_comms, Standard(max_price_cny=Decimal(120000),
                                                   max_displacement_l=Decimal("1.6"))),
            (Category.emergency, Standard(max_price_cny=Decimal(180000), max_displacement_l=Decimal("1.8"))),
            (Category.general, Standard(max_price_cny=Decimal(180000), max_displacement_l=Decimal("1.8"))),
            (
                Category.law_enforcement,
                Standard(max_price_cny=Decimal(120000), max_displacement_l=Decimal("1.6"),
                         justified_max_price_cny=Decimal(180000),
                         justified_max_displacement_l=Decimal("1.8")),
            ),
            (Category.special_technical, None),
        ],
    )
    def test_2017_equipment_standards(self, category: Category, standard: Standard | None) -> None:
        assert NATIONAL.standards[category] == standard

    def test_every_category_has_an_entry(self) -> None:
        assert set(NATIONAL.standards) == set(Category)

    def test_new_energy_sedan_cap_is_180000(self) -> None:
        assert NATIONAL.new_energy_sedan_max_price_cny == Decimal(180000)

    @pytest.mark.parametrize(("seats", "cap"), [(10, 300000), (19, 300000), (20, 400000), (60, 400000)])
    def test_bus_table(self, seats: int, cap: int) -> None:
        assert NATIONAL.bus_min_seats == 10
        bus = NATIONAL.bus_standard(seats)
        assert bus is not None
        assert bus.max_price_cny == Decimal(cap)

    def test_nine_seats_is_not_in_the_bus_table(self) -> None:
        assert NATIONAL.bus_standard(9) is None

    def test_share_steps_out_of_year_order_are_refused(self) -> None:
        with pytest.raises(ValidationError, match="increasing order"):
            Policy.model_validate({"new_energy_min_share": [{"from_year": 2027, "share": 0.5},
                                                            {"from_year": 2025, "share": 0.3}]})


class TestLoadPolicyFile:
    def test_valid_override_loads(self, tmp_path: Path) -> None:
        path = write(tmp_path, "hubei.yaml",
                     'jurisdiction: "42"\n'
                     "renewal_years: 10\n"
                     "new_energy_powertrains: [bev, phev, fcev, hev]\n")
        loaded = load_policy_file(path)
        assert loaded == PolicyFile(
            jurisdiction="42",
            overrides={"renewal_years": 10, "new_energy_powertrains": ["bev", "phev", "fcev", "hev"]},
            source=str(path),
        )
        policy = PolicyBook([loaded]).for_chain(["42"])
        assert policy.renewal_years == 10
        assert policy.is_new_energy(Powertrain.hev)
        assert policy.new_energy_powertrains == set(Powertrain) - {Powertrain.ice}
        # untouched fields keep the national defaults
        assert policy.standards == NATIONAL.standards
        assert policy.new_energy_min_share == NATIONAL.new_energy_min_share

    def test_numeric_jurisdiction_code_becomes_a_string(self, tmp_path: Path) -> None:
        loaded = load_policy_file(write(tmp_path, "p.yaml", "jurisdiction: 4201\nrenewal_years: 9\n"))
        assert loaded.jurisdiction == "4201"

    def test_file_with_only_a_jurisdiction_is_the_national_policy(self, tmp_path: Path) -> None:
        loaded = load_policy_file(write(tmp_path, "p.yaml", "jurisdiction: '42'\n"))
        assert loaded.overrides == {}
        assert PolicyBook([loaded]).for_chain(["42"]) == NATIONAL

    @pytest.mark.parametrize(
        ("text", "line", "field"),
        [
            pytest.param('jurisdiction: "42"\n# longer renewal\nrenewal_years: -3\n', 3, "renewal_years",
                         id="negative-renewal-years"),
            pytest.param('jurisdiction: "42"\nrenewal_years: 31\n', 2, "renewal_years",
                         id="renewal-years-too-big"),
            pytest.param('jurisdiction: "42"\nrenewal_years: 10\n\nrenewal_yeras: 12\n', 4, "renewal_yeras",
                         id="unknown-field"),
            pytest.param(
                'jurisdiction: "42"\nrenewal_years: 10\nstandards:\n  emergency:\n    max_price_cny: lots\n',
                5, "standards.emergency.max_price_cny", id="nested-wrong-type",
            ),
            pytest.param(
                'jurisdiction: "42"\nstandards:\n  emergency:\n    max_price_cny: 200000\n    colour: red\n',
                5, "standards.emergency.colour", id="nested-unknown-field",
            ),
            pytest.param(
                'jurisdiction: "42"\nnew_energy_min_share:\n  - from_year: 2025\n    share: 0.3\n'
                '  - from_year: 2027\n    share: 1.5\n',
                6, "new_energy_min_share.1.share", id="share-above-one-in-a-list",
            ),
            pytest.param('jurisdiction: "42"\n\nnew_energy_powertrains: [bev, diesel]\n', 3,
                         "new_energy_powertrains.1", id="unknown-powertrain"),
        ],
    )
    def test_bad_field_is_refused_with_file_line_and_field(
        self, tmp_path: Path, text: str, line: int, field: str
    ) -> None:
        path = write(tmp_path, "bad.yaml", text)
        with pytest.raises(PolicyError) as info:
            load_policy_file(path)
        exc = info.value
        assert exc.detail.startswith(f"{path}:{line}: field '{field}': ")
        assert exc.field == field
        assert exc.status == 422

    @pytest.mark.parametrize(
        ("text", "line"),
        [
            pytest.param('jurisdiction: "42"\nrenewal_years: 10\n  bad: indent\n', 3, id="bad-indent"),
            pytest.param('jurisdiction: "42"\nrenewal_years: 10\nbuses: [{min_seats: 10\n', 4,
                         id="unclosed-flow"),
        ],
    )
    def test_invalid_yaml_is_refused_with_file_and_line(self, tmp_path: Path, text: str, line: int) -> None:
        path = write(tmp_path, "broken.yaml", text)
        with pytest.raises(PolicyError) as info:
            load_policy_file(path)
        assert info.value.detail.startswith(f"{path}:{line}: not valid YAML")

    @pytest.mark.parametrize(
        "text",
        ["renewal_years: 10\n", 'jurisdiction: ""\nrenewal_years: 10\n', "jurisdiction:\nrenewal_years: 10\n",
         "jurisdiction: [42]\n"],
        ids=["missing", "empty", "null", "list"],
    )
    def test_missing_jurisdiction_is_refused(self, tmp_path: Path, text: str) -> None:
        path = write(tmp_path, "nojur.yaml", text)
        with pytest.raises(PolicyError) as info:
            load_policy_file(path)
        assert info.value.field == "jurisdiction"
        assert info.value.detail.startswith(f"{path}:1: field 'jurisdiction' is required")

    @pytest.mark.parametrize("text", ["", "- jurisdiction: '42'\n", "just words\n"])
    def test_file_that_is_not_a_mapping_is_refused(self, tmp_path: Path, text: str) -> None:
        path = write(tmp_path, "odd.yaml", text)
        with pytest.raises(PolicyError, match="a policy file is a mapping") as info:
            load_policy_file(path)
        assert info.value.detail.startswith(f"{path}:1:")

    def test_share_steps_out_of_order_are_refused_naming_the_field(self, tmp_path: Path) -> None:
        path = write(tmp_path, "order.yaml",
                     'jurisdiction: "42"\nnew_energy_min_share:\n  - from_year: 2027\n    share: 0.5\n'
                     '  - from_year: 2025\n    share: 0.3\n')
        with pytest.raises(PolicyError) as info:
            load_policy_file(path)
        assert str(path) in info.value.detail
        assert "must list distinct from_year values" in info.value.detail

    def test_share_steps_out_of_order_report_the_line_and_field(self, tmp_path: Path) -> None:
        path = write(tmp_path, "order.yaml",
                     'jurisdiction: "42"\nrenewal_years: 9\nnew_energy_min_share:\n  - from_year: 2027\n'
                     '    share: 0.5\n  - from_year: 2025\n    share: 0.3\n')
        with pytest.raises(PolicyError) as info:
            load_policy_file(path)
        assert info.value.detail.startswith(f"{path}:3: field 'new_energy_min_share'")
        assert info.value.field == "new_energy_min_share"


class TestPolicyBook:
    PROVINCE = (
        'jurisdiction: "42"\n'
        "renewal_years: 10\n"
        "new_energy_min_share:\n"
        "  - from_year: 2025\n"
        "    share: 0.4\n"
    )
    CITY = 'jurisdiction: "4201"\nrenewal_years: 12\n'

    def test_from_dir_none_gives_national_defaults(self) -> None:
        assert PolicyBook.from_dir(None).for_chain(["42", "4201", "420102"]) == NATIONAL

    def test_from_missing_directory_gives_national_defaults(self, tmp_path: Path) -> None:
        assert PolicyBook.from_dir(tmp_path / "nowhere").for_chain(["42"]) == NATIONAL

    def test_empty_chain_is_national(self, tmp_path: Path) -> None:
        assert book(tmp_path, province=self.PROVINCE).for_chain([]) == NATIONAL

    def test_city_overrides_only_what_it_sets_and_keeps_the_province_share(self, tmp_path: Path) -> None:
        policy = book(tmp_path, province=self.PROVINCE, city=self.CITY).for_chain(["42", "4201"])
        assert policy.renewal_years == 12
        assert policy.min_new_energy_share(2025) == pytest.approx(0.4)
        assert policy.standards == NATIONAL.standards

    def test_province_alone(self, tmp_path: Path) -> None:
        policy = book(tmp_path, province=self.PROVINCE, city=self.CITY).for_chain(["42"])
        assert policy.renewal_years == 10
        assert policy.min_new_energy_share(2025) == pytest.approx(0.4)

    def test_city_without_its_province_gets_national_share(self, tmp_path: Path) -> None:
        policy = book(tmp_path, province=self.PROVINCE, city=self.CITY).for_chain(["4201"])
        assert policy.renewal_years == 12
        assert policy.min_new_energy_share(2025) == pytest.approx(0.3)

    def test_chain_is_merged_root_first_so_the_last_code_wins(self, tmp_path: Path) -> None:
        policies = book(tmp_path, province=self.PROVINCE, city=self.CITY)
        assert policies.for_chain(["4201", "42"]).renewal_years == 10

    def test_codes_without_a_file_inherit_from_their_ancestors(self, tmp_path: Path) -> None:
        policy = book(tmp_path, province=self.PROVINCE).for_chain(["42", "4201", "420102"])
        assert policy.renewal_years == 10

    def test_standards_override_of_one_category_keeps_the_rest(self, tmp_path: Path) -> None:
        policy = book(
            tmp_path, province='jurisdiction: "42"\nstandards:\n  emergency:\n    max_price_cny: 200000\n',
        ).for_chain(["42"])
        emergency = policy.standards[Category.emergency]
        assert emergency == Standard(max_price_cny=Decimal(200000), max_displacement_l=Decimal("1.8"))
        for category in set(Category) - {Category.emergency}:
            assert policy.standards[category] == NATIONAL.standards[category]
        spec = LineSpec(category=Category.emergency, powertrain=Powertrain.ice, seats=5,
                        unit_price_cny=Decimal(200000), displacement_l=Decimal("1.8"))
        check_standard(policy, spec)

    def test_city_standard_override_merges_with_the_province_one(self, tmp_path: Path) -> None:
        policy = book(
            tmp_path,
            province='jurisdiction: "42"\nstandards:\n  general:\n    max_price_cny: 160000\n',
            city='jurisdiction: "4201"\nstandards:\n  general:\n    max_displacement_l: 1.5\n',
        ).for_chain(["42", "4201"])
        assert policy.standards[Category.general] == Standard(max_price_cny=Decimal(160000),
                                                              max_displacement_l=Decimal("1.5"))

    def test_special_technical_can_be_given_a_cap(self, tmp_path: Path) -> None:
        policy = book(
            tmp_path,
            province='jurisdiction: "42"\nstandards:\n  special_technical:\n    max_price_cny: 500000\n',
        ).for_chain(["42"])
        assert policy.standards[Category.special_technical] == Standard(max_price_cny=Decimal(500000))

    def test_two_files_for_the_same_jurisdiction_are_refused(self, tmp_path: Path) -> None:
        first = write(tmp_path, "a.yaml", 'jurisdiction: "42"\nrenewal_years: 10\n')
        second = write(tmp_path, "b.yaml", "jurisdiction: 42\nrenewal_years: 11\n")
        with pytest.raises(PolicyError) as info:
            PolicyBook.from_dir(tmp_path)
        assert info.value.field == "jurisdiction"
        assert str(first) in info.value.detail
        assert str(second) in info.value.detail
        assert "42" in info.value.detail

    def test_from_dir_refuses_a_bad_file(self, tmp_path: Path) -> None:
        write(tmp_path, "good.yaml", 'jurisdiction: "42"\n')
        bad = write(tmp_path, "bad.yaml", 'jurisdiction: "4201"\nrenewal_years: 0\n')
        with pytest.raises(PolicyError) as info:
            PolicyBook.from_dir(tmp_path)
        assert info.value.detail.startswith(f"{bad}:2: field 'renewal_years'")

    def test_from_dir_reads_only_yaml_files(self, tmp_path: Path) -> None:
        write(tmp_path, "notes.txt", "renewal_years: -3\n")
        assert book(tmp_path, province=self.PROVINCE).for_chain(["42"]).renewal_years == 10
