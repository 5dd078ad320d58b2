"""Who sees a citizen's personal data (保密), and how everyone else sees it.

Names, phones and addresses are for the centre's roles that talk to the
citizen; a confidential ticket shows them only to supervisors and admins.
Everyone else sees them masked, and may not search by them either: a search
that confirms "this phone has a ticket" reveals as much as showing it.

A masked phone shows its last four digits at most: the citizens' lookup asks
for the whole number, and a mask that showed seven of eleven digits left a
guesser 10⁴ tries. Every view that masks (tickets, their trail, exports,
duplicates, call records, callbacks) masks with these functions.
"""

from __future__ import annotations

from collections.abc import Callable

from callcenter.users.roles import CENTRE, CENTRE_LEAD, Role

SEES_PERSONAL_DATA = CENTRE  # the roles that talk to citizens
SEES_CONFIDENTIAL = CENTRE_LEAD
PERSONAL_FIELDS = ("caller_name", "caller_phone", "address")

SHOWN_DIGITS = 4  # a masked phone shows at most its last four digits ...
HIDDEN_DIGITS_AT_LEAST = 4  # ... and only when at least four others stay hidden


def sees_personal_data(role: Role, confidential: bool) -> bool:
    return role in SEES_PERSONAL_DATA and (not confidential or role in SEES_CONFIDENTIAL)


def mask_phone(phone: str) -> str:
    """``*******5678``: every character but the last four digits hidden; a number
    too short to keep four digits hidden besides is hidden whole."""
    digits = sum(c.isdigit() for c in phone)
    shown = SHOWN_DIGITS if digits >= SHOWN_DIGITS + HIDDEN_DIGITS_AT_LEAST else 0
    out: list[str] = []
    for c in reversed(phone):
        if shown and c.isdigit():
            out.append(c)
            shown -= 1
        else:
            out.append("*")
    return "".join(reversed(out))


def mask_text(value: str, keep: int) -> str:
    """The first ``keep`` characters, the rest hidden (names, addresses)."""
    return value[:keep] + "*" * max(0, len(value) - keep) if value else value


MASKS: dict[str, Callable[[str], str]] = {
    "caller_name": lambda value: mask_text(value, 1),
    "caller_phone": mask_phone,
    "address": lambda value: mask_text(value, 2),
}
