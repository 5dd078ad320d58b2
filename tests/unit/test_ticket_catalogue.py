"""The catalogue file: checked with file:line errors; 属地优先 suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.errors import ConfigError
from callcenter.tickets.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(ROOT / "config" / "catalogue.yaml")


def test_the_district_unit_of_the_handling_department_leads(catalogue):
    water = catalogue.suggest("0101", "高新区")  # 供水 in 高新区
    assert (water.lead, water.co_handlers) == ("SWJ-GX", ())
    street = catalogue.suggest("010401", "西城区")  # 占道经营 inherits 市容环卫's CGJ
    assert street.lead == "CGJ-XC"


def test_a_city_department_leads_where_it_has_no_unit_and_the_district_co_handles(catalogue):
    bus = catalogue.suggest("0201", "高新区")
    assert (bus.lead, bus.co_handlers) == ("JTJ", ("GX-GOV",))
    water = catalogue.suggest("0101", "西城区")  # no 西城 water unit, no 西城 government
    assert (water.lead, water.co_handlers) == ("SWJ", ())


def test_without_a_category_the_district_government_is_suggested(catalogue):
    assert catalogue.suggest(None, "东城区").lead == "DC-GOV"
    assert catalogue.suggest(None, "").lead is None


def test_a_category_includes_its_subcategories(catalogue):
    assert catalogue.category_and_below("0104") == ["0104", "010401", "010402"]
    assert set(catalogue.category_and_below("01")) >= {"0101", "0104", "010402"}


def test_an_unknown_department_or_a_code_twice_is_named_with_its_line(tmp_path):
    bad = tmp_path / "catalogue.yaml"
    bad.write_text(
        "departments:\n"
        "  - {code: SWJ, name: 水务局}\n"
        "  - code: CGJ\n"
        "    name: 城管局\n"
        "    units:\n"
        "      - {code: SWJ, name: 重复}\n"
        "categories:\n"
        "  - code: '01'\n"
        "    name: 城乡建设\n"
        "    departments: [SWJ, ZJJ]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_catalogue(bad)
    message = str(err.value)
    assert f"{bad}:6:" in message and "department code 'SWJ' twice" in message
    assert f"{bad}:10:" in message and "no department 'ZJJ'" in message


def test_a_malformed_code_is_refused_with_its_field(tmp_path):
    bad = tmp_path / "catalogue.yaml"
    bad.write_text("departments:\n  - {code: 'has space', name: x}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"catalogue.yaml:2:\d+: departments\.0\.code"):
        load_catalogue(bad)
