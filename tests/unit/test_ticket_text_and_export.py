"""Chinese search terms, and the CSV/XLSX exports as a spreadsheet reads them."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from pydantic import ValidationError

from callcenter.spreadsheets import Format, build
from callcenter.tickets.export import COLUMNS, HEADINGS, SHEET_TITLE, cells
from callcenter.tickets.search import TicketQuery
from callcenter.tickets.textsearch import terms


def test_chinese_becomes_bigrams_and_latin_words_stay_whole():
    assert terms("小区停水") == ["小区", "区停", "停水"]
    assert terms("水") == ["水"]  # a lone character is still searchable
    assert terms("WiFi信号差，5G不行") == ["信号", "号差", "不行", "wifi", "5g"]
    assert terms("，。！？ ") == []


ROWS = [
    {"query_code": "123456782", "subject": "小区停水", "caller_phone": "****1111"},
    {"query_code": "987654324", "subject": '含逗号,和"引号"', "content": "多行\n内容"},
    {"query_code": "555555553", "subject": '=HYPERLINK("http://x")', "content": "垂直\x0b制表"},
]


async def _batches():
    yield ROWS[:2]
    yield ROWS[2:]


async def _export(fmt: Format) -> bytes:
    with await build(
        _batches(), cells, fmt, HEADINGS, title=SHEET_TITLE, max_rows=10, limit_name="x"
    ) as built:
        assert built.rows == 3
        data = built.file.read()
        assert len(data) == built.size
        return data


async def test_csv_opens_in_excel_with_chinese_headers_and_quoted_cells():
    data = await _export(Format.CSV)
    assert data.startswith("\ufeff".encode())  # the BOM Excel needs for UTF-8
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert table[0] == [heading for _, heading in COLUMNS]
    subject = [k for k, _ in COLUMNS].index("subject")
    content = [k for k, _ in COLUMNS].index("content")
    assert table[2][subject] == '含逗号,和"引号"' and table[2][content] == "多行\n内容"
    assert table[3][subject] == '\'=HYPERLINK("http://x")'  # shown as text, never run
    assert len(table) == 4


async def test_xlsx_has_a_header_row_and_one_row_per_ticket():
    book = load_workbook(io.BytesIO(await _export(Format.XLSX)))
    sheet = book["工单"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:2] == ["查询码", "受理时间"]
    assert values[1][0] == "123456782" and values[1][5] == "小区停水"
    formula = sheet.cell(row=4, column=6)
    assert (formula.value, formula.data_type) == ('=HYPERLINK("http://x")', "s")  # text
    assert values[3][-1] == "垂直制表"  # a control character a workbook cannot hold
    assert len(values) == 4


def test_search_filters_are_validated():
    with pytest.raises(ValidationError, match="created_from is after created_to"):
        TicketQuery(created_from="2026-11-02", created_to="2026-11-01")
    with pytest.raises(ValidationError):
        TicketQuery(colour="purple")
    with pytest.raises(ValidationError):
        TicketQuery(per_page=10_000)
    with pytest.raises(ValidationError):
        TicketQuery(status=["lost"])
