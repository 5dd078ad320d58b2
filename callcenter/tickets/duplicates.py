"""判重: is a new request the same matter as an open ticket?

Same caller, same place and similar wording each add to a score. Wording is
compared as sets of Chinese character bigrams (punctuation and filler dropped),
which finds the same matter told in other words without a word segmenter.
The agent sees the ranked candidates and decides whether to merge (并单).

A score is an oracle: if it moved with the phone or the address, whoever sees
them masked could guess one, ask, and watch the score (0.25 more for the
right phone). So a ticket whose personal data the reader sees masked is
scored, ranked and filtered on its wording alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Words that say nothing about the matter itself.
_FILLER = (
    "你好",
    "您好",
    "请问",
    "我想",
    "反映",
    "一下",
    "问题",
    "情况",
    "这个",
    "那个",
    "麻烦",
    "谢谢",
    "希望",
    "能够",
    "尽快",
    "处理",
    "解决",
    "我们",
    "我家",
    "有关",
)
_NOT_TEXT = re.compile(r"[^\w]|[_0-9a-zA-Z]")

WEIGHT_TEXT = 0.6
WEIGHT_PHONE = 0.25
WEIGHT_PLACE = 0.15
THRESHOLD = 0.4  # shown to the agent as a likely duplicate at or above this


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    phone: str
    address: str
    content: str
    # The reader sees this ticket's caller and place masked: leave them out.
    private: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    ticket_id: str
    score: float
    text: float
    same_phone: bool
    same_place: float


def _clean(text: str) -> str:
    for word in _FILLER:
        text = text.replace(word, "")
    return _NOT_TEXT.sub("", text)


def bigrams(text: str) -> frozenset[str]:
    chars = _clean(text)
    return frozenset(chars[i : i + 2] for i in range(len(chars) - 1))


def similarity(a: str, b: str) -> float:
    """Overlap of two texts' bigrams, 0–1: the share of the shorter text found in the other.

    A follow-up call is told shorter ("路灯还是没修好"); measured against the
    shorter text it is not penalised for what the first call said in detail.
    """
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / min(len(x), len(y))


def score(new: Request, old: Request) -> Candidate:
    text = similarity(new.content, old.content)
    same_phone = not old.private and bool(new.phone) and new.phone == old.phone
    compare_place = not old.private and bool(new.address and old.address)
    place = similarity(new.address, old.address) if compare_place else 0.0
    total = WEIGHT_TEXT * text + WEIGHT_PHONE * same_phone + WEIGHT_PLACE * place
    return Candidate(old.id, round(total, 3), round(text, 3), same_phone, round(place, 3))


def rank(
    new: Request, open_tickets: Iterable[Request], limit: int = 5, threshold: float = THRESHOLD
) -> Sequence[Candidate]:
    """The likeliest duplicates of ``new``, best first."""
    found = [c for c in (score(new, old) for old in open_tickets) if c.score >= threshold]
    return sorted(found, key=lambda c: -c.score)[:limit]
