"""Failed logins counted per user name and per client address, with lockout.

The same :class:`callcenter.ratelimit.Guard` as the citizens' lookups, with
the logins' policies: the client is the address, the target the user name.
Every attempt counts as a failure until it succeeds, so guesses in flight
together cannot outrun the count. Names that do not exist are counted exactly
like those that do, so a lockout says nothing about whether a user exists.
Clock-injected (``clock()`` gives seconds, e.g. ``time.monotonic``): the tests
move the clock. The table is bounded: past ``max_keys`` the least recently
counted key is dropped (refusing new names instead would lock everyone out).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from callcenter.ratelimit import Guard, Policy

__all__ = ["ADDRESS_POLICY", "LOOPBACK", "USER_POLICY", "LoginThrottle", "Policy"]

# A person mistypes a few times; a guesser needs thousands of tries.
USER_POLICY = Policy(limit=5, per_seconds=900.0, lock_seconds=900.0)
# An office behind one address has many users: more room, a shorter lock.
ADDRESS_POLICY = Policy(limit=30, per_seconds=900.0, lock_seconds=300.0)

# Every client of a reverse proxy on this machine (and the command line, and the
# tests) arrives from loopback: counting it as one address would let anyone lock
# every login out. Names are still throttled for them.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


class LoginThrottle:
    """Both limits a login passes: its user name's and its client address's."""

    def __init__(
        self,
        clock: Callable[[], float],
        user: Policy = USER_POLICY,
        address: Policy = ADDRESS_POLICY,
        unthrottled_addresses: frozenset[str] = LOOPBACK,
        max_keys: int = 100_000,
    ) -> None:
        self._guard = Guard(
            client_failures=address,
            target_failures=user,
            max_keys=max_keys,
            clock=clock,
            refuse_when_full=False,
        )
        self.unthrottled = unthrottled_addresses

    def _address(self, address: str | None) -> str | None:
        return None if address in self.unthrottled else address

    def retry_after(self, name: str, address: str | None) -> int:
        """Whole seconds until ``name`` may try from ``address``; 0 when it may now."""
        return math.ceil(self._guard.wait(self._address(address), name))

    def attempt(self, name: str, address: str | None) -> int:
        """0 and the attempt counted as a failure until :meth:`succeeded`; or the
        whole seconds to wait, and nothing counted."""
        return math.ceil(self._guard.attempt(self._address(address), name))

    def succeeded(self, name: str, address: str | None) -> None:
        """The name counts afresh; the address only takes back this attempt (one good
        account must not reset the failures of a guesser trying others from there)."""
        self._guard.succeeded(self._address(address), name)
        self._guard.forget_target(name)

    def reset(self, name: str) -> None:
        """An admin's new password lifts the name's lockout."""
        self._guard.forget_target(name)

    def tracked(self) -> int:
        return self._guard.tracked()
