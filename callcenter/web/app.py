"""Assemble the service: cleanup contexts open in order and close in reverse.

database → tickets → ARI client → ACD → calls (which owns the events reader). On shutdown the
calls drain first while events still flow, then the reader stops, the ARI
client closes and the record writer flushes before the engine is disposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from callcenter.acd.agents import Agent
from callcenter.acd.restore import restore_agent_states
from callcenter.acd.roster import SeatSecrets, load_roster
from callcenter.acd.seats import reload_pjsip, write_seats_conf
from callcenter.acd.service import AcdService
from callcenter.ari import AriClient, EventRouter, EventStream
from callcenter.audit.access_log import AccessLogWriter
from callcenter.audit.search import AccessLogReader
from callcenter.calls.acd_store import AcdStore
from callcenter.calls.ari_port import DialOut
from callcenter.calls.destinations import Destinations
from callcenter.calls.ivr_sink import DbIvrSink
from callcenter.calls.metrics import CallMetrics, LiveCollector, LoopLag, watch_record_writer
from callcenter.calls.overload import Overload
from callcenter.calls.queue_call import QueueDeps
from callcenter.calls.record_ops import AgentStateLogged
from callcenter.calls.recorder import CallRecorder
from callcenter.calls.service import BRIDGE_PREFIX, CallService
from callcenter.calls.session import CallDeps
from callcenter.config import Settings
from callcenter.db.engine import make_engine, make_sessionmaker
from callcenter.errors import CallCenterError
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrRegistry, IvrRuntime
from callcenter.memory import MemoryReturn
from callcenter.tickets.catalogue import load_catalogue, sync_catalogue
from callcenter.tickets.deadlines import load_deadlines
from callcenter.tickets.finder import TicketFinder
from callcenter.tickets.intake import adopt_voicemails, voicemail_to_ticket
from callcenter.tickets.knowledge import KnowledgeBase
from callcenter.tickets.lookup import DbTicketLookup
from callcenter.tickets.oversight import SupervisionSweep
from callcenter.tickets.rounds import every
from callcenter.tickets.service import TicketService
from callcenter.users import service_token
from callcenter.users.service import UserService
from callcenter.web import (
    access_log_routes,
    acd_routes,
    auth,
    call_routes,
    desk_routes,
    directory_routes,
    health,
    ivr_routes,
    openapi,
    ticket_routes,
    user_routes,
)
from callcenter.web.ari_metrics import ari_latency
from callcenter.web.guards import refuse_nul_middleware
from callcenter.web.keys import (
    ACCESS_LOG,
    ACCESS_READER,
    ACD,
    ARI,
    CALLS,
    CATALOGUE,
    CLOCK,
    CONVERSATIONS,
    DESTINATIONS,
    ENGINE,
    EVENTS,
    FINDER,
    IVR,
    KNOWLEDGE,
    LOOKUP_GUARD,
    RECORDER,
    REGISTRY,
    SERVICE_TOKEN,
    SESSIONS,
    SETTINGS,
    SWEEP,
    TICKETS,
    USERS,
)
from callcenter.web.problems import problem_middleware
from callcenter.web.request_ids import echo_request_id, request_id_middleware

log = logging.getLogger(__name__)

# How long the record writer may take to flush at shutdown before giving up.
RECORDER_FLUSH_SECONDS = 30.0


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _writer_ended(writer: asyncio.Task[None]) -> None:
    if not writer.cancelled() and writer.exception() is not None:
        log.critical(
            "the call record writer died; no record is written from now on",
            exc_info=writer.exception(),
        )


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[SETTINGS].database.url)
    recorder = CallRecorder(engine, spool_path=app[SETTINGS].calls.record_spool)
    app[ENGINE] = engine
    app[SESSIONS] = make_sessionmaker(engine)
    app[USERS] = UserService(app[SESSIONS])
    app[RECORDER] = recorder
    app[ACCESS_LOG] = AccessLogWriter(app[SESSIONS])
    app[ACCESS_READER] = AccessLogReader(app[SESSIONS])
    writer = asyncio.create_task(recorder.run(), name="call-recorder")
    writer.add_done_callback(_writer_ended)
    Gauge(
        "hotline_record_backlog", "Call record operations not yet committed", registry=app[REGISTRY]
    ).set_function(recorder.backlog)
    watch_record_writer(app[REGISTRY], recorder)  # write latency, spool backlog
    yield
    try:
        async with asyncio.timeout(RECORDER_FLUSH_SECONDS):
            await recorder.wait_idle()
    except TimeoutError:
        kept = recorder.spool_backlog()
        log.error(
            "record writer could not flush %d operations; %d kept in %s for the next start",
            recorder.backlog(),
            kept,
            app[SETTINGS].calls.record_spool,
        )
    try:
        await _stop(writer)
    finally:
        recorder.close()
        app[USERS].close()
        await engine.dispose()


async def tickets_ctx(app: web.Application) -> AsyncIterator[None]:
    """Work orders: the catalogue in step with config/, the desk, and its rounds
    (the 督办 sweep; tickets for voicemails whose hook could not write one)."""
    settings, sessions = app[SETTINGS].tickets, app[SESSIONS]
    calendar = app[IVR].current.calendar
    clock = app[CLOCK]
    deadlines = load_deadlines(settings.deadlines)
    if settings.catalogue.exists():
        await sync_catalogue(sessions, app[CATALOGUE])
    app[TICKETS] = TicketService(
        sessions, calendar, deadlines, clock, settings.callback_working_days
    )
    app[FINDER] = TicketFinder(sessions, calendar, deadlines, app[CATALOGUE], clock)
    app[KNOWLEDGE] = KnowledgeBase(sessions, clock)
    app[SWEEP] = SupervisionSweep(sessions, clock)
    lookup = DbTicketLookup(sessions, calendar)
    app[IVR].use_lookup(lookup)

    def follow_calendar(runtime: IvrRuntime) -> None:
        # Holidays edited and reloaded reach ticket deadlines too, not only the IVR.
        for holder in (app[TICKETS], app[FINDER], lookup):
            holder.calendar = runtime.calendar

    app[IVR].on_reload(follow_calendar)
    interval = settings.supervision_sweep_seconds
    rounds = [
        asyncio.create_task(
            every(interval, app[SWEEP].run_once, "supervision sweep"), name="supervision-sweep"
        ),
        asyncio.create_task(
            every(
                interval,
                lambda: adopt_voicemails(app[TICKETS], sessions, clock()),
                "voicemail intake",
            ),
            name="voicemail-intake",
        ),
    ]
    yield
    for task in rounds:
        await _stop(task)


async def ari_ctx(app: web.Application) -> AsyncIterator[None]:
    ari = AriClient(app[SETTINGS].ari_settings(), observe=ari_latency(app[REGISTRY]))
    async with ari as client:
        app[ARI] = client
        yield


def _log_agent_state(recorder: CallRecorder) -> Callable[[Agent], None]:
    def log_change(agent: Agent) -> None:
        call_id = uuid.UUID(agent.call_id) if agent.call_id else None
        recorder.submit(
            AgentStateLogged(
                agent.id, agent.state.value, agent.reason, call_id, agent.since or datetime.now(UTC)
            )
        )

    return log_change


async def acd_ctx(app: web.Application) -> AsyncIterator[None]:
    """The ACD: roster, queues, agents' states; seats rendered for Asterisk."""
    settings = app[SETTINGS]
    roster = load_roster(settings.acd.roster)
    acd = AcdService(
        roster, dict(app[IVR].current.queues), on_change=_log_agent_state(app[RECORDER])
    )
    app[ACD] = acd
    # Agents take back their last state (a restart must not log everyone out).
    await restore_agent_states(acd, app[ENGINE], asyncio.ensure_future(app[RECORDER].flush()))

    def follow_queues(runtime: IvrRuntime) -> None:
        # queues.yaml is reloaded with the flows that name its queues, never apart.
        acd.queues = dict(runtime.queues)

    app[IVR].on_reload(follow_queues)
    if settings.acd.seats_conf is not None and settings.acd.seats_conf.parent.exists():
        if write_seats_conf(
            roster, SeatSecrets(settings.acd.seat_secrets), settings.acd.seats_conf
        ):
            await reload_pjsip(app[ARI])
    yield
    acd.close()


async def resync_seats(app: web.Application) -> None:
    """After every (re)connection: Asterisk may have restarted with other seats
    (its start renders the roster file it knows); ours again, and pjsip reloaded."""
    settings = app[SETTINGS]
    path = settings.acd.seats_conf
    if path is None or not path.parent.exists():
        return
    try:
        roster = load_roster(settings.acd.roster)
    except CallCenterError as exc:
        log.error("seats not checked after reconnecting: %s", exc)
        return
    if write_seats_conf(roster, SeatSecrets(settings.acd.seat_secrets), path):
        log.info("seats rendered again for Asterisk (%d agents)", len(roster.agents))
        await reload_pjsip(app[ARI])


async def calls_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    router = EventRouter()
    prompts = PromptLibrary(settings.ivr.prompts_dir, settings.ivr.prompts_media_root)
    sink = DbIvrSink(app[ARI], app[RECORDER], voicemail_hooks=[voicemail_to_ticket(app[TICKETS])])
    destinations = Destinations(
        lambda: app[IVR].current.directory, lambda: app[ACD].agents, app[REGISTRY]
    )
    app[DESTINATIONS] = destinations
    deps = CallDeps(
        ari=app[ARI],
        recorder=app[RECORDER],
        config=settings.calls,
        metrics=CallMetrics.create(app[REGISTRY]),
        router=router,
        ivr=app[IVR],
        prompts=prompts,
        sink=sink,
        dial_out=DialOut(
            settings.calls.dialout_endpoint, settings.ari.app, destinations, BRIDGE_PREFIX
        ),
        queues=QueueDeps(
            acd=app[ACD],
            store=AcdStore(app[RECORDER]),
            prompts=prompts,
            seat_endpoint=settings.acd.seat_endpoint,
            dial_out=settings.calls.dialout_endpoint,
            destinations=destinations,
            conversations=app[CONVERSATIONS],
            app=settings.ari.app,
            bridge_prefix=BRIDGE_PREFIX,
            clock=lambda: datetime.now(UTC),
        ),
        lookup_guard=app[LOOKUP_GUARD],
    )
    lag = LoopLag(app[REGISTRY])
    overload = Overload(
        app[ARI], router, app[RECORDER], settings.calls, deps.metrics, prompts, lag=lag.smoothed
    )
    calls = CallService(
        deps, router, app=settings.ari.app, max_calls=settings.calls.max_calls, overload=overload
    )
    app[REGISTRY].register(LiveCollector(calls.sessions, lambda: app[ACD], overload.refusing))
    Gauge(
        "hotline_ari_inboxes",
        "Event inboxes open (callers, legs, bridges); back to 0 when no call is up",
        registry=app[REGISTRY],
    ).set_function(lambda: len(router.keys()))
    lag_watch = asyncio.create_task(lag.run(), name="loop-lag")
    # After a burst, the heap's free pages go back to the system (malloc_trim).
    memory = asyncio.create_task(MemoryReturn(calls.active).run(), name="memory-return")

    async def connected() -> None:
        try:
            await resync_seats(app)
        except Exception:  # seats can wait for the next connection; the callers cannot
            log.exception("cannot render the seats again after connecting to Asterisk")
        await calls.reconcile()

    stream = EventStream(app[ARI], router, on_connected=connected)
    app[CALLS] = calls
    app[EVENTS] = stream
    Gauge(
        "hotline_ari_connected", "1 while the ARI events socket is open", registry=app[REGISTRY]
    ).set_function(lambda: float(stream.connected.is_set()))
    Gauge(
        "hotline_ari_events_received", "ARI events read since start", registry=app[REGISTRY]
    ).set_function(lambda: stream.events_received)
    reader = asyncio.create_task(stream.run(), name="ari-events")
    yield
    await calls.drain(settings.calls.shutdown_grace_seconds)
    await overload.stop()
    await sink.close()
    await _stop(reader)
    await _stop(lag_watch)
    await _stop(memory)


def build_app(settings: Settings) -> web.Application:
    """Raises ConfigError (naming file and line) when the IVR flows are invalid."""
    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware, refuse_nul_middleware]
    )
    app.on_response_prepare.append(echo_request_id)
    app[SETTINGS] = settings
    app[REGISTRY] = CollectorRegistry()
    app[CATALOGUE] = catalogue = load_catalogue(settings.tickets.catalogue)
    # The directory (loaded with the flows) may name only the catalogue's departments.
    departments = {code: d.name for code, d in catalogue.departments.items()}
    app[IVR] = IvrRegistry(
        settings.ivr.paths(), departments or None, settings.ivr.messages_language
    )
    app[CONVERSATIONS] = {}
    app[CLOCK] = lambda: datetime.now(UTC)
    app[SERVICE_TOKEN] = service_token.ensure(settings.http.service_token_file)
    app[LOOKUP_GUARD] = settings.tickets.public_lookup.guard()
    app.cleanup_ctx.extend([database_ctx, tickets_ctx, ari_ctx, acd_ctx, calls_ctx])
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/api/openapi.json", openapi.openapi_handler)
    app.router.add_get("/api/v1/ivr", ivr_routes.current)
    app.router.add_post("/api/v1/ivr/reload", ivr_routes.reload)
    acd_routes.add_routes(app)
    call_routes.add_routes(app)
    directory_routes.add_routes(app)
    ticket_routes.add_routes(app)
    desk_routes.add_routes(app)
    access_log_routes.add_routes(app)
    app.router.add_post("/api/v1/auth/token", auth.token)
    app.router.add_delete("/api/v1/auth/token", auth.logout)
    user_routes.add_routes(app)
    return app
