"""Typed application state keys (never string keys)."""

import uuid
from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.acd.service import AcdService
from callcenter.ari import AriClient, EventStream
from callcenter.audit.access_log import AccessWriter
from callcenter.audit.search import AccessLogReader
from callcenter.calls.conversation import Conversation
from callcenter.calls.destinations import Destinations
from callcenter.calls.recorder import CallRecorder
from callcenter.calls.service import CallService
from callcenter.config import Settings
from callcenter.ivr.registry import IvrRegistry
from callcenter.ratelimit import Guard
from callcenter.tickets.catalogue import Catalogue
from callcenter.tickets.finder import TicketFinder
from callcenter.tickets.knowledge import KnowledgeBase
from callcenter.tickets.oversight import SupervisionSweep
from callcenter.tickets.service import TicketService
from callcenter.users.service import UserService

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
ENGINE = web.AppKey("engine", AsyncEngine)
RECORDER = web.AppKey("recorder", CallRecorder)
ARI = web.AppKey("ari", AriClient)
EVENTS = web.AppKey("events", EventStream)
CALLS = web.AppKey("calls", CallService)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
IVR = web.AppKey("ivr", IvrRegistry)
ACD = web.AppKey("acd", AcdService)
TICKETS = web.AppKey("tickets", TicketService)
USERS = web.AppKey("users", UserService)
CATALOGUE = web.AppKey("catalogue", Catalogue)
FINDER = web.AppKey("finder", TicketFinder)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
SWEEP = web.AppKey("sweep", SupervisionSweep)
# What "now" is for the desk (deadlines, colours, sweeps): one clock to replace in tests.
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
CONVERSATIONS = web.AppKey("conversations", dict[uuid.UUID, Conversation])
# Where transfers may go: the department directory and the seats.
DESTINATIONS = web.AppKey("destinations", Destinations)
SERVICE_TOKEN = web.AppKey("service_token", str)
# Citizens' lookups (public API and IVR), counted per client and per query code.
LOOKUP_GUARD = web.AppKey("lookup_guard", Guard)
# Every read of personal data is written here before it is sent.
ACCESS_LOG: web.AppKey[AccessWriter] = web.AppKey("access_log")
ACCESS_READER = web.AppKey("access_reader", AccessLogReader)
