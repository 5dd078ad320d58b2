"""The live service against its own API document: schemathesis generates valid
and invalid requests for every operation, sent with a token of each role and
with none. Every answer must be a documented status with the documented content
type and body, never a 5xx, and never a 2xx to a role the operation's ``x-roles``
leaves out (or, without a token, to any protected operation: those answer 401).

What it may change (the service runs for the other tests too):
- requests that would act on something live (an agent's state, a user, a call)
  name nothing that exists: their path's string ids are fixed to NOBODY, so
  they are validated and then answer 404; call ids are random UUIDs already;
- logging out (DELETE /api/v1/auth/token) ends a token made for that request;
- reloads (IVR, roster) run for real: they re-read unchanged files;
- tickets, knowledge base entries and users with generated contents are created
  in the test database (the ticket search's ranking tests tag their own rows).
Every request comes from FUZZ_ADDRESS, so the lockouts it provokes (logins,
public lookups) bind that address and not 127.0.0.1, where the other tests are.

Bounded: EXAMPLES valid and EXAMPLES invalid requests per operation and role,
no shrinking, no deadline; ``API_FUZZ_EXAMPLES=100`` for a deeper run.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from callcenter.users.roles import Role
from tests.integration.stack import HTTP, PASSWORD, add_user, token

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
FUZZ_ADDRESS = "127.0.0.77"
NOBODY = "nobody-fuzz"
LOGOUT = ("DELETE", "/api/v1/auth/token")
ANONYMOUS = "anonymous"
AUDIT_REASON = "API contract test"
MAX_REPORTED = 3  # failures shown per operation and mode
CONFIG = {
    # The document says text holds no NUL (PostgreSQL stores none): the service
    # refuses it with 400 (tests/unit/test_request_edges.py), so valid data has none.
    "generation": {"allow-x00": False},
    # Schema-valid data may still break a rule the schema cannot state (422).
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
        }
    },
}


class FromAddress(HTTPAdapter):
    """Connections from ``FUZZ_ADDRESS`` (any 127/8 address reaches loopback)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (FUZZ_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)


def fuzz_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress())
    return session


def not_a_server_error(ctx: CheckContext, response: schemathesis.Response, case: Any) -> None:
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")


def role_check(role: str) -> Callable[..., None]:
    """No 2xx to a role the operation does not admit (``x-roles``); without a
    token a protected operation answers 401, whatever else is wrong."""

    def refused_as_declared(ctx: CheckContext, response: schemathesis.Response, case: Any) -> None:
        definition = case.operation.definition.raw
        if not definition.get("security", [{"bearer": []}]):
            return  # open to all
        status = response.status_code
        if role == ANONYMOUS:
            if status != 401:
                raise AssertionError(f"without a token: {status}, not 401")
        elif 200 <= status < 300 and role not in definition.get("x-roles", ()):
            raise AssertionError(
                f"{role} got {status}; x-roles admits only {definition.get('x-roles')}"
            )

    refused_as_declared.__name__ = "refused_as_declared"
    return refused_as_declared


CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]


def fixed_path(operation: Any) -> dict[str, str]:
    """Path ids of an operation that changes something: fixed to name nothing."""
    if operation.method.upper() == "GET":
        return {}
    fixed = {}
    for param in operation.definition.raw.get("parameters", ()):
        schema = param.get("schema", {})
        if param.get("in") == "path" and schema.get("type") == "string" and "format" not in schema:
            fixed[param["name"]] = NOBODY
    return fixed


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    role: str,
    send: Callable[[Any, GenerationMode], tuple[requests.Response, dict[str, str]]],
) -> list[str]:
    """EXAMPLES requests of ``mode``; the failures, at most MAX_REPORTED."""
    checks = [*CHECKS, not_a_server_error, role_check(role)]
    found: list[str] = []
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=fixed_path(operation) or None
    )

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        response, sent = send(case, mode)
        try:
            case.validate_response(response, checks=checks, headers=sent)
        except FailureGroup as failed:  # note it, keep generating
            if len(found) < MAX_REPORTED:
                found.append(f"{role} {operation.label} [{mode.value}]: {failed}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to make invalid (no parameters, no body)
    return found


def fuzz(
    schema: Any,
    role: str,
    headers: dict[str, str],
    fresh: Callable[[], dict],
    answers: Counter[str],
) -> list[str]:
    """Every operation, valid and invalid requests: the failures found; ``answers``
    counts the statuses by operation (a run of nothing but 400s proves little)."""
    session = fuzz_session()
    findings: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        logout = (operation.method.upper(), operation.path) == LOGOUT and role != ANONYMOUS
        owes_reason = role == Role.AUDITOR and any(
            p.get("in") == "query" and p.get("name") == "reason"
            for p in operation.definition.raw.get("parameters", ())
        )

        def send(
            case: Any,
            mode: GenerationMode,
            logout: bool = logout,
            owes_reason: bool = owes_reason,
        ) -> tuple[requests.Response, dict[str, str]]:
            sent = fresh() if logout else headers
            positive = mode is GenerationMode.POSITIVE
            if owes_reason and positive and case.query is not None and "reason" not in case.query:
                # Auditors owe a reason for every read (422 without one): give it
                # where a valid case has none, so their reads reach the handlers.
                # Never to an invalid case: one whose fault was the missing reason
                # would then be a valid request, wrongly seen as "accepted".
                case.query["reason"] = AUDIT_REASON
            response = case.call(session=session, headers=sent, timeout=30)
            answers[f"{case.operation.label} {response.status_code}"] += 1
            return response, sent

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            findings += fuzz_operation(operation, mode, role, send)
    return findings


async def role_headers(service: Any, role: str) -> tuple[dict[str, str], str]:
    """A user of ``role`` made for this run, and their token's header."""
    name = f"fuzz-{role}-{uuid.uuid4().hex[:6]}"
    department = None
    async with aiohttp.ClientSession() as http:
        if role == Role.DEPARTMENT:
            async with http.get(f"{HTTP}/api/v1/departments", headers=await service.admin()) as r:
                department = (await r.json())[0]["code"]
        await add_user(service.database_url, name, role, department)
        return await token(http, name), name


@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", [*(r.value for r in Role), ANONYMOUS])
async def test_every_operation_keeps_its_contract(service, role):
    if role == ANONYMOUS:
        headers, name = {}, ""
    else:
        headers, name = await role_headers(service, role)

    def fresh() -> dict[str, str]:
        answer = requests.post(
            f"{HTTP}/api/v1/auth/token", json={"username": name, "password": PASSWORD}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    schema = schemathesis.openapi.from_url(
        f"{HTTP}/api/openapi.json", config=schemathesis.Config.from_dict(CONFIG)
    )
    started = time.monotonic()
    answers: Counter[str] = Counter()
    findings = await asyncio.to_thread(fuzz, schema, role, headers, fresh, answers)
    by_class = Counter(f"{key.rsplit(' ', 1)[1][0]}xx" for key in answers.elements())
    print(
        f"\n{role}: {sum(answers.values())} requests in {time.monotonic() - started:.0f} s "
        f"({dict(sorted(by_class.items()))}), {len(findings)} findings"
    )
    assert not findings, "\n\n".join(findings)
    admitted = {
        f"{method.upper()} {path}"
        for path, ops in schema.raw_schema["paths"].items()
        for method, op in ops.items()
        # Reads of one record by its id are left out: random ids name none (404).
        if role in op.get("x-roles", ()) and method == "get" and "{" not in path
    }
    answered = {key.rsplit(" ", 1)[0] for key in answers if key.endswith(" 200")}
    # Reads this role may make did answer 200 at least once: the run reached the handlers.
    assert admitted <= answered, sorted(admitted - answered)


async def test_text_with_nul_is_refused_not_a_server_error(service):
    """PostgreSQL stores no NUL in text: the fuzz found 500s for a NUL in a ticket's
    subject, a search's text and a knowledge base tag; now 400 naming the field."""
    admin = await service.admin()
    ticket = {"nature": "consultation", "subject": "停水\u0000", "content": "x"}
    entry = {"question": "q", "answer": "a", "valid_from": "2026-01-01", "tags": ["\u0000"]}
    async with aiohttp.ClientSession(headers=admin) as http:
        for method, path, kwargs, named in (
            ("POST", "/api/v1/tickets", {"json": ticket}, "subject"),
            ("POST", "/api/v1/kb", {"json": entry}, "tags.0"),
            ("GET", "/api/v1/tickets", {"params": {"text": "水\u0000"}}, "text"),
            ("GET", "/api/v1/public/tickets/1%002", {"params": {"phone": "1"}}, "path"),
        ):
            async with http.request(method, f"{HTTP}{path}", **kwargs) as resp:
                assert resp.status == 400, (path, await resp.text())
                assert resp.content_type == "application/problem+json"
                assert named in (await resp.json())["detail"]
