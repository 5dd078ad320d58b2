"""The access log over HTTP, for auditors and admins: search it and export it.

Reading the log is itself logged (it holds what was searched for, phones
included); auditors give a reason for every read, everyone for an export.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import Row

from callcenter import spreadsheets
from callcenter.audit.access_log import Action, Subject
from callcenter.audit.search import AccessQuery, entry_view, masked_detail
from callcenter.tickets.privacy import sees_personal_data
from callcenter.users.roles import Role
from callcenter.web.access import (
    REASON_PARAMETER,
    REQUIRED_REASON_PARAMETER,
    reader,
    record,
)
from callcenter.web.auth import allowed
from callcenter.web.files import EXPORT_DOCUMENTED, Sheet, export_on_record
from callcenter.web.keys import ACCESS_READER, SETTINGS
from callcenter.web.openapi import documented
from callcenter.web.requests import parse_query
from callcenter.web.responses import json_ok
from callcenter.web.schemas import Out

READERS = frozenset({Role.AUDITOR, Role.ADMIN})
NOT_FILTERS = frozenset({"reason"})
LIMIT_SETTING = "audit.export_max_rows"
HEADINGS = ("时间", "用户", "角色", "地址", "对象", "对象编号", "操作", "详情", "事由")
SHEET = Sheet("access-log", "访问日志", HEADINGS, LIMIT_SETTING)


class AccessExportQuery(AccessQuery):
    format: spreadsheets.Format = spreadsheets.Format.CSV
    # An export has every page: paging is not in its document (and is ignored).
    page: SkipJsonSchema[int] = 1
    per_page: SkipJsonSchema[int] = 50


class AccessEntryOut(Out):
    id: int
    at: datetime
    actor: str
    role: str
    client_addr: str | None
    subject: str
    subject_id: str | None
    action: str
    detail: dict[str, Any]  # the route; ids shown and how many unmasked; filters; rows
    reason: str | None


class AccessPageOut(Out):
    total: int
    page: int
    per_page: int
    entries: list[AccessEntryOut]


@documented(
    "Who read which personal data, when, from where and why; newest first (auditors, admins)",
    tags=("audit",),
    roles=READERS,
    query=AccessQuery,
    parameters=[REASON_PARAMETER],
    response=AccessPageOut,
    errors={503: "The access log cannot be written: nothing is sent"},
)
async def search(request: web.Request) -> web.Response:
    who = await allowed(request, READERS, "read the access log")
    reading = reader(request, who, Action.SEARCH)
    query = parse_query(request, AccessQuery, ignore=NOT_FILTERS)
    found = await request.app[ACCESS_READER].page(query)
    masked = not sees_personal_data(who.role, confidential=False)
    await record(
        request,
        reading,
        Subject.ACCESS_LOG,
        Action.SEARCH,
        detail={"filters": query.filters(), "total": found.total, "shown": len(found.rows)},
    )
    return json_ok(
        {
            "total": found.total,
            "page": query.page,
            "per_page": query.per_page,
            "entries": [entry_view(row, masked=masked) for row in found.rows],
        }
    )


def _cells(row: Row[Any], *, masked: bool) -> list[str]:
    return [
        row.at.isoformat(),
        row.actor,
        row.role,
        row.client_addr or "",
        row.subject,
        row.subject_id or "",
        row.action,
        json.dumps(
            masked_detail(row.detail) if masked else row.detail, ensure_ascii=False, sort_keys=True
        ),
        row.reason or "",
    ]


@documented(
    "The access log as CSV or XLSX (a reason is required; more rows than "
    "audit.export_max_rows: refused with 422)",
    tags=("audit",),
    roles=READERS,
    query=AccessExportQuery,
    parameters=[REQUIRED_REASON_PARAMETER],
    responses={
        "200": EXPORT_DOCUMENTED,
    },
    errors={
        422: "More rows match than audit.export_max_rows",
        503: "The access log cannot be written: nothing is sent",
    },
)
async def export(request: web.Request) -> web.StreamResponse:
    who = await allowed(request, READERS, "export the access log")
    reading = reader(request, who, Action.EXPORT)
    query = parse_query(request, AccessExportQuery, ignore=NOT_FILTERS | {"page", "per_page"})
    log = request.app[ACCESS_READER]
    masked = not sees_personal_data(who.role, confidential=False)
    return await export_on_record(
        request,
        reading,
        Subject.ACCESS_LOG,
        SHEET,
        total=await log.count(query),
        cap=request.app[SETTINGS].audit.export_max_rows,
        batches=lambda limit: log.batches(query, limit=limit),
        cells=partial(_cells, masked=masked),
        fmt=query.format,
        filters=query.filters(),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/access-log", search)
    app.router.add_get("/api/v1/access-log/export", export)
