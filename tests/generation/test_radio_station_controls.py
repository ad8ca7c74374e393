"""The station's controls: the queue's duplicate guard, skip and new seed (a morph from the
clip playing now), the listener's volume ramp on the PCM, and the spectrogram strip."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from generation.radio import RadioStation
from generation.radio_plan import initial_state, new_seed, next_request, queue_prompt, skip
from generation.radio_sim import SyntheticGenerator
from generation.radio_stream import (
    RadioStream,
    StreamClip,
    next_gain,
    pcm16_to_float,
    ramp_gain,
    seam_jump_ratio,
)
from generation.radio_types import FRAME_SAMPLES
from generation.types import InvalidRequest
from tests.fakes import ImageGenerator
from tests.generation.test_radio_station import play, run_virtual


def test_the_queue_refuses_a_prompt_already_waiting() -> None:
    state = queue_prompt(initial_state("lofi", 3), "jazz piano")
    with pytest.raises(InvalidRequest, match="already in the queue"):
        queue_prompt(state, "  Jazz   PIANO ")
    assert queue_prompt(state, "dub techno").up_next == ("jazz piano", "dub techno")


def test_skip_morphs_from_the_current_clip_into_the_next_wish() -> None:
    state = initial_state("lofi", 3)
    for _ in range(3):  # alpha 0.75 of the walk (lofi, 3) -> (lofi, 4)
        _, state = next_request(state)
    state = queue_prompt(queue_prompt(state, "jazz"), "dub")
    jumped = skip(state, idle_seed=99)
    request, after = next_request(jumped)
    # The nearest end of the segment heard now is (lofi, 4): the morph starts there.
    assert (request.start.prompt, request.start.seed) == ("lofi", 4)
    assert request.end is not None
    assert (request.end.prompt, request.end.seed) == ("jazz", 4)
    assert request.alpha == 0.25
    assert after.up_next == ("dub",)
    # Four clips of the morph, then the next wish, in order.
    for _ in range(3):
        request, after = next_request(after)
    assert request.alpha == 1.0
    request, after = next_request(after)
    assert request.end is not None
    assert request.end.prompt == "dub"


def test_skip_with_an_empty_queue_walks_to_a_new_seed_and_new_seed_keeps_the_wish() -> None:
    state = initial_state("lofi", 3)
    _, state = next_request(state)  # alpha 0.25: nearest end is the start (lofi, 3)
    request, _ = next_request(skip(state, idle_seed=500))
    assert request.end is not None
    assert (request.end.prompt, request.end.seed) == ("lofi", 500)
    assert request.start.seed == 3
    # New seed during a morph: the walk goes to the seed now, the wish waits for the rollover.
    morphing = queue_prompt(state, "jazz")
    for _ in range(4):
        _, morphing = next_request(morphing)
    assert morphing.target == "jazz"
    assert morphing.alpha == 0.25
    walked = new_seed(morphing, 42)
    requests = []
    for _ in range(5):
        request, walked = next_request(walked)
        requests.append(request)
    assert [(r.end.prompt, r.end.seed) for r in requests if r.end] == [("lofi", 42)] * 4 + [
        ("jazz", 42)
    ]


def tone(seconds: float) -> StreamClip:
    t = np.arange(round(seconds * 44_100)) / 44_100
    mono = 0.5 * np.sin(2 * np.pi * 220 * t)
    return StreamClip(np.stack((mono, mono), axis=1).astype(np.float32))


def test_volume_is_a_smooth_ramp_on_the_pcm_and_not_in_the_saved_history() -> None:
    stream = RadioStream(crossfade_s=0.05)
    stream.push(tone(5.0))
    before = [stream.read() for _ in range(50)]
    stream.gain_target = 0.25
    after = [stream.read() for _ in range(50)]
    level = [float(np.abs(pcm16_to_float(f)).max()) for f in (*before, *after)]
    assert level[49] == pytest.approx(0.5, abs=0.01)
    assert level[-1] == pytest.approx(0.125, abs=0.01)  # the PCM sent is at a quarter
    # The change is spread over frames, never a jump: each frame's level moves a little.
    assert max(abs(a - b) for a, b in itertools.pairwise(level[49:])) < 0.05
    signal = pcm16_to_float(b"".join((*before, *after)))
    assert seam_jump_ratio(signal, [50 * FRAME_SAMPLES], 2000) < 1.1
    # What /radio save keeps is the music as made, whatever the volume.
    saved = pcm16_to_float(stream.recent_pcm(0.5))
    assert float(np.abs(saved).max()) == pytest.approx(0.5, abs=0.01)


def test_gain_ramp_maths() -> None:
    block = np.ones((4, 2), dtype=np.float32)
    assert ramp_gain(block, 0.0, 1.0)[:, 0].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert ramp_gain(block, 0.5, 0.5)[:, 1].tolist() == [0.5] * 4
    assert next_gain(1.0, 0.0, 0.08) == pytest.approx(0.92)
    assert next_gain(0.95, 1.0, 0.08) == 1.0


def test_station_skip_is_heard_next_and_the_strip_shows_recent_clips() -> None:
    gen = ImageGenerator(rtf=4.0)

    async def main() -> tuple[list[str], bytes | None, float]:
        station = RadioStation(gen, initial_state("lofi", 3), ahead=3)
        await station.start()
        await station.wait_ready(3)
        await play(station, 1)
        station.queue_prompt("jazz")
        station.skip(idle_seed=9)
        assert station.stream.ready_count() == 0
        await play(station, 12)
        heard = [c.tag.request.end.prompt for c in station.stream.recent_clips(12)]
        strip = station.strip_png(20)
        station.set_volume(0.5)
        await play(station, 1)
        volume = station.status().volume
        await station.stop()
        return heard, strip, volume

    heard, strip, volume = run_virtual(main)
    # The clip that was playing finishes; the next one heard is already the morph to the wish.
    assert heard[0] == "lofi"
    assert heard[1] == "jazz"
    assert strip is not None
    picture = Image.open(io.BytesIO(strip))
    assert picture.size == (128 * 3, 64)
    assert volume == 0.5


def test_a_clip_made_for_the_old_plan_is_not_played_after_a_skip() -> None:
    gen = SyntheticGenerator(rtf=1.0)

    async def main() -> list[str]:
        station = RadioStation(gen, initial_state("lofi", 3), ahead=2)
        await station.start()
        await station.wait_ready(1)
        await play(station, 1)  # clip 1 plays, clip 2 (old plan) is being made
        assert station.status().generating
        station.queue_prompt("jazz")
        station.skip(idle_seed=9)
        await play(station, 20)
        await station.stop()
        return [
            c.tag.request.end.prompt
            for c in station.stream.recent_clips(20)
            if c.tag.request.end is not None
        ]

    heard = run_virtual(main)
    assert heard[0] == "lofi"
    assert set(heard[1:]) == {"jazz"}
