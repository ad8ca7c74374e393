"""Per-guild settings: defaults, limits, blocked words and who may control the radio.

Every field is an override; ``None`` (or an empty list) means the bot-wide setting applies.
Values are validated here so that ``/settings`` can show the ``ValueError`` text as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from db.models import GuildSettings, utcnow

MAX_STEPS = 150
MAX_BLOCKED_WORDS = 500
MAX_TAKES = 4


def get_guild_settings(session: Session, guild_id: int) -> GuildSettings:
    """The guild's row, or an unsaved one with every override unset."""
    row = session.get(GuildSettings, guild_id)
    if row is not None:
        return row
    return GuildSettings(
        guild_id=guild_id,
        default_steps=None,
        default_takes=None,
        default_seed_image=None,
        max_jobs_per_user=None,
        max_queue_length=None,
        blocked_words=[],
        radio_role_ids=[],
        radio_volume=None,
        radio_always_on=None,
        updated_by=None,
    )


def _positive(name: str, value: Any, upper: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1 (or unset).")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be at most {upper}.")
    return value


MAX_RADIO_VOLUME = 200


def _volume(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RADIO_VOLUME:
        raise ValueError(f"The radio's volume must be a whole percent, 0 to {MAX_RADIO_VOLUME}.")
    return value


def normalise_words(words: Iterable[str]) -> list[str]:
    """Lower-cased, trimmed, de-duplicated, in first-seen order."""
    seen: dict[str, None] = {}
    for word in words:
        cleaned = str(word).strip().casefold()
        if cleaned:
            seen.setdefault(cleaned, None)
    if len(seen) > MAX_BLOCKED_WORDS:
        raise ValueError(f"At most {MAX_BLOCKED_WORDS} blocked words are allowed.")
    return list(seen)


def update_guild_settings(
    session: Session, guild_id: int, *, updated_by: int | None = None, **changes: Any
) -> GuildSettings:
    """Change some overrides (pass ``None`` to unset one) and return the saved row."""
    validators: dict[str, Callable[[Any], Any]] = {
        "default_steps": lambda v: _positive("Default steps", v, MAX_STEPS),
        "default_takes": lambda v: _positive("Default takes", v, MAX_TAKES),
        "default_seed_image": lambda v: (str(v).strip() or None) if v is not None else None,
        "max_jobs_per_user": lambda v: _positive("Jobs per user", v),
        "max_queue_length": lambda v: _positive("Queue length", v),
        "blocked_words": lambda v: normalise_words(v or []),
        "radio_role_ids": lambda v: sorted({int(role) for role in (v or [])}),
        "radio_volume": lambda v: _volume(v),
        "radio_always_on": lambda v: None if v is None else bool(v),
    }
    unknown = set(changes) - set(validators)
    if unknown:
        raise TypeError(f"guild settings have no field(s) {sorted(unknown)}")
    values = {name: validators[name](value) for name, value in changes.items()}
    row = session.get(GuildSettings, guild_id, with_for_update=True)
    if row is None:
        row = get_guild_settings(session, guild_id)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by = updated_by
    row.updated_at = utcnow()
    session.flush()
    return row
