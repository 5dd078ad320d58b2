"""Ticket lists as CSV and XLSX files for the centre's reports.

Rows are the same view as the API's (masked for the reader), so an export
never shows more than the screen would. The file is built off the event loop
by :mod:`callcenter.spreadsheets`; this module says which columns, in which
order, under which headings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (key in the ticket view, column heading)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("query_code", "查询码"),
    ("created_at", "受理时间"),
    ("channel", "渠道"),
    ("nature", "性质"),
    ("category_code", "分类"),
    ("subject", "标题"),
    ("status", "状态"),
    ("colour", "预警"),
    ("due_at", "时限"),
    ("district", "区县"),
    ("address", "地址"),
    ("caller_name", "来电人"),
    ("caller_phone", "电话"),
    ("content", "内容"),
)
HEADINGS = tuple(heading for _, heading in COLUMNS)
SHEET_TITLE = "工单"
# The setting that caps an export (named when one is refused).
LIMIT_SETTING = "tickets.export_max_rows"


def cells(view: Mapping[str, Any]) -> list[str]:
    """One ticket view as the export's cells, in column order."""
    return ["" if view.get(key) is None else str(view[key]) for key, _ in COLUMNS]
