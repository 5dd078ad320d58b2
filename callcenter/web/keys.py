"""Typed application state keys (never string keys)."""

import uuid

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.acd.service import AcdService
from callcenter.ari import AriClient, EventStream
from callcenter.calls.conversation import Conversation
from callcenter.calls.recorder import CallRecorder
from callcenter.calls.service import CallService
from callcenter.config import Settings
from callcenter.ivr.registry import IvrRegistry
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
CONVERSATIONS = web.AppKey("conversations", dict[uuid.UUID, Conversation])
