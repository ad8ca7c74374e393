"""The radio tap and the browser stream, on a real station driven frame by frame.

The test plays Discord's part (reading 20 ms frames), so nothing depends on wall-clock pacing;
what the browser would hear is decoded back from the served Ogg Opus and lined up against the
frames the tap numbered, which is what the page's timeline is drawn from.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from generation.params import SpectrogramParams
from generation.radio import RadioStation
from generation.radio_plan import RadioSettings, initial_state
from generation.radio_sim import SyntheticGenerator
from generation.radio_stream import seam_output_index
from tests.web.conftest import open_client
from web.app import HUB
from web.demo import DEMO_GUILD, Demo, DemoHooks, DemoRadios, synthetic_generator
from web.encode import ffmpeg_exe
from web.radio_feed import Tap

CHUNK = 5  # frames read between two polls


async def station_on(generate: Any, **kwargs: Any) -> RadioStation:
    state = initial_state("warm rhodes", 3, RadioSettings(steps=5))
    station = RadioStation(generate, state, ahead=2, start_after=1, **kwargs)
    await station.start()
    await station.wait_ready(2)
    return station


async def test_tap_copies_every_heard_frame_and_marks_clip_starts() -> None:
    station = await station_on(SyntheticGenerator())
    try:
        tap = Tap(station)
        heard: list[bytes] = []
        for _ in range(80):  # 400 frames: past the first seam at ~5.1 s
            heard.extend(station.read() for _ in range(CHUNK))
            tap.poll()
            await asyncio.sleep(0)  # let the station refill its buffer
        first, pcm = tap.frames_from(0)
        assert first == 0
        assert pcm == b"".join(heard)
        assert tap.frame == 400
        later_first, later = tap.frames_from(390)
        assert (later_first, later) == (390, b"".join(heard[390:]))
        marks = tap.now().clips
        assert len(marks) == 2
        assert all(m.job_id for m in marks)
        clip_samples = SpectrogramParams().samples_for_width(512)
        crossfade = round(0.05 * 44_100)
        second_start = seam_output_index(clip_samples - crossfade) / 960
        # Each start is noted at the poll after it: never early, at most one poll late.
        assert 0 <= marks[0].frame <= CHUNK
        assert 0 <= marks[1].frame - second_start <= CHUNK + 1
    finally:
        await station.stop()


@pytest.fixture
async def radio_demo(demo: Demo) -> AsyncIterator[tuple[Demo, RadioStation]]:
    station = await station_on(
        synthetic_generator(demo.directory / "outputs" / "radio-test"),
        hooks=DemoHooks(demo.deps.database, demo.directory),
    )
    assert isinstance(demo.deps.radios, DemoRadios)
    demo.deps.radios.playing = station
    try:
        yield demo, station
    finally:
        demo.deps.radios.playing = None
        await station.stop()


def decode(ogg: bytes) -> np.ndarray:
    pcm = subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-f",
            "s16le",
            "-ar",
            "48000",
            "-ac",
            "2",
            "pipe:1",
        ],
        input=ogg,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)[:, 0].astype(np.float64)


@pytest.mark.timeout(120)
async def test_stream_carries_the_tapped_frames_from_the_asked_frame(
    radio_demo: tuple[Demo, RadioStation],
) -> None:
    demo, station = radio_demo
    client = await open_client(demo.deps)
    token = demo.deps.signer.token("radio", DEMO_GUILD)
    try:
        hub = client.app[HUB]
        tap = hub.tap(DEMO_GUILD)
        assert tap is not None
        # The tap polls on its own every 20 ms; the test polls too, in step with its reads.
        heard = [station.read() for _ in range(100)]
        tap.poll()
        now = await (await client.get(f"/radio/{token}/now.json")).json()
        assert now["frame"] == 100
        assert now["now_playing"].startswith("warm rhodes")
        start = 60
        response = await client.get(f"/radio/{token}/stream.ogg", params={"from": str(start)})
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("audio/ogg")
        received = bytearray()

        async def collect() -> None:
            async for chunk in response.content.iter_any():
                received.extend(chunk)

        reader = asyncio.create_task(collect())
        for _ in range(60):  # 300 more frames, 6 s, through the first seam
            heard.extend(station.read() for _ in range(CHUNK))
            tap.poll()
            await asyncio.sleep(0)
        tap_listeners = tap.listeners
        assert isinstance(demo.deps.radios, DemoRadios)
        demo.deps.radios.playing = None  # the radio stops: the hub drops the tap, streams end
        await asyncio.wait_for(reader, 30)
        assert tap_listeners == 1
        got = decode(bytes(received))
        want = np.frombuffer(b"".join(heard[start:]), dtype="<i2").reshape(-1, 2)[:, 0]
        n = min(len(got), len(want)) - 4800
        assert n > 48_000 * 4
        # Where does the decoded audio line up with the frames from ``start``? (lag in samples)
        lags = range(-2400, 2401, 24)
        scores = [
            float(np.dot(got[2400 + lag : 2400 + lag + n - 4800], want[2400 : n - 2400]))
            for lag in lags
        ]
        best = list(lags)[int(np.argmax(scores))]
        assert abs(best) <= 480  # within 10 ms: the timeline and the sound index one counter
        clips = now["clips"]
        image = await client.get(clips[0]["image"])
        assert image.status == 200
        assert (await image.read())[:4] == b"\x89PNG"
    finally:
        await client.close()


async def test_a_server_without_a_radio_says_so_and_streams_nothing(
    client: Any, demo: Demo
) -> None:
    token = demo.deps.signer.token("radio", 987654321)
    now = await (await client.get(f"/radio/{token}/now.json")).json()
    assert now == {"playing": False}
    assert (await client.get(f"/radio/{token}/stream.ogg")).status == 404
    page = await (await client.get(f"/radio/{token}")).text()
    assert "Nothing is playing yet." in page
