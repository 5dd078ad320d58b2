"""The client a rate limit counts: the peer, unless a trusted proxy speaks for it."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp.test_utils import make_mocked_request

from callcenter.web.client import client_address, limit_key

PROXY = [ipaddress.ip_network("10.0.0.0/24")]


def request(peer: str, forwarded: list[str] | None = None):
    headers = [("X-Forwarded-For", value) for value in forwarded or []]
    req = make_mocked_request("GET", "/api/v1/public/tickets/1", headers=headers)
    return req.clone(remote=peer)


def test_the_peer_is_the_client_and_its_forwarded_for_is_ignored():
    assert client_address(request("203.0.113.9", ["1.2.3.4"])) == "203.0.113.9"
    assert client_address(request("203.0.113.9", ["1.2.3.4"]), PROXY) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client_it_saw():
    # The guesser's own "1.2.3.4" is left of what our proxy appended.
    assert client_address(request("10.0.0.2", ["1.2.3.4, 198.51.100.7"]), PROXY) == "198.51.100.7"
    # Two proxies of ours in a row: the first hop that is not one of them.
    seen = request("10.0.0.2", ["1.2.3.4", "198.51.100.7, 10.0.0.5"])
    assert client_address(seen, PROXY) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", [[], ["10.0.0.9"], ["not an address"]])
def test_a_trusted_proxy_without_a_usable_client_counts_as_itself(forwarded):
    assert client_address(request("10.0.0.2", forwarded), PROXY) == "10.0.0.2"


def test_ipv6_clients_are_counted_by_their_64():
    a, b = limit_key("2001:db8:1:2::1"), limit_key("2001:db8:1:2:ffff::9")
    assert a == b == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != a
    assert limit_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert limit_key("192.0.2.1") == "192.0.2.1"
