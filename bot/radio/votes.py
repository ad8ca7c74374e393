"""Who may change the radio at once and who votes: the DJ rule, as a pure function.

A DJ (a member with one of the server's DJ roles, a moderator, or anyone when the server has
no DJ role) acts at once; anyone else listening casts a vote for that one action, which
happens when half the listeners (rounded up) asked for it. Someone alone with the bot acts at
once. Stopping has its own rule (``decide_stop``): the starter, a moderator or a lone
listener stop at once, anyone else votes. Votes of people who left the channel do not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def is_dj(*, roles: frozenset[int], dj_roles: frozenset[int], moderator: bool) -> bool:
    """No DJ role configured means an open radio: every listener is a DJ."""
    return moderator or not dj_roles or bool(roles & dj_roles)


@dataclass(frozen=True)
class VoteDecision:
    go: bool
    votes: frozenset[int]
    needed: int
    refusal: str | None = None


def decide_vote(
    user_id: int, *, dj: bool, listeners: frozenset[int], votes: frozenset[int]
) -> VoteDecision:
    """Act now, count a vote, or refuse (``refusal`` says why, for the person alone)."""
    needed = max(1, math.ceil(len(listeners) / 2))
    if user_id not in listeners:
        return VoteDecision(False, votes, needed, "Join the radio's voice channel first.")
    if dj or listeners == frozenset({user_id}):
        return VoteDecision(True, frozenset(), needed)
    counted = frozenset((votes | {user_id}) & listeners)
    if len(counted) >= needed:
        return VoteDecision(True, frozenset(), needed)
    return VoteDecision(False, counted, needed)


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    votes: frozenset[int]
    needed: int
    reason: str


def decide_stop(
    user_id: int,
    *,
    starter_id: int,
    listeners: frozenset[int],
    moderator: bool,
    votes: frozenset[int],
) -> StopDecision:
    """Who may stop the radio: the starter, a moderator, someone alone with the bot, or a
    vote of half the listeners (rounded up). Votes from people who left do not count."""
    needed = max(1, math.ceil(len(listeners) / 2))
    if user_id == starter_id:
        return StopDecision(True, votes, needed, "stopped by the person who started it")
    if moderator:
        return StopDecision(True, votes, needed, "stopped by a moderator")
    if listeners == frozenset({user_id}):
        return StopDecision(True, votes, needed, "stopped by its only listener")
    if user_id not in listeners:
        return StopDecision(False, votes, needed, "only listeners may vote to stop the radio")
    counted = frozenset((votes | {user_id}) & listeners)
    if len(counted) >= needed:
        return StopDecision(True, counted, needed, f"stopped by a vote ({len(counted)}/{needed})")
    return StopDecision(False, counted, needed, f"vote counted ({len(counted)}/{needed})")
