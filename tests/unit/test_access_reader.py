"""Who reads, as the access log writes it: the client's address (through a
trusted proxy only) and the reason asked for."""

from __future__ import annotations

import ipaddress
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from callcenter.audit.access_log import Action, ReasonRequired
from callcenter.config import HttpConfig, Settings
from callcenter.users.roles import Actor, Role
from callcenter.web.access import reader
from callcenter.web.keys import SETTINGS

PROXY = "10.0.0.2"


def request(query: str = "", forwarded: str | None = None, peer: str = PROXY) -> web.Request:
    app = web.Application()
    app[SETTINGS] = Settings(
        http=HttpConfig(trusted_proxies=(ipaddress.ip_network("10.0.0.0/24"),))
    )
    transport = mock.Mock()
    transport.get_extra_info.return_value = (peer, 40000)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return make_mocked_request(
        "GET", f"/api/v1/calls{query}", headers, app=app, transport=transport
    )


def test_the_client_is_the_one_a_trusted_proxy_names_else_the_peer():
    agent = Actor("agent-1", Role.AGENT)
    assert reader(request(forwarded="203.0.113.9"), agent, Action.READ).client_addr == "203.0.113.9"
    assert reader(request(), agent, Action.READ).client_addr == PROXY
    # Anyone else's X-Forwarded-For is their own word: the peer is what is logged.
    stranger = request(forwarded="203.0.113.9", peer="198.51.100.7")
    assert reader(stranger, agent, Action.READ).client_addr == "198.51.100.7"


def test_the_reason_is_taken_from_the_query_and_owed_by_auditors_and_exports():
    auditor = Actor("audit-1", Role.AUDITOR)
    assert reader(request("?reason=%20抽查%20"), auditor, Action.LIST).reason == "抽查"
    with pytest.raises(ReasonRequired, match=r"^reason: required"):
        reader(request("?reason=%20"), auditor, Action.LIST)
    with pytest.raises(ReasonRequired, match="every export needs one"):
        reader(request(), Actor("agent-1", Role.AGENT), Action.EXPORT)
