"""``riffbot web --demo``: the companion without Discord or a model, for trying and testing.

A temporary database gets a few finished jobs of one made-up server (riffs, a remix chain,
a blend) plus one job of another server that its links must never show, and a radio on the
synthetic generator plays, paced in real time by a stand-in for Discord's audio player. Its
clips are recorded as jobs with files, exactly as the bot's radio records them, so the radio
page, the gallery and the metrics all read real rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db import (
    Database,
    create_job,
    describe_clip,
    format_job_id,
    mark_done,
    mark_running,
    record_finished_clip,
    upgrade,
)
from generation.radio import KeptClip, RadioStation
from generation.radio_plan import RadioSettings, RadioState, initial_state
from generation.types import ClipFiles, Endpoint, GenerationRequest, Mode
from web.app import HealthChecks, WebConfig, WebDeps
from web.links import LinkSigner
from web.synth_clips import DEMO_MODEL, write_synthetic_clip

DEMO_GUILD = 4_242_424_242_424_242
OTHER_GUILD = 1_717_171_717_171_717
DEMO_USER = 1_001
RADIO_PROMPT = "lofi hip hop beat, chill, warm rhodes"
RADIO_NEXT = ("jazzy piano trio, brushed drums", "ambient synth pads at night")


def _request(prompt: str, seed: int, *, mode: Mode = Mode.RIFF, end: str | None = None) -> Any:
    return GenerationRequest(
        mode=mode,
        start=Endpoint(prompt, seed),
        end=Endpoint(end, seed + 1) if end else None,
        alpha=0.5 if end else 0.0,
        steps=30,
        width=256,  # 2.6 s clips: the demo starts in seconds on a small CPU
    )


SEED_JOBS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # (key, prompt, options); "parent" names an earlier key
    ("church", "church bells on a sunday morning", {"seed": 11}),
    ("funk", "funky bassline with a tight snare", {"seed": 23}),
    (
        "funk-remix",
        "funky bassline with a tight snare, more cowbell",
        {"seed": 24, "parent": "funk"},
    ),
    ("funk-remix-2", "funky bassline, cowbell, slower", {"seed": 25, "parent": "funk-remix"}),
    ("funk-extend", "funky bassline with a tight snare", {"seed": 26, "parent": "funk"}),
    ("blend", "rainy jazz cafe", {"seed": 31, "end": "synthwave sunset", "mode": Mode.BLEND}),
)


def seed_jobs(database: Database, data_dir: Path) -> dict[str, int]:
    """Write the demo's finished jobs (files included); returns key -> job id."""
    ids: dict[str, int] = {}
    out = data_dir / "outputs"
    for key, prompt, options in SEED_JOBS:
        request = _request(
            prompt,
            int(options["seed"]),
            mode=options.get("mode", Mode.RIFF),
            end=options.get("end"),
        )
        _, files = write_synthetic_clip(request, out, f"demo-{key}")
        parent = ids.get(str(options.get("parent", "")))
        ids[key] = database.call(
            _record,
            request,
            files,
            data_dir=data_dir,
            guild_id=DEMO_GUILD,
            parent_id=parent,
            action="remix" if parent else None,
        )
    foreign = _request("a job of another server", 99)
    _, files = write_synthetic_clip(foreign, out, "demo-foreign", picture=False)
    ids["foreign"] = database.call(
        _record,
        foreign,
        files,
        data_dir=data_dir,
        guild_id=OTHER_GUILD,
        parent_id=None,
        action=None,
    )
    return ids


def _record(
    session: Session,
    request: GenerationRequest,
    files: ClipFiles,
    *,
    data_dir: Path,
    guild_id: int,
    parent_id: int | None,
    action: str | None,
) -> int:
    job = record_finished_clip(
        session,
        request,
        files,
        data_dir=data_dir,
        user_id=DEMO_USER,
        model_id=DEMO_MODEL,
        guild_id=guild_id,
        parent_id=parent_id,
        action=action,
    )
    return job.id


class DemoHooks:
    """The bot's radio bookkeeping, minus Discord: one job per clip, each the child of the last."""

    def __init__(self, database: Database, data_dir: Path) -> None:
        self.database = database
        self.data_dir = data_dir

    async def clip_requested(self, request: GenerationRequest, parent_job_id: str | None) -> str:
        def write(session: Session) -> int:
            parent = int(parent_job_id.lstrip("#")) if parent_job_id else None
            job = create_job(
                session,
                request,
                user_id=DEMO_USER,
                model_id=DEMO_MODEL,
                guild_id=DEMO_GUILD,
                parent_id=parent,
                action="radio",
            )
            mark_running(session, job.id)
            return job.id

        return format_job_id(await self.database.run(write))

    async def clip_finished(self, job_id: str, error: str | None, files: ClipFiles | None) -> None:
        if error is not None or files is None:
            return
        outputs = await asyncio.to_thread(describe_clip, files)
        await self.database.run(
            mark_done,
            int(job_id.lstrip("#")),
            outputs,
            data_dir=self.data_dir,
            timings=dict(files.timings),
            duration_s=files.duration_s,
        )

    async def clip_playing(self, job_id: str, state: RadioState) -> None:
        return None


def synthetic_generator(out_dir: Path) -> Any:
    """request -> clip with files, in a thread: the demo's stand-in for the engine."""

    async def generate(request: GenerationRequest, job_id: str) -> KeptClip:
        stem = f"radio-{job_id.lstrip('#')}"
        result, files = await asyncio.to_thread(
            write_synthetic_clip, request, out_dir, stem, picture=False
        )
        return KeptClip(result.audio, result.sample_rate, files)

    return generate


class Player:
    """Reads the station every 20 ms on the wall clock, as discord.py's player thread does."""

    def __init__(self, station: RadioStation) -> None:
        self.station = station
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="demo-player")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        started = time.monotonic()
        read = 0
        while True:
            due = int((time.monotonic() - started) / 0.02)
            while read < due:  # late after a busy moment: catch up, as discord.py's player does
                self.station.read()
                read += 1
            await asyncio.sleep(0.02)


@dataclass
class DemoRadios:
    """The demo's :class:`web.radio_feed.RadioSource`: one station, for the demo server."""

    playing: RadioStation | None = None

    def station(self, guild_id: int) -> RadioStation | None:
        return self.playing if guild_id == DEMO_GUILD else None

    def stations(self) -> dict[int, Any]:
        return {DEMO_GUILD: self.playing} if self.playing is not None else {}


@dataclass
class Demo:
    deps: WebDeps
    radios: DemoRadios
    job_ids: dict[str, int]
    directory: Path
    _player: Player | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    async def start_radio(self) -> None:
        """Start the synthetic radio on the running loop; prompts queued morph in turn."""
        state = initial_state(RADIO_PROMPT, 7, RadioSettings(steps=30))
        station = RadioStation(
            synthetic_generator(self.directory / "outputs" / "radio"),
            state,
            hooks=DemoHooks(self.deps.database, self.directory),
            ahead=2,
            start_after=1,
        )
        for prompt in RADIO_NEXT:
            station.queue_prompt(prompt)
        await station.start()
        await station.wait_ready(1)
        self.radios.playing = station
        self._player = Player(station)
        self._player.start()

    async def close(self) -> None:
        if self._player is not None:
            await self._player.stop()
        if self.radios.playing is not None:
            await self.radios.playing.stop()
        await self.deps.database.aclose()
        self.deps.database.dispose()
        if self._tmp is not None:
            self._tmp.cleanup()


def build_demo(
    config: WebConfig | None = None,
    *,
    directory: Path | None = None,
    secret: str | None = None,
    seed: bool | None = None,
) -> Demo:
    """A demo world in ``directory`` (a fresh temporary one by default).

    A directory an earlier call seeded is reopened as it is (``seed`` None decides so by
    looking; a restarted demo keeps its jobs, like a restarted bot).
    """
    tmp = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="riffbot-web-demo-")
        directory = Path(tmp.name)
    directory.mkdir(parents=True, exist_ok=True)
    database = Database(f"sqlite:///{directory / 'demo.db'}")
    upgrade(database.url)
    index = directory / "demo-jobs.json"
    if seed is None:
        seed = not index.exists()
    if seed:
        ids = seed_jobs(database, directory)
        index.write_text(json.dumps(ids), encoding="utf-8")
    else:
        ids = {str(k): int(v) for k, v in json.loads(index.read_text(encoding="utf-8")).items()}
    signer = LinkSigner(secret or secrets.token_urlsafe(32))
    radios = DemoRadios()
    deps = WebDeps(
        database=database,
        data_dir=directory,
        signer=signer,
        config=config or WebConfig(),
        radios=radios,
        health=HealthChecks(engine_alive=lambda: radios.playing is not None),
        index_links=(
            ("Demo radio", f"/radio/{signer.token('radio', DEMO_GUILD)}"),
            ("Demo gallery", f"/g/{signer.token('gallery', DEMO_GUILD)}"),
        ),
    )
    return Demo(deps=deps, radios=radios, job_ids=ids, directory=directory, _tmp=tmp)
