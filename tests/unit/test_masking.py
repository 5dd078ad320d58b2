"""A masked phone shows its last four digits at most, wherever it is shown."""

from __future__ import annotations

import pytest

from callcenter.tickets.privacy import MASKS, mask_phone


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13812345678", "*******5678"),  # a mobile: seven hidden, four shown
        ("+8613812345678", "**********5678"),
        ("010-62345678", "********5678"),  # separators are hidden too
        ("62345678", "****5678"),  # eight digits: four stay hidden besides
        ("2345678", "*******"),  # shorter: nothing shown
        ("12345", "*****"),
        ("110", "***"),
        ("", ""),
        ("anonymous", "*********"),
    ],
)
def test_a_masked_phone_shows_at_most_its_last_four_digits(phone: str, shown: str):
    assert mask_phone(phone) == shown


@pytest.mark.parametrize("length", range(0, 33))
def test_never_more_than_four_digits_and_never_the_first_ones(length: int):
    phone = "".join(str(i % 10) for i in range(1, length + 1))
    masked = mask_phone(phone)
    assert len(masked) == len(phone)
    assert sum(c.isdigit() for c in masked) <= 4
    assert masked[: max(0, length - 4)] == "*" * max(0, length - 4)


def test_names_and_addresses_keep_their_rules():
    assert MASKS["caller_name"]("王小红") == "王**"
    assert MASKS["address"]("阳光花园3栋") == "阳光****"
    assert MASKS["caller_phone"] is mask_phone
