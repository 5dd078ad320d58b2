"""What a menu's prompt text tells the caller to press (ivr/menu_text.py)."""

from __future__ import annotations

import pytest

from callcenter.ivr.menu_text import spoken_keys


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("人工服务请按1，自助服务请按2，重听请按0。", {"1": "按1", "2": "按2", "0": "按0"}),
        ("人工服务请按零，投诉请按 3", {"0": "按零", "3": "按 3"}),
        ("返回主菜单请按星号键，结束请按井号键", {"*": "按星号键", "#": "按井号键"}),
        ("返回请按*键，确认请按#键", {"*": "按*键", "#": "按#键"}),
        ("确认请按＃号键", {"#": "按＃号键"}),
        ("输入完毕请按一下井号键", {"#": "按一下井号键"}),  # 按一下: "press once", not 1
        (
            "For an operator, press 1. English service, press nine.",
            {"1": "press 1", "9": "press nine"},
        ),
        ("Press the hash key to finish, press pound to skip", {"#": "Press the hash key"}),
        ("For the main menu, press star.", {"*": "press star"}),
        ("请拨打12345，或按12号键", {}),  # a number, not a phone key
        ("press 10 times", {}),
        ("中文服务请按9", {"9": "按9"}),
    ],
)
def test_spoken_keys(text: str, keys: dict[str, str]):
    assert spoken_keys(text) == keys
