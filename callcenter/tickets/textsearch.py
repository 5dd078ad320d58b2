"""Chinese full-text search on PostgreSQL without a Chinese parser.

PostgreSQL's parsers do not split Chinese into words, and zhparser/jieba are
not in a stock install. Character bigrams are: a text becomes the set of its
overlapping two-character pieces (plus Latin words and numbers whole), stored
as a ``tsvector`` with a GIN index. A query matches any of its bigrams and is
ranked by how many it shares, so "停水了怎么办" finds "小区突然停水如何处理".
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, cast, func, literal, literal_column
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY, TSVECTOR
from sqlalchemy.types import Text

# Runs of Chinese characters; runs of Latin letters or digits.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z]+")
MAX_QUERY_TERMS = 64  # a pasted essay is not a better query


def terms(text: str) -> list[str]:
    """The lexemes of ``text``: Chinese bigrams (a lone character stays whole) and words."""
    text = text.lower()
    found: dict[str, None] = {}
    for run in _HAN.findall(text):
        if len(run) == 1:
            found[run] = None
        for i in range(len(run) - 1):
            found[run[i : i + 2]] = None
    for word in _WORD.findall(text):
        found[word] = None
    return list(found)


def to_vector(text: str, weight: str = "D") -> ColumnElement[TSVECTOR]:
    """The SQL expression storing ``text``'s lexemes (no parser, no stemming).

    ``weight`` A–D: ranking counts a match in an A part (a title) most.
    """
    if weight not in ("A", "B", "C", "D"):
        raise ValueError(f"weight must be A, B, C or D, not {weight!r}")
    lexemes = literal(terms(text), ARRAY(Text))
    # An untyped literal: setweight takes PostgreSQL's one-byte "char".
    return func.setweight(func.array_to_tsvector(lexemes), literal_column(f"'{weight}'"))


def ticket_vector(subject: str, content: str) -> ColumnElement[TSVECTOR]:
    """What a ticket is found by: its wording, not the caller's address (personal data)."""
    return to_vector(f"{subject} {content}")


def to_query(text: str) -> ColumnElement[str] | None:
    """Any of the query's lexemes; ``None`` when it has none (nothing to search for)."""
    lexemes = terms(text)[:MAX_QUERY_TERMS]
    if not lexemes:
        return None
    # Lexemes hold only letters and digits, so quoting them is safe.
    return cast(literal(" | ".join(f"'{t}'" for t in lexemes)), TSQUERY)
