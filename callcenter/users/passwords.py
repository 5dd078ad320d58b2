"""Password hashes: argon2id, run in a small pool of threads off the event loop.

The loop that drives ARI must never spend 30 ms hashing, and an unknown user
name must cost exactly what a wrong password costs (else the time tells which
names exist): :meth:`Passwords.check` verifies against a fixed dummy hash when
there is no user. Hashes from before argon2 (``scrypt$salt$digest``) and
argon2 hashes with weaker parameters than today's are still accepted and
reported as needing a rehash, which the login does with the password it has.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from callcenter.errors import CallCenterError

# OWASP's first argon2id configuration: 19 MiB, 2 passes, 1 lane (≈ 30 ms on one core).
ARGON2 = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # what the hashes before argon2 used
T = TypeVar("T")


class LoginBusy(CallCenterError):
    """Too many logins are waiting for a hashing thread: try again in a second."""

    title = "Too many logins at once"
    retry_after = 1


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    needs_rehash: bool = False


class Hasher(Protocol):
    """The blocking part (runs in a worker thread); tests count its calls."""

    def hash(self, password: str) -> str: ...

    def verify(self, stored: str, password: str) -> Verdict: ...


class Argon2Hasher:
    """argon2id with ``params``; also reads the scrypt hashes written before it."""

    def __init__(
        self,
        time_cost: int = ARGON2["time_cost"],
        memory_cost: int = ARGON2["memory_cost"],
        parallelism: int = ARGON2["parallelism"],
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> Verdict:
        if stored.startswith("scrypt$"):
            return Verdict(_check_scrypt(password, stored), needs_rehash=True)
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(False)
        return Verdict(True, self._hasher.check_needs_rehash(stored))


def _check_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt, digest = stored.split("$")
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt, validate=True), dklen=32, **_SCRYPT
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def scrypt_hash(password: str, salt: bytes) -> str:
    """A hash as the service wrote them before argon2 (tests of the upgrade)."""
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class Passwords:
    """Hashing off the event loop, in at most ``workers`` threads of its own (a login
    flood cannot take the threads other work needs; by default half the cores, so
    the event loop and Asterisk's media keep the rest); more than ``max_waiting``
    logins queued are refused with :class:`LoginBusy` instead of piling up."""

    def __init__(
        self,
        hasher: Hasher | None = None,
        workers: int | None = None,
        max_waiting: int = 64,
    ) -> None:
        self.hasher = hasher or Argon2Hasher()
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2) // 2))
        self.max_waiting = max_waiting
        self._pool: ThreadPoolExecutor | None = None
        self._queued = 0
        self._dummy: str | None = None
        self._dummy_made = asyncio.Lock()

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self._queued >= self.max_waiting:
            raise LoginBusy("too many logins at once; try again in a second")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="passwords")
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._queued -= 1

    @property
    def queued(self) -> int:
        """Logins waiting for or running in a hashing thread."""
        return self._queued

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password)

    async def check(self, stored: str | None, password: str) -> Verdict:
        """``stored`` None (no such user): the same work against a dummy hash, never ok."""
        async with self._dummy_made:  # made once, by whichever login comes first
            if self._dummy is None:
                self._dummy = await self.hash(os.urandom(16).hex())
        if stored is None:
            await self._run(self.hasher.verify, self._dummy, password)
            return Verdict(False)
        return await self._run(self.hasher.verify, stored, password)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
