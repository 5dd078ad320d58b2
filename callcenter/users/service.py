"""Users and their tokens: argon2id password hashes, tokens stored only as sha256.

Logins hash in worker threads (:mod:`callcenter.users.passwords`), do the same
work whether the user exists or not, and are throttled per user name and per
client address (:mod:`callcenter.users.throttle`). A disabled user has no
token left and gets no new one; there is always one enabled admin.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import ApiToken, Department, User
from callcenter.users.errors import (
    NoSeat,
    TooManyAttempts,
    Unauthorized,
    UserConflict,
    UserError,
    UserNotFound,
)
from callcenter.users.passwords import Passwords
from callcenter.users.roles import Actor, Role
from callcenter.users.throttle import LoginThrottle

__all__ = ["TOKEN_LIFETIME", "Unauthorized", "UserError", "UserService", "UserView"]

TOKEN_LIFETIME = timedelta(hours=12)
NAME = r"^[A-Za-z0-9_.@-]{1,64}$"
AGENT_ID = r"^[0-9A-Za-z_-]{1,32}$"  # users.seat names an agent of agents/roster.yaml
_NAME = re.compile(NAME)
_AGENT_ID = re.compile(AGENT_ID)
# Who listens, whispers and barges, and so may carry a seat.
SEATED = frozenset({Role.SUPERVISOR, Role.ADMIN})
WRONG = "wrong user name or password"


class Keep(enum.Enum):
    """``seat=KEEP``: leave the seat as it is (None takes it away)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class UserView:
    name: str
    role: Role
    department: str | None
    seat: str | None
    created_at: datetime
    disabled_at: datetime | None
    tokens: int  # live tokens

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role.value,
            "department": self.department,
            "seat": self.seat,
            "created_at": self.created_at.isoformat(),
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
            "enabled": self.disabled_at is None,
            "tokens": self.tokens,
        }


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_rules(password: str) -> None:
    if not 8 <= len(password) <= 256:
        raise UserError("password: between 8 and 256 characters")


def _check_seat(role: Role, seat: str | None, seats: Collection[str] | None) -> None:
    if seat is None:
        return
    if role not in SEATED:
        raise UserError(f"seat: only {', '.join(sorted(r.value for r in SEATED))} users have one")
    if not _AGENT_ID.match(seat):
        raise UserError(f"seat: {seat!r} is not an agent id")
    if seats is not None and seat not in seats:
        raise UserError(f"seat: no agent {seat!r} in the roster")


class UserService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        passwords: Passwords | None = None,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.passwords = passwords or Passwords()
        self.throttle = throttle or LoginThrottle(time.monotonic)
        self.clock = clock

    def close(self) -> None:
        self.passwords.close()

    # -- logins and tokens ---------------------------------------------------

    async def token(self, name: str, password: str, client: str | None = None) -> str:
        """A new token; 401 for a wrong name or password alike, 429 while locked.

        The attempt counts as a failure from the start (taken back only when the
        password is right), so guesses in flight together cannot outrun the lockout.
        """
        wait = self.throttle.attempt(name, client)
        if wait:
            raise TooManyAttempts(wait)
        async with self.sessions() as session:
            user = await session.get(User, name)
        stored = user.password_hash if user else None
        verdict = await self.passwords.check(stored, password)
        if user is None or not verdict.ok:
            raise Unauthorized(WRONG)
        if user.disabled_at is not None:
            raise Unauthorized(WRONG)  # told apart only by someone who knows the password
        self.throttle.succeeded(name, client)
        rehashed = await self.passwords.hash(password) if verdict.needs_rehash else None
        token = secrets.token_urlsafe(32)
        now = self.clock()
        async with self.sessions.begin() as session:
            # Removed or disabled while the hash ran: no token (and no foreign-key error).
            user = await session.get(User, name, with_for_update={"read": True})
            if user is None or user.disabled_at is not None:
                raise Unauthorized(WRONG)
            if rehashed is not None:  # unless the password was changed meanwhile
                await session.execute(
                    update(User)
                    .where(User.name == name, User.password_hash == stored)
                    .values(password_hash=rehashed)
                )
            await session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
            session.add(
                ApiToken(
                    token_sha256=_token_hash(token),
                    user_name=name,
                    created_at=now,
                    expires_at=now + TOKEN_LIFETIME,
                )
            )
        return token

    async def actor(self, token: str) -> Actor:
        async with self.sessions() as session:
            row = await session.get(ApiToken, _token_hash(token))
            if row is None or row.expires_at < self.clock():
                raise Unauthorized("the token is unknown or expired; ask for a new one")
            user = await session.get(User, row.user_name)
        if user is None or user.disabled_at is not None:
            raise Unauthorized("the token's user no longer exists or is disabled")
        return Actor(user.name, Role(user.role), user.department_code)

    async def logout(self, token: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                delete(ApiToken).where(ApiToken.token_sha256 == _token_hash(token))
            )

    async def revoke(self, name: str, keep: str | None = None) -> int:
        """End every token of ``name`` (but ``keep``, the caller's own); how many ended."""
        async with self.sessions.begin() as session:
            await self._user(session, name)
            return await self._end_tokens(session, name, keep)

    @staticmethod
    async def _end_tokens(session: AsyncSession, name: str, keep: str | None = None) -> int:
        query = delete(ApiToken).where(ApiToken.user_name == name)
        if keep is not None:
            query = query.where(ApiToken.token_sha256 != _token_hash(keep))
        result = await session.execute(query)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- the users themselves ------------------------------------------------

    async def add(
        self,
        name: str,
        role: Role,
        password: str,
        department: str | None = None,
        seat: str | None = None,
        seats: Collection[str] | None = None,
    ) -> UserView:
        """``seats``: the roster's agent ids, when the caller knows them."""
        if not _NAME.match(name):
            raise UserError(f"name: {name!r}: 1-64 letters, digits and _.@- only")
        check_password_rules(password)
        if (role is Role.DEPARTMENT) != (department is not None):
            raise UserError("department: required for department users, and only for them")
        _check_seat(role, seat, seats)
        password_hash = await self.passwords.hash(password)
        async with self.sessions.begin() as session:
            if department is not None and await session.get(Department, department) is None:
                raise UserError(f"department: unknown department {department!r}")
            if await session.get(User, name) is not None:
                raise UserConflict(f"user {name!r} exists already")
            user = User(
                name=name,
                role=role.value,
                department_code=department,
                password_hash=password_hash,
                created_at=self.clock(),
                seat=seat,
            )
            session.add(user)
        return _view(user, 0)

    async def users(self) -> list[UserView]:
        now = self.clock()
        live = (
            select(ApiToken.user_name, func.count().label("n"))
            .where(ApiToken.expires_at >= now)
            .group_by(ApiToken.user_name)
            .subquery()
        )
        async with self.sessions() as session:
            rows = await session.execute(
                select(User, func.coalesce(live.c.n, 0))
                .outerjoin(live, live.c.user_name == User.name)
                .order_by(User.name)
            )
            return [_view(user, n) for user, n in rows.all()]

    async def get(self, name: str) -> UserView:
        for user in await self.users():  # few users; one query shape
            if user.name == name:
                return user
        raise UserNotFound(f"no user {name!r}")

    async def change(
        self,
        name: str,
        *,
        disabled: bool | None = None,
        seat: str | Keep | None = KEEP,
        password: str | None = None,
        keep_token: str | None = None,
        seats: Collection[str] | None = None,
    ) -> UserView:
        """All or nothing, in one transaction. Disabling ends every token at once; a
        new password ends every token but ``keep_token`` (the one asking)."""
        if password is not None:
            check_password_rules(password)
        password_hash = await self.passwords.hash(password) if password is not None else None
        async with self.sessions.begin() as session:
            admins = await self._enabled_admins(session) if disabled else []
            user = await self._user(session, name, for_update=True)
            if not isinstance(seat, Keep):
                _check_seat(Role(user.role), seat, seats)
                user.seat = seat
            if password_hash is not None:
                user.password_hash = password_hash
                await self._end_tokens(session, name, keep_token)
            if disabled:
                if user.disabled_at is None:
                    _not_the_last_admin(admins, user, "disable")
                    user.disabled_at = self.clock()
                await self._end_tokens(session, name)
            elif disabled is False:
                user.disabled_at = None
        if password is not None:
            self.throttle.reset(name)  # an admin's reset lifts a lockout
        return await self.get(name)

    async def disable(self, name: str) -> UserView:
        return await self.change(name, disabled=True)

    async def enable(self, name: str) -> UserView:
        return await self.change(name, disabled=False)

    async def passwd(self, name: str, password: str, keep_token: str | None = None) -> UserView:
        return await self.change(name, password=password, keep_token=keep_token)

    async def set_seat(
        self, name: str, seat: str | None, seats: Collection[str] | None = None
    ) -> UserView:
        return await self.change(name, seat=seat, seats=seats)

    async def remove(self, name: str) -> None:
        async with self.sessions.begin() as session:
            admins = await self._enabled_admins(session)
            user = await self._user(session, name, for_update=True)
            _not_the_last_admin(admins, user, "remove")
            await session.execute(delete(User).where(User.name == name))  # tokens cascade

    async def seat_of(self, name: str) -> str:
        """The agent id whose seat rings when ``name`` supervises a call."""
        async with self.sessions() as session:
            user = await session.get(User, name)
        if user is None or user.seat is None:
            raise NoSeat(
                f"user {name} has no seat to listen from; an admin sets one "
                f"(callcenter users seat {name} AGENT_ID, or PATCH /api/v1/users/{name})"
            )
        return user.seat

    @staticmethod
    async def _user(session: AsyncSession, name: str, for_update: bool = False) -> User:
        user = await session.get(User, name, with_for_update=for_update)
        if user is None:
            raise UserNotFound(f"no user {name!r}")
        return user

    @staticmethod
    async def _enabled_admins(session: AsyncSession) -> list[str]:
        """Locked, in one order, before the user's row: two admins disabling each
        other at once take turns, and the second sees the first's change."""
        query = (
            select(User.name)
            .where(User.role == Role.ADMIN.value, User.disabled_at.is_(None))
            .order_by(User.name)
            .with_for_update()
        )
        return list((await session.scalars(query)).all())


def _not_the_last_admin(admins: list[str], user: User, doing: str) -> None:
    if user.role == Role.ADMIN.value and user.disabled_at is None and set(admins) <= {user.name}:
        raise UserConflict(f"cannot {doing} {user.name}: the last enabled admin")


def _view(user: User, tokens: int) -> UserView:
    return UserView(
        user.name,
        Role(user.role),
        user.department_code,
        user.seat,
        user.created_at,
        user.disabled_at,
        tokens,
    )
