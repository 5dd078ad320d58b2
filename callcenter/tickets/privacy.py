"""Who sees a citizen's personal data (保密).

Names, phones and addresses are for the centre's roles that talk to the
citizen; a confidential ticket shows them only to supervisors and admins.
Everyone else sees them masked, and may not search by them either: a search
that confirms "this phone has a ticket" reveals as much as showing it.
"""

from __future__ import annotations

from callcenter.tickets.workflow import CENTRE, CENTRE_LEAD, Role

SEES_PERSONAL_DATA = CENTRE  # the roles that talk to citizens
SEES_CONFIDENTIAL = CENTRE_LEAD
PERSONAL_FIELDS = ("caller_name", "caller_phone", "address")


def sees_personal_data(role: Role, confidential: bool) -> bool:
    return role in SEES_PERSONAL_DATA and (not confidential or role in SEES_CONFIDENTIAL)
