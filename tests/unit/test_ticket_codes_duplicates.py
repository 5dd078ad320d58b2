"""Query codes and duplicate detection on realistic requests."""

from __future__ import annotations

from callcenter.tickets.codes import LENGTH, check_digit, is_valid_query_code, new_query_code
from callcenter.tickets.duplicates import Request, rank, score, similarity


def test_query_codes_are_short_digits_with_a_check_digit():
    codes = {new_query_code() for _ in range(2000)}
    # 9·10^7 codes: a repeat in 2,000 draws has odds of about 2% (the birthday
    # bound), ten repeats about 10^-25; a weak generator repeats far more.
    assert len(codes) >= 1990
    for code in codes:
        assert len(code) == LENGTH and code.isdigit() and code[0] != "0"
        assert is_valid_query_code(code)


def test_a_mistyped_digit_or_swapped_neighbours_are_caught():
    code = "4" + "2026112" + check_digit("42026112")
    assert is_valid_query_code(code)
    for i in range(LENGTH):
        wrong = code[:i] + str((int(code[i]) + 1) % 10) + code[i + 1 :]
        assert not is_valid_query_code(wrong)
    swapped = code[1] + code[0] + code[2:]
    assert code[0] == code[1] or not is_valid_query_code(swapped)
    assert not is_valid_query_code("12345") and not is_valid_query_code("12345678a")


OPEN = [
    Request("T1", "13800000001", "幸福小区3栋", "幸福小区3栋楼下烧烤摊每天晚上噪音扰民到凌晨两点"),
    Request(
        "T2", "13900000002", "建设路与人民路交叉口", "建设路与人民路交叉口的红绿灯坏了三天没人修"
    ),
    Request("T3", "13700000003", "阳光花园", "阳光花园小区停水两天了，物业不给说法"),
    Request("T4", "13600000004", "市民中心", "咨询新生儿医保怎么办理，需要带哪些材料"),
]


def test_the_same_matter_in_other_words_is_found_first():
    again = Request(
        "new",
        "13811112222",
        "幸福小区三栋",
        "你好，我要反映幸福小区3栋楼下的烧烤摊，晚上噪音很大，吵到凌晨",
    )
    [best, *_] = rank(again, OPEN)
    assert best.ticket_id == "T1" and best.text > 0.3


def test_the_same_caller_about_the_same_place_ranks_highest():
    again = Request("new", "13900000002", "建设路人民路路口", "建设路人民路路口红绿灯还是坏的")
    candidates = rank(again, OPEN)
    assert [c.ticket_id for c in candidates][:1] == ["T2"]
    assert candidates[0].same_phone


def test_different_matters_are_not_offered_as_duplicates():
    for text in (
        "幸福小区3栋电梯坏了有人被困",
        "建设路的公交站牌被撞倒了",
        "咨询公积金提取需要什么手续",
        "表扬阳光花园社区网格员服务热情",
    ):
        new = Request("new", "13512345678", "", text)
        assert rank(new, OPEN) == [], text


def test_similarity_ignores_punctuation_and_filler():
    assert similarity("您好，请问：停水了！", "停水了") == 1.0
    assert similarity("", "停水") == 0.0
    assert score(Request("a", "", "", "x"), Request("b", "", "", "y")).score == 0.0
