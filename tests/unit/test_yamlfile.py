"""YAML with positions: duplicate keys refused, key paths located to line:column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from callcenter.errors import ConfigError
from callcenter.yamlfile import load_yaml, validate_document


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- duplicate keys ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "where", "key", "first"),
    [
        ("a: 1\nb: 2\na: 3\n", "3:1", "a", 1),
        # nested in a menu's choices, as ops staff would write it
        (
            "nodes:\n"
            "  main_menu:\n"
            "    choices:\n"
            '      "1": human\n'
            '      "2": self_service\n'
            '      "1": goodbye\n',
            "6:7",
            "1",
            4,
        ),
        # an integer key and a quoted one are the same key to a caller
        ("choices:\n  1: human\n  '1': goodbye\n", "3:3", "1", 2),
        # inside a list item
        ("cases:\n  - when: {holiday: true}\n    goto: a\n    goto: b\n", "4:5", "goto", 3),
        # flow style
        ("x: {k: 1, j: 2, k: 3}\n", "1:17", "k", 1),
    ],
    ids=["top", "menu-choices", "int-and-text", "list-item", "flow-style"],
)
def test_duplicate_keys_are_refused_with_both_positions(
    tmp_path: Path, text: str, where: str, key: str, first: int
):
    path = write(tmp_path / "dup.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}:{where}: duplicate key {key!r} (first at line {first})"


def test_equal_keys_in_different_mappings_are_fine(tmp_path: Path):
    doc = load_yaml(write(tmp_path / "ok.yaml", "a:\n  x: 1\nb:\n  x: 2\nc: [{x: 1}, {x: 2}]\n"))
    assert doc.data == {"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}


def test_the_first_duplicate_in_the_file_is_reported(tmp_path: Path):
    path = write(tmp_path / "dup.yaml", "a:\n  x: 1\n  x: 2\nb: 1\nb: 2\n")
    with pytest.raises(ConfigError, match=r":3:3: duplicate key 'x' \(first at line 2\)$"):
        load_yaml(path)


# --- reading and syntax -----------------------------------------------------------------
def test_syntax_error_names_file_line_and_column(tmp_path: Path):
    path = write(tmp_path / "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value) == (
        f"{path}:3:2: YAML syntax error: expected ',' or ']', but got ':' "
        "(hint: close the list or mapping on the same line, or quote a value starting with [ or {)"
    )


def test_tab_indentation_is_a_syntax_error(tmp_path: Path):
    path = write(tmp_path / "tabs.yaml", "a:\n\tb: 1\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2:1: YAML syntax error: "):
        load_yaml(path)


def test_unreadable_file(tmp_path: Path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=rf"^{path}: cannot read: No such file or directory$"):
        load_yaml(path)


def test_empty_file_has_no_root(tmp_path: Path):
    doc = load_yaml(write(tmp_path / "empty.yaml", "# only a comment\n"))
    assert doc.data is None
    assert doc.root is None
    assert doc.locate(("anything", 0)) == (1, 1)


# --- locate -----------------------------------------------------------------------------
FLOW = """\
# comment line
start: welcome
nodes:
  welcome:
    type: play
    prompts: [welcome, main_menu]
    next: menu
  menu:
    type: branch
    cases:
      - when: {holiday: true}
        goto: closed
      - when:
          business_hours: false
        goto: closed
    default: welcome
"""


@pytest.fixture
def flow_doc(tmp_path: Path):
    return load_yaml(write(tmp_path / "flow.yaml", FLOW))


@pytest.mark.parametrize(
    ("loc", "position"),
    [
        ((), (2, 1)),  # the root mapping starts at its first key
        (("start",), (2, 8)),  # a value, not its key
        (("nodes",), (4, 3)),
        (("nodes", "welcome"), (5, 5)),
        (("nodes", "welcome", "next"), (7, 11)),
        (("nodes", "welcome", "prompts"), (6, 14)),
        (("nodes", "welcome", "prompts", 0), (6, 15)),
        (("nodes", "welcome", "prompts", 1), (6, 24)),
        (("nodes", "welcome", "prompts", "1"), (6, 24)),  # index as text
        (("nodes", "menu", "cases", 0, "goto"), (12, 15)),
        (("nodes", "menu", "cases", "1", "goto"), (15, 15)),
        (("nodes", "menu", "cases", 0, "when", "holiday"), (11, 25)),
        (("nodes", "menu", "cases", 1, "when", "business_hours"), (14, 27)),
        (("nodes", "menu", "default"), (16, 14)),
    ],
)
def test_locate_nested_paths(flow_doc, loc: tuple[int | str, ...], position: tuple[int, int]):
    assert flow_doc.locate(loc) == position


@pytest.mark.parametrize(
    ("loc", "position"),
    [
        (("nodes", "welcome", "missing"), (5, 5)),  # deepest found: the node
        (("nodes", "welcome", "prompts", 7), (6, 14)),  # index out of range: the list
        (("nodes", "welcome", "prompts", "x"), (6, 14)),  # not an index
        (("nodes", "welcome", "prompts", -1), (6, 14)),  # no negative indexes
        (("start", "deeper"), (2, 8)),  # below a scalar
        (("nodes", "menu", "cases", 0, "when", "holiday", "x"), (11, 25)),
    ],
)
def test_locate_stops_at_the_deepest_node_found(
    flow_doc, loc: tuple[int | str, ...], position: tuple[int, int]
):
    assert flow_doc.locate(loc) == position


def test_locate_integer_mapping_keys(tmp_path: Path):
    doc = load_yaml(write(tmp_path / "menu.yaml", "choices:\n  1: human\n  '2': goodbye\n"))
    assert doc.locate(("choices", 1)) == (2, 6)
    assert doc.locate(("choices", "1")) == (2, 6)
    assert doc.locate(("choices", "2")) == (3, 8)


def test_locate_a_top_level_list(tmp_path: Path):
    doc = load_yaml(write(tmp_path / "list.yaml", "- a\n- b: [x, y]\n"))
    assert doc.locate((1, "b", "1")) == (2, 10)
    assert doc.locate(("1", "b", 0)) == (2, 7)


# --- validate_document ------------------------------------------------------------------
class _Queue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    languages: list[str] = []


class _Queues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queues: dict[str, _Queue]


def test_validate_document_names_every_error_with_its_position(tmp_path: Path):
    path = write(
        tmp_path / "queues.yaml",
        "queues:\n"
        "  general:\n"
        "    title: 综合服务\n"
        "    languages: [zh, 7]\n"
        "  english:\n"
        "    titel: English\n",
    )
    doc = load_yaml(path)
    with pytest.raises(ConfigError) as info:
        validate_document(doc, _Queues)
    assert str(info.value).splitlines() == [
        f"{path}:4:21: queues.general.languages.1: Input should be a valid string",
        f"{path}:6:5: queues.english.title: Field required",
        f"{path}:6:12: queues.english.titel: Extra inputs are not permitted",
    ]


def test_validate_document_top_level_error(tmp_path: Path):
    path = write(tmp_path / "queues.yaml", "- just\n- a list\n")
    with pytest.raises(ConfigError) as info:
        validate_document(load_yaml(path), _Queues)
    assert str(info.value) == f"{path}:1:1: (top level): Input should be a valid dictionary " + (
        "or instance of _Queues"
    )


def test_validate_document_with_derived_data(tmp_path: Path):
    doc = load_yaml(write(tmp_path / "q.yaml", "# empty\n"))
    assert validate_document(doc, _Queues, {"queues": {}}) == _Queues(queues={})
    with pytest.raises(ConfigError) as info:
        validate_document(doc, _Queues, {})
    assert str(info.value) == f"{doc.path}: queues: Field required"  # no node: no position


# --- values PyYAML cannot build -------------------------------------------------------
def test_an_impossible_date_is_a_config_error_with_position(tmp_path: Path):
    path = write(tmp_path / "dates.yaml", "extra_holidays:\n  - 2026-02-30\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value) == (
        f"{path}:2:5: bad value: invalid value '2026-02-30': day is out of range for month"
    )


@pytest.mark.parametrize(
    ("text", "where", "value", "reason"),
    [
        ("d: 2026-13-01\n", "1:4", "2026-13-01", "month must be in 1..12"),
        ("a: 1\nb:\n  c: 2026-02-29\n", "3:6", "2026-02-29", "day is out of range for month"),
        ("t: 2026-11-30 25:00:00\n", "1:4", "2026-11-30 25:00:00", "hour must be in 0..23"),
        ("l: [2026-04-31]\n", "1:5", "2026-04-31", "day is out of range for month"),
    ],
    ids=["month", "nested", "timestamp", "flow-list"],
)
def test_impossible_dates_name_the_value_and_its_position(
    tmp_path: Path, text: str, where: str, value: str, reason: str
):
    path = write(tmp_path / "dates.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}:{where}: bad value: invalid value {value!r}: {reason}"
    assert isinstance(info.value.__cause__, yaml.MarkedYAMLError)


def test_possible_dates_and_quoted_impossible_ones_still_load(tmp_path: Path):
    doc = load_yaml(write(tmp_path / "dates.yaml", "a: 2028-02-29\nb: '2026-02-30'\n"))
    assert doc.data == {"a": date(2028, 2, 29), "b": "2026-02-30"}


# --- what an editor may save instead of UTF-8 -------------------------------------------
@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ("a: 1\nb: 欢迎\n".encode("gbk"), "2:4", "not UTF-8 (byte 0xBB here; "),
        ("a: 1\n".encode("utf-16"), "1:1", 'saved as UTF-16 (Windows "Unicode"), not UTF-8'),
        (b"a: 1\n\0\0", "2:1", "not a text file (a NUL byte on this line)"),
    ],
    ids=["gbk", "utf-16", "binary"],
)
def test_files_that_are_not_utf8_text_are_refused_at_their_line(
    tmp_path: Path, raw: bytes, where: str, message: str
):
    path = tmp_path / "x.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value).startswith(f"{path}:{where}: {message}")


def test_a_bom_and_crlf_are_read_as_plain_text(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes("\ufeffa: 1\r\nb:\r\n  - 欢迎\r\n".encode())
    doc = load_yaml(path)
    assert doc.data == {"a": 1, "b": ["欢迎"]}
    assert doc.locate(("b", 0)) == (3, 5)


def test_a_shared_node_is_checked_for_duplicate_keys_once(tmp_path: Path):
    path = write(tmp_path / "x.yaml", "a: &m {k: 1, k: 2}\nb: *m\n")
    with pytest.raises(ConfigError, match=r":1:14: duplicate key 'k' \(first at line 1\)$"):
        load_yaml(path)


@pytest.mark.parametrize(
    "text",
    ['choices: {"1": a, #: b}\nx: 1\n', "prompts: [welcome, #x]\nnext: a\n"],
    ids=["flow-mapping", "flow-list"],
)
def test_a_hash_inside_brackets_is_explained(tmp_path: Path, text: str):
    path = write(tmp_path / "x.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value).endswith(
        "(hint: a # inside [ ] or { } starts a comment and hides the rest of the line: "
        "quote it, e.g. ['#', '1'])"
    )
