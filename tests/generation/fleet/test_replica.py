"""The replica's body without Ray: idempotency by job id, results as bytes, cancel on leave."""

from __future__ import annotations

import asyncio
from pathlib import Path

from generation.fleet.replica import EngineReplica
from generation.fleet.wire import Accepted, ClipBytes, Done, Event, Failed, JobOrder
from generation.types import Endpoint, GenerationRequest, Mode, Progress
from tests.generation.fleet.standin import StandIn, read_log


def order(job_id: str, prompt: str, steps: int = 3) -> JobOrder:
    request = GenerationRequest(Mode.RIFF, Endpoint(prompt, seed=1), steps=steps, seed_image=None)
    return JobOrder(job_id=job_id, owner="user:1", request=request)


async def collect(replica: EngineReplica, job: JobOrder) -> list[Event]:
    return [event async for event in replica.run(job)]


async def test_a_repeated_job_id_attaches_to_the_run_instead_of_generating_twice(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    replica = EngineReplica(StandIn(str(log), step_s=0.02), name="r1")
    try:
        first, second = await asyncio.gather(
            collect(replica, order("job-1", "twice")), collect(replica, order("job-1", "twice"))
        )
        later = await collect(replica, order("job-1", "twice"))
    finally:
        replica.engine.close()
    for events in (first, second, later):
        assert events[0] == Accepted("r1")
        assert isinstance(events[-1], Done)
        clip = events[-1].value
        assert isinstance(clip, ClipBytes)
        assert clip.mp3.startswith(b".mp3 of twice")
        assert clip.params_json.startswith(b'{"prompt": "twice"')
    assert [line[0] for line in read_log(log)] == ["start", "end"]  # generated once
    assert any(isinstance(event, Progress) and event.state == "running" for event in first)


async def test_the_last_listener_leaving_cancels_the_job_on_the_engine(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replica = EngineReplica(StandIn(str(log), step_s=0.02), name="r1")
    try:
        stream = replica.run(order("job-2", "leaving", steps=200))
        async for event in stream:
            if isinstance(event, Progress) and event.state == "running" and event.step >= 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]  # what Serve does when the caller cancels its response
        rerun = await collect(replica, order("job-2", "leaving", steps=2))
    finally:
        replica.engine.close()
    cancelled = [line for line in read_log(log) if line[0] == "cancelled"]
    assert len(cancelled) == 1
    assert int(cancelled[0][2]) < 200
    # A cancelled run is not remembered as the job's answer: sending it again runs it.
    assert isinstance(rerun[-1], Done)
    assert not isinstance(rerun[-1], Failed)
