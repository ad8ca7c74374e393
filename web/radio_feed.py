"""The web's window on a radio: what plays now, and a copy of the exact frames heard.

The station's stream is read by one player (discord.py's thread, or the demo's pacer); the web
must not read it too or it would steal frames. So a :class:`Tap` copies what the player has
read from the stream's history, numbered by the stream's own frame counter, and notes at which
frame each clip started. Browsers then ask for audio "from frame N" and draw the timeline at
``N + currentTime / 20 ms``: picture and sound index the same counter, so they stay in step
whatever the network and encoder latency.

The stations come through :class:`RadioSource`, which the wiring fills (the bot's radio
controller, or the demo's station); nothing here knows Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from generation.radio_types import FRAME_BYTES

FRAME_S = 0.02
POLL_S = 0.02
HISTORY_FRAMES = 1500  # 30 s: the stream's own history length


class StreamStatsLike(Protocol):
    @property
    def frames(self) -> int: ...


class StreamLike(Protocol):
    @property
    def stats(self) -> StreamStatsLike: ...

    @property
    def current(self) -> Any: ...

    def recent_pcm(self, seconds: float) -> bytes: ...


class StatusLike(Protocol):
    @property
    def now_playing(self) -> str | None: ...

    @property
    def morphing_to(self) -> str | None: ...

    @property
    def up_next(self) -> tuple[str, ...]: ...

    @property
    def buffered_clips(self) -> int: ...

    @property
    def underruns(self) -> int: ...

    @property
    def paused(self) -> bool: ...


class StationLike(Protocol):
    """What ``generation.radio.RadioStation`` offers, read-only."""

    @property
    def stream(self) -> StreamLike: ...

    def status(self) -> StatusLike: ...


class RadioSource(Protocol):
    """Where the stations are: the bot's radio controller, or the demo's one station."""

    def station(self, guild_id: int) -> StationLike | None: ...

    def stations(self) -> dict[int, StationLike]:
        """Every playing station by guild id (for the hub and the metrics; never shown)."""
        ...


@dataclass(frozen=True)
class ClipMark:
    frame: int
    job_id: str | None
    description: str | None


@dataclass(frozen=True)
class RadioNow:
    epoch: str
    frame: int
    now_playing: str | None
    morphing_to: str | None
    up_next: tuple[str, ...]
    clips: tuple[ClipMark, ...]
    buffered_clips: int
    underruns: int
    listeners: int


class Tap:
    """Copies one station's heard frames into a numbered ring and marks clip starts."""

    def __init__(self, station: StationLike) -> None:
        self.station = station
        self.epoch = secrets.token_hex(4)
        self.listeners = 0
        self._frames: deque[tuple[int, bytes]] = deque(maxlen=HISTORY_FRAMES)
        self._marks: deque[ClipMark] = deque(maxlen=64)
        self._seen = station.stream.stats.frames
        self._current: Any = None
        self._new = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # A clip already playing began before we looked: where, we cannot know.
        self._first = station.stream.current is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="web-radio-tap")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def poll(self) -> None:
        """Copy the frames read since the last poll; called every 20 ms by the task."""
        stream = self.station.stream
        for _ in range(3):  # the player may read between our two looks; look again
            before = stream.stats.frames
            fresh = before - self._seen
            pcm = stream.recent_pcm(fresh * FRAME_S) if fresh > 0 else b""
            if stream.stats.frames == before:
                break
        else:
            return
        current = stream.current
        if current is not None and current is not self._current:
            self._current = current
            if self._first:  # playing since before the tap: where it began is unknown
                self._first = False
                self._seen = before
                return
            tag = getattr(current, "tag", None)
            # The clip began somewhere in the frames just copied: at most one poll off.
            self._marks.append(
                ClipMark(before, getattr(tag, "job_id", None), getattr(tag, "description", None))
            )
        count = len(pcm) // FRAME_BYTES
        first = before - count
        for i in range(count):
            self._frames.append((first + i, pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]))
        self._seen = before
        self._first = False
        if count:
            self._new.set()
            self._new = asyncio.Event()

    async def _run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(POLL_S)

    @property
    def frame(self) -> int:
        return self._seen

    @property
    def oldest_frame(self) -> int:
        return self._frames[0][0] if self._frames else self._seen

    def frames_from(self, frame: int) -> tuple[int, bytes]:
        """``(first frame, pcm)`` of every copied frame at or after ``frame``."""
        chunks = [(i, pcm) for i, pcm in self._frames if i >= frame]
        if not chunks:
            return max(frame, self._seen), b""
        return chunks[0][0], b"".join(pcm for _, pcm in chunks)

    async def wait_new(self) -> None:
        """Until new frames arrive, or a second passes (the station may be paused)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._new.wait(), 1.0)

    def now(self) -> RadioNow:
        status = self.station.status()
        return RadioNow(
            epoch=self.epoch,
            frame=self._seen,
            now_playing=status.now_playing,
            morphing_to=status.morphing_to,
            up_next=tuple(status.up_next),
            clips=tuple(self._marks),
            buffered_clips=status.buffered_clips,
            underruns=status.underruns,
            listeners=self.listeners,
        )


class RadioHub:
    """One tap per playing station, kept from the moment the station is seen.

    A tap made while a clip is already playing cannot know where that clip began, so the hub
    looks for new stations every second rather than waiting for the first browser.
    """

    def __init__(self, source: RadioSource) -> None:
        self._source = source
        self._taps: dict[int, Tap] = {}
        self._task: asyncio.Task[None] | None = None

    def tap(self, guild_id: int) -> Tap | None:
        station = self._source.station(guild_id)
        tap = self._taps.get(guild_id)
        if station is None:
            if tap is not None:
                self._drop(guild_id)
            return None
        if tap is None or tap.station is not station:
            if tap is not None:
                self._drop(guild_id)
            tap = Tap(station)
            self._taps[guild_id] = tap
        tap.start()
        return tap

    def taps(self) -> list[Tap]:
        return list(self._taps.values())

    def scan(self) -> None:
        playing = self._source.stations()
        for guild_id in list(self._taps):
            if guild_id not in playing:
                self._drop(guild_id)
        for guild_id in playing:
            self.tap(guild_id)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="web-radio-hub")

    async def _watch(self) -> None:
        while True:
            self.scan()
            await asyncio.sleep(1.0)

    def _drop(self, guild_id: int) -> None:
        tap = self._taps.pop(guild_id)
        tap.cancel()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for tap in list(self._taps.values()):
            await tap.stop()
        self._taps.clear()
