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
                    )
                )
            return saved

        result: list[SavedRadio] = await self._run(read)
        return result
