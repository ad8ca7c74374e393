"""The DJ rule and vote counting, as pure functions."""

from __future__ import annotations

from bot.radio.votes import decide_vote, is_dj


def test_who_is_a_dj() -> None:
    assert is_dj(roles=frozenset(), dj_roles=frozenset(), moderator=False)  # open radio
    assert not is_dj(roles=frozenset({1}), dj_roles=frozenset({2}), moderator=False)
    assert is_dj(roles=frozenset({1, 2}), dj_roles=frozenset({2}), moderator=False)
    assert is_dj(roles=frozenset(), dj_roles=frozenset({2}), moderator=True)


def test_votes_need_half_the_listeners_and_leavers_do_not_count() -> None:
    listeners = frozenset({1, 2, 3, 4, 5})
    first = decide_vote(1, dj=False, listeners=listeners, votes=frozenset())
    assert (first.go, first.votes, first.needed) == (False, frozenset({1}), 3)
    again = decide_vote(1, dj=False, listeners=listeners, votes=first.votes)
    assert not again.go  # the same person twice is one vote
    second = decide_vote(2, dj=False, listeners=listeners, votes=again.votes | {9})
    assert second.votes == frozenset({1, 2})  # 9 left the channel
    third = decide_vote(3, dj=False, listeners=listeners, votes=second.votes)
    assert third.go
    assert third.votes == frozenset()


def test_djs_and_lone_listeners_act_and_outsiders_are_refused() -> None:
    assert decide_vote(1, dj=True, listeners=frozenset({1, 2, 3}), votes=frozenset()).go
    assert decide_vote(1, dj=False, listeners=frozenset({1}), votes=frozenset()).go
    outsider = decide_vote(7, dj=True, listeners=frozenset({1}), votes=frozenset())
    assert not outsider.go
    assert outsider.refusal == "Join the radio's voice channel first."
