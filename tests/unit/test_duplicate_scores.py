"""判重 scores shown to a reader who sees a ticket's caller masked say nothing of the caller."""

from __future__ import annotations

from callcenter.tickets.duplicates import THRESHOLD, Request, rank, score

NEW = Request("new", "13812345678", "阳光花园3栋", "阳光花园小区停水两天了")


def test_the_phone_and_place_move_the_score_a_reader_may_compare():
    same = score(NEW, Request("a", "13812345678", "阳光花园3栋", "阳光花园停水两天"))
    other = score(NEW, Request("b", "13900000000", "阳光花园3栋", "阳光花园停水两天"))
    assert same.same_phone and not other.same_phone
    assert same.score - other.score == 0.25


def test_two_candidates_differing_only_in_the_phone_score_the_same_when_masked():
    right = Request("a", "13812345678", "阳光花园3栋", "阳光花园停水两天", private=True)
    wrong = Request("b", "13900000000", "阳光花园3栋", "阳光花园停水两天", private=True)
    shown = score(NEW, right), score(NEW, wrong)
    assert shown[0].score == shown[1].score
    assert not shown[0].same_phone and not shown[1].same_phone


def test_a_masked_address_moves_nothing_either():
    near = Request("a", "", "阳光花园3栋", "阳光花园停水两天", private=True)
    far = Request("b", "", "幸福里小区", "阳光花园停水两天", private=True)
    assert score(NEW, near).score == score(NEW, far).score
    assert score(NEW, near).same_place == 0.0


def test_ranking_and_the_threshold_use_the_masked_score():
    # Wording alone below the threshold: the right phone must not lift it into view.
    weak = Request("a", "13812345678", "阳光花园3栋", "阳光花园路灯不亮", private=True)
    assert score(NEW, weak).score < THRESHOLD
    assert rank(NEW, [weak]) == []
    a = Request("a", "13812345678", "", "阳光花园停水两天", private=True)
    b = Request("b", "13900000000", "", "阳光花园停水两天", private=True)
    assert [c.score for c in rank(NEW, [a, b])] == [c.score for c in rank(NEW, [b, a])]
