"""The fleet on a real local Ray Serve: streamed progress, bytes written here, cancel, faults.

Ray starts once per session (``ray_cluster``); each test deploys its own small application of
stand-in replicas (a real ``Engine`` whose model sleeps per step) and talks to it through the
same ``FleetRunner`` the bot uses.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from generation.fleet.deploy import FleetConfig, app_handle, deploy
from generation.fleet.runner import GAVE_UP, RETRYING, UNREACHABLE, FleetRunner
from generation.types import (
    Endpoint,
    GenerationError,
    GenerationRequest,
    JobCancelled,
    Mode,
    Progress,
)
from tests.generation.fleet.standin import StandIn, read_log

pytestmark = pytest.mark.usefixtures("ray_cluster")

_names = itertools.count()


def riff(prompt: str, steps: int = 3) -> GenerationRequest:
    return GenerationRequest(Mode.RIFF, Endpoint(prompt, seed=1), steps=steps, seed_image=None)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fresh application name and its stand-in's log; deleted after the test."""
    from ray import serve

    name = f"fleet-test-{next(_names)}"
    yield name, tmp_path / "replicas.log"
    serve.delete(name)


def start(name: str, log: Path, *, replicas: int = 1, step_s: float = 0.05) -> FleetRunner:
    config = FleetConfig(app_name=name, min_replicas=replicas, max_replicas=replicas)
    deploy(StandIn(str(log), step_s=step_s), config)
    return FleetRunner(lambda: app_handle(name), reconnect_s=0.1)


def kill_replica(replica_id: str) -> None:
    import ray

    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith("SERVE_REPLICA") and actor["name"].endswith(replica_id):
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
            return
    raise AssertionError(f"no actor for replica {replica_id}")


async def test_jobs_stream_progress_batch_on_a_replica_and_land_here_as_files(
    app: tuple[str, Path], tmp_path: Path
) -> None:
    name, log = app
    runner = start(name, log)
    seen: dict[str, list[Progress]] = {"a": [], "b": [], "c": []}
    results = await asyncio.gather(
        *(
            runner.render(
                riff(prompt),
                job_id=f"job-{prompt}",
                owner=f"user:{prompt}",
                out_dir=tmp_path / "out" / prompt,
                on_progress=seen[prompt].append,
            )
            for prompt in seen
        )
    )
    for prompt, files in zip(seen, results, strict=True):
        assert files.mp3 == tmp_path / "out" / prompt / f"job-{prompt}.mp3"
        assert files.mp3.read_bytes().startswith(f".mp3 of {prompt} by".encode())
        assert files.params_json.read_text().startswith(f'{{"prompt": "{prompt}"')
        states = [progress.state for progress in seen[prompt]]
        assert states[0] == "queued"
        assert "running" in states
        assert seen[prompt][-1].state == "encoding"
        assert runner.position(f"job-{prompt}") is None  # done: unknown again
    # Batching still happens inside the replica: some batch held more than one job.
    assert max(int(line[2]) for line in read_log(log) if line[0] == "start") > 1


async def test_cancel_is_carried_to_the_replica(app: tuple[str, Path], tmp_path: Path) -> None:
    name, log = app
    runner = start(name, log)
    running = asyncio.Event()

    def on_progress(progress: Progress) -> None:
        if progress.state == "running" and progress.step >= 1:
            running.set()

    job = asyncio.ensure_future(
        runner.render(
            riff("long", steps=400),
            job_id="job-long",
            owner="user:1",
            out_dir=tmp_path,
            on_progress=on_progress,
        )
    )
    await running.wait()
    assert runner.position("job-long") == 0
    assert runner.cancel("job-long")
    with pytest.raises(JobCancelled):
        await job
    assert not runner.cancel("job-long")
    # The replica stopped generating (well before its 400 steps) and works on nothing now.
    after = await runner.render(riff("next"), job_id="job-next", owner="user:1", out_dir=tmp_path)
    assert after.mp3.exists()
    cancelled = [line for line in read_log(log) if line[0] == "cancelled"]
    assert [line[1] for line in cancelled] == ["long"]
    assert int(cancelled[0][2]) < 400
    assert await app_handle(name).running.remote() == []


async def test_a_killed_replica_s_job_runs_again_on_another_and_delivers_once(
    app: tuple[str, Path], tmp_path: Path
) -> None:
    name, log = app
    runner = start(name, log, replicas=2)
    killed: list[str] = []
    notes: list[str] = []

    def on_progress(progress: Progress) -> None:
        if progress.note:
            notes.append(progress.note)
        replica = runner.replica_of("job-k")
        if not killed and progress.state == "running" and progress.step >= 2 and replica:
            killed.append(replica)
            kill_replica(replica)

    files = await runner.render(
        riff("survivor", steps=20),
        job_id="job-k",
        owner="user:1",
        out_dir=tmp_path / "out",
        on_progress=on_progress,
    )
    assert len(killed) == 1
    lines = read_log(log)
    starts = [line for line in lines if line[0] == "start"]
    ends = [line for line in lines if line[0] == "end"]
    assert len(starts) == 2  # once on the killed replica, once again elsewhere
    assert len(ends) == 1  # and exactly one result
    assert ends[0][2] != starts[0][3]  # not by the killed replica's process
    assert files.mp3.read_bytes() == f".mp3 of survivor by {ends[0][2]}".encode()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "job-k.json",
        "job-k.mp3",
        "job-k.picture.png",
        "job-k.png",
    ]
    assert notes == [RETRYING.format(n=2, m=3)]


async def test_attempts_are_bounded(app: tuple[str, Path], tmp_path: Path) -> None:
    name, log = app
    start(name, log)
    runner = FleetRunner(lambda: app_handle(name), max_attempts=1)

    def on_progress(progress: Progress) -> None:
        replica = runner.replica_of("job-b")
        if progress.state == "running" and replica:
            kill_replica(replica)

    with pytest.raises(GenerationError) as failure:
        await runner.render(
            riff("fated", steps=50),
            job_id="job-b",
            owner="user:1",
            out_dir=tmp_path,
            on_progress=on_progress,
        )
    assert str(failure.value) == GAVE_UP.format(m=1)
    assert not (tmp_path / "job-b.mp3").exists()


async def test_out_of_memory_fails_the_batch_clearly_and_the_replica_keeps_serving(
    app: tuple[str, Path], tmp_path: Path
) -> None:
    name, log = app
    runner = start(name, log)
    with pytest.raises(GenerationError, match="ran out of memory on this batch"):
        await runner.render(riff("oom please"), job_id="job-o", owner="user:1", out_dir=tmp_path)
    files = await runner.render(riff("fine"), job_id="job-f", owner="user:1", out_dir=tmp_path)
    assert files.mp3.exists()
    pids = {line[-1] for line in read_log(log)}
    assert len(pids) == 1  # the same replica process served both


async def test_an_unreachable_cluster_keeps_the_job_waiting_until_it_is_back(
    app: tuple[str, Path], tmp_path: Path
) -> None:
    name, log = app
    runner = FleetRunner(lambda: app_handle(name), reconnect_s=0.1, max_attempts=1)
    told = asyncio.Event()
    notes: list[str | None] = []

    def on_progress(progress: Progress) -> None:
        notes.append(progress.note)
        if progress.note == UNREACHABLE:
            told.set()

    job = asyncio.ensure_future(
        runner.render(
            riff("patient"),
            job_id="job-p",
            owner="user:1",
            out_dir=tmp_path,
            on_progress=on_progress,
        )
    )
    await told.wait()
    assert not job.done()
    await asyncio.to_thread(start, name, log)  # the cluster comes back
    files = await job  # with max_attempts=1: waiting spent no attempt
    assert files.mp3.read_bytes().startswith(b".mp3 of patient")
    assert notes.count(UNREACHABLE) == 1  # said once, not on every retry


async def test_takes_run_as_jobs_of_their_own_and_land_in_order(
    app: tuple[str, Path], tmp_path: Path
) -> None:
    name, log = app
    runner = start(name, log, replicas=2)
    requests = [riff("take one"), riff("take two"), riff("take three")]
    outcomes = await runner.render_takes(
        requests,
        job_ids=["t1", "t2", "t3"],
        owner="user:7",
        out_dirs=[tmp_path / "set"] * 3,
    )
    prompts = ["take one", "take two", "take three"]
    for prompt, job_id, outcome in zip(prompts, ["t1", "t2", "t3"], outcomes, strict=True):
        assert not isinstance(outcome, GenerationError)
        assert outcome.mp3 == tmp_path / "set" / f"{job_id}.mp3"
        assert outcome.mp3.read_bytes().startswith(f".mp3 of {prompt} by".encode())
