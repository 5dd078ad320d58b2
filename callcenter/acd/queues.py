"""Queue definitions from ``config/queues.yaml``.

Only what the IVR needs to check its ``queue`` nodes today; routing settings
(strategy, wrap-up, overflow) arrive with the queues-and-agents issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from callcenter.errors import ConfigError
from callcenter.yamlfile import load_yaml, validate_document


class Overflow(BaseModel):
    """What happens when a caller has waited ``max_wait_seconds``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # voicemail: leave a message (the IVR's next node); queue: move to another
    # queue keeping the time waited; callback: offer "press 1" to be called back.
    action: Literal["voicemail", "queue", "callback"] = "voicemail"
    queue: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Overflow:
        if (self.action == "queue") != (self.queue is not None):
            raise ValueError("queue: is required with action queue, and only then")
        return self


class QueueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""
    languages: list[str] = Field(default_factory=lambda: ["zh"])
    strategy: Literal["longest-idle", "fewest-calls", "round-robin", "skills"] = "longest-idle"
    ring_timeout_seconds: int = Field(15, ge=5, le=120)
    wrapup_seconds: int = Field(10, ge=0, le=600)
    max_wait_seconds: int = Field(120, ge=5, le=3600)
    # Position and estimated wait, every so often (0: never).
    announce_every_seconds: int = Field(30, ge=0, le=600)
    entry_prompts: list[str] = Field(default_factory=lambda: ["queue_entry"])
    overflow: Overflow = Overflow()


class QueuesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queues: dict[str, QueueConfig] = Field(default_factory=dict)


def load_queues(path: Path) -> dict[str, QueueConfig]:
    if not path.exists():
        return {}
    doc = load_yaml(path)
    queues = dict(validate_document(doc, QueuesFile, doc.data or {}).queues)
    for name, queue in queues.items():
        if queue.overflow.queue is not None and queue.overflow.queue not in queues:
            line, col = doc.locate(("queues", name, "overflow", "queue"))
            raise ConfigError(
                f"{path}:{line}:{col}: queues.{name}.overflow.queue: "
                f"unknown queue {queue.overflow.queue!r}"
            )
    return queues
