"""config/queues.yaml: defaults, strategies, overflow, errors naming file:line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from callcenter.acd.queues import Overflow, QueueConfig, load_queues
from callcenter.acd.routing import STRATEGIES
from callcenter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queues.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_queues(path)
    return str(info.value)


def test_a_missing_file_means_no_queues(tmp_path: Path):
    assert load_queues(tmp_path / "absent.yaml") == {}


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "queues: {}\n"])
def test_an_empty_file_means_no_queues(tmp_path: Path, text: str):
    assert load_queues(write(tmp_path, text)) == {}


def test_defaults(tmp_path: Path):
    q = load_queues(write(tmp_path, "queues:\n  general: {}\n"))["general"]
    assert q == QueueConfig()
    assert q.title == ""
    assert q.languages == ["zh"]
    assert q.strategy == "longest-idle"
    assert q.ring_timeout_seconds == 15
    assert q.wrapup_seconds == 10
    assert q.max_wait_seconds == 120
    assert q.announce_every_seconds == 30
    assert q.entry_prompts == ["queue_entry"]
    assert q.overflow == Overflow(action="voicemail", queue=None)


def test_every_setting_is_read(tmp_path: Path):
    text = """\
queues:
  general:
    title: 综合服务
    languages: [zh, yue]
    strategy: skills
    ring_timeout_seconds: 20
    wrapup_seconds: 0
    max_wait_seconds: 300
    announce_every_seconds: 0
    entry_prompts: []
    overflow: {action: callback}
"""
    q = load_queues(write(tmp_path, text))["general"]
    assert q.title == "综合服务"
    assert q.languages == ["zh", "yue"]
    assert q.strategy == "skills"
    assert (q.ring_timeout_seconds, q.wrapup_seconds) == (20, 0)
    assert (q.max_wait_seconds, q.announce_every_seconds) == (300, 0)
    assert q.entry_prompts == []
    assert q.overflow == Overflow(action="callback")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_routing_strategy_is_accepted(tmp_path: Path, strategy: str):
    queues = load_queues(write(tmp_path, f"queues:\n  q:\n    strategy: {strategy}\n"))
    assert queues["q"].strategy == strategy


def test_an_unknown_strategy_is_refused_naming_file_line_and_field(tmp_path: Path):
    msg = error(tmp_path, "queues:\n  general:\n    title: x\n    strategy: random\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:4:15: queues.general.strategy: ")
    assert "'longest-idle'" in msg


def test_the_shipped_queues_load():
    queues = load_queues(ROOT / "config" / "queues.yaml")
    assert {"general", "english", "enterprise"} <= set(queues)
    assert queues["english"].overflow == Overflow(action="queue", queue="general")
    assert queues["enterprise"].strategy == "skills"


# --- overflow -----------------------------------------------------------------------------
def test_overflow_to_another_queue(tmp_path: Path):
    text = """\
queues:
  general: {}
  english:
    overflow: {action: queue, queue: general}
"""
    assert load_queues(write(tmp_path, text))["english"].overflow.queue == "general"


def test_overflow_to_itself_is_allowed(tmp_path: Path):
    text = "queues:\n  general:\n    overflow: {action: queue, queue: general}\n"
    assert load_queues(write(tmp_path, text))["general"].overflow.queue == "general"


def test_overflow_action_queue_needs_a_queue(tmp_path: Path):
    msg = error(tmp_path, "queues:\n  general:\n    overflow: {action: queue}\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:3:15: queues.general.overflow: ")
    assert "queue: is required with action queue" in msg


@pytest.mark.parametrize("action", ["voicemail", "callback"])
def test_a_queue_target_is_refused_with_other_actions(tmp_path: Path, action: str):
    text = f"queues:\n  a: {{}}\n  b:\n    overflow: {{action: {action}, queue: a}}\n"
    msg = error(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:4:15: queues.b.overflow: ")
    assert "and only then" in msg


def test_an_unknown_overflow_queue_is_refused_with_file_line(tmp_path: Path):
    text = """\
queues:
  general:
    title: x
    overflow:
      action: queue
      queue: nowhere
"""
    msg = error(tmp_path, text)
    assert msg == (
        f"{tmp_path / 'queues.yaml'}:6:14: queues.general.overflow.queue: unknown queue 'nowhere'"
    )


def test_an_unknown_overflow_action_is_refused(tmp_path: Path):
    msg = error(tmp_path, "queues:\n  general:\n    overflow: {action: hangup}\n")
    assert re.match(
        rf"{re.escape(str(tmp_path))}/queues.yaml:3:\d+: queues.general.overflow.action: ", msg
    )


def test_overflow_model_directly():
    assert Overflow().action == "voicemail"
    with pytest.raises(ValidationError):
        Overflow(action="queue")
    with pytest.raises(ValidationError):
        Overflow(action="callback", queue="general")


# --- bad types and ranges ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "field", "text"),
    [
        (4, "wrapup_seconds", "    wrapup_seconds: soon\n"),
        (4, "wrapup_seconds", "    wrapup_seconds: -1\n"),
        (4, "wrapup_seconds", "    wrapup_seconds: 601\n"),
        (4, "ring_timeout_seconds", "    ring_timeout_seconds: 4\n"),
        (4, "ring_timeout_seconds", "    ring_timeout_seconds: 121\n"),
        (4, "max_wait_seconds", "    max_wait_seconds: 1\n"),
        (4, "announce_every_seconds", "    announce_every_seconds: 700\n"),
        (4, "languages", "    languages: zh\n"),
        (4, "entry_prompts", "    entry_prompts: queue_entry\n"),
        (4, "title", "    title: [a, b]\n"),
        (4, "overflow", "    overflow: voicemail\n"),
    ],
)
def test_bad_values_name_file_line_and_field(tmp_path: Path, line: int, field: str, text: str):
    msg = error(tmp_path, "queues:\n  general:\n    strategy: skills\n" + text)
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:{line}:"), msg
    assert f": queues.general.{field}" in msg


def test_an_unknown_setting_is_refused(tmp_path: Path):
    msg = error(tmp_path, "queues:\n  general:\n    strategy: skills\n    wrapup: 5\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:4:")
    assert "queues.general.wrapup: Extra inputs are not permitted" in msg


def test_an_unknown_top_level_key_is_refused(tmp_path: Path):
    msg = error(tmp_path, "queues: {}\nagents: {}\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:2:")
    assert "agents: Extra inputs are not permitted" in msg


def test_a_list_at_the_top_is_refused(tmp_path: Path):
    msg = error(tmp_path, "- general\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:1:1: (top level): ")


def test_every_problem_is_reported_one_per_line(tmp_path: Path):
    text = "queues:\n  a:\n    wrapup_seconds: x\n  b:\n    strategy: nope\n"
    lines = error(tmp_path, text).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path / 'queues.yaml'}:3:")
    assert lines[1].startswith(f"{tmp_path / 'queues.yaml'}:5:")


def test_yaml_syntax_and_duplicate_keys_name_the_line(tmp_path: Path):
    msg = error(tmp_path, "queues:\n  general:\n    title: 'x\n  english: {}\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:5:1: YAML syntax error: ")
    msg = error(tmp_path, "queues:\n  general: {}\n  general: {}\n")
    assert msg.startswith(f"{tmp_path / 'queues.yaml'}:3:3: duplicate key 'general'")


def test_queue_config_is_frozen():
    with pytest.raises(ValidationError):
        QueueConfig().wrapup_seconds = 5  # type: ignore[misc]
