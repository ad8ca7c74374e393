"""The now-playing message: what it says, and editing it at each clip without flooding Discord.

One message per radio, in the channel where it was started. Its text is rendered from the
station's plain status; every field is cut to a fixed length so the embed stays far inside
Discord's limits whatever people type. Edits are spaced by at least ``min_interval_s``
(Discord allows about five message edits per five seconds in a channel, and a clip lasts
5.1 s), at most one is in flight, and a message that was deleted is posted again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from generation.radio_types import StationStatus

log = logging.getLogger(__name__)

PROMPT_CHARS = 120
QUEUE_SHOWN = 5


def _cut(text: str, limit: int = PROMPT_CHARS) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return discord.utils.escape_markdown(text)


@dataclass(frozen=True)
class NowPlayingView:
    """What the message shows besides the station's status."""

    listeners: int
    voice_state: str
    always_on: bool
    dj_roles: bool
    web_url: str | None = None
    """The server's web radio page (the live spectrogram timeline and the stream)."""


def now_playing_text(status: StationStatus, view: NowPlayingView) -> str:
    """The embed's description: prompt now and next, seed and alpha, listeners, buffer, queue."""
    state = status.state
    now = _cut(status.now_playing or "warming up…")
    if status.up_next:
        nxt = _cut(status.up_next[0])
    elif status.morphing_to and status.morphing_to != state.prompt:
        nxt = _cut(status.morphing_to)
    else:
        nxt = "seed walk (queue a wish with Steer)"
    lines = [
        f"🎵 **Now:** {now}",
        f"⏭️ **Next:** {nxt}",
        f"🌱 **Seed** {state.seed} · **alpha** {state.alpha:.2f} · "
        f"🔊 **{round(status.volume * 100)} %**",
        f"👂 **{view.listeners}** listening · {view.voice_state}"
        + (" · 24/7" if view.always_on else ""),
        f"🧃 **{status.buffered_seconds:.0f} s** ahead ({status.buffered_clips}/{status.ahead}"
        f" clips, {status.health})",
    ]
    if status.up_next:
        shown = [f"{i}. {_cut(p, 60)}" for i, p in enumerate(status.up_next[:QUEUE_SHOWN], 1)]
        more = len(status.up_next) - QUEUE_SHOWN
        lines.append("📜 **Queue:** " + " · ".join(shown) + (f" (+{more})" if more > 0 else ""))
    if status.underruns:
        lines.append(f"⚠️ Fell behind {status.underruns}× (repeated a clip)")
    if view.dj_roles:
        lines.append("DJs act at once; others vote (half the listeners).")
    if view.web_url:
        lines.append(f"🌐 Watch it being drawn and listen in a browser: <{view.web_url}>")
    return "\n".join(lines)


Post = Callable[[str, bytes | None], Awaitable[int | None]]
"""Post a fresh message: (text, strip PNG) -> its id, or None when it could not be posted."""
Edit = Callable[[int, str, bytes | None, bool], Awaitable[bool]]
"""Edit message ``id`` (with its buttons or not): False when it no longer exists."""


class NowPlaying:
    """Keeps one radio's now-playing message current."""

    def __init__(
        self,
        post: Post,
        edit: Edit,
        *,
        message_id: int | None,
        clock: Callable[[], float],
        min_interval_s: float = 4.0,
        on_new_message: Callable[[int | None], Awaitable[None]] | None = None,
    ) -> None:
        self._post = post
        self._edit = edit
        self.message_id = message_id
        self._clock = clock
        self.min_interval_s = min_interval_s
        self._on_new_message = on_new_message
        self._last: float | None = None
        self._lock = asyncio.Lock()
        self.edits = 0
        self.posts = 0

    async def update(self, render: Callable[[], Awaitable[tuple[str, bytes | None]]]) -> bool:
        """Edit (or post) now unless the last edit was too recent or one is in flight.

        Returns whether the message was written. A skipped update is not lost: the next clip
        brings another within a clip's length, rendered from the status of that moment.
        """
        now = self._clock()
        if self._lock.locked():
            return False
        if self._last is not None and now - self._last < self.min_interval_s:
            return False
        async with self._lock:
            self._last = now
            text, png = await render()
            if self.message_id is not None:
                try:
                    if await self._edit(self.message_id, text, png, True):
                        self.edits += 1
                        return True
                except discord.HTTPException as exc:
                    log.info("could not edit the now-playing message: %s", exc)
                    return False
            self.message_id = await self._post(text, png)
            self.posts += 1
            if self._on_new_message is not None:
                await self._on_new_message(self.message_id)
            return self.message_id is not None

    async def close(self, text: str) -> None:
        """The radio stopped: say so on the message and take its buttons away."""
        async with self._lock:
            if self.message_id is not None:
                await self._edit(self.message_id, text, None, False)
