"""Radio sessions and the clips they played, so a restart resumes the radio where it was.

The radio controller keeps a ``RadioSession`` row current (prompt, seed, alpha, the prompt it
morphs into, queued prompts) and appends every clip it plays as a job with a ``RadioClip``
position. One guild has at most one active (playing or paused) session: starting a new one
stops the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import (
    ACTIVE_RADIO_STATUSES,
    RadioClip,
    RadioSession,
    RadioStatus,
    utcnow,
)

UPDATABLE = frozenset(
    {
        "voice_channel_id",
        "text_channel_id",
        "prompt",
        "seed",
        "alpha",
        "target_prompt",
        "target_seed",
        "seed_image",
        "queued_prompts",
        "state",
        "status",
        "now_playing_message_id",
    }
)


class RadioSessionNotFound(LookupError):
    def __init__(self, session_id: int) -> None:
        super().__init__(f"There is no radio session {session_id}.")
        self.session_id = session_id


def start_radio_session(
    session: Session,
    *,
    guild_id: int,
    voice_channel_id: int,
    started_by: int,
    prompt: str,
    seed: int,
    text_channel_id: int | None = None,
    alpha: float = 0.0,
    seed_image: str | None = None,
    state: Mapping[str, Any] | None = None,
) -> RadioSession:
    """A new playing session; any other active session in the guild is stopped."""
    for old in session.scalars(_active_stmt(guild_id)).all():
        _stop(old, "replaced by a new radio session")
    radio = RadioSession(
        guild_id=guild_id,
        voice_channel_id=voice_channel_id,
        text_channel_id=text_channel_id,
        started_by=started_by,
        prompt=prompt,
        seed=seed,
        alpha=alpha,
        seed_image=seed_image,
        queued_prompts=[],
        state=dict(state or {}),
        status=RadioStatus.PLAYING,
    )
    session.add(radio)
    session.flush()
    return radio


def load_radio_session(session: Session, session_id: int) -> RadioSession | None:
    return session.get(RadioSession, session_id)


def _require(session: Session, session_id: int) -> RadioSession:
    radio = session.get(RadioSession, session_id, with_for_update=True)
    if radio is None:
        raise RadioSessionNotFound(session_id)
    return radio


def update_radio_session(session: Session, session_id: int, **changes: Any) -> RadioSession:
    """Save the controller's current state; only the fields in ``UPDATABLE`` may change."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"radio sessions have no updatable field(s) {sorted(unknown)}")
    radio = _require(session, session_id)
    for name, value in changes.items():
        if name == "queued_prompts":
            value = [str(prompt) for prompt in value]
        elif name == "state":
            value = dict(value)
        elif name == "status":
            value = RadioStatus(value)
        setattr(radio, name, value)
    if changes.get("status") == RadioStatus.STOPPED and radio.stopped_at is None:
        radio.stopped_at = utcnow()
    radio.updated_at = utcnow()
    session.flush()
    return radio


def stop_radio_session(
    session: Session, session_id: int, *, reason: str, now: datetime | None = None
) -> RadioSession:
    radio = _require(session, session_id)
    _stop(radio, reason, now)
    session.flush()
    return radio


def _stop(radio: RadioSession, reason: str, now: datetime | None = None) -> None:
    if radio.status != RadioStatus.STOPPED:
        radio.status = RadioStatus.STOPPED
        radio.stop_reason = reason
        radio.stopped_at = now or utcnow()


def _active_stmt(guild_id: int | None = None) -> Any:
    stmt = select(RadioSession).where(RadioSession.status.in_(ACTIVE_RADIO_STATUSES))
    if guild_id is not None:
        stmt = stmt.where(RadioSession.guild_id == guild_id)
    return stmt.order_by(RadioSession.id)


def active_radio_sessions(session: Session) -> list[RadioSession]:
    """Every playing or paused session: what to resume after a restart."""
    return list(session.scalars(_active_stmt()).all())


def active_radio_session(session: Session, guild_id: int) -> RadioSession | None:
    return session.scalars(_active_stmt(guild_id)).first()


def add_radio_clip(session: Session, session_id: int, job_id: int) -> RadioClip:
    """Append a clip (a job) to the session's play order."""
    _require(session, session_id)
    last = session.scalar(
        select(func.max(RadioClip.position)).where(RadioClip.session_id == session_id)
    )
    clip = RadioClip(session_id=session_id, job_id=job_id, position=(last or 0) + 1)
    session.add(clip)
    session.flush()
    return clip


def radio_clips(session: Session, session_id: int, *, last: int | None = None) -> list[RadioClip]:
    """The session's clips in play order; ``last=N`` keeps only the N most recent."""
    stmt = select(RadioClip).where(RadioClip.session_id == session_id)
    if last is None:
        return list(session.scalars(stmt.order_by(RadioClip.position)).all())
    newest = session.scalars(stmt.order_by(RadioClip.position.desc()).limit(last)).all()
    return list(reversed(newest))
