"""The flow set in service, swapped atomically on reload.

A call takes the current :class:`IvrRuntime` when it starts and keeps it to
the end, so a reload never changes a call in progress. An invalid set is
refused and the one in service stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from callcenter.acd.queues import QueueConfig, load_queues
from callcenter.calendar import WorkCalendar, load_calendar
from callcenter.directory import Directory, load_directory
from callcenter.errors import ConfigError
from callcenter.ivr import messages
from callcenter.ivr.flowset import FlowSet, FlowSetInvalid
from callcenter.ivr.lookup import FixtureLookup
from callcenter.ivr.port import TicketLookup
from callcenter.ivr.validate import load_flow_set

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IvrPaths:
    flows_dir: Path
    prompts_dir: Path
    calendar: Path
    queues: Path
    lookup_fixture: Path
    directory: Path | None = None  # the department directory (none: agents only)

    def with_flows(self, flows: Path) -> IvrPaths:
        """These paths with the flows at ``flows`` (a folder, or a file) and the prompts
        where they sit beside them, as the configured prompts sit beside the configured
        flows: a copy of ``ivr_flows/`` is checked against its own ``prompts/``.

        Prompts kept apart from the flows (or a copy without a prompts folder) stay
        the configured ones.
        """
        beside = self.prompts_beside(flows)
        if beside is None or not beside.is_dir():
            return replace(self, flows_dir=flows)
        return replace(self, flows_dir=flows, prompts_dir=beside)

    def prompts_beside(self, flows: Path) -> Path | None:
        """Where the prompts of flows at ``flows`` would be; None when the configured
        prompts are not inside the configured flows folder."""
        try:
            inside = self.prompts_dir.resolve().relative_to(self.flows_dir.resolve())
        except ValueError:
            return None
        return (flows if flows.is_dir() else flows.parent) / inside


@dataclass(frozen=True, slots=True)
class IvrRuntime:
    """Everything a reload replaces at once."""

    flows: FlowSet
    calendar: WorkCalendar
    lookup: TicketLookup
    # The queues the flows were checked against; the ACD follows them, so a
    # queue a flow sends callers to is always one the ACD knows.
    queues: Mapping[str, QueueConfig]
    # Where transfers may go; the flows' transfer nodes were checked against it.
    directory: Directory = field(default_factory=lambda: Directory([]))

    @property
    def version(self) -> str:
        return self.flows.version


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    version: str
    errors: tuple[str, ...] = ()
    # The new set's warnings (file:line: warning: ...); they do not refuse it.
    warnings: tuple[str, ...] = ()


def load_runtime(
    paths: IvrPaths,
    lookup: TicketLookup | None = None,
    departments: Mapping[str, str] | None = None,
    flows: Sequence[Path] = (),
) -> IvrRuntime:
    """Load flows, calendar, lookup data and the directory; ConfigError (or
    FlowSetInvalid) if any is bad. The service (at start and on reload) and
    ``ivr validate`` load through here, so they refuse the same things.

    ``flows`` (files or folders; ``ivr validate a.yaml b.yaml``) in place of
    ``paths.flows_dir``.

    ``lookup`` (the work-order database, live) replaces the fixture file, which
    then serves only the simulator; the file is read all the same, so a live
    reload refuses a broken one as ``ivr validate`` does. ``departments`` (the
    catalogue's, code → name) are the codes the directory may use.
    """
    queues = load_queues(paths.queues)
    directory = load_directory(paths.directory, departments)
    flow_set = load_flow_set(list(flows) or [paths.flows_dir], paths.prompts_dir, queues, directory)
    calendar = load_calendar(paths.calendar)
    fixture = FixtureLookup.load(paths.lookup_fixture)
    return IvrRuntime(
        flow_set, calendar, lookup if lookup is not None else fixture, queues, directory
    )


class IvrRegistry:
    def __init__(
        self,
        paths: IvrPaths,
        departments: Mapping[str, str] | None = None,
        language: messages.Language = "en",
    ) -> None:
        self.paths = paths
        self.departments = departments
        # The language of a refused reload's errors (ivr.messages_language): ops read them.
        self.language = language
        self._lookup: TicketLookup | None = None
        self._listeners: list[Callable[[IvrRuntime], None]] = []
        # The service refuses to start on a bad set.
        with messages.language(language):
            self._current = load_runtime(paths, departments=departments)
        _log_warnings(self._current)

    def on_reload(self, listener: Callable[[IvrRuntime], None]) -> None:
        """Call ``listener`` with each runtime a reload puts in service (the calendar
        is shared with the work-order deadlines)."""
        self._listeners.append(listener)

    def use_lookup(self, lookup: TicketLookup) -> None:
        """Answer the ``lookup`` node from ``lookup`` from now on (and after reloads)."""
        self._lookup = lookup
        self._current = replace(self._current, lookup=lookup)

    @property
    def current(self) -> IvrRuntime:
        return self._current

    def reload(self) -> ReloadResult:
        with messages.language(self.language):  # the errors as text, labels included
            return self._reload()

    def _reload(self) -> ReloadResult:
        try:
            runtime = load_runtime(self.paths, self._lookup, self.departments)
        except FlowSetInvalid as exc:
            log.error("IVR reload refused, keeping %s:\n%s", self._current.version, exc)
            return ReloadResult(False, self._current.version, tuple(map(str, exc.errors)))
        except ConfigError as exc:
            log.error("IVR reload refused, keeping %s: %s", self._current.version, exc)
            return ReloadResult(False, self._current.version, tuple(str(exc).splitlines()))
        old, self._current = self._current.version, runtime
        log.info("IVR flows reloaded: %s → %s", old, runtime.version)
        _log_warnings(runtime)
        for listener in self._listeners:
            listener(runtime)
        return ReloadResult(True, runtime.version, warnings=tuple(map(str, runtime.flows.warnings)))


def _log_warnings(runtime: IvrRuntime) -> None:
    for warning in runtime.flows.warnings:
        log.warning("IVR flows %s: %s", runtime.version, warning)
