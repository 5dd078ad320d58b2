"""Query codes (查询码) a citizen types on a phone keypad.

Eight random digits plus a Luhn check digit: short enough to read out and
type, unguessable (10^8 codes, drawn with ``secrets``), and a mistyped digit
or two swapped neighbours are caught before any lookup. Uniqueness is the
database's job (a unique index; on a clash, draw again).
"""

from __future__ import annotations

import secrets

LENGTH = 9  # 8 random digits + 1 check digit


def _luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def check_digit(payload: str) -> str:
    return str((10 - _luhn_sum(payload + "0") % 10) % 10)


def new_query_code() -> str:
    payload = "".join(secrets.choice("0123456789") for _ in range(LENGTH - 1))
    if payload[0] == "0":  # read aloud, a leading zero gets dropped
        payload = str(secrets.choice(range(1, 10))) + payload[1:]
    return payload + check_digit(payload)


def is_valid_query_code(code: str) -> bool:
    return len(code) == LENGTH and code.isdigit() and _luhn_sum(code) % 10 == 0
