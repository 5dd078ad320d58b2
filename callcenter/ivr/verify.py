"""Is the caller the citizen who gave this request? Their number, or its last four digits.

A query code alone is not proof: it is printed on receipts and read out on
the phone. The status is spoken to a caller who calls from the number given
at intake, or who types that number's last four digits.
"""

from __future__ import annotations

DIGITS_ASKED = 4
MIN_NATIONAL_DIGITS = 7  # shorter is no number worth comparing (an extension, "anonymous")


def national(number: str) -> str:
    """Digits only, without China's country code or a trunk prefix 0:
    +86 138…, 0086 138…, 0138… and 138… are one number."""
    digits = "".join(c for c in number if c.isdigit())
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 13:
        digits = digits[2:]
    return digits.lstrip("0")


def same_number(caller: str, given: str) -> bool:
    a, b = national(caller), national(given)
    return len(a) >= MIN_NATIONAL_DIGITS and a == b


def last_digits(given: str) -> str | None:
    """The digits a caller must type for ``given``; None when it has too few to ask."""
    digits = "".join(c for c in given if c.isdigit())
    return digits[-DIGITS_ASKED:] if len(digits) >= 2 * DIGITS_ASKED else None
