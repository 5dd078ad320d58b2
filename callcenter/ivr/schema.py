"""The flow language: one pydantic model per node type.

A flow file is ``ivr_flows/NAME.yaml``; ``ivr_flows/README.md`` documents the
language with examples. Node references (``next``, ``choices``, ``goto``, ...)
name nodes of the same flow; ``subflow`` names another flow.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from callcenter.ivr import messages

DIGIT_KEYS = "0123456789*#"
NODE_ID = r"^[A-Za-z_][A-Za-z0-9_]*$"
LANGUAGE = r"^[a-z]{2,3}(_[A-Z]{2})?$"


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
Prompts = Annotated[list[str], Field(min_length=1)]
OptionalPrompts = list[str]
NodeRef = Annotated[str, Field(pattern=NODE_ID)]


def _single_key(key: str) -> str:
    if len(key) != 1 or key not in DIGIT_KEYS:
        raise ValueError(messages.text("menu_keys", keys=repr(key)))
    return key


MenuKey = Annotated[str, AfterValidator(_single_key)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Node(_Model):
    # Shown in `ivr validate` and the simulator; free text for ops staff.
    description: str = ""


class PlayNode(_Node):
    type: Literal["play"]
    prompts: Prompts
    # A key pressed during an interruptible prompt stops it and is kept for the
    # next menu or collect (type-ahead); otherwise keys are ignored.
    interruptible: bool = True
    next: NodeRef | None = None


class MenuNode(_Node):
    type: Literal["menu"]
    prompts: Prompts
    # Each bad key is reported at its own line (the error's path ends in [key]).
    choices: dict[MenuKey, NodeRef] = Field(min_length=1)
    timeout: float = Field(5.0, gt=0, le=60)
    max_retries: int = Field(3, ge=1, le=10)
    invalid_prompts: OptionalPrompts = Field(default_factory=lambda: ["invalid"])
    timeout_prompts: OptionalPrompts = Field(default_factory=lambda: ["no_input"])
    # Where to go after the last retry; none: say goodbye and hang up.
    on_fail: NodeRef | None = None

    @field_validator("choices", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        # YAML reads `1: human` with an integer key; keys are what the caller presses.
        if isinstance(v, dict):
            return {str(k): target for k, target in v.items()}
        return v


class CollectNode(_Node):
    type: Literal["collect"]
    prompts: Prompts
    var: Annotated[str, Field(pattern=NODE_ID)]
    # max before min: min's check sees max, and its error points at min_digits,
    # which is always in the file when it fails (the default 1 fits any max).
    max_digits: int = Field(20, ge=1, le=64)
    min_digits: int = Field(1, ge=1, le=64)
    terminator: Literal["#", "*"] | None = "#"
    first_digit_timeout: float = Field(8.0, gt=0, le=60)
    inter_digit_timeout: float = Field(4.0, gt=0, le=60)
    pattern: Regex | None = None
    max_retries: int = Field(3, ge=1, le=10)
    invalid_prompts: OptionalPrompts = Field(default_factory=lambda: ["invalid"])
    timeout_prompts: OptionalPrompts = Field(default_factory=lambda: ["no_input"])
    next: NodeRef | None = None
    on_fail: NodeRef | None = None

    @field_validator("min_digits")
    @classmethod
    def _bounds(cls, v: int, info: ValidationInfo) -> int:
        maximum = info.data.get("max_digits")
        if maximum is not None and v > maximum:
            raise ValueError(messages.text("min_over_max", min=v, max=maximum))
        return v


class VarCondition(_Model):
    name: Annotated[str, Field(pattern=NODE_ID)]
    equals: str | None = None
    matches: Regex | None = None
    set: bool | None = None


class Condition(_Model):
    """All the fields given must hold (AND); give at least one."""

    business_hours: bool | None = None
    holiday: bool | None = None
    workday: bool | None = None
    caller: Regex | None = None  # on the caller's number
    language: Annotated[str, Field(pattern=LANGUAGE)] | None = None
    var: VarCondition | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if all(getattr(self, f) is None for f in type(self).model_fields):
            raise ValueError(
                "a condition needs at least one of: " + ", ".join(type(self).model_fields)
            )
        return self


class Case(_Model):
    when: Condition
    goto: NodeRef


class BranchNode(_Node):
    type: Literal["branch"]
    cases: list[Case] = Field(min_length=1)
    default: NodeRef


class GotoNode(_Node):
    type: Literal["goto"]
    target: NodeRef


class SubflowNode(_Node):
    type: Literal["subflow"]
    flow: Annotated[str, Field(pattern=NODE_ID)]
    next: NodeRef | None = None


class ReturnNode(_Node):
    type: Literal["return"]


class QueueNode(_Node):
    type: Literal["queue"]
    queue: str
    priority: int = Field(0, ge=0, le=10)
    skills: list[str] = Field(default_factory=list)
    # Played when nobody answered in time (overflow); then `next`.
    busy_prompts: OptionalPrompts = Field(default_factory=lambda: ["all_busy"])
    next: NodeRef | None = None
    # Where a caller goes when the agent hangs up first (e.g. a survey); none: end.
    after_call: NodeRef | None = None


class VoicemailNode(_Node):
    type: Literal["voicemail"]
    prompts: Prompts
    max_seconds: int = Field(120, ge=5, le=600)
    beep: bool = True
    terminator: Literal["#", "*"] | None = "#"
    thanks_prompts: OptionalPrompts = Field(default_factory=lambda: ["message_saved"])
    next: NodeRef | None = None


class LookupNode(_Node):
    type: Literal["lookup"]
    var: Annotated[str, Field(pattern=NODE_ID)]
    intro_prompts: OptionalPrompts = Field(default_factory=lambda: ["lookup_intro"])
    not_found_prompts: OptionalPrompts = Field(default_factory=lambda: ["lookup_not_found"])
    # A caller not calling from the phone given at intake types its last four digits.
    verify_prompts: Prompts = Field(default_factory=lambda: ["enter_phone_last4"])
    verify_failed_prompts: OptionalPrompts = Field(default_factory=lambda: ["lookup_verify_failed"])
    verify_tries: int = Field(3, ge=1, le=5)
    verify_timeout: float = Field(8.0, gt=0, le=60)
    # Too many wrong tries from this number or for this code (tickets.public_lookup).
    locked_prompts: OptionalPrompts = Field(default_factory=lambda: ["lookup_locked"])
    next: NodeRef | None = None
    # After the last wrong try, or when locked; none: hang up.
    on_fail: NodeRef | None = None


class TransferNode(_Node):
    type: Literal["transfer"]
    # A department of the directory (dept:CODE, dept:CODE/duty) or one of its numbers.
    number: Annotated[str, Field(pattern=r"^(dept:[A-Za-z0-9_.-]{1,32}(/duty)?|\+?[0-9*#]{1,32})$")]
    timeout: int = Field(30, ge=5, le=120)
    prompts: OptionalPrompts = Field(default_factory=lambda: ["transferring"])
    failed_prompts: OptionalPrompts = Field(default_factory=lambda: ["transfer_failed"])
    # Where to go when the number does not answer; after a connected transfer the call ends.
    next: NodeRef | None = None


class SurveyNode(_Node):
    type: Literal["survey"]
    prompts: Prompts
    timeout: float = Field(8.0, gt=0, le=60)
    max_retries: int = Field(2, ge=1, le=10)
    invalid_prompts: OptionalPrompts = Field(default_factory=lambda: ["invalid"])
    thanks_prompts: OptionalPrompts = Field(default_factory=lambda: ["survey_thanks"])
    next: NodeRef | None = None


class SetNode(_Node):
    type: Literal["set"]
    vars: dict[Annotated[str, Field(pattern=NODE_ID)], str] = Field(default_factory=dict)
    language: Annotated[str, Field(pattern=LANGUAGE)] | None = None
    next: NodeRef | None = None


class HangupNode(_Node):
    type: Literal["hangup"]
    prompts: OptionalPrompts = Field(default_factory=list)


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | BranchNode
    | GotoNode
    | SubflowNode
    | ReturnNode
    | QueueNode
    | VoicemailNode
    | LookupNode
    | TransferNode
    | SurveyNode
    | SetNode
    | HangupNode,
    Field(discriminator="type"),
]

NODE_TYPES = frozenset(
    "play menu collect branch goto subflow return queue voicemail lookup transfer survey set "
    "hangup".split()
)

# Nodes that wait for the caller: a loop must pass through one of them.
INPUT_NODES = (MenuNode, CollectNode, VoicemailNode, SurveyNode, TransferNode, QueueNode)


class Flow(_Model):
    # Dialled numbers that start in this flow; none: only callable as a subflow.
    numbers: list[Annotated[str, Field(pattern=r"^[0-9*#+]{1,32}$")]] = Field(default_factory=list)
    language: Annotated[str, Field(pattern=LANGUAGE)] = "zh"
    # Every prompt must exist in each of these languages.
    languages: list[Annotated[str, Field(pattern=LANGUAGE)]] = Field(default_factory=lambda: ["zh"])
    start: NodeRef
    # Where a caller taken over after a restart of the service resumes (see
    # docs/restarts.md); unset: the first node after the opening prompts.
    resume: NodeRef | None = None
    nodes: dict[Annotated[str, Field(pattern=NODE_ID)], Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _language_listed(self) -> Flow:
        if self.language not in self.languages:
            raise ValueError(f"language {self.language!r} is not in languages {self.languages}")
        return self


def edges(node: Any) -> list[tuple[str, str]]:
    """(field path, target node id) of every reference a node makes within its flow."""
    out: list[tuple[str, str]] = []
    for field in ("next", "on_fail", "default", "target", "after_call"):
        target = getattr(node, field, None)
        if target is not None:
            out.append((field, target))
    if isinstance(node, MenuNode):
        out.extend((f"choices.{k}", v) for k, v in node.choices.items())
    if isinstance(node, BranchNode):
        out.extend((f"cases.{i}.goto", c.goto) for i, c in enumerate(node.cases))
    return out


def prompt_fields(node: Any) -> list[tuple[str, list[str]]]:
    return [
        (name, getattr(node, name))
        for name in (
            "prompts",
            "invalid_prompts",
            "timeout_prompts",
            "busy_prompts",
            "thanks_prompts",
            "intro_prompts",
            "not_found_prompts",
            "verify_prompts",
            "verify_failed_prompts",
            "locked_prompts",
            "failed_prompts",
        )
        if getattr(node, name, None)
    ]
