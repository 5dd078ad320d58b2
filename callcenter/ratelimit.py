"""Attempts counted per key, and a lock once a key has used up its allowance.

Guessing games (a phone number behind a masked ticket, a password) are won by
trying many times; counting each client's and each target's attempts, and
locking them for a while once they exceed a small allowance, makes the game
too slow to play. Pure and clock-injected so tests drive time; no awaits, so a
check and its count happen together even when requests arrive at once.

Memory is bounded: a key is forgotten once its counts have slid out of the
window and its lock has passed, and at most ``max_keys`` are held. When that many are all still
live, new keys are refused until one drains (failing closed: an attacker who
floods the table with addresses gets refusals, never a forgotten lock), unless
the limiter is told to evict the least recently counted key instead (logins:
refusing every new name would lock everyone out).

The citizens' lookups (public API and IVR) and the logins both count through
:class:`Guard`; only their policies differ.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from callcenter.errors import CallCenterError

Clock = Callable[[], float]


class RateLimited(CallCenterError):
    """Refused for ``retry_after`` more seconds (HTTP 429 with Retry-After)."""

    title = "Too many attempts"

    def __init__(self, message: str, wait_seconds: float) -> None:
        super().__init__(message)
        # Whole seconds, at least one: HTTP's delta-seconds.
        self.retry_after = max(1, math.ceil(wait_seconds))


@dataclass(frozen=True, slots=True)
class Policy:
    """``limit`` events within ``per_seconds`` lock a key for ``lock_seconds``.

    The window slides (the previous fixed window is weighted by how much of it
    is still inside), so a burst locks at exactly ``limit`` and a steady
    trickle below the rate never does, with two counters per key.
    """

    limit: int
    per_seconds: float
    lock_seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.per_seconds <= 0 or self.lock_seconds <= 0:
            raise ValueError(f"{self}: limit, per_seconds and lock_seconds must be positive")


@dataclass(slots=True)
class _Count:
    window_start: float
    current: int = 0  # events in the window that started at window_start
    previous: int = 0  # events in the window before it
    locked_until: float = 0.0


class Limiter:
    """One policy over many keys (client addresses, query codes, user names)."""

    def __init__(
        self, policy: Policy, clock: Clock, max_keys: int, *, refuse_when_full: bool = True
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.policy = policy
        self.clock = clock
        self.max_keys = max_keys
        self.refuse_when_full = refuse_when_full
        self._keys: OrderedDict[str, _Count] = OrderedDict()  # least recently counted first

    def __len__(self) -> int:
        return len(self._keys)

    def wait(self, key: str) -> float:
        """Seconds before ``key`` may act; 0.0 when it may now."""
        now = self.clock()
        self._forget_drained(now)
        count = self._keys.get(key)
        if count is not None:
            return max(0.0, count.locked_until - now)
        if self.refuse_when_full and len(self._keys) >= self.max_keys:
            return self._frees_in(next(iter(self._keys.values())), now)
        return 0.0

    def hit(self, key: str) -> None:
        """Count one event; the one that reaches the limit locks the key."""
        now = self.clock()
        count = self._keys.get(key)
        if count is None:
            self._forget_drained(now)
            if len(self._keys) >= self.max_keys:  # evicting, or wait() was not asked first
                self._keys.popitem(last=False)
            count = self._keys[key] = _Count(now)
        else:
            self._keys.move_to_end(key)
        self._roll(count, now)
        count.current += 1
        if self._estimate(count, now) >= self.policy.limit:
            count.locked_until = now + self.policy.lock_seconds
            count.current = count.previous = 0

    def refund(self, key: str) -> None:
        """Take back one event (an attempt that turned out right); a lock stays."""
        count = self._keys.get(key)
        if count is None:
            return
        self._roll(count, self.clock())
        if count.current:
            count.current -= 1
        elif count.previous:
            count.previous -= 1

    def forget(self, key: str) -> None:
        """Drop every count and lock of ``key`` (a good login, an admin's reset)."""
        self._keys.pop(key, None)

    def _roll(self, count: _Count, now: float) -> None:
        windows = int((now - count.window_start) // self.policy.per_seconds)
        if windows >= 1:
            count.previous = count.current if windows == 1 else 0
            count.current = 0
            count.window_start += windows * self.policy.per_seconds

    def _estimate(self, count: _Count, now: float) -> float:
        """Events within the last ``per_seconds``, the previous window pro rata."""
        inside = 1.0 - (now - count.window_start) / self.policy.per_seconds
        return count.previous * max(0.0, inside) + count.current

    def _frees_in(self, count: _Count, now: float) -> float:
        """When the key holds nothing: its lock passed and its windows slid out."""
        per = self.policy.per_seconds
        if count.current:
            drained = count.window_start + 2 * per
        elif count.previous:
            drained = count.window_start + per
        else:
            drained = now
        return max(count.locked_until - now, drained - now, 0.0)

    def _forget_drained(self, now: float) -> None:
        while self._keys:
            count = next(iter(self._keys.values()))
            if self._frees_in(count, now) > 0:
                return
            self._keys.popitem(last=False)


class Guard:
    """Attempts by a client at a target (a query code, a user name).

    Every attempt counts against the client's rate (when a ``tries`` policy is
    given); every attempt also counts as a failure of the client and of the
    target until it is reported to have succeeded, so attempts in flight at
    the same moment cannot outrun the count. Too many failures lock the
    client, or the target for everyone.
    """

    def __init__(
        self,
        *,
        tries: Policy | None = None,
        client_failures: Policy,
        target_failures: Policy,
        max_keys: int,
        clock: Clock = time.monotonic,
        refuse_when_full: bool = True,
    ) -> None:
        def limiter(policy: Policy) -> Limiter:
            return Limiter(policy, clock, max_keys, refuse_when_full=refuse_when_full)

        self._tries = limiter(tries) if tries is not None else None
        self._client = limiter(client_failures)
        self._target = limiter(target_failures)

    def _limiters(self, client: str | None, target: str | None) -> list[tuple[Limiter, str]]:
        keyed: list[tuple[Limiter | None, str | None]] = [
            (self._tries, client),
            (self._client, client),
            (self._target, target),
        ]
        return [(limiter, key) for limiter, key in keyed if limiter is not None and key is not None]

    def wait(self, client: str | None, target: str | None) -> float:
        """Seconds before the attempt may be made; 0.0 when it may now (nothing counted)."""
        return max(
            (limiter.wait(key) for limiter, key in self._limiters(client, target)), default=0.0
        )

    def attempt(self, client: str | None, target: str | None) -> float:
        """0.0 and the attempt counted; or the seconds to wait, and nothing counted.

        ``target`` None: nothing that could exist is aimed at (a malformed
        code); only the client is counted. ``client`` None: a client not
        counted (loopback for logins); only the target is.
        """
        wait = self.wait(client, target)
        if wait > 0:
            return wait
        for limiter, key in self._limiters(client, target):
            limiter.hit(key)
        return 0.0

    def succeeded(self, client: str | None, target: str | None) -> None:
        """The attempt was right: it is no failure (its try still counts)."""
        if client is not None:
            self._client.refund(client)
        if target is not None:
            self._target.refund(target)

    def forget_target(self, target: str) -> None:
        """The target starts afresh, lock and all (a user's good login or new password)."""
        self._target.forget(target)

    def tracked(self) -> int:
        """Keys held now (clients and targets), for tests and metrics."""
        limiters = (self._tries, self._client, self._target)
        return sum(len(limiter) for limiter in limiters if limiter is not None)
