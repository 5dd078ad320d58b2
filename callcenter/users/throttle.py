"""Failed logins counted per user name and per client address, with lockout.

Pure and clock-injected (``clock()`` gives seconds, e.g. ``time.monotonic``):
the tests move the clock. Names that do not exist are counted exactly like
those that do, so a lockout says nothing about whether a user exists. The
table is bounded: past ``max_keys`` the least recently failed key is dropped.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Policy:
    max_failures: int  # this many within ``window`` seconds lock the key
    window: float
    lockout: float  # seconds the key is then refused, right password or not


# A person mistypes a few times; a guesser needs thousands of tries.
USER_POLICY = Policy(max_failures=5, window=900.0, lockout=900.0)
# An office behind one address has many users: more room, a shorter lock.
ADDRESS_POLICY = Policy(max_failures=30, window=900.0, lockout=300.0)


@dataclass(slots=True)
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Throttle:
    """One policy over many keys."""

    def __init__(self, policy: Policy, clock: Callable[[], float], max_keys: int = 100_000) -> None:
        self.policy = policy
        self.clock = clock
        self.max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def retry_after(self, key: str) -> int:
        """Whole seconds until ``key`` may try again; 0 when it may now."""
        entry = self._entries.get(key)
        if entry is None:
            return 0
        left = entry.locked_until - self.clock()
        return math.ceil(left) if left > 0 else 0

    def failed(self, key: str) -> None:
        now = self.clock()
        entry = self._entries.pop(key, None) or _Entry()
        self._entries[key] = entry  # most recent last
        while entry.failures and entry.failures[0] <= now - self.policy.window:
            entry.failures.popleft()
        entry.failures.append(now)
        if len(entry.failures) >= self.policy.max_failures:
            entry.locked_until = now + self.policy.lockout
            entry.failures.clear()
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._entries.pop(key, None)


# Every client of a reverse proxy on this machine (and the command line, and the
# tests) arrives from loopback: counting it as one address would let anyone lock
# every login out. Names are still throttled for them.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


class LoginThrottle:
    """Both throttles a login passes: its user name's and its client address's."""

    def __init__(
        self,
        clock: Callable[[], float],
        user: Policy = USER_POLICY,
        address: Policy = ADDRESS_POLICY,
        unthrottled_addresses: frozenset[str] = LOOPBACK,
    ) -> None:
        self.users = Throttle(user, clock)
        self.addresses = Throttle(address, clock)
        self.unthrottled = unthrottled_addresses

    def _address(self, address: str | None) -> str | None:
        return None if address in self.unthrottled else address

    def retry_after(self, name: str, address: str | None) -> int:
        address = self._address(address)
        return max(
            self.users.retry_after(name),
            self.addresses.retry_after(address) if address else 0,
        )

    def failed(self, name: str, address: str | None) -> None:
        self.users.failed(name)
        address = self._address(address)
        if address:
            self.addresses.failed(address)

    def succeeded(self, name: str) -> None:
        # The address keeps its count: one good account must not reset the
        # failures of a guesser trying others from the same place.
        self.users.succeeded(name)
