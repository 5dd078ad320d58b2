"""Fixtures for the real stack: Asterisk 22 (chroot), the service, PostgreSQL, SIPp.

The stack is started by the tests themselves (through the project's scripts),
so `make test` works on a fresh machine. Every test ends by asserting that
Asterisk holds no channel or bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from callcenter.ari import AriClient, AriError, AriSettings
from callcenter.ari.events import Bridge, Channel
from tests.integration.stack import ROOT, Service, asterisk, start_department


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def asterisk_running() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.fail("integration tests run Asterisk in a chroot and need root (see README)")
    if shutil.which("sipp") is None:
        pytest.fail("sipp not found: run `make setup` (installs sip-tester)")
    asterisk("start")
    yield
    asterisk("stop")


@pytest.fixture(scope="session")
async def service_process(
    asterisk_running: None, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    service = Service(database_url, tmp_path_factory.mktemp("config"))
    yield service
    await service.stop()


@pytest.fixture
async def service(service_process: Service) -> Service:
    """The running service with the simple flow (welcome, hang up)."""
    await service_process.start()
    await service_process.use_flows("simple")
    return service_process


@pytest.fixture
async def hotline(service_process: Service) -> Service:
    """The running service with the real 12345 flows from ivr_flows/."""
    await service_process.start()
    await service_process.use_flows("default")
    return service_process


@pytest.fixture(scope="session")
async def ari(asterisk_running: None) -> AsyncIterator[AriClient]:
    password = (ROOT / "run" / "secrets" / "ari-password").read_text().strip()
    async with AriClient(
        AriSettings("http://127.0.0.1:8088", "hotline", password, app="hotline-tests")
    ) as client:
        yield client


@pytest.fixture(autouse=True)
async def no_leaks(ari: AriClient) -> AsyncIterator[None]:
    """After every integration test: no channel and no bridge left in Asterisk."""
    yield
    channels: list[Channel] = []
    bridges: list[Bridge] = []
    for _ in range(50):  # hangups settle within a moment of the test's end
        channels = await ari.list_channels()
        bridges = await ari.list_bridges()
        if not channels and not bridges:
            return
        await asyncio.sleep(0.2)
    # Cleared before failing, so the next test starts clean and is not blamed.
    for channel in channels:
        with contextlib.suppress(AriError):
            await ari.hangup(channel.id)
    for bridge in bridges:
        with contextlib.suppress(AriError):
            await ari.delete_bridge(bridge.id)
    pytest.fail(
        f"leaked in Asterisk: channels {[c.name for c in channels]}, "
        f"bridges {[b.id for b in bridges]}"
    )


@pytest.fixture
async def department() -> AsyncIterator[asyncio.subprocess.Process]:
    """A city department behind the dial-out trunk (SIPp UAS on 127.0.0.1:5090): it
    answers one call and exits 0 once that call got its BYE. Never outlives the test."""
    process = await start_department()
    yield process
    if process.returncode is None:
        process.kill()
        await process.wait()


@pytest.fixture
async def caller_prefix(db) -> str:
    """A number prefix unique to the test, to find its calls in the database;
    one no earlier run's call already carries, as the database outlives runs."""
    while True:
        prefix = "13" + "".join(secrets.choice("0123456789") for _ in range(7))
        async with db.connect() as conn:
            used = await conn.scalar(
                text("SELECT 1 FROM calls WHERE caller_number LIKE :p LIMIT 1"), {"p": prefix + "%"}
            )
        if used is None:
            return prefix
