"""Queue definitions from ``config/queues.yaml``.

Only what the IVR needs to check its ``queue`` nodes today; routing settings
(strategy, wrap-up, overflow) arrive with the queues-and-agents issue.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from callcenter.yamlfile import load_yaml, validate_document


class QueueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""
    languages: list[str] = Field(default_factory=lambda: ["zh"])


class QueuesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queues: dict[str, QueueConfig] = Field(default_factory=dict)


def load_queues(path: Path) -> dict[str, QueueConfig]:
    if not path.exists():
        return {}
    doc = load_yaml(path)
    return dict(validate_document(doc, QueuesFile, doc.data or {}).queues)
