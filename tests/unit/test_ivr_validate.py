"""The IVR validator against a corpus of broken flows (tests/unit/ivr_broken/).

Each corpus entry has one problem (several_*.yaml have several). The table
below holds every line the validator must print for it, position and words
included, so a change in either fails here and has to be made on purpose.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.acd.queues import load_queues
from callcenter.cli import main
from callcenter.config import load_settings
from callcenter.ivr.flowset import FlowSet, FlowSetInvalid
from callcenter.ivr.registry import IvrPaths, IvrRegistry
from callcenter.ivr.validate import load_flow_set

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "ivr_broken"
PROMPTS = ROOT / "ivr_flows" / "prompts"
QUEUES_FILE = ROOT / "config" / "queues.yaml"
HOTLINE_CONFIG = ROOT / "config" / "hotline.yaml"


def load(*paths: Path, prompts_dir: Path = PROMPTS) -> FlowSet:
    return load_flow_set(list(paths), prompts_dir=prompts_dir, queues=load_queues(QUEUES_FILE))


def expand(line: str, prompts_dir: Path = PROMPTS) -> str:
    """A table line ("file:line:col: ...", file relative to the corpus) as printed."""
    return f"{CORPUS}/{line}".replace("{prompts}", str(prompts_dir))


TYPES = (
    "play, menu, collect, branch, goto, subflow, return, queue, voicemail, lookup, "
    "transfer, survey, set, hangup"
)
UNKNOWN_TYPE_DIAL = (
    "Input tag 'dial' found using 'type' does not match any of the expected tags: "
    + ", ".join(f"'{t}'" for t in TYPES.split(", "))
    + f" (hint: type is one of {TYPES})"
)
MISSPELT = (
    "Extra inputs are not permitted "
    "(hint: misspelt field? see ivr_flows/README.md for each node's fields)"
)
UNREACHABLE = "(hint: link it from another node or remove it)"
NOT_A_NUMBER = "Input should be a valid number, unable to parse string as a number"


def write_prompt(lang: str, name: str) -> str:
    return (
        f"(hint: write {{prompts}}/{lang}/{name}.txt "
        "(audio is generated from it by `make prompts`))"
    )


# Errors that pydantic finds inside a node currently carry the node's position
# and the union tag in the field path ("nodes.main_menu.menu.timeout" at the
# node's first line) rather than the field's own line: see
# test_schema_errors_point_at_the_field below (xfail, a reported bug).
CASES: dict[str, list[str]] = {
    # --- unknown node references ---------------------------------------------------
    "unknown_next.yaml": [
        "unknown_next.yaml:14:11: nodes.info.next: unknown node 'main_manu' "
        "(hint: did you mean 'main_menu'?)",
    ],
    "unknown_choice.yaml": [
        "unknown_choice.yaml:8:12: nodes.main_menu.choices.1: unknown node 'humen' "
        "(hint: did you mean 'human'?)",
    ],
    "unknown_branch_goto.yaml": [
        "unknown_branch_goto.yaml:10:15: nodes.hours.cases.1.goto: "
        "unknown node 'closed_message' (hint: did you mean 'closed'?)",
    ],
    "unknown_on_fail.yaml": [
        "unknown_on_fail.yaml:9:14: nodes.main_menu.on_fail: unknown node 'operator' "
        "(hint: nodes of this flow: main_menu, bye)",
    ],
    "unknown_start.yaml": [
        "unknown_start.yaml:2:8: start: unknown node 'welcom' (hint: did you mean 'welcome'?)",
    ],
    # --- graph ---------------------------------------------------------------------
    "unreachable_node.yaml": [
        "unreachable_node.yaml:9:5: nodes.survey_offer: "
        f"node 'survey_offer' is unreachable from start 'welcome' {UNREACHABLE}",
    ],
    "waitless_loop.yaml": [
        "waitless_loop.yaml:5:5: nodes.welcome: "
        "loop that never waits for the caller: welcome → again → welcome "
        "(hint: put a menu or collect in the loop, or end it)",
    ],
    # --- prompts -------------------------------------------------------------------
    "missing_prompt.yaml": [
        "missing_prompt.yaml:7:24: nodes.welcome.prompts.1: prompt 'date_month' missing for en "
        + write_prompt("en", "date_month"),
    ],
    "missing_prompt_everywhere.yaml": [
        "missing_prompt_everywhere.yaml:7:15: nodes.bye.prompts.0: "
        "prompt 'welcom' missing for zh, en " + write_prompt("zh", "welcom"),
    ],
    # --- digit maps ----------------------------------------------------------------
    "digit_key_two_digits.yaml": [
        "digit_key_two_digits.yaml:5:5: nodes.main_menu.menu.choices: "
        "Value error, menu keys must be single phone keys (0-9, *, #), not '12'",
    ],
    "digit_key_letter.yaml": [
        "digit_key_letter.yaml:5:5: nodes.main_menu.menu.choices: "
        "Value error, menu keys must be single phone keys (0-9, *, #), not 'a'",
    ],
    "duplicate_choice.yaml": [
        "duplicate_choice.yaml:10:7: (yaml): duplicate key '1' (first at line 8)",
    ],
    # --- references to other files and to configuration ---------------------------
    "unknown_queue.yaml": [
        "unknown_queue.yaml:6:12: nodes.human.queue: unknown queue 'generl' "
        "(hint: did you mean 'general'?)",
    ],
    "unknown_subflow.yaml": [
        "unknown_subflow.yaml:6:11: nodes.message.flow: unknown flow 'mailbox' "
        "(hint: flows: unknown_subflow)",
    ],
    "subflow_circle": [
        "subflow_circle/first.yaml:10:11: nodes.call_second.flow: "
        "flows call each other in a circle: first → second → first "
        "(hint: a subflow returns to its caller; use goto within a flow)",
    ],
    "same_number": [
        "same_number/hotline_copy.yaml:2:20: numbers.1: "
        "number 12345 is already answered by flow 'hotline'",
    ],
    "set_language_not_listed.yaml": [
        "set_language_not_listed.yaml:6:15: nodes.english.language: "
        "language 'en' is not in the flow's languages ['zh'] "
        "(hint: add it to `languages:` and record its prompts)",
    ],
    "flow_language_not_listed.yaml": [
        "flow_language_not_listed.yaml:2:1: (top): "
        "Value error, language 'en' is not in languages ['zh']",
    ],
    # --- types and shapes ----------------------------------------------------------
    "wrong_type_timeout.yaml": [
        f"wrong_type_timeout.yaml:5:5: nodes.main_menu.menu.timeout: {NOT_A_NUMBER}",
    ],
    "unknown_node_type.yaml": [
        f"unknown_node_type.yaml:9:5: nodes.department: {UNKNOWN_TYPE_DIAL}",
    ],
    "misspelt_field.yaml": [
        f"misspelt_field.yaml:5:5: nodes.welcome.play.interuptible: {MISSPELT}",
    ],
    "yaml_syntax.yaml": [
        "yaml_syntax.yaml:7:9: (yaml): YAML syntax error: expected ',' or ']', but got ':'",
    ],
    "collect_min_over_max.yaml": [
        "collect_min_over_max.yaml:5:5: nodes.ask.collect: "
        "Value error, min_digits is larger than max_digits",
    ],
    "bad_pattern.yaml": [
        "bad_pattern.yaml:5:5: nodes.ask.collect.pattern: "
        "Value error, not a regular expression: unterminated character set at position 0",
    ],
    # --- several problems in one file: all reported, in file order -----------------
    "several_problems.yaml": [
        "several_problems.yaml:11:26: nodes.main_menu.prompts.1: "
        "prompt 'date_day' missing for en " + write_prompt("en", "date_day"),
        "several_problems.yaml:14:12: nodes.main_menu.choices.2: unknown node 'self_servise' "
        "(hint: nodes of this flow: welcome, main_menu, human, orphan, goodbye)",
        "several_problems.yaml:18:12: nodes.human.queue: unknown queue 'vip' "
        "(hint: queues in config/queues.yaml: english, enterprise, general)",
        "several_problems.yaml:21:5: nodes.orphan: "
        f"node 'orphan' is unreachable from start 'welcome' {UNREACHABLE}",
    ],
    "several_type_problems.yaml": [
        f"several_type_problems.yaml:5:5: nodes.main_menu.menu.timeout: {NOT_A_NUMBER}",
        "several_type_problems.yaml:5:5: nodes.main_menu.menu.max_retries: "
        "Input should be greater than or equal to 1",
        f"several_type_problems.yaml:13:5: nodes.department: {UNKNOWN_TYPE_DIAL}",
        f"several_type_problems.yaml:16:5: nodes.bye.hangup.promts: {MISSPELT}",
    ],
}

# Corpus entries that show a bug (each has its own xfail test below).
KNOWN_BUGS = {"impossible_date.yaml"}


def test_every_corpus_entry_has_expected_errors():
    entries = {p.name for p in CORPUS.iterdir() if p.is_dir() or p.suffix == ".yaml"}
    assert entries == set(CASES) | KNOWN_BUGS


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_flow_is_refused_with_exact_errors(case: str):
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / case)
    expected = [expand(line) for line in CASES[case]]
    errors = info.value.errors
    assert [str(e) for e in errors] == expected
    # The structured fields say the same as the text.
    assert [(str(e.path), e.line, e.column, e.field) for e in errors] == [
        structured(line) for line in expected
    ]
    # The exception's own text is every line, for logs and the reload API.
    assert str(info.value) == "\n".join(expected)


def structured(line: str) -> tuple[str, int, int, str]:
    where, field, _ = line.split(": ", 2)
    path, row, column = where.rsplit(":", 2)
    return path, int(row), int(column), field


def test_broken_files_loaded_together_report_all_their_errors_sorted_by_file():
    names = ["unknown_start.yaml", "unknown_queue.yaml", "several_problems.yaml"]
    with pytest.raises(FlowSetInvalid) as info:
        load(*(CORPUS / n for n in names))
    assert [str(e) for e in info.value.errors] == [
        expand(line) for n in sorted(names) for line in CASES[n]
    ]


def test_a_schema_error_in_one_file_does_not_hide_cross_file_errors_in_another():
    # unknown_subflow.yaml names "mailbox": give it a flow of that name that is broken
    # by type; the subflow is still unknown (the broken flow is not in the set).
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "unknown_subflow.yaml", CORPUS / "wrong_type_timeout.yaml")
    assert [e.field for e in info.value.errors] == [
        "nodes.message.flow",
        "nodes.main_menu.menu.timeout",
    ]
    assert info.value.errors[0].hint == "flows: unknown_subflow"


def test_the_same_flow_name_twice_is_refused():
    path = CORPUS / "unknown_queue.yaml"
    with pytest.raises(FlowSetInvalid) as info:
        load(path, path)
    assert f"{path}:1:1: (file): flow 'unknown_queue' is defined twice" in [
        str(e) for e in info.value.errors
    ]


def test_a_folder_without_flow_files_is_refused(tmp_path: Path):
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    assert [str(e) for e in info.value.errors] == [
        f"{tmp_path}:1:1: (files): no flow files (*.yaml) found"
    ]


def test_missing_prompt_is_checked_against_the_given_prompts_dir(tmp_path: Path):
    # Only zh/welcome exists here: the hangup's "goodbye" is missing in zh.
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "welcome.txt").write_text("您好", encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "unreachable_node.yaml", prompts_dir=tmp_path)
    lines = [str(e) for e in info.value.errors]
    assert lines == [
        expand(CASES["unreachable_node.yaml"][0]),
        expand(
            "unreachable_node.yaml:10:15: nodes.survey_offer.prompts.0: "
            "prompt 'survey' missing for zh " + write_prompt("zh", "survey"),
            tmp_path,
        ),
        expand(
            "unreachable_node.yaml:14:15: nodes.bye.prompts.0: "
            "prompt 'goodbye' missing for zh " + write_prompt("zh", "goodbye"),
            tmp_path,
        ),
    ]


def test_a_wav_without_txt_counts_as_the_prompt(tmp_path: Path):
    (tmp_path / "zh").mkdir()
    for name in ("welcome.wav", "survey.txt", "goodbye.wav"):
        (tmp_path / "zh" / name).write_bytes(b"")
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "unreachable_node.yaml", prompts_dir=tmp_path)
    assert [str(e) for e in info.value.errors] == [expand(CASES["unreachable_node.yaml"][0])]


# --- the real flows ---------------------------------------------------------------------
def test_the_default_flows_validate_clean():
    flows = load(ROOT / "ivr_flows")
    assert {"12345", "survey", "voicemail"} <= set(flows.flows)
    assert flows.entry_for("12345") == "12345"
    assert flows.entry_for("110") is None
    assert len(flows.version) == 12
    assert flows.prompts_dir == PROMPTS


def test_the_version_is_a_content_hash(tmp_path: Path):
    copy = tmp_path / "flows"
    copy.mkdir()
    for name in ("12345.yaml", "voicemail.yaml", "survey.yaml"):
        shutil.copy(ROOT / "ivr_flows" / name, copy / name)
    original = load(ROOT / "ivr_flows").version
    assert load(copy).version == original
    with (copy / "survey.yaml").open("a", encoding="utf-8") as f:
        f.write("# a comment changes the content\n")
    assert load(copy).version != original


# --- the command line -------------------------------------------------------------------
def cli_validate(*paths: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["ivr", "validate", "-c", str(HOTLINE_CONFIG), *map(str, paths)]
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_validate_prints_every_error_and_fails():
    code, stdout, stderr = cli_validate(CORPUS / "several_problems.yaml")
    prompts_dir = load_settings(HOTLINE_CONFIG).ivr.prompts_dir
    assert code != 0
    assert stdout == ""
    assert stderr.splitlines() == [
        *(expand(line, prompts_dir) for line in CASES["several_problems.yaml"]),
        "Error: 4 error(s); nothing was changed",
    ]


def test_cli_validate_reports_every_file_given():
    code, _, stderr = cli_validate(
        CORPUS / "unknown_start.yaml", CORPUS / "subflow_circle", CORPUS / "yaml_syntax.yaml"
    )
    assert code == 1
    assert stderr.splitlines() == [
        *map(expand, CASES["subflow_circle"]),
        *map(expand, CASES["unknown_start.yaml"]),
        *map(expand, CASES["yaml_syntax.yaml"]),
        "Error: 3 error(s); nothing was changed",
    ]


@pytest.mark.parametrize("args", [[ROOT / "ivr_flows"], []], ids=["path", "configured"])
def test_cli_validate_passes_on_the_default_flows(args: list[Path]):
    flows = load(ROOT / "ivr_flows")
    code, stdout, stderr = cli_validate(*args)
    assert (code, stderr) == (0, "")
    assert stdout == (
        f"OK: {len(flows.flows)} flow(s), version {flows.version}: "
        f"{', '.join(sorted(flows.flows))}\n"
    )


# --- the service keeps the set it has ---------------------------------------------------
def test_reload_refuses_a_broken_set_and_keeps_serving_the_old_one(tmp_path: Path):
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    for name in ("12345.yaml", "voicemail.yaml", "survey.yaml"):
        shutil.copy(ROOT / "ivr_flows" / name, flows_dir / name)
    registry = IvrRegistry(
        IvrPaths(
            flows_dir=flows_dir,
            prompts_dir=PROMPTS,
            calendar=ROOT / "config" / "calendar.yaml",
            queues=QUEUES_FILE,
            lookup_fixture=ROOT / "config" / "lookup_fixture.yaml",
        )
    )
    before = registry.current
    shutil.copy(CORPUS / "unknown_queue.yaml", flows_dir / "unknown_queue.yaml")

    result = registry.reload()

    assert not result.ok
    assert result.version == before.version
    assert result.errors == (
        f"{flows_dir / 'unknown_queue.yaml'}:6:12: nodes.human.queue: unknown queue 'generl' "
        "(hint: did you mean 'general'?)",
    )
    assert registry.current is before

    (flows_dir / "unknown_queue.yaml").unlink()
    (flows_dir / "survey.yaml").write_text(
        (ROOT / "ivr_flows" / "survey.yaml").read_text(encoding="utf-8") + "# edited\n",
        encoding="utf-8",
    )
    result = registry.reload()
    assert result.ok
    assert result.version != before.version
    assert registry.current.version == result.version


# --- reported bugs (strict xfail: they turn red when fixed, to drop the marker) ---------
@pytest.mark.xfail(
    strict=True,
    reason="bug: flowset.parse_flow_files keeps pydantic's union tag in loc, so "
    "YamlDocument.locate stops at the node; the error names the node's first line",
)
def test_schema_errors_point_at_the_field():
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "wrong_type_timeout.yaml")
    [error] = info.value.errors
    assert (error.line, error.column, error.field) == (9, 14, "nodes.main_menu.timeout")


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="bug: yamlfile.load_yaml only catches MarkedYAMLError; PyYAML's date "
    "constructor raises a bare ValueError for 2026-02-30",
)
def test_an_impossible_date_is_a_flow_error_not_a_crash():
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "impossible_date.yaml")
    assert [e.path for e in info.value.errors] == [CORPUS / "impossible_date.yaml"]


@pytest.mark.xfail(
    strict=True,
    reason="bug: validate._waitless_loops treats every subflow node as not waiting, "
    "even when the flow it calls waits in a menu",
)
def test_a_loop_through_a_subflow_that_waits_is_accepted(tmp_path: Path):
    (tmp_path / "caller.yaml").write_text(
        "start: again\nnodes:\n  again:\n    type: subflow\n    flow: ask\n    next: again\n",
        encoding="utf-8",
    )
    (tmp_path / "ask.yaml").write_text(
        "start: menu\n"
        "nodes:\n"
        "  menu:\n"
        "    type: menu\n"
        "    prompts: [main_menu]\n"
        '    choices: {"1": done}\n'
        "  done:\n"
        "    type: return\n",
        encoding="utf-8",
    )
    assert sorted(load(tmp_path).flows) == ["ask", "caller"]


@pytest.mark.xfail(
    strict=True,
    reason="gap: validate._prompts checks a flow's prompts only in its own languages; "
    "a subflow entered after set.language is played in the caller's language",
)
def test_a_subflow_needs_prompts_in_the_languages_of_its_callers(tmp_path: Path):
    (tmp_path / "main.yaml").write_text(
        "languages: [zh, en]\n"
        "start: english\n"
        "nodes:\n"
        "  english:\n"
        "    type: set\n"
        "    language: en\n"
        "    next: sub\n"
        "  sub:\n"
        "    type: subflow\n"
        "    flow: zh_only\n",
        encoding="utf-8",
    )
    (tmp_path / "zh_only.yaml").write_text(
        "start: say\nnodes:\n  say:\n    type: play\n    prompts: [date_month]\n",
        encoding="utf-8",
    )
    with pytest.raises(FlowSetInvalid):
        load(tmp_path)


@pytest.mark.xfail(
    strict=True,
    reason="bug: QueueNode is in schema.INPUT_NODES but the queue stub never waits, so "
    "queue -> goto -> queue passes validation and the simulator spins forever",
)
def test_a_loop_through_the_queue_stub_is_refused(tmp_path: Path):
    (tmp_path / "busy.yaml").write_text(
        "start: wait\n"
        "nodes:\n"
        "  wait:\n"
        "    type: queue\n"
        "    queue: general\n"
        "    next: again\n"
        "  again:\n"
        "    type: goto\n"
        "    target: wait\n",
        encoding="utf-8",
    )
    with pytest.raises(FlowSetInvalid):
        load(tmp_path)
