"""One radio station: the alpha walk, a prefetcher keeping clips ahead, and the gapless stream.

This is what the Discord layer and the CLI drive. It speaks plain data outward (requests,
prompts, frames as bytes, status as a dataclass), so ``bot/`` never touches arrays. The
prefetcher asks for one clip at a time, like Riffusion's app, whenever fewer than ``ahead``
clips wait behind the one playing; if generation fails it retries the same request with a
back-off while the stream loops what it has, so listeners never hear the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from generation.loudness import LoudnessPolicy, RadioLeveller
from generation.radio_frames import FramePump
from generation.radio_plan import (
    MAX_UP_NEXT,
    RadioState,
    describe,
    new_seed,
    next_request,
    queue_prompt,
    skip,
)
from generation.radio_stream import (
    RadioStream,
    Seam,
    StreamClip,
    pcm16_to_float,
    to_stream_audio,
)
from generation.radio_types import (
    FRAME_BYTES,
    OUTPUT_RATE,
    StationHooks,
    StationSnapshot,
    StationStatus,
)
from generation.types import ClipFiles, GenerationError, GenerationRequest, Priority

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class ClipAudio(Protocol):
    """What a generator returns: ``GenerationResult`` fits, so does the synthetic stand-in."""

    @property
    def audio(self) -> Any: ...

    @property
    def sample_rate(self) -> int: ...


ClipGenerator = Callable[[GenerationRequest, str], Awaitable[ClipAudio]]


class EngineLike(Protocol):
    async def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        owner: str,
        priority: Priority,
        on_progress: Any = None,
    ) -> Any: ...


@dataclass(frozen=True)
class KeptClip:
    """A generated clip plus the files written for it (so the job is remixable later)."""

    audio: Any
    sample_rate: int
    files: ClipFiles | None = None
    raw_image: Any = None


def engine_generator(
    engine: EngineLike,
    *,
    owner: str,
    out_dir: Path | None = None,
    write: Callable[[Any, Path, str], ClipFiles] | None = None,
) -> ClipGenerator:
    """Radio clips from the shared engine at radio priority (interactive jobs go first).

    With ``out_dir``, each clip's files (MP3, raw PNG, picture, JSON) are written off the
    event loop by ``write`` (default ``generation.outputs.write_outputs``), so every clip the
    radio plays is a finished job that can be shown, extended and remixed like any other.
    """

    async def generate(request: GenerationRequest, job_id: str) -> ClipAudio:
        result = await engine.generate(request, job_id=job_id, owner=owner, priority=Priority.RADIO)
        files: ClipFiles | None = None
        if out_dir is not None:
            writer: Callable[[Any, Path, str], ClipFiles]
            if write is None:
                from generation.outputs import write_outputs

                writer = write_outputs
            else:
                writer = write
            files = await asyncio.to_thread(writer, result, out_dir, f"radio-{job_id}")
        raw = getattr(result, "raw_image", None)
        return KeptClip(result.audio, int(result.sample_rate), files, raw)

    return generate


@dataclass(frozen=True)
class ClipTag:
    """What the station remembers about a clip in the stream."""

    job_id: str
    request: GenerationRequest
    state: RadioState
    description: str
    thumbnail: Any = None
    """A small picture of the clip's spectrogram (``radio_strip.clip_thumbnail``), if any."""


class RadioStation:
    """Owns the plan state, the prefetch task and the stream for one voice channel."""

    def __init__(
        self,
        generate: ClipGenerator,
        state: RadioState,
        *,
        hooks: StationHooks | None = None,
        ahead: int = 3,
        crossfade_s: float = 0.05,
        history_s: float = 30.0,
        max_stall_loops: int = 12,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        max_up_next: int = MAX_UP_NEXT,
        idle_wait: Callable[[Awaitable[Any]], Awaitable[Any]] | None = None,
        start_after: int = 1,
        loudness: LoudnessPolicy | None = None,
        offload: Callable[[Callable[[], Any]], Awaitable[Any]] | None = None,
        frames_ahead: int = 0,
    ) -> None:
        """``loudness``: the finishing policy, applied to each clip with a slowly moving gain
        (:class:`generation.loudness.RadioLeveller`); ``offload`` runs that (about 0.1 s of
        CPU a clip) off the event loop, e.g. ``asyncio.to_thread`` (default: inline, which
        keeps a virtual-time loop deterministic). ``idle_wait`` wraps the prefetcher's wait
        for room in the buffer (default: none); a simulated Discord uses it to mark that wait
        as intentional, not a hang. ``frames_ahead`` > 0 renders that many frames ahead of the
        player on a thread of their own (:class:`generation.radio_frames.FramePump`); 0
        renders each frame in ``read()``."""
        if ahead < 1:
            raise GenerationError("The radio must keep at least one clip ahead.")
        self._generate = generate
        self._plan = state
        self._hooks = hooks
        self.ahead = ahead
        self.retry_delays = retry_delays
        self.max_up_next = max_up_next
        self.stream = RadioStream(
            crossfade_s=crossfade_s,
            history_s=history_s,
            max_stall_loops=max_stall_loops,
            on_seam=self._on_seam,
            start_after=min(start_after, ahead),
        )
        self._playing: ClipTag | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._generating = False
        self._paused = False
        self._last_error: str | None = None
        self._failures = 0
        self._pending_hooks: set[asyncio.Task[None]] = set()
        self._idle_wait = idle_wait
        self._leveller = RadioLeveller(loudness)
        self._offload = offload
        self._pump = FramePump(self.stream.read, ahead=frames_ahead) if frames_ahead else None
        # Bumped by a jump (skip, new seed): a clip generated for the old plan is not pushed.
        self._epoch = 0
        # Joins read by the player thread, and those whose news reached the loop.
        self._seams_read = 0
        self._seams_handled = 0
        self._handled = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start prefetching on the running loop (idempotent)."""
        self._loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._prefetch(), name="radio-prefetch")

    async def stop(self) -> None:
        """Stop generating; what is buffered stays readable until the player stops."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending_hooks:
            await asyncio.gather(*self._pending_hooks, return_exceptions=True)
        if self._pump is not None:
            self._pump.stop()  # later reads render their frames themselves

    def pause(self) -> None:
        """No listeners: stop asking for clips (saves the GPU); the stream keeps its place."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def wait_ready(self, clips: int = 1) -> None:
        """Wait until ``clips`` are queued behind the one playing (or, before playback, ready)."""
        while self.stream.ready_count() < clips:
            self._ready.clear()
            await self._ready.wait()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # ------------------------------------------------------------------ listeners' side
    def read(self) -> bytes:
        """One 20 ms frame (3,840 bytes); safe to call from discord.py's player thread."""
        frame = self._pump.read() if self._pump is not None else self.stream.read()
        assert len(frame) == FRAME_BYTES
        return frame

    def queue_prompt(self, prompt: str) -> int:
        """Queue a morph; returns its 1-based place among the waiting prompts."""
        self._plan = queue_prompt(self._plan, prompt, max_up_next=self.max_up_next)
        return len(self._plan.up_next)

    def skip(self, idle_seed: int) -> None:
        """Morph into the next wish (or walk to ``idle_seed``) from the clip playing now.

        Clips already made for the old plan are dropped, so the very next clip is the start of
        the new morph; the one playing finishes and crossfades into it (a morph, not a cut).
        """
        self._jump(lambda state: skip(state, idle_seed=idle_seed))

    def new_seed(self, seed: int) -> None:
        """Walk from the clip playing now to ``seed``, at once (the queue keeps its wishes)."""
        self._jump(lambda state: new_seed(state, seed))

    def _jump(self, move: Callable[[RadioState], RadioState]) -> None:
        moved = move(self.resume_state())
        self._epoch += 1
        self.stream.drop_ready()
        self._plan = moved
        self._wake.set()

    def set_volume(self, volume: float) -> None:
        """The listener's gain: 1.0 as generated; the stream ramps to it without a click."""
        self.stream.gain_target = max(0.0, float(volume))

    def strip_png(self, seconds: float = 20.0) -> bytes | None:
        """The last ``seconds`` of spectrogram, small (for the now-playing message)."""
        from generation.radio_strip import strip_png

        thumbs = [
            c.tag.thumbnail
            for c in self.stream.recent_clips(seconds)
            if isinstance(c.tag, ClipTag) and c.tag.thumbnail is not None
        ]
        return strip_png(thumbs) if thumbs else None

    def resume_state(self) -> RadioState:
        """Where a restart should pick up: the clip playing now, with every prompt still waiting."""
        base = self._playing.state if self._playing is not None else self._plan
        heard = {base.target, *base.up_next}
        waiting = [p for p in (self._plan.target, *self._plan.up_next) if p and p not in heard]
        return replace(base, up_next=(*base.up_next, *waiting))

    def status(self) -> StationStatus:
        playing = self._playing
        plan = self._plan
        morph = playing.state.target if playing is not None else plan.target
        up_next = tuple(p for p in (plan.target, *plan.up_next) if p and p != morph)
        stats = self.stream.stats
        return StationStatus(
            now_playing=playing.description if playing else None,
            now_job_id=playing.job_id if playing else None,
            morphing_to=morph,
            up_next=up_next,
            buffered_clips=self.stream.ready_count(),
            buffered_seconds=self.stream.buffered_seconds(),
            ahead=self.ahead,
            underruns=stats.underruns,
            clips_played=stats.clips_started,
            seconds_played=stats.frames * 0.02,
            generating=self._generating,
            paused=self._paused,
            last_error=self._last_error,
            state=self.resume_state(),
            volume=self.stream.gain_target,
        )

    def snapshot(self, seconds: float = 25.0) -> StationSnapshot:
        """The last ``seconds`` heard and their jobs, for ``/radio save``."""
        pcm = self.stream.recent_pcm(seconds)
        tags = [c.tag for c in self.stream.recent_clips(seconds) if isinstance(c.tag, ClipTag)]
        return StationSnapshot(
            pcm=pcm,
            sample_rate=OUTPUT_RATE,
            job_ids=tuple(t.job_id for t in tags),
            requests=tuple(t.request for t in tags),
        )

    # ------------------------------------------------------------------ internals
    async def settled(self) -> None:
        """Wait until every join read so far reached the loop and its hooks finished.

        Whoever reads frames on the loop itself (a simulated player) uses it to know that the
        news of a clip is out (job saved, now-playing message edited) before looking.
        """
        while self._seams_handled < self._seams_read:
            self._handled.clear()
            await self._handled.wait()
        if self._pending_hooks:
            await asyncio.gather(*list(self._pending_hooks), return_exceptions=True)

    def _on_seam(self, seam: Seam) -> None:
        """Called in the player thread: hand the news to the event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._seam_on_loop, seam)
            self._seams_read += 1

    def _seam_on_loop(self, seam: Seam) -> None:
        self._seams_handled += 1
        self._handled.set()
        self._wake.set()
        tag = seam.clip.tag
        if seam.looped or not isinstance(tag, ClipTag):
            return
        self._playing = tag
        if self._hooks is not None:
            task = asyncio.ensure_future(self._hooks.clip_playing(tag.job_id, tag.state))
            self._pending_hooks.add(task)
            task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Future[None]) -> None:
        self._pending_hooks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("radio hook failed: %s", task.exception())

    async def _prefetch(self) -> None:
        while True:
            while self._paused or self.stream.ready_count() >= self.ahead:
                self._wake.clear()
                if self._idle_wait is not None:
                    await self._idle_wait(self._wake.wait())
                else:
                    await self._wake.wait()
            before = self._plan
            epoch = self._epoch
            request, after = next_request(before)
            try:
                job_id = await self._new_job(request)
            except Exception as exc:  # the record keeper failed: keep playing, try again
                await self._back_off(exc)
                continue
            self._generating = True
            try:
                result = await self._generate(request, job_id)
                audio = await self._finished(result)
            except asyncio.CancelledError:
                await self._finish(job_id, "cancelled", None)
                raise
            except Exception as exc:
                await self._finish(job_id, str(exc) or type(exc).__name__, None)
                await self._back_off(exc)
                continue
            finally:
                self._generating = False
            await self._finish(job_id, None, getattr(result, "files", None))
            self._failures = 0
            self._last_error = None
            if epoch != self._epoch:  # a skip came while it was made: the plan moved on
                continue
            thumbnail = await self._thumbnail(getattr(result, "raw_image", None))
            if epoch != self._epoch:
                continue
            # Prompts queued while the clip was generating live in self._plan; keep them.
            consumed = len(before.up_next) - len(after.up_next)
            self._plan = replace(after, up_next=self._plan.up_next[consumed:], last_job_id=job_id)
            tag = ClipTag(job_id, request, self._plan, describe(request), thumbnail)
            self.stream.push(StreamClip(audio, tag))
            self._ready.set()

    async def _finished(self, clip: ClipAudio) -> Any:
        def work() -> Any:
            return finished_stream_audio(self._leveller, clip, self.stream.input_rate)

        return work() if self._offload is None else await self._offload(work)

    @staticmethod
    async def _thumbnail(raw_image: Any) -> Any:
        if raw_image is None:
            return None
        from generation.radio_strip import clip_thumbnail

        try:
            return await asyncio.to_thread(clip_thumbnail, raw_image)
        except Exception as exc:  # a picture must never stop the music
            log.info("no thumbnail for a radio clip: %s", exc)
            return None

    async def _new_job(self, request: GenerationRequest) -> str:
        if self._hooks is None:
            return f"radio-{uuid.uuid4().hex[:12]}"
        return await self._hooks.clip_requested(request, self._plan.last_job_id)

    async def _finish(self, job_id: str, error: str | None, files: ClipFiles | None) -> None:
        if self._hooks is not None:
            try:
                await self._hooks.clip_finished(job_id, error, files)
            except Exception as exc:  # recording must never stop the music
                log.warning("radio hook failed: %s", exc)

    async def _back_off(self, exc: Exception) -> None:
        delay = self.retry_delays[min(self._failures, len(self.retry_delays) - 1)]
        self._failures += 1
        self._last_error = str(exc) if isinstance(exc, GenerationError) else "generation failed"
        log.warning("radio clip failed (%s); retrying in %.0f s", exc, delay)
        await asyncio.sleep(delay)


def finished_stream_audio(leveller: RadioLeveller, clip: ClipAudio, input_rate: int) -> Any:
    """A generated clip as the stream plays it: levelled, then (samples, 2) float32."""
    audio = to_stream_audio(clip.audio, clip.sample_rate, input_rate)
    levelled, _ = leveller.level(audio.T, clip.sample_rate)
    return to_stream_audio(levelled, clip.sample_rate, input_rate)


def pcm_to_mp3(pcm: bytes, sample_rate: int = OUTPUT_RATE, bitrate: str = "192k") -> bytes:
    """s16le stereo PCM (what listeners heard) -> MP3 bytes, through ``generation.audio``."""
    from generation.audio import mp3_bytes

    if not pcm:
        raise GenerationError("There is no radio audio to save yet.")
    audio = pcm16_to_float(pcm).T
    try:
        return mp3_bytes(audio, sample_rate, bitrate=bitrate)
    except Exception as exc:
        raise GenerationError("Could not encode the radio recording as MP3.") from exc


def render_radio(
    generate: Callable[[GenerationRequest], ClipAudio],
    state: RadioState,
    seconds: float,
    *,
    crossfade_s: float = 0.05,
    on_clip: Callable[[int, GenerationRequest], None] | None = None,
    loudness: LoudnessPolicy | None = None,
) -> tuple[bytes, RadioState]:
    """The radio's stream rendered offline: same walk, same joins, same resampler, no Discord.

    Generation is synchronous here and happens just before the playing clip ends, so the
    file never contains an underrun loop and no clip is made that is not heard. Returns
    48 kHz s16le stereo PCM and the state to continue from.
    """
    if seconds <= 0:
        raise GenerationError("The radio needs a positive length to render.")
    stream = RadioStream(crossfade_s=crossfade_s, history_s=0.02)
    leveller = RadioLeveller(loudness)
    frames_needed = round(seconds * 1000 / 20)
    out: list[bytes] = []
    made = 0
    while len(out) < frames_needed:
        if stream.needs_next():
            request, state = next_request(state)
            result = generate(request)
            made += 1
            if on_clip is not None:
                on_clip(made, request)
            audio = finished_stream_audio(leveller, result, stream.input_rate)
            stream.push(StreamClip(audio, request))
        out.append(stream.read())
    assert stream.stats.underruns == 0
    return b"".join(out), state


def pcm_to_wav(pcm: bytes, sample_rate: int = OUTPUT_RATE) -> bytes:
    """s16le stereo PCM -> a WAV file's bytes."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def station_factory(
    engine: EngineLike,
    *,
    out_dir: Path | None = None,
    ahead: int = 3,
    crossfade_s: float = 0.05,
    history_s: float = 30.0,
    start_after: int = 2,
    loudness: LoudnessPolicy | None = None,
    frames_ahead: int = 10,
    write: Callable[[Any, Path, str], ClipFiles] | None = None,
) -> Callable[[RadioState, StationHooks, str], RadioStation]:
    """What ``bot.radio.deps.RadioDeps.make_station`` wants: one station per guild on
    the shared engine, each clip's files kept under ``out_dir`` (by ``write``, e.g. the
    engine's own process-pool writer) so its job can be shown and remixed. Playback starts
    once ``start_after`` clips are ready (silence until then); frames are rendered
    ``frames_ahead`` ahead of the player."""

    def make(state: RadioState, hooks: StationHooks, owner: str) -> RadioStation:
        return RadioStation(
            engine_generator(engine, owner=owner, out_dir=out_dir, write=write),
            state,
            hooks=hooks,
            ahead=ahead,
            crossfade_s=crossfade_s,
            history_s=max(history_s, 1.0),
            start_after=start_after,
            loudness=loudness,
            offload=asyncio.to_thread,
            frames_ahead=frames_ahead,
        )

    return make
