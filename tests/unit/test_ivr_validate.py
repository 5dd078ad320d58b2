"""The IVR validator against a corpus of broken flows (tests/unit/ivr_broken/).

Each corpus entry has one problem (several_*.yaml have several). The table
below holds every line the validator must print for it, position and words
included, so a change in either fails here and has to be made on purpose.
"""

from __future__ import annotations

import shutil
import string
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter import yamlfile
from callcenter.acd.queues import load_queues
from callcenter.cli import main
from callcenter.cli.common import departments as cli_departments
from callcenter.config import load_settings
from callcenter.errors import ConfigError
from callcenter.ivr import messages
from callcenter.ivr.flowset import FlowSet, FlowSetInvalid
from callcenter.ivr.lookup import FixtureLookup
from callcenter.ivr.registry import IvrPaths, IvrRegistry, load_runtime
from callcenter.ivr.validate import load_flow_set

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "ivr_broken"
FIXTURES = Path(__file__).resolve().parent / "ivr_valid"
PROMPTS = ROOT / "ivr_flows" / "prompts"
QUEUES_FILE = ROOT / "config" / "queues.yaml"
HOTLINE_CONFIG = ROOT / "config" / "hotline.yaml"


def load(*paths: Path, prompts_dir: Path = PROMPTS) -> FlowSet:
    return load_flow_set(list(paths), prompts_dir=prompts_dir, queues=load_queues(QUEUES_FILE))


def expand(line: str, prompts_dir: Path = PROMPTS) -> str:
    """A table line ("file:line:col: ...", file relative to the corpus) as printed."""
    if line.startswith("  "):  # an error that follows from the one above
        return "  " + expand(line[2:], prompts_dir)
    return f"{CORPUS}/{line}".replace("{prompts}", str(prompts_dir)).replace(
        "{corpus}", str(CORPUS)
    )


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
NO_WAIT = "(hint: put a menu or collect in the loop, or end it)"
NOT_A_NUMBER = "Input should be a valid number, unable to parse string as a number"
HINT_UNCLOSED = "close the list or mapping on the same line, or quote a value starting with [ or {"


def write_prompt(lang: str, name: str) -> str:
    return (
        f"(hint: write {{prompts}}/{lang}/{name}.txt "
        "(audio is generated from it by `make prompts`))"
    )


# Errors that pydantic finds in a node's field name the field as written in the
# file ("nodes.main_menu.timeout", no node type in the path) at the field's own
# value, a bad menu key at the key itself, min over max at min_digits. Errors
# about the node as a whole (an unknown type) stay at the node's first line.
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
        f"loop that never waits for the caller: welcome → again → welcome {NO_WAIT}",
    ],
    # The queue is a stub that only speaks (not an input node): it does not wait.
    # --- prompts -------------------------------------------------------------------
    "missing_prompt.yaml": [
        "missing_prompt.yaml:7:24: nodes.welcome.prompts.1: prompt 'date_month' missing for en "
        + write_prompt("en", "date_month"),
    ],
    "missing_prompt_everywhere.yaml": [
        "missing_prompt_everywhere.yaml:7:15: nodes.bye.prompts.0: "
        "prompt 'welcom' missing for zh, en " + write_prompt("zh", "welcom"),
    ],
    # Prompts beside the flows (a folder case with its own prompts/): the text is the
    # source, so audio alone is refused; a prompt deleted from the copy is missing
    # even though the configured folder still has it.
    "audio_without_text": [
        "audio_without_text/hotline.yaml:7:15: nodes.greet.prompts.0: prompt 'greeting' has "
        "audio but no text for en: the audio cannot be regenerated (hint: write the words of "
        "greeting.wav into {prompts}/en/greeting.txt)",
    ],
    "prompt_deleted": [
        "prompt_deleted/hotline.yaml:11:15: nodes.bye.prompts.0: prompt 'goodbye' missing for zh "
        + write_prompt("zh", "goodbye"),
    ],
    # make prompts speaks the text as UTF-8: GBK would be gibberish, nothing silence.
    "prompt_text_unusable": [
        "prompt_text_unusable/hotline.yaml:7:15: nodes.greet.prompts.0: the text of prompt "
        "'greeting' for zh is not UTF-8 (GBK from a Chinese Windows editor?): its audio would "
        "be gibberish (hint: write the words into {prompts}/zh/greeting.txt, saved as UTF-8)",
        "prompt_text_unusable/hotline.yaml:7:15: nodes.greet.prompts.0: the text of prompt "
        "'greeting' for en is empty: its audio would be silence "
        "(hint: write the words into {prompts}/en/greeting.txt, saved as UTF-8)",
    ],
    "unknown_scheme.yaml": [
        "unknown_scheme.yaml:6:24: nodes.welcome.prompts.1: unknown media scheme 'sond' in "
        "'sond:beep' (hint: known schemes: characters, digits, number, recording, sound, tone; "
        "a prompt name has no ':')",
    ],
    # --- flow files: *.yml loads like *.yaml --------------------------------------------
    "flow_in_yaml_and_yml": [
        "flow_in_yaml_and_yml/hotline.yml:1:1: (file): flow 'hotline' is defined twice: "
        "in {corpus}/flow_in_yaml_and_yml/hotline.yaml and in this file "
        "(hint: one file per flow (its name is the file name without .yaml or .yml))",
    ],
    "same_number_yml": [
        "same_number_yml/night.yml:2:11: numbers.0: number 12345 is already answered by flow "
        "'hotline' in {corpus}/same_number_yml/hotline.yaml",
    ],
    # --- menus whose words and keys disagree: warnings (see WARNINGS), no error ---------
    "menu_key_not_offered": [],
    "menu_choice_unspoken": [],
    # --- digit maps ----------------------------------------------------------------
    # Each bad key at its own line (line 9, not the mapping's first key on line 8).
    "digit_key_two_digits.yaml": [
        "digit_key_two_digits.yaml:9:7: nodes.main_menu.choices.12: "
        "Value error, menu keys must be single phone keys (0-9, *, #), not '12'",
    ],
    "digit_key_letter.yaml": [
        "digit_key_letter.yaml:8:7: nodes.main_menu.choices.a: "
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
        "number 12345 is already answered by flow 'hotline' in {corpus}/same_number/hotline.yaml",
    ],
    "subflow_lacks_language": [
        "subflow_lacks_language/main.yaml:12:11: nodes.say_date.flow: "
        "flow 'zh_only' has no prompts for en, which this flow may be speaking "
        "(hint: add en to the languages of 'zh_only')",
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
        f"wrong_type_timeout.yaml:9:14: nodes.main_menu.timeout: {NOT_A_NUMBER}",
    ],
    "unknown_node_type.yaml": [
        f"unknown_node_type.yaml:9:5: nodes.department: {UNKNOWN_TYPE_DIAL}",
    ],
    "misspelt_field.yaml": [
        f"misspelt_field.yaml:7:19: nodes.welcome.interuptible: {MISSPELT}",
    ],
    "yaml_syntax.yaml": [
        "yaml_syntax.yaml:7:9: (yaml): YAML syntax error: expected ',' or ']', but got ':' "
        f"(hint: {HINT_UNCLOSED})",
    ],
    # --- files no editor should produce, and YAML's traps: a message, never a crash -----
    "gbk_encoding.yaml": [
        "gbk_encoding.yaml:6:18: (yaml): not UTF-8 (byte 0xBB here; "
        "GBK from a Chinese Windows editor?): save the file as UTF-8",
    ],
    "binary_file.yaml": [
        "binary_file.yaml:3:1: (yaml): not a text file (a NUL byte on this line): "
        "flows are YAML text",
    ],
    "empty_file.yaml": [
        "empty_file.yaml:1:1: (file): the file is empty: a flow needs at least "
        "`start:` and `nodes:`",
    ],
    "control_character.yaml": [
        "control_character.yaml:6:28: (yaml): a control character U+001B that YAML does not "
        "allow (pasted from another program?): delete it",
    ],
    "deep_nesting.yaml": [
        "deep_nesting.yaml:6:47: (yaml): nested more than 32 levels deep; flows need far fewer",
    ],
    "alias_bomb.yaml": [
        "alias_bomb.yaml:3:8: (yaml): aliases expand to more than 30000 values: "
        "write the values out instead",
    ],
    "alias_recursive.yaml": [
        "alias_recursive.yaml:3:8: (yaml): alias *loop refers to itself: "
        "write the values out instead",
    ],
    "tab_indentation.yaml": [
        "tab_indentation.yaml:5:1: (yaml): YAML syntax error: found character '\\t' that "
        "cannot start any token (hint: indent with spaces, not tabs)",
    ],
    "bad_indentation.yaml": [
        "bad_indentation.yaml:7:4: (yaml): YAML syntax error: expected <block end>, but found "
        "'<block mapping start>' (hint: check the indentation of this line against the one above)",
    ],
    "unquoted_colon_value.yaml": [
        "unquoted_colon_value.yaml:6:22: (yaml): YAML syntax error: mapping values are not "
        "allowed here (hint: a value that contains ': ' must be quoted, e.g. \"a: b\"; "
        "or check this line's indentation)",
    ],
    "unquoted_hash_key.yaml": [
        "unquoted_hash_key.yaml:9:7: (yaml): a menu key # must be quoted, or YAML reads the "
        "line as a comment and the menu loses it: quote the key: '#'",
    ],
    "unquoted_hash_terminator.yaml": [
        "unquoted_hash_terminator.yaml:8:17: (yaml): terminator: # is a comment to YAML, so "
        "the collect would have no terminator: quote it: '#'",
    ],
    # YAML reads no error here, only an empty value: the hint comes from the line's text.
    "unquoted_hash_value.yaml": [
        "unquoted_hash_value.yaml:8:11: nodes.main_menu.choices.1: Input should be a valid "
        "string (hint: a value starting with # is a comment to YAML, so the value is empty: "
        "quote it, e.g. '#')",
    ],
    "unquoted_star_key.yaml": [
        "unquoted_star_key.yaml:9:8: (yaml): YAML syntax error: expected alphabetic or numeric "
        "character, but found ':' (hint: a value starting with #, *, [, &, !, %, @ or ` must "
        "be quoted, e.g. '*')",
    ],
    # The flow that fails to load comes first; the error it causes in another flow
    # follows, indented and marked.
    "root_cause_first": [
        "root_cause_first/z_mailbox.yaml:7:18: nodes.record.max_seconds: "
        "Input should be a valid integer, unable to parse string as an integer",
        "  root_cause_first/a_main.yaml:7:11: nodes.message.flow: unknown flow 'z_mailbox' "
        "(hint: follows from the error in {corpus}/root_cause_first/z_mailbox.yaml above)",
    ],
    # A value YAML cannot build (there is no 30 February) is reported like a syntax error.
    "impossible_date.yaml": [
        "impossible_date.yaml:6:18: (yaml): bad value: invalid value '2026-02-30': "
        "day is out of range for month",
    ],
    # Checked against max_digits: the error is at min_digits, the value to change.
    "collect_min_over_max.yaml": [
        "collect_min_over_max.yaml:8:17: nodes.ask.min_digits: "
        "Value error, min_digits 8 is larger than max_digits 6",
    ],
    "bad_pattern.yaml": [
        "bad_pattern.yaml:8:14: nodes.ask.pattern: "
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
        f"several_type_problems.yaml:9:14: nodes.main_menu.timeout: {NOT_A_NUMBER}",
        "several_type_problems.yaml:10:18: nodes.main_menu.max_retries: "
        "Input should be greater than or equal to 1",
        f"several_type_problems.yaml:13:5: nodes.department: {UNKNOWN_TYPE_DIAL}",
        f"several_type_problems.yaml:17:13: nodes.bye.promts: {MISSPELT}",
    ],
}


# Warnings: printed with their place, the set still loads.
WARNINGS: dict[str, list[str]] = {
    "menu_key_not_offered": [
        "menu_key_not_offered/hotline.yaml:7:15: warning: nodes.pick.prompts.0: prompt 'pick' "
        "says '按井号键' (zh), 'press the hash key' (en) but the menu has no choice '#' "
        '(hint: add "#": NODE to choices, or change the words in {prompts}/zh/pick.txt)',
    ],
    "menu_choice_unspoken": [
        "menu_choice_unspoken/hotline.yaml:11:12: warning: nodes.pick.choices.3: choice '3' is "
        "never mentioned in the menu's prompts (zh, en) "
        "(hint: say it in the prompt's text, or callers will not know it is there)",
    ],
}


def prompts_beside(case: Path) -> Path:
    """A folder case with its own prompts/ is checked against them, as validate does."""
    return case / "prompts" if (case / "prompts").is_dir() else PROMPTS


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_a_menu_whose_words_and_keys_disagree_is_warned_not_refused(case: str):
    prompts_dir = prompts_beside(CORPUS / case)
    flows = load(CORPUS / case, prompts_dir=prompts_dir)
    expected = [expand(line, prompts_dir) for line in WARNINGS[case]]
    assert [str(w) for w in flows.warnings] == expected
    assert all(w.warning for w in flows.warnings)
    # validate prints them with file:line and still says OK.
    code, stdout, stderr = cli_validate(CORPUS / case)
    assert (code, stderr.splitlines()) == (0, expected)
    assert stdout.startswith("OK: 1 flow(s)") and stdout.endswith("(1 warning(s))\n")


def test_menu_warnings_in_chinese():
    case = CORPUS / "menu_key_not_offered"
    with messages.language("zh"):
        flows = load(case, prompts_dir=case / "prompts")
    assert [str(w) for w in flows.warnings] == [
        expand(
            "menu_key_not_offered/hotline.yaml:7:15: warning: nodes.pick.prompts.0: "
            "提示音 'pick' 说 '按井号键' (zh), 'press the hash key' (en)，但菜单没有选项 '#' "
            '(hint: 在 choices 里加上 "#": 节点，或修改 {prompts}/zh/pick.txt 的文字)',
            case / "prompts",
        )
    ]


def test_a_reload_with_warnings_succeeds_and_says_them(tmp_path: Path, caplog):
    copy = flows_copy(tmp_path)
    service = service_on(copy)
    case = CORPUS / "menu_choice_unspoken"
    for lang in ("zh", "en"):
        shutil.copy(case / "prompts" / lang / "pick.txt", copy / "prompts" / lang / "pick.txt")
        shutil.copy(case / "prompts" / lang / "farewell.txt", copy / "prompts" / lang)
    shutil.copy(case / "hotline.yaml", copy / "pick.yaml")

    result = service.reload()

    expected = WARNINGS["menu_choice_unspoken"][0].replace("hotline.yaml", "pick.yaml")
    expected = str(copy) + expected.removeprefix("menu_choice_unspoken")
    assert (result.ok, result.errors, result.warnings) == (True, (), (expected,))
    assert f"IVR flows {result.version}: {expected}" in caplog.messages


def test_every_corpus_entry_has_expected_errors():
    entries = {p.name for p in CORPUS.iterdir() if p.is_dir() or p.suffix == ".yaml"}
    assert entries == set(CASES)


@pytest.mark.parametrize("case", sorted(c for c, lines in CASES.items() if lines))
def test_broken_flow_is_refused_with_exact_errors(case: str):
    prompts_dir = prompts_beside(CORPUS / case)
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / case, prompts_dir=prompts_dir)
    expected = [expand(line, prompts_dir) for line in CASES[case]]
    errors = info.value.errors
    assert [str(e) for e in errors] == expected
    # The structured fields say the same as the text.
    assert [(str(e.path), e.line, e.column, e.field) for e in errors] == [
        structured(line) for line in expected
    ]
    # The exception's own text is every line, for logs and the reload API.
    assert str(info.value) == "\n".join(expected)


def structured(line: str) -> tuple[str, int, int, str]:
    where, field, _ = line.strip().split(": ", 2)
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
        "nodes.main_menu.timeout",
    ]
    assert info.value.errors[0].hint == "flows: unknown_subflow"


def test_the_same_flow_name_twice_is_refused():
    path = CORPUS / "unknown_queue.yaml"
    with pytest.raises(FlowSetInvalid) as info:
        load(path, path)
    assert (
        f"{path}:1:1: (file): flow 'unknown_queue' is defined twice: in {path} and in this file "
        "(hint: one file per flow (its name is the file name without .yaml or .yml))"
    ) in [str(e) for e in info.value.errors]


def test_a_folder_without_flow_files_is_refused(tmp_path: Path):
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    assert [str(e) for e in info.value.errors] == [
        f"{tmp_path}:1:1: (files): no flow files (*.yaml, *.yml) found"
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


def test_a_wav_without_txt_is_refused_since_the_audio_cannot_be_regenerated(tmp_path: Path):
    # The text is the source: `make prompts` makes the audio from it.
    (tmp_path / "zh").mkdir()
    for name in ("welcome.wav", "goodbye.wav"):
        (tmp_path / "zh" / name).write_bytes(b"")
    (tmp_path / "zh" / "survey.txt").write_text("请评价", encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "unreachable_node.yaml", prompts_dir=tmp_path)
    assert [str(e) for e in info.value.errors] == [
        expand(
            "unreachable_node.yaml:6:15: nodes.welcome.prompts.0: prompt 'welcome' has audio "
            "but no text for zh: the audio cannot be regenerated "
            "(hint: write the words of welcome.wav into {prompts}/zh/welcome.txt)",
            tmp_path,
        ),
        expand(CASES["unreachable_node.yaml"][0]),
        expand(
            "unreachable_node.yaml:14:15: nodes.bye.prompts.0: prompt 'goodbye' has audio "
            "but no text for zh: the audio cannot be regenerated "
            "(hint: write the words of goodbye.wav into {prompts}/zh/goodbye.txt)",
            tmp_path,
        ),
    ]


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
        main, ["ivr", "validate", "-c", str(HOTLINE_CONFIG), "--lang", "en", *map(str, paths)]
    )
    return result.exit_code, result.stdout, result.stderr


def errors_only(stderr: str) -> list[str]:
    """What validate printed, less its warnings (the corpus's menus reuse main_menu)."""
    return [line for line in stderr.splitlines() if ": warning: " not in line]


def no_prompts_beside(path: Path) -> str:
    prompts_dir = load_settings(HOTLINE_CONFIG).ivr.prompts_dir
    return f"note: no prompts folder beside {path}; prompts checked against {prompts_dir}"


def test_cli_validate_prints_every_error_and_fails():
    code, stdout, stderr = cli_validate(CORPUS / "several_problems.yaml")
    prompts_dir = load_settings(HOTLINE_CONFIG).ivr.prompts_dir
    assert code != 0
    assert stdout == ""
    assert errors_only(stderr) == [
        no_prompts_beside(CORPUS / "several_problems.yaml"),
        *(expand(line, prompts_dir) for line in CASES["several_problems.yaml"]),
        "Error: 4 error(s); nothing was changed",
    ]


def test_cli_validate_reports_every_file_given():
    code, _, stderr = cli_validate(
        CORPUS / "unknown_start.yaml", CORPUS / "subflow_circle", CORPUS / "yaml_syntax.yaml"
    )
    assert code == 1
    assert errors_only(stderr) == [
        no_prompts_beside(CORPUS / "unknown_start.yaml"),
        *map(expand, CASES["subflow_circle"]),
        *map(expand, CASES["unknown_start.yaml"]),
        *map(expand, CASES["yaml_syntax.yaml"]),
        "Error: 3 error(s); nothing was changed",
    ]


def test_cli_validate_says_in_chinese_which_prompts_it_checked():
    case = CORPUS / "unknown_start.yaml"
    args = ["ivr", "validate", "-c", str(HOTLINE_CONFIG), "--lang", "zh", str(case)]
    prompts_dir = load_settings(HOTLINE_CONFIG).ivr.prompts_dir
    assert CliRunner().invoke(main, args).stderr.splitlines()[0] == (
        f"注意：{case} 旁没有 prompts 文件夹；提示音按 {prompts_dir} 检查"
    )


def test_cli_validate_checks_a_folder_against_the_prompts_beside_it():
    # goodbye.txt is in the configured prompts, not in the folder's own prompts/.
    case = CORPUS / "prompt_deleted"
    code, stdout, stderr = cli_validate(case)
    assert (code, stdout) == (1, "")
    assert stderr.splitlines() == [
        expand(CASES["prompt_deleted"][0], case / "prompts"),
        "Error: 1 error(s); nothing was changed",
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
    seen = []
    registry.on_reload(seen.append)
    shutil.copy(CORPUS / "unknown_queue.yaml", flows_dir / "unknown_queue.yaml")

    result = registry.reload()

    assert not result.ok
    assert result.version == before.version
    assert result.errors == (
        f"{flows_dir / 'unknown_queue.yaml'}:6:12: nodes.human.queue: unknown queue 'generl' "
        "(hint: did you mean 'general'?)",
    )
    assert registry.current is before
    assert seen == []  # a refused set is not announced

    (flows_dir / "unknown_queue.yaml").unlink()
    (flows_dir / "survey.yaml").write_text(
        (ROOT / "ivr_flows" / "survey.yaml").read_text(encoding="utf-8") + "# edited\n",
        encoding="utf-8",
    )
    result = registry.reload()
    assert result.ok
    assert result.version != before.version
    assert registry.current.version == result.version
    assert seen == [registry.current]  # e.g. ticket deadlines follow the new calendar


# --- one truth: validate DIR loads DIR as the service and its reload do --------------
def flows_copy(tmp_path: Path) -> Path:
    """A copy of ivr_flows/ with its prompts' texts (the audio is made from them)."""
    copy = tmp_path / "ivr_flows"
    shutil.copytree(ROOT / "ivr_flows", copy, ignore=shutil.ignore_patterns("*.wav"))
    return copy


def service_on(copy: Path) -> IvrRegistry:
    """The service's registry with the configured paths, its flows (and prompts) at ``copy``."""
    settings = load_settings(HOTLINE_CONFIG)
    return IvrRegistry(settings.ivr.paths().with_flows(copy), cli_departments(settings))


NEW_FLOW = (
    'numbers: ["12346"]\n'
    "languages: [zh, en]\n"
    "start: notice\n"
    "nodes:\n"
    "  notice:\n"
    "    type: play\n"
    "    prompts: [heating_notice]\n"
    "    next: bye\n"
    "  bye:\n"
    "    type: hangup\n"
    "    prompts: [goodbye]\n"
)


def add_heating_flow(copy: Path) -> None:
    """A new prompt with its texts and a new flow, saved as .yml, for another number."""
    (copy / "prompts" / "zh" / "heating_notice.txt").write_text("供暖咨询请稍候。", "utf-8")
    (copy / "prompts" / "en" / "heating_notice.txt").write_text("Heating: please hold.", "utf-8")
    (copy / "heating.yml").write_text(NEW_FLOW, encoding="utf-8")


def test_a_new_prompt_and_a_yml_flow_in_a_copy_pass_validate_and_reload(tmp_path: Path):
    copy = flows_copy(tmp_path)
    service = service_on(copy)
    add_heating_flow(copy)

    code, stdout, stderr = cli_validate(copy)

    assert (code, stderr) == (0, "")
    assert stdout.startswith("OK: 4 flow(s), version ")
    assert stdout.endswith(": 12345, heating, survey, voicemail\n")
    result = service.reload()
    assert (result.ok, result.errors) == (True, ())
    assert service.current.flows.entry_for("12346") == "heating"
    assert f"version {result.version}:" in stdout  # the same files, the same version
    # The configured prompts folder lacks the new prompt: it is the copy's that count.
    with pytest.raises(FlowSetInvalid):
        load(copy, prompts_dir=PROMPTS)


def test_an_editors_hidden_files_are_not_flows(tmp_path: Path):
    # Emacs marks a file being edited with a dangling link .#NAME; vim's swap is hidden too.
    copy = flows_copy(tmp_path)
    (copy / ".#12345.yaml").symlink_to("root@host.1234:1700000000")
    (copy / ".survey.yml").write_text("not: [a flow", encoding="utf-8")
    code, stdout, stderr = cli_validate(copy)
    assert (code, stderr) == (0, "")
    assert stdout.startswith("OK: 3 flow(s)")
    assert service_on(copy).reload().ok


def test_prompts_configured_apart_from_the_flows_stay_where_they_are(tmp_path: Path):
    paths = IvrPaths(
        flows_dir=tmp_path / "flows",
        prompts_dir=tmp_path / "sounds",
        calendar=ROOT / "config" / "calendar.yaml",
        queues=QUEUES_FILE,
        lookup_fixture=ROOT / "config" / "lookup_fixture.yaml",
    )
    copy = flows_copy(tmp_path)  # has prompts/, but the configuration keeps them apart
    assert paths.prompts_beside(copy) is None
    assert paths.with_flows(copy) == replace(paths, flows_dir=copy)
    inside = replace(paths, prompts_dir=tmp_path / "flows" / "audio" / "prompts")
    assert inside.prompts_beside(copy) == copy / "audio" / "prompts"
    assert inside.with_flows(copy).prompts_dir == inside.prompts_dir  # the copy has none there
    assert inside.with_flows(copy / "12345.yaml").flows_dir == copy / "12345.yaml"


def break_with_unknown_scheme(copy: Path) -> None:
    shutil.copy(CORPUS / "unknown_scheme.yaml", copy / "unknown_scheme.yaml")


def break_by_deleting_a_prompt_text(copy: Path) -> None:
    (copy / "prompts" / "en" / "goodbye.txt").unlink()


def break_by_keeping_only_the_audio(copy: Path) -> None:
    text = copy / "prompts" / "zh" / "main_menu.txt"
    text.with_suffix(".wav").write_bytes(b"RIFF")
    text.unlink()


def break_with_a_yml_twin(copy: Path) -> None:
    shutil.copy(copy / "survey.yaml", copy / "survey.yml")


def break_with_a_yml_flow_on_the_same_number(copy: Path) -> None:
    (copy / "night.yml").write_text(NEW_FLOW.replace("12346", "12345"), encoding="utf-8")


@pytest.mark.parametrize(
    "breakage",
    [
        break_with_unknown_scheme,
        break_by_deleting_a_prompt_text,
        break_by_keeping_only_the_audio,
        break_with_a_yml_twin,
        break_with_a_yml_flow_on_the_same_number,
    ],
    ids=lambda f: f.__name__.removeprefix("break_"),
)
def test_validate_and_reload_refuse_the_same_things_and_the_old_flows_still_answer(
    tmp_path: Path, breakage
):
    copy = flows_copy(tmp_path)
    add_heating_flow(copy)  # the prompts beside the flows are what both read
    service = service_on(copy)
    before = service.current
    breakage(copy)

    code, _, stderr = cli_validate(copy)
    result = service.reload()

    assert code == 1
    refused = errors_only(stderr)
    assert refused[-1].startswith("Error: ") and refused[:-1]
    assert list(result.errors) == refused[:-1]
    assert not result.ok and result.version == before.version
    assert service.current is before
    assert service.current.flows.entry_for("12345") == "12345"
    assert service.current.flows.entry_for("12346") == "heating"


def test_a_live_reload_refuses_a_broken_lookup_fixture_as_validate_does(tmp_path: Path):
    # The live service answers lookups from the database, but validate reads the
    # fixture file: reload must refuse the same broken file.
    fixture = tmp_path / "lookup_fixture.yaml"
    shutil.copy(ROOT / "config" / "lookup_fixture.yaml", fixture)
    settings = load_settings(HOTLINE_CONFIG)
    paths = replace(settings.ivr.paths(), lookup_fixture=fixture)
    service = IvrRegistry(paths, cli_departments(settings))
    service.use_lookup(FixtureLookup({}))  # stands for the database
    before = service.current
    fixture.write_text("tickets: [not, a, mapping]\n", encoding="utf-8")

    result = service.reload()

    assert not result.ok and result.errors and str(fixture) in result.errors[0]
    assert service.current is before
    with pytest.raises(ConfigError):
        load_runtime(paths, departments=cli_departments(settings))


def test_a_copy_without_prompts_is_checked_against_the_configured_prompts(tmp_path: Path):
    copy = tmp_path / "flows"
    copy.mkdir()
    for name in ("12345.yaml", "voicemail.yaml", "survey.yaml"):
        shutil.copy(ROOT / "ivr_flows" / name, copy / name)
    code, stdout, stderr = cli_validate(copy)
    assert (code, stderr.splitlines()) == (0, [no_prompts_beside(copy)])
    assert stdout.startswith("OK: 3 flow(s)")


# --- positions of schema errors -------------------------------------------------------
def test_schema_errors_point_at_the_field():
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "wrong_type_timeout.yaml")
    [error] = info.value.errors
    assert (error.line, error.column, error.field) == (9, 14, "nodes.main_menu.timeout")
    assert error.path == CORPUS / "wrong_type_timeout.yaml"


@pytest.mark.parametrize(
    ("line_8", "column", "field"),
    [
        ("    timeout: soon\n", 14, "nodes.menu.timeout"),
        ("    max_retries: [3]\n", 18, "nodes.menu.max_retries"),
        ("    invalid_prompts: [invalid, 7]\n", 32, "nodes.menu.invalid_prompts.1"),
        ("    choices_: {}\n", 15, "nodes.menu.choices_"),
    ],
    ids=["scalar", "list-for-number", "list-item", "misspelt"],
)
def test_only_the_type_tag_is_dropped_from_the_path(tmp_path: Path, line_8: str, column, field):
    # The node is called "menu" like its type: the id stays, the tag goes.
    (tmp_path / "menu.yaml").write_text(
        "start: menu\n"
        "nodes:\n"
        "  menu:\n"
        "    type: menu\n"
        "    prompts: [main_menu]\n"
        '    choices: {"1": menu}\n'
        "    on_fail: menu\n" + line_8,
        encoding="utf-8",
    )
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    assert [(e.line, e.column, e.field) for e in info.value.errors] == [(8, column, field)]


def test_a_field_named_like_a_node_type_keeps_its_name(tmp_path: Path):
    # A queue node's "queue" field: nodes.queue.queue.queue in pydantic's terms.
    (tmp_path / "q.yaml").write_text(
        "start: queue\nnodes:\n  queue:\n    type: queue\n    queue: [general]\n",
        encoding="utf-8",
    )
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    assert [(e.line, e.column, e.field) for e in info.value.errors] == [
        (5, 12, "nodes.queue.queue")
    ]


def test_an_impossible_date_is_a_flow_error_not_a_crash():
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "impossible_date.yaml")
    [error] = info.value.errors
    assert (error.path, error.line, error.column, error.field) == (
        CORPUS / "impossible_date.yaml",
        6,
        18,
        "(yaml)",
    )
    assert error.message == ("bad value: invalid value '2026-02-30': day is out of range for month")


def test_an_impossible_date_does_not_hide_the_other_files(tmp_path: Path):
    names = ["impossible_date.yaml", "unknown_start.yaml"]
    with pytest.raises(FlowSetInvalid) as info:
        load(*(CORPUS / n for n in names))
    assert [str(e) for e in info.value.errors] == [expand(line) for n in names for line in CASES[n]]


# --- loops through subflows and queues ----------------------------------------------
ASK_FLOW = (
    "start: menu\n"
    "nodes:\n"
    "  menu:\n"
    "    type: menu\n"
    "    prompts: [main_menu]\n"
    '    choices: {"1": done}\n'
    "  done:\n"
    "    type: return\n"
)
CALLER_LOOP = (
    "start: again\nnodes:\n  again:\n    type: subflow\n    flow: {flow}\n    next: again\n"
)


def test_a_loop_through_a_subflow_that_waits_is_accepted(tmp_path: Path):
    (tmp_path / "caller.yaml").write_text(CALLER_LOOP.format(flow="ask"), encoding="utf-8")
    (tmp_path / "ask.yaml").write_text(ASK_FLOW, encoding="utf-8")
    assert sorted(load(tmp_path).flows) == ["ask", "caller"]


@pytest.mark.parametrize(
    "waiting",
    [
        "    type: collect\n    prompts: [enter_query_code]\n    var: code\n",
        "    type: voicemail\n    prompts: [leave_message]\n",
        "    type: survey\n    prompts: [survey]\n",
        '    type: transfer\n    number: "01012345678"\n',
        "    type: queue\n    queue: general\n",
    ],
    ids=["collect", "voicemail", "survey", "transfer", "queue"],
)
def test_every_input_node_in_a_subflow_counts_as_waiting(tmp_path: Path, waiting: str):
    (tmp_path / "caller.yaml").write_text(CALLER_LOOP.format(flow="ask"), encoding="utf-8")
    (tmp_path / "ask.yaml").write_text(f"start: wait\nnodes:\n  wait:\n{waiting}", encoding="utf-8")
    assert sorted(load(tmp_path).flows) == ["ask", "caller"]


@pytest.mark.parametrize(
    "callee",
    [
        "start: say\nnodes:\n  say:\n    type: play\n    prompts: [welcome]\n",
    ],
    ids=["play"],
)
def test_a_loop_through_a_subflow_that_never_waits_is_refused(tmp_path: Path, callee: str):
    (tmp_path / "caller.yaml").write_text(CALLER_LOOP.format(flow="speak"), encoding="utf-8")
    (tmp_path / "speak.yaml").write_text(callee, encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    assert [str(e) for e in info.value.errors] == [
        f"{tmp_path / 'caller.yaml'}:4:5: nodes.again: "
        f"loop that never waits for the caller: again → again {NO_WAIT}"
    ]


def test_a_loop_back_into_the_queue_is_accepted_since_the_queue_waits():
    # queue → (overflow) goto → queue: the caller waits in the queue each time.
    assert "queue_loop" in load(FIXTURES / "queue_loop.yaml").flows


def test_a_queue_then_a_menu_in_the_loop_is_accepted(tmp_path: Path):
    (tmp_path / "busy.yaml").write_text(
        "start: wait\n"
        "nodes:\n"
        "  wait:\n"
        "    type: queue\n"
        "    queue: general\n"
        "    next: ask\n"
        "  ask:\n"
        "    type: menu\n"
        "    prompts: [main_menu]\n"
        '    choices: {"1": wait}\n',
        encoding="utf-8",
    )
    assert list(load(tmp_path).flows) == ["busy"]


# --- the languages of subflows ------------------------------------------------------
def subflow_pair(folder: Path, caller_header: str, callee_header: str) -> Path:
    """main.yaml calls helper.yaml; each header sets its language(s), or nothing (zh)."""
    (folder / "main.yaml").write_text(
        f"{caller_header}\nstart: sub\nnodes:\n  sub:\n    type: subflow\n    flow: helper\n",
        encoding="utf-8",
    )
    (folder / "helper.yaml").write_text(
        f"{callee_header}\nstart: say\nnodes:\n  say:\n    type: play\n    prompts: [goodbye]\n",
        encoding="utf-8",
    )
    return folder


def test_a_subflow_needs_prompts_in_the_languages_of_its_callers():
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "subflow_lacks_language")
    [error] = info.value.errors
    assert (error.path, error.line, error.column, error.field) == (
        CORPUS / "subflow_lacks_language" / "main.yaml",
        12,
        11,
        "nodes.say_date.flow",
    )
    assert error.message == (
        "flow 'zh_only' has no prompts for en, which this flow may be speaking"
    )
    assert error.hint == "add en to the languages of 'zh_only'"


def test_every_missing_language_of_a_subflow_is_named_in_the_callers_order(tmp_path: Path):
    # Even without a set.language node: languages lists what the flow may speak.
    with pytest.raises(FlowSetInvalid) as info:
        load(
            subflow_pair(tmp_path, "languages: [en, zh, fr]", "languages: [zh]"),
            prompts_dir=tmp_path / "none",
        )
    lacking = [e for e in info.value.errors if e.field == "nodes.sub.flow"]
    assert [str(e) for e in lacking] == [
        f"{tmp_path / 'main.yaml'}:6:11: nodes.sub.flow: flow 'helper' has no prompts "
        "for en, fr, which this flow may be speaking "
        "(hint: add en, fr to the languages of 'helper')"
    ]


@pytest.mark.parametrize(
    ("caller", "callee"),
    [
        ("# both default to [zh]", "# both default to [zh]"),
        ("languages: [zh]", "languages: [zh, en]"),
        ("languages: [zh, en]", "languages: [en, zh]"),
        ("language: en\nlanguages: [en]", "languages: [zh, en]"),
    ],
    ids=["default", "callee-has-more", "other-order", "english-only"],
)
def test_a_subflow_with_every_language_of_its_caller_is_accepted(
    tmp_path: Path, caller: str, callee: str
):
    assert sorted(load(subflow_pair(tmp_path, caller, callee)).flows) == ["helper", "main"]


def test_the_default_flows_call_subflows_with_all_their_languages():
    flows = load(ROOT / "ivr_flows").flows
    assert flows["12345"].languages == ["zh", "en"]
    assert set(flows["voicemail"].languages) >= set(flows["12345"].languages)


# --- a subflow waits when every path back to its caller waits (once strict xfails) ----
def test_a_loop_through_a_nested_subflow_that_waits_is_accepted(tmp_path: Path):
    (tmp_path / "caller.yaml").write_text(CALLER_LOOP.format(flow="middle"), encoding="utf-8")
    (tmp_path / "middle.yaml").write_text(
        "start: go\nnodes:\n  go:\n    type: subflow\n    flow: ask\n", encoding="utf-8"
    )
    (tmp_path / "ask.yaml").write_text(ASK_FLOW, encoding="utf-8")
    assert sorted(load(tmp_path).flows) == ["ask", "caller", "middle"]


def test_a_loop_through_a_subflow_that_may_skip_its_menu_is_refused(tmp_path: Path):
    (tmp_path / "caller.yaml").write_text(CALLER_LOOP.format(flow="maybe"), encoding="utf-8")
    (tmp_path / "maybe.yaml").write_text(
        "start: check\n"
        "nodes:\n"
        "  check:\n"
        "    type: branch\n"
        "    cases:\n"
        "      - when: {language: zh}\n"
        "        goto: done\n"
        "    default: ask\n"
        "  ask:\n"
        "    type: menu\n"
        "    prompts: [main_menu]\n"
        '    choices: {"1": done}\n'
        "  done:\n"
        "    type: return\n",
        encoding="utf-8",
    )
    # The caller would spin until interpreter.MAX_STEPS_WITHOUT_INPUT gives up.
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    assert [str(e) for e in info.value.errors] == [
        f"{tmp_path / 'caller.yaml'}:4:5: nodes.again: "
        f"loop that never waits for the caller: again → again {NO_WAIT}"
    ]


def test_a_subflow_that_waits_or_hangs_up_on_every_path_counts_as_waiting(tmp_path: Path):
    (tmp_path / "caller.yaml").write_text(CALLER_LOOP.format(flow="maybe"), encoding="utf-8")
    (tmp_path / "maybe.yaml").write_text(
        "start: check\n"
        "nodes:\n"
        "  check:\n"
        "    type: branch\n"
        "    cases:\n"
        "      - when: {language: zh}\n"
        "        goto: bye\n"
        "    default: ask\n"
        "  ask:\n"
        "    type: menu\n"
        "    prompts: [main_menu]\n"
        '    choices: {"1": done}\n'
        "  done:\n"
        "    type: return\n"
        "  bye:\n"
        "    type: hangup\n",
        encoding="utf-8",
    )
    assert sorted(load(tmp_path).flows) == ["caller", "maybe"]


# --- never a crash: limits, encodings, YAML traps -----------------------------------
@pytest.mark.parametrize("name", ["crlf_line_endings.yaml", "utf8_bom.yaml"])
def test_windows_line_endings_and_a_bom_load(name: str):
    assert list(load(FIXTURES / name).flows) == [name.removesuffix(".yaml")]


def test_a_crlf_file_reports_the_same_lines(tmp_path: Path):
    text = (CORPUS / "unknown_next.yaml").read_text(encoding="utf-8")
    (tmp_path / "unknown_next.yaml").write_bytes(text.replace("\n", "\r\n").encode())
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    [error] = info.value.errors
    assert (error.line, error.column, error.field) == (14, 11, "nodes.info.next")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * (yamlfile.MAX_BYTES // 10 + 1), encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(path)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:1:1: (yaml): file is larger than 256 KiB; "
        "flow and config files are limited to 256 KiB"
    ]


def chain(length: int) -> str:
    """A valid flow of ``length`` play nodes, each leading to the next."""
    nodes = "".join(
        f"  n{i}:\n    type: play\n    prompts: [welcome]\n    next: n{i + 1}\n"
        for i in range(length - 1)
    )
    return f"start: n0\nnodes:\n{nodes}  n{length - 1}:\n    type: hangup\n"


def test_a_chain_of_a_thousand_nodes_is_valid(tmp_path: Path):
    # The cycle check and reachability are iterative: no RecursionError.
    (tmp_path / "long.yaml").write_text(chain(1000), encoding="utf-8")
    assert len(load(tmp_path).flows["long"].nodes) == 1000


def test_a_loop_at_the_end_of_a_long_chain_is_still_found(tmp_path: Path):
    text = chain(1500).replace("  n1499:\n    type: hangup\n", "  n1499:\n    type: goto\n")
    (tmp_path / "long.yaml").write_text(text + "    target: n1498\n", encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(tmp_path)
    [error] = info.value.errors
    assert error.message == "loop that never waits for the caller: n1498 → n1499 → n1498"


def test_an_alias_bomb_is_refused_after_counting_each_node_once(monkeypatch):
    # A billion values if expanded: refused by bounded work, not after a minute.
    visits = 0
    children = yamlfile._children

    def counting(node):
        nonlocal visits
        visits += 1
        return children(node)

    monkeypatch.setattr(yamlfile, "_children", counting)
    with pytest.raises(FlowSetInvalid) as info:
        load(CORPUS / "alias_bomb.yaml")
    assert [str(e) for e in info.value.errors] == [expand(CASES["alias_bomb.yaml"][0])]
    assert visits < 1000


def test_shared_nodes_within_the_bound_load(tmp_path: Path):
    (tmp_path / "shared.yaml").write_text(
        "start: a\nnodes:\n  a:\n    type: play\n    prompts: &p [welcome]\n    next: b\n"
        "  b:\n    type: hangup\n    prompts: *p\n",
        encoding="utf-8",
    )
    assert load(tmp_path).flows["shared"].nodes["b"].prompts == ["welcome"]


def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path: Path):
    path = tmp_path / "deep.yaml"
    path.write_text("start: a\nnodes: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(path)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:2:39: (yaml): nested more than 32 levels deep; flows need far fewer"
    ]


def test_a_quoted_hash_key_and_a_hash_comment_elsewhere_load(tmp_path: Path):
    (tmp_path / "menu.yaml").write_text(
        "# a comment\nstart: m\nnodes:\n  m:\n    type: menu\n    prompts: [main_menu]\n"
        "    choices:\n      '#': m\n      # a comment between keys\n      \"1\": m\n",
        encoding="utf-8",
    )
    assert load(tmp_path).flows["menu"].nodes["m"].choices == {"#": "m", "1": "m"}


# --- one catalogue, two languages ------------------------------------------------------
def test_every_message_has_chinese_and_english():
    for key, entry in messages.CATALOGUE.items():
        assert set(entry) == {"zh", "en"}, key
        assert all(entry.values()), key
        # Both say the same things: the same parameters, and each one formats.
        params = {lang: _fields(template) for lang, template in entry.items()}
        assert params["zh"] == params["en"], key
        for template in entry.values():
            template.format(**dict.fromkeys(params["en"], "x"))


def _fields(template: str) -> set[str]:
    return {f.split("!")[0] for _, f, _, _ in string.Formatter().parse(template) if f}


@pytest.mark.parametrize(
    ("case", "zh"),
    [
        (
            "gbk_encoding.yaml",
            "gbk_encoding.yaml:6:18: (yaml): 不是 UTF-8 编码（此行有字节 0xBB，"
            "可能是 Windows 中文编辑器保存的 GBK）：请另存为 UTF-8",
        ),
        (
            "tab_indentation.yaml",
            "tab_indentation.yaml:5:1: (yaml): YAML 语法错误：found "
            "character '\\t' that cannot start any token（提示：请用空格缩进，不要用 Tab）",
        ),
    ],
)
def test_messages_in_chinese(case: str, zh: str):
    with messages.language("zh"):
        with pytest.raises(FlowSetInvalid) as info:
            load(CORPUS / case)
        assert [str(e) for e in info.value.errors] == [expand(zh)]


def test_messages_in_chinese_for_pydantic_and_cross_checks():
    with messages.language("zh"):
        with pytest.raises(FlowSetInvalid) as info:
            load(CORPUS / "unknown_next.yaml", CORPUS / "wrong_type_timeout.yaml")
        assert [str(e) for e in info.value.errors] == [
            expand(
                "unknown_next.yaml:14:11: nodes.info.next: 未知节点 'main_manu'"
                "（提示：是不是 'main_menu'？）"
            ),
            expand("wrong_type_timeout.yaml:9:14: nodes.main_menu.timeout: 应为数字"),
        ]


def test_cli_validate_speaks_the_configured_language_unless_told(tmp_path: Path):
    args = ["ivr", "validate", "-c", str(HOTLINE_CONFIG), str(CORPUS / "unknown_next.yaml")]
    zh = CliRunner().invoke(main, args).stderr.splitlines()
    en = CliRunner().invoke(main, [*args, "--lang", "en"]).stderr.splitlines()
    assert load_settings(HOTLINE_CONFIG).ivr.messages_language == "zh"
    assert (
        expand(
            "unknown_next.yaml:14:11: nodes.info.next: 未知节点 'main_manu'"
            "（提示：是不是 'main_menu'？）"
        )
        in zh
    )
    assert expand(CASES["unknown_next.yaml"][0]) in en
    assert zh[-1] == "Error: 1 个错误；没有做任何改动"
    assert en[-1] == "Error: 1 error(s); nothing was changed"


def test_the_messages_language_setting_is_validated(tmp_path: Path):
    text = HOTLINE_CONFIG.read_text(encoding="utf-8").replace(
        "  messages_language: zh", "  messages_language: fr", 1
    )
    assert "messages_language: fr" in text
    config = HOTLINE_CONFIG.parent / f".test_lang_{tmp_path.name}.yaml"
    config.write_text(text, encoding="utf-8")
    try:
        with pytest.raises(
            ConfigError, match=r"ivr\.messages_language: Input should be 'zh' or 'en'"
        ):
            load_settings(config)
    finally:
        config.unlink()


def test_a_file_of_too_many_values_is_refused_where_the_limit_is_passed(tmp_path: Path):
    # 40,000 tiny values fit in 256 KiB but would take seconds to parse: stopped at 30,000.
    path = tmp_path / "many.yaml"
    path.write_text("start: a\nnodes: [" + "1, " * 40_000 + "1]\n", encoding="utf-8")
    with pytest.raises(FlowSetInvalid) as info:
        load(path)
    assert [str(e) for e in info.value.errors] == [
        f"{path}:2:{9 + 3 * 29_995}: (yaml): more than 30000 values in one file; "
        "split the flow into subflows"
    ]


def test_a_refused_reload_speaks_the_registrys_language(tmp_path: Path):
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    shutil.copy(CORPUS / "unreachable_node.yaml", flows_dir / "hotline.yaml")
    paths = IvrPaths(
        flows_dir=flows_dir,
        prompts_dir=PROMPTS,
        calendar=ROOT / "config" / "calendar.yaml",
        queues=QUEUES_FILE,
        lookup_fixture=ROOT / "config" / "lookup_fixture.yaml",
    )
    with pytest.raises(FlowSetInvalid, match="从起点 'welcome' 到不了节点 'survey_offer'"):
        IvrRegistry(paths, language="zh")  # the service refuses to start, in Chinese too
    (flows_dir / "hotline.yaml").write_text(chain(2), encoding="utf-8")
    registry = IvrRegistry(paths, language="zh")
    shutil.copy(CORPUS / "unknown_queue.yaml", flows_dir / "unknown_queue.yaml")
    result = registry.reload()
    assert result.errors == (
        f"{flows_dir / 'unknown_queue.yaml'}:6:12: nodes.human.queue: 未知队列 'generl'"
        "（提示：是不是 'general'？）",
    )
