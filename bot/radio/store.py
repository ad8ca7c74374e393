"""Where radio sessions live between restarts: the :class:`RadioStore` interface and its
database adapter, so the controller resumes every radio after a restart without knowing SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from generation.radio_plan import RadioState

if TYPE_CHECKING:
    from db.engine import Database


@dataclass(frozen=True)
class SavedRadio:
    session_id: int
    guild_id: int
    voice_channel_id: int
    text_channel_id: int | None
    started_by: int
    state: RadioState
    message_id: int | None = None
    """The now-playing message, edited at each clip (``None``: post a new one)."""


@dataclass(frozen=True)
class RadioGuildSettings:
    """One server's radio settings (``/settings radio``).

    ``dj_role_ids`` is ``guild_settings.radio_role_ids``: members with one of these roles steer,
    skip, re-seed and set the volume without a vote, and may stop the radio. With none set,
    every listener is a DJ. ``always_on`` is 24/7: stay in an empty channel, paused.
    """

    dj_role_ids: frozenset[int] = frozenset()
    volume_pct: int = 100
    always_on: bool = False


class RadioStore(Protocol):
    """Where radio sessions live between restarts (``db.radio`` in production)."""

    async def open_session(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        started_by: int,
        state: RadioState,
    ) -> int: ...

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None: ...

    async def add_clip(self, session_id: int, job_id: str) -> None: ...

    async def close_session(self, session_id: int, reason: str) -> None: ...

    async def active_sessions(self) -> list[SavedRadio]: ...

    async def set_message(self, session_id: int, message_id: int | None) -> None: ...

    async def guild_settings(self, guild_id: int) -> RadioGuildSettings: ...

    async def save_guild_settings(
        self, guild_id: int, settings: RadioGuildSettings, *, updated_by: int
    ) -> None:
        """Raises ``ValueError`` with a sentence for the admin when a value is out of range."""
        ...


class DbRadioStore:
    """:class:`RadioStore` over ``db.radio`` (one committed transaction per call, off the loop).

    The whole :class:`RadioState` goes into the session's free-form ``state`` column; the
    prompt, seed, alpha, morph target and queue are also written to their own columns so the
    database reads plainly.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.database.call, fn, *args, **kwargs)

    @staticmethod
    def _columns(state: RadioState) -> dict[str, Any]:
        return {
            "prompt": state.prompt,
            "seed": state.seed,
            "alpha": state.alpha,
            "target_prompt": state.target,
            "target_seed": state.seed if state.target is not None else None,
            "seed_image": state.settings.seed_image,
            "queued_prompts": list(state.up_next),
            "state": {"radio_state": state.to_dict()},
        }

    async def open_session(
        self,
        *,
        guild_id: int,
        voice_channel_id: int,
        text_channel_id: int | None,
        started_by: int,
        state: RadioState,
    ) -> int:
        from db.radio import start_radio_session, update_radio_session

        def write(session: Any) -> int:
            radio = start_radio_session(
                session,
                guild_id=guild_id,
                voice_channel_id=voice_channel_id,
                text_channel_id=text_channel_id,
                started_by=started_by,
                prompt=state.prompt,
                seed=state.seed,
            )
            update_radio_session(session, radio.id, **self._columns(state))
            return int(radio.id)

        result: int = await self._run(write)
        return result

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None:
        from db.radio import update_radio_session

        status = "paused" if paused else "playing"
        await self._run(update_radio_session, session_id, status=status, **self._columns(state))

    async def add_clip(self, session_id: int, job_id: str) -> None:
        from db.radio import add_radio_clip

        await self._run(add_radio_clip, session_id, int(job_id))

    async def close_session(self, session_id: int, reason: str) -> None:
        from db.radio import stop_radio_session

        await self._run(stop_radio_session, session_id, reason=reason)

    async def active_sessions(self) -> list[SavedRadio]:
        from db.radio import active_radio_sessions

        def read(session: Any) -> list[SavedRadio]:
            saved = []
            for radio in active_radio_sessions(session):
                stored = (radio.state or {}).get("radio_state")
                if stored:
                    state = RadioState.from_dict(stored)
                else:
                    state = RadioState(
                        prompt=radio.prompt,
                        seed=int(radio.seed),
                        alpha=float(radio.alpha or 0.0),
                        target=radio.target_prompt,
                        up_next=tuple(radio.queued_prompts or ()),
                    )
                saved.append(
                    SavedRadio(
                        int(radio.id),
                        int(radio.guild_id),
                        int(radio.voice_channel_id),
                        radio.text_channel_id,
                        int(radio.started_by),
                        state,
                        radio.now_playing_message_id,
                    )
                )
            return saved

        result: list[SavedRadio] = await self._run(read)
        return result

    async def set_message(self, session_id: int, message_id: int | None) -> None:
        from db.radio import update_radio_session

        await self._run(update_radio_session, session_id, now_playing_message_id=message_id)

    async def guild_settings(self, guild_id: int) -> RadioGuildSettings:
        from db.guilds import get_guild_settings

        def read(session: Any) -> RadioGuildSettings:
            row = get_guild_settings(session, guild_id)
            return RadioGuildSettings(
                dj_role_ids=frozenset(int(r) for r in row.radio_role_ids or ()),
                volume_pct=100 if row.radio_volume is None else int(row.radio_volume),
                always_on=bool(row.radio_always_on),
            )

        result: RadioGuildSettings = await self._run(read)
        return result

    async def save_guild_settings(
        self, guild_id: int, settings: RadioGuildSettings, *, updated_by: int
    ) -> None:
        from db.guilds import update_guild_settings

        await self._run(
            update_guild_settings,
            guild_id,
            updated_by=updated_by,
            radio_role_ids=sorted(settings.dj_role_ids),
            radio_volume=settings.volume_pct,
            radio_always_on=settings.always_on,
        )
