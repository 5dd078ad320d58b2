"""Users and their tokens: scrypt password hashes; tokens stored only as sha256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import ApiToken, Department, User
from callcenter.errors import CallCenterError
from callcenter.tickets.service import Actor
from callcenter.tickets.workflow import Role

TOKEN_LIFETIME = timedelta(hours=12)
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class UserError(CallCenterError):
    title = "User error"


class Unauthorized(UserError):
    title = "Unauthorized"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
    return hmac.compare_digest(got, base64.b64decode(digest))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def add(
        self, name: str, role: Role, password: str, department: str | None = None
    ) -> None:
        if not _NAME.match(name):
            raise UserError(f"user name {name!r}: letters, digits and _.@- only")
        if len(password) < 8:
            raise UserError("the password needs at least 8 characters")
        if (role is Role.DEPARTMENT) != (department is not None):
            raise UserError("--department is required for department users, and only for them")
        async with self.sessions.begin() as session:
            if department is not None and await session.get(Department, department) is None:
                raise UserError(f"unknown department {department!r}")
            if await session.get(User, name) is not None:
                raise UserError(f"user {name!r} exists already")
            session.add(
                User(
                    name=name,
                    role=role.value,
                    department_code=department,
                    password_hash=hash_password(password),
                    created_at=datetime.now(UTC),
                )
            )

    async def token(self, name: str, password: str) -> str:
        async with self.sessions.begin() as session:
            user = await session.get(User, name)
            # Same answer, same work, whether the user exists or the password is wrong.
            stored = user.password_hash if user else hash_password(secrets.token_hex(8))
            if not check_password(password, stored) or user is None:
                raise Unauthorized("wrong user name or password")
            token = secrets.token_urlsafe(32)
            now = datetime.now(UTC)
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
            if row is None or row.expires_at < datetime.now(UTC):
                raise Unauthorized("the token is unknown or expired; ask for a new one")
            user = await session.get(User, row.user_name)
        if user is None:
            raise Unauthorized("the token's user no longer exists")
        return Actor(user.name, Role(user.role), user.department_code)
