"""Who is asking: the peer's address, or the client a trusted proxy names.

``X-Forwarded-For`` is written by whoever sends the request, so it is
believed only from a proxy listed in ``http.trusted_proxies``, and then only
its rightmost entry that is not itself a trusted proxy (what our nearest
proxy saw). Anything else would let a guesser pick a new address per try.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_PREFIX = 64  # one subscriber's share: a guesser owns every address in it


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in net for net in proxies)


def client_address(request: web.Request, trusted_proxies: Sequence[Network] = ()) -> str:
    """The client's address as far as it can be believed."""
    peer = request.remote or ""
    if not _trusted(peer, trusted_proxies):
        return peer
    hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop if _ip(hop) is not None else peer
    return peer


def limit_key(address: str) -> str:
    """What a rate limit counts: an IPv4 address, or the /64 an IPv6 one is in."""
    ip = _ip(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)
