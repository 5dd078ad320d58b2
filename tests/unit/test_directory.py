"""The department directory: loading (file:line errors), where a transfer may go,
and the gate that logs and counts refusals."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from callcenter.acd.queues import load_queues
from callcenter.calls.destinations import Destinations
from callcenter.directory import (
    Destination,
    DestinationRefused,
    Directory,
    Entry,
    load_directory,
    resolve,
)
from callcenter.errors import ConfigError
from callcenter.ivr.flowset import FlowSetInvalid
from callcenter.ivr.registry import IvrPaths, IvrRegistry
from callcenter.ivr.validate import load_flow_set
from callcenter.tickets.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "directory.yaml"
CATALOGUE = {
    c: d.name for c, d in load_catalogue(ROOT / "config" / "catalogue.yaml").departments.items()
}
AGENTS = {"1001", "1002", "t2"}

DIRECTORY = Directory(
    [
        Entry("SWJ", "市水务局", "88001234", "88001299"),
        Entry("JTJ", "市交通运输局", "+862088004567", None),
    ]
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- loading ----------------------------------------------------------------------------
def test_the_shipped_directory_names_departments_of_the_catalogue():
    directory = load_directory(SHIPPED, CATALOGUE)
    assert set(directory.entries) <= set(CATALOGUE)
    swj = directory.entries["SWJ"]
    assert (swj.name, swj.number, swj.duty) == ("市水务局", "88001234", "88001299")
    # The integration tests' department (SIPp behind the dial-out trunk) is dialled as this.
    assert directory.department("88001234") == Destination("dept:SWJ", "市水务局", "88001234")


def test_a_name_in_the_file_wins_and_no_catalogue_means_any_code(tmp_path: Path):
    path = write(
        tmp_path, 'departments:\n  HOT: {number: "12319", name: 城管热线}\n  X: {number: "800"}\n'
    )
    directory = load_directory(path)
    assert [(e.code, e.name) for e in directory.entries.values()] == [
        ("HOT", "城管热线"),
        ("X", "X"),
    ]


def test_no_file_is_an_empty_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        directory = load_directory(tmp_path / "absent.yaml", CATALOGUE)
    assert directory.entries == {} and directory.numbers() == []
    assert "transfers reach agents only" in caplog.text
    assert load_directory(None).entries == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "departments:\n  SWJ: {number: 88001234}\n",
            "{path}:2:17: departments.SWJ.number: Value error, write numbers in quotes",
        ),
        (
            'departments:\n  SWJ:\n    number: "88-00"\n',
            "{path}:3:13: departments.SWJ.number: String should match pattern",
        ),
        (
            'departments:\n  SWJ:\n    number: "88001234"\n    fax: "1"\n',
            "{path}:4:10: departments.SWJ.fax: Extra inputs are not permitted",
        ),
        (
            'departments:\n  SWJ: {number: "88001234"\n',
            "{path}:3:1: YAML syntax error",
        ),
        (
            'departments:\n  SWJ: {number: "88001234"}\n  SWJ: {number: "88001235"}\n',
            "{path}:3:3: duplicate key 'SWJ' (first at line 2)",
        ),
        (
            'departments:\n  SWJ: {number: "88001234"}\n'
            '  CGJ: {number: "88002345", duty: "88001234"}\n',
            "{path}:3:35: departments.CGJ.duty: number 88001234 is already SWJ.number (line 2)",
        ),
        (
            'departments:\n  SWJ: {number: "88001234", duty: "88001234"}\n',
            "{path}:2:35: departments.SWJ.duty: number 88001234 is already SWJ.number (line 2)",
        ),
        (
            'departments:\n  SWJ: {number: "88001234"}\n  NOPE: {number: "88009999"}\n',
            "{path}:3:9: departments.NOPE: no department 'NOPE' in the catalogue",
        ),
    ],
    ids=[
        "unquoted-number",
        "not-a-number",
        "unknown-field",
        "yaml-syntax",
        "duplicate-code",
        "duplicate-number",
        "duty-equals-desk",
        "not-a-department",
    ],
)
def test_a_bad_directory_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, expected: str
):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_directory(path, CATALOGUE)
    assert str(info.value).startswith(expected.format(path=path)), str(info.value)


# --- where a transfer may go --------------------------------------------------------------
@pytest.mark.parametrize(
    ("wanted", "key", "number"),
    [
        ("dept:SWJ", "dept:SWJ", "88001234"),
        ("dept:SWJ/duty", "dept:SWJ/duty", "88001299"),
        ("88001234", "dept:SWJ", "88001234"),  # a softphone dials the desk's number
        ("88001299", "dept:SWJ/duty", "88001299"),
        ("+862088004567", "dept:JTJ", "+862088004567"),
    ],
)
def test_directory_entries_resolve_to_their_numbers(wanted: str, key: str, number: str):
    destination = resolve(DIRECTORY, wanted, AGENTS)
    assert (destination.key, destination.number, destination.agent_id) == (key, number, None)
    assert destination.department == key.removeprefix("dept:").split("/")[0]


@pytest.mark.parametrize("wanted", ["agent:1002", "1002", "agent:t2", "t2"])
def test_agents_of_the_roster_resolve_to_their_seat(wanted: str):
    destination = resolve(DIRECTORY, wanted, AGENTS)
    agent_id = wanted.removeprefix("agent:")
    assert destination == Destination(f"agent:{agent_id}", agent_id, agent_id=agent_id)
    assert destination.department is None


@pytest.mark.parametrize(
    "wanted",
    [
        "0085212345678",  # abroad: the toll fraud this closes
        "88001235",  # one digit off a directory number
        "8800123",
        "+88001234",
        "dept:NOPE",
        "dept:JTJ/duty",  # JTJ has no duty line
        "dept:SWJ/night",
        "agent:9999",
        "9999",
        "",
        "sip:88001234@evil.example",
    ],
)
def test_anything_else_is_refused_naming_it(wanted: str):
    with pytest.raises(DestinationRefused) as info:
        resolve(DIRECTORY, wanted, AGENTS)
    assert f"transfer to {wanted!r} refused" in str(info.value)


def test_the_ivr_reaches_departments_only():
    assert resolve(DIRECTORY, "dept:SWJ", AGENTS, seats=False).number == "88001234"
    with pytest.raises(DestinationRefused, match=r"not in the department directory$"):
        resolve(DIRECTORY, "agent:1002", AGENTS, seats=False)


def test_a_long_destination_is_cut_short_in_the_message():
    with pytest.raises(DestinationRefused) as info:
        resolve(DIRECTORY, "9" * 500, AGENTS)
    assert len(str(info.value)) < 160


# --- the gate: refusals logged and counted --------------------------------------------------
def refused(registry: CollectorRegistry, path: str) -> float | None:
    return registry.get_sample_value("hotline_transfers_refused_total", {"path": path})


def test_refusals_are_logged_with_who_and_what_and_counted_per_path(
    caplog: pytest.LogCaptureFixture,
):
    registry = CollectorRegistry()
    gate = Destinations(lambda: DIRECTORY, lambda: AGENTS, registry)
    assert [refused(registry, p) for p in ("api", "softphone", "ivr")] == [0.0, 0.0, 0.0]
    assert gate.resolve("dept:SWJ", path="api", who="agent 1001").number == "88001234"
    with caplog.at_level(logging.WARNING), pytest.raises(DestinationRefused):
        gate.resolve("0085212345678", path="softphone", who="agent 1001")
    assert [refused(registry, p) for p in ("api", "softphone", "ivr")] == [0.0, 1.0, 0.0]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "softphone" in record.getMessage() and "agent 1001" in record.getMessage()
    assert "'0085212345678'" in record.getMessage()


def test_the_gate_follows_the_directory_in_service():
    current = [Directory([])]
    gate = Destinations(lambda: current[0], lambda: (), CollectorRegistry())
    with pytest.raises(DestinationRefused):
        gate.resolve("88001234", path="api", who="agent 1001")
    current[0] = DIRECTORY  # an IVR reload put a new directory in service
    assert gate.resolve("88001234", path="api", who="agent 1001").key == "dept:SWJ"


# --- IVR transfer nodes -------------------------------------------------------------------
TRANSFER_FLOW = """\
numbers: ["12399"]
start: connect
nodes:
  connect:
    type: transfer
    number: "{number}"
    next: bye
  bye:
    type: hangup
"""
QUEUES = load_queues(ROOT / "config" / "queues.yaml")
PROMPTS = ROOT / "ivr_flows" / "prompts"


@pytest.mark.parametrize("number", ["88001234", "dept:SWJ", "dept:SWJ/duty"])
def test_a_transfer_node_may_name_a_directory_entry(tmp_path: Path, number: str):
    (tmp_path / "dept.yaml").write_text(TRANSFER_FLOW.format(number=number), encoding="utf-8")
    assert "dept" in load_flow_set([tmp_path], PROMPTS, QUEUES, DIRECTORY).flows


def test_a_transfer_node_outside_the_directory_is_refused_at_file_line(tmp_path: Path):
    flow = tmp_path / "dept.yaml"
    flow.write_text(TRANSFER_FLOW.format(number="0085212345678"), encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load_flow_set([tmp_path], PROMPTS, QUEUES, DIRECTORY)
    assert [str(e) for e in info.value.errors] == [
        f"{flow}:6:13: nodes.connect.number: '0085212345678' is not in the department "
        "directory (none configured) (hint: name a department (dept:CODE or dept:CODE/duty) "
        "or add it to the directory)"
    ]


def test_the_directory_is_reloaded_with_the_flows_and_a_bad_one_is_refused(tmp_path: Path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "dept.yaml").write_text(TRANSFER_FLOW.format(number="dept:SWJ"), encoding="utf-8")
    directory = tmp_path / "directory.yaml"
    shutil.copy(SHIPPED, directory)
    registry = IvrRegistry(
        IvrPaths(
            flows,
            PROMPTS,
            ROOT / "config" / "calendar.yaml",
            ROOT / "config" / "queues.yaml",
            ROOT / "config" / "lookup_fixture.yaml",
            directory,
        ),
        CATALOGUE,
    )
    assert registry.current.directory.entries["SWJ"].number == "88001234"

    directory.write_text('departments:\n  SWJ: {number: "88009999"}\n', encoding="utf-8")
    assert registry.reload().ok
    assert registry.current.directory.department("88001234") is None
    assert registry.current.directory.department("dept:SWJ").number == "88009999"

    directory.write_text('departments:\n  CGJ: {number: "88002345"}\n', encoding="utf-8")
    result = registry.reload()  # the flow's dept:SWJ is gone from the directory
    assert not result.ok
    assert result.errors[0].startswith(f"{flows / 'dept.yaml'}:6:13: nodes.connect.number:")
    assert registry.current.directory.department("dept:SWJ").number == "88009999"
