"""The engine's post-processing stage: runners that hand back futures instead of results.

The stand-in runner's results are wrapped in futures the test completes by hand, so "the next
batch ran while the first was still post-processing" and "results come out in order" are
forced orderings, not timing luck.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from generation.engine import GENERIC_FAILURE, CancelCheck, Engine, StepCallback
from generation.types import ClipFiles, GenerationError, GenerationRequest, JobCancelled, Progress
from tests.generation.test_engine import (
    WAIT_S,
    FakeResult,
    Loader,
    StandInRunner,
    fake_writer,
    request,
    settle,
)


class Deferring:
    """The stand-in runner, with every result handed back as a future the test completes."""

    def __init__(self) -> None:
        self.inner = StandInRunner()
        self.pending: dict[str, concurrent.futures.Future[FakeResult]] = {}
        self.results: dict[str, FakeResult | BaseException] = {}
        self.calls = 0
        self.called = threading.Condition()

    def __call__(
        self,
        model: object,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[CancelCheck],
    ) -> list[Any]:
        outcomes = self.inner(model, requests, on_steps, cancels)
        deferred: list[Any] = []
        for r, outcome in zip(requests, outcomes, strict=True):
            future: concurrent.futures.Future[FakeResult] = concurrent.futures.Future()
            self.pending[r.start.prompt] = future
            self.results[r.start.prompt] = outcome
            deferred.append(future)
        with self.called:
            self.calls += 1
            self.called.notify_all()
        return deferred

    def complete(self, label: str, error: BaseException | None = None) -> None:
        outcome = error or self.results[label]
        if isinstance(outcome, BaseException):
            self.pending[label].set_exception(outcome)
        else:
            self.pending[label].set_result(outcome)

    async def until_calls(self, count: int) -> None:
        def wait() -> bool:
            with self.called:
                return self.called.wait_for(lambda: self.calls >= count, WAIT_S)

        assert await asyncio.to_thread(wait), "the runner was never called"


@pytest.fixture
def rig() -> Iterator[tuple[Engine[str, FakeResult], Deferring]]:
    runner = Deferring()
    engine: Engine[str, FakeResult] = Engine(
        loader=Loader(), batch_runner=runner, writer=fake_writer, progress_interval_s=0.0
    )
    yield engine, runner
    for future in runner.pending.values():
        if not future.done():
            future.set_exception(RuntimeError("test over"))
    engine.close(cancel_running=True, timeout=WAIT_S)


async def test_the_next_batch_runs_while_the_last_one_post_processes(
    rig: tuple[Engine[str, FakeResult], Deferring], tmp_path: Path
) -> None:
    engine, runner = rig
    a = asyncio.create_task(engine.render(request("a"), job_id="a", owner="u1", out_dir=tmp_path))
    b = asyncio.create_task(engine.render(request("b"), job_id="b", owner="u2", out_dir=tmp_path))
    await runner.until_calls(2)  # b's batch ran though a's post-processing has not finished
    assert not a.done()
    assert not b.done()
    order: list[str] = []
    a.add_done_callback(lambda _: order.append("a"))
    b.add_done_callback(lambda _: order.append("b"))
    runner.complete("b")  # b is ready first, but results keep the order the jobs ran in
    runner.complete("a")
    files_a, files_b = await asyncio.wait_for(asyncio.gather(a, b), WAIT_S)
    assert order == ["a", "b"]
    assert files_a.mp3.read_text() == "a"
    assert files_b.mp3.read_text() == "b"
    assert files_a.timings["batch_size"] == 1.0


async def test_a_failed_post_processing_fails_that_job_only(
    rig: tuple[Engine[str, FakeResult], Deferring],
) -> None:
    engine, runner = rig
    a = asyncio.create_task(engine.generate(request("a"), job_id="a", owner="u1"))
    b = asyncio.create_task(engine.generate(request("b"), job_id="b", owner="u2"))
    await runner.until_calls(2)
    runner.complete("a", ValueError("phase reconstruction blew up"))
    runner.complete("b")
    error = await settle(a)
    assert isinstance(error, GenerationError)
    assert str(error) == GENERIC_FAILURE
    assert (await asyncio.wait_for(b, WAIT_S)).label == "b"
    kept = GenerationError("That clip could not be finished.")
    c = asyncio.create_task(engine.generate(request("c"), job_id="c", owner="u1"))
    await runner.until_calls(3)
    runner.complete("c", kept)
    assert await settle(c) is kept  # a GenerationError keeps its own words, as before


async def test_cancel_during_post_processing_is_a_cancel_and_events_keep_their_order(
    rig: tuple[Engine[str, FakeResult], Deferring], tmp_path: Path
) -> None:
    engine, runner = rig
    seen: dict[str, list[Progress]] = {"a": [], "b": []}
    a = asyncio.create_task(
        engine.render(
            request("a"), job_id="a", owner="u1", out_dir=tmp_path, on_progress=seen["a"].append
        )
    )
    b = asyncio.create_task(
        engine.render(
            request("b"), job_id="b", owner="u2", out_dir=tmp_path, on_progress=seen["b"].append
        )
    )
    await runner.until_calls(2)
    assert engine.cancel("a") is True  # still post-processing: the job can still be stopped
    runner.complete("a")
    runner.complete("b")
    assert isinstance(await settle(a), JobCancelled)
    await asyncio.wait_for(b, WAIT_S)
    states = [p.state for p in seen["b"]]
    assert states[0] == "queued"
    assert states[-1] == "encoding"
    assert states.index("running") < states.index("encoding")
    assert "encoding" not in [p.state for p in seen["a"]]
    assert not (tmp_path / "a.mp3").exists()


async def test_the_model_runs_at_most_max_in_post_jobs_ahead_of_post_processing() -> None:
    runner = Deferring()
    engine: Engine[str, FakeResult] = Engine(
        loader=Loader(), batch_runner=runner, progress_interval_s=0.0, max_in_post=2
    )
    try:
        jobs = [
            asyncio.create_task(engine.generate(request(x), job_id=x, owner=f"u-{x}"))
            for x in "abc"
        ]
        await runner.until_calls(2)
        assert engine.position("c") == 1  # a and b are post-processing: c waits its turn
        runner.complete("a")
        await runner.until_calls(3)  # room again: c runs
        runner.complete("b")
        runner.complete("c")
        done = await asyncio.wait_for(asyncio.gather(*jobs), WAIT_S)
        assert [r.label for r in done] == ["a", "b", "c"]
        assert engine.busy_seconds > 0.0
    finally:
        engine.close(cancel_running=True, timeout=WAIT_S)


async def test_radio_clips_of_several_servers_share_one_batch() -> None:
    from generation.types import Priority
    from tests.generation.test_engine import by_negative_prompt

    runner = StandInRunner()
    engine: Engine[str, FakeResult] = Engine(
        loader=Loader(),
        batch_runner=runner,
        batch_key=by_negative_prompt,
        max_batch=4,
        autostart=False,
    )
    try:
        jobs = [
            asyncio.create_task(
                engine.generate(
                    request(f"radio{g}"),
                    job_id=f"r{g}",
                    owner=f"radio:{g}",
                    priority=Priority.RADIO,
                )
            )
            for g in range(3)
        ]
        await asyncio.sleep(0)  # let the three submissions reach the queue
        engine.start()
        await asyncio.wait_for(asyncio.gather(*jobs), WAIT_S)
    finally:
        engine.close(timeout=WAIT_S)
    assert runner.batches == [("radio0", "radio1", "radio2")]


class PoolWriter:
    """A writer that hands back a future per clip, as the process pool does; the test writes
    (or fails) each one by hand, in whatever order it likes."""

    def __init__(self) -> None:
        self.started: dict[
            str, tuple[concurrent.futures.Future[ClipFiles], FakeResult, Path, str]
        ] = {}
        self.changed = threading.Condition()

    def __call__(
        self, result: FakeResult, out_dir: Path, stem: str
    ) -> concurrent.futures.Future[ClipFiles]:
        future: concurrent.futures.Future[ClipFiles] = concurrent.futures.Future()
        with self.changed:
            self.started[result.label] = (future, result, out_dir, stem)
            self.changed.notify_all()
        return future

    async def until_started(self, count: int) -> None:
        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(lambda: len(self.started) >= count, WAIT_S)

        assert await asyncio.to_thread(wait), "the writes never started"

    def write(self, label: str) -> None:
        future, result, out_dir, stem = self.started[label]
        future.set_result(fake_writer(result, out_dir, stem))

    def fail(self, label: str) -> None:
        self.started[label][0].set_exception(OSError("No space left on device"))


async def test_writes_in_the_pool_overlap_settle_in_order_and_fail_one_job_only(
    tmp_path: Path,
) -> None:
    writer = PoolWriter()
    engine: Engine[str, FakeResult] = Engine(
        loader=Loader(), batch_runner=StandInRunner(), writer=writer, progress_interval_s=0.0
    )
    try:
        jobs = {
            x: asyncio.create_task(
                engine.render(request(x), job_id=x, owner=f"u-{x}", out_dir=tmp_path)
            )
            for x in "abc"
        }
        # all three are being written at once: one clip's files never hold up the next's
        await writer.until_started(3)
        order: list[str] = []
        for label, task in jobs.items():
            task.add_done_callback(partial(lambda label, _: order.append(label), label))
        writer.write("c")
        writer.fail("b")
        writer.write("a")
        failed = await settle(jobs["b"])
        files = await asyncio.wait_for(asyncio.gather(jobs["a"], jobs["c"]), WAIT_S)
    finally:
        for future, *_ in writer.started.values():
            if not future.done():  # a failed assertion must not leave close() waiting
                future.set_exception(RuntimeError("test over"))
        engine.close(timeout=WAIT_S)
    assert order == ["a", "b", "c"]
    assert isinstance(failed, GenerationError)
    assert str(failed) == GENERIC_FAILURE  # the disk's words go to the log, not to users
    assert [f.mp3.read_text() for f in files] == ["a", "c"]
    assert all(f.timings["write_s"] >= 0.0 for f in files)
