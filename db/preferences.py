"""Per-user defaults (``/preferences``): takes, length, steps, guidance, scheduler, privacy.

Every field is an override of the server's and the bot's defaults; ``None`` means "not set".
Values are validated here so the command can show the ``ValueError`` text as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from db.guilds import MAX_STEPS, MAX_TAKES
from db.models import UserPreferences, utcnow
from generation.schedule import canonical_scheduler
from generation.types import InvalidRequest

MAX_LENGTH_CLIPS = 8


def get_preferences(session: Session, user_id: int) -> UserPreferences:
    """The user's row, or an unsaved one with nothing set."""
    row = session.get(UserPreferences, user_id)
    if row is not None:
        return row
    return UserPreferences(
        user_id=user_id,
        takes=None,
        length_clips=None,
        steps=None,
        guidance=None,
        scheduler=None,
        private=None,
    )


def _whole(name: str, upper: int) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
            raise ValueError(f"{name} must be a whole number from 1 to {upper} (or unset).")
        return value

    return check


def _guidance(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not 0.0 <= number <= 20.0:
        raise ValueError("Guidance must be between 0 and 20 (or unset).")
    return number


def _scheduler(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return canonical_scheduler(str(value))
    except InvalidRequest as error:
        raise ValueError(str(error)) from None


def update_preferences(session: Session, user_id: int, **changes: Any) -> UserPreferences:
    """Change some preferences (pass ``None`` to unset one) and return the saved row."""
    validators: dict[str, Callable[[Any], Any]] = {
        "takes": _whole("Takes", MAX_TAKES),
        "length_clips": _whole("Length", MAX_LENGTH_CLIPS),
        "steps": _whole("Steps", MAX_STEPS),
        "guidance": _guidance,
        "scheduler": _scheduler,
        "private": lambda v: None if v is None else bool(v),
    }
    unknown = set(changes) - set(validators)
    if unknown:
        raise TypeError(f"preferences have no field(s) {sorted(unknown)}")
    values = {name: validators[name](value) for name, value in changes.items()}
    row = session.get(UserPreferences, user_id, with_for_update=True)
    if row is None:
        row = get_preferences(session, user_id)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return row
