"""The real argon2id hasher with cheap parameters, its work counted (unit and db tests)."""

from __future__ import annotations

import threading

from callcenter.users.passwords import Argon2Hasher, Verdict

CHEAP = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}  # fast, for tests only


class Counting:
    """The real hasher, its calls counted, and the threads they ran in."""

    def __init__(self, inner: Argon2Hasher) -> None:
        self.inner = inner
        self.hashes = 0
        self.verifies = 0
        self.threads: set[int] = set()

    def hash(self, password: str) -> str:
        self.hashes += 1
        self.threads.add(threading.get_ident())
        return self.inner.hash(password)

    def verify(self, stored: str, password: str) -> Verdict:
        self.verifies += 1
        self.threads.add(threading.get_ident())
        return self.inner.verify(stored, password)
