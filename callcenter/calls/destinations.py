"""The one gate every transfer passes: the API's, the softphone's and the IVR's.

A destination comes from the department directory in service (reloaded with
the IVR flows) or the roster; a refusal is logged with who asked for what and
counted in ``hotline_transfers_refused_total{path}``, so an operator sees a
stolen login or a softphone probing for the trunk.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Container
from typing import Literal

from prometheus_client import CollectorRegistry, Counter

from callcenter.directory import Destination, DestinationRefused, Directory, resolve

log = logging.getLogger(__name__)

TransferPath = Literal["api", "softphone", "ivr"]
PATHS: tuple[TransferPath, ...] = ("api", "softphone", "ivr")


class Destinations:
    def __init__(
        self,
        directory: Callable[[], Directory],
        agents: Callable[[], Container[str]],
        registry: CollectorRegistry,
    ) -> None:
        self.directory = directory
        self.agents = agents
        self.refused = Counter(
            "hotline_transfers_refused",
            "Transfers refused: the destination is neither in the directory nor a seat",
            ["path"],
            registry=registry,
        )
        for path in PATHS:  # shown as 0 before the first refusal
            self.refused.labels(path=path)

    def resolve(
        self, wanted: str, *, path: TransferPath, who: str, call_id: uuid.UUID | None = None
    ) -> Destination:
        """The destination ``who`` asked for on ``path``; DestinationRefused (logged,
        counted) when it is not one calls may be sent to. The IVR reaches
        departments only: its flows send callers to agents through queues."""
        try:
            return resolve(self.directory(), wanted, self.agents(), seats=path != "ivr")
        except DestinationRefused:
            self.refused.labels(path=path).inc()
            log.warning(
                "transfer refused (%s): %s asked for %r on call %s: not in the directory",
                path,
                who,
                wanted[:64],
                call_id or "-",
            )
            raise
