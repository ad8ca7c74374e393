"""The job engine with stand-in runners: threads, loops, fairness, progress, cancel, errors, close.

The stand-in runner is pure Python and is steered with ``threading.Event`` holds (a request can
be held before any of its steps), so every ordering here is forced, never hoped for.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from generation.engine import (
    GENERIC_FAILURE,
    CancelCheck,
    Engine,
    EngineClosed,
    Preview,
    StepCallback,
)
from generation.models import LoadedModel
from generation.pipeline_engine import pipeline_engine
from generation.scheduling import OwnerLimit, QueueFull
from generation.types import (
    ClipFiles,
    Endpoint,
    GenerationError,
    GenerationRequest,
    InvalidRequest,
    JobCancelled,
    JobRunner,
    Mode,
    Priority,
    Progress,
)

WAIT_S = 10.0  # a safety net against hangs, never a synchronisation mechanism


@dataclass(frozen=True)
class FakeResult:
    label: str
    steps: int
    model: object


class StandInRunner:
    """Runs each request for ``request.steps`` steps; can hold a request before a given step."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, ...]] = []
        self.cancel_seen: set[str] = set()
        self.previews: list[tuple[str, int]] = []
        self.fail: dict[str, BaseException] = {}
        self.batch_error: Exception | None = None
        self.step_hook: Callable[[], None] | None = None
        self.threads: set[int] = set()
        self._holds: dict[tuple[str, int], threading.Event] = {}
        self._reached: defaultdict[tuple[str, int], threading.Event] = defaultdict(threading.Event)

    def hold(self, label: str, step: int = 0) -> threading.Event:
        """Hold ``label`` before it runs step ``step + 1``; returns the 'reached' event."""
        self._holds[(label, step)] = threading.Event()
        return self._reached[(label, step)]

    def release(self, label: str, step: int = 0) -> None:
        self._holds[(label, step)].set()

    def release_all(self) -> None:
        for event in self._holds.values():
            event.set()

    def __call__(
        self,
        model: object,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[CancelCheck],
    ) -> list[FakeResult | BaseException]:
        self.threads.add(threading.get_ident())
        labels = [r.start.prompt for r in requests]
        self.batches.append(tuple(labels))
        if self.batch_error is not None:
            raise self.batch_error
        outcomes: list[FakeResult | BaseException | None] = [None] * len(requests)
        for step in range(max(r.steps for r in requests)):
            for i, (request, label) in enumerate(zip(requests, labels, strict=True)):
                if outcomes[i] is not None:
                    continue
                self._pause(label, step)
                if cancels[i]():
                    self.cancel_seen.add(label)
                    outcomes[i] = JobCancelled("stopped")
                    continue
                if self.step_hook is not None:
                    self.step_hook()
                on_steps[i](step + 1, request.steps, self._preview(label, step + 1))
                if step + 1 == request.steps:
                    outcomes[i] = self.fail.get(label) or FakeResult(label, request.steps, model)
        return [o for o in outcomes if o is not None]

    def _pause(self, label: str, step: int) -> None:
        hold = self._holds.get((label, step))
        if hold is not None:
            self._reached[(label, step)].set()
            if not hold.wait(WAIT_S):
                raise RuntimeError(f"test never released {label} at step {step}")

    def _preview(self, label: str, step: int) -> Preview:
        def render() -> bytes:
            self.previews.append((label, step))
            return f"{label}@{step}".encode()

        return render


class Loader:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls = 0
        self.threads: set[int] = set()
        self.fail_times = fail_times

    def __call__(self) -> str:
        self.calls += 1
        self.threads.add(threading.get_ident())
        if self.calls <= self.fail_times:
            raise OSError("disk on fire")
        return "MODEL"


def fake_writer(result: FakeResult, out_dir: Path, stem: str) -> ClipFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}{suffix}" for suffix in (".mp3", ".png", ".picture.png", ".json")]
    for path in paths:
        path.write_text(result.label)
    mp3, raw, picture, params = paths
    return ClipFiles(mp3, raw, picture, params, duration_s=5.11, timings={"mp3_s": 0.25})


def request(label: str, steps: int = 3, key: str = "") -> GenerationRequest:
    """A txt2img request; ``key`` (the negative prompt) is what the test batch key reads."""
    return GenerationRequest(
        mode=Mode.RIFF,
        start=Endpoint(label, seed=1),
        steps=steps,
        seed_image=None,
        negative_prompt=key,
    )


def by_negative_prompt(r: GenerationRequest) -> Hashable:
    return r.negative_prompt


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    engine: Engine[str, FakeResult]
    runner: StandInRunner
    loader: Loader


EngineFactory = Callable[..., Rig]


@pytest.fixture
def make_engine() -> Iterator[EngineFactory]:
    rigs: list[Rig] = []

    def factory(**kwargs: Any) -> Rig:
        runner = kwargs.pop("runner", None) or StandInRunner()
        loader = kwargs.pop("loader", None) or Loader()
        args: dict[str, Any] = {
            "writer": fake_writer,
            "max_per_owner": 20,
            "progress_interval_s": 0.0,
        }
        args.update(kwargs)
        engine: Engine[str, FakeResult] = Engine(loader=loader, batch_runner=runner, **args)
        rig = Rig(engine, runner, loader)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        rig.runner.release_all()
        rig.engine.close(cancel_running=True, timeout=WAIT_S)


async def reached(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT_S), "the runner never got there"


class ProgressLog:
    """Collects progress on the loop and lets a test await a condition on it."""

    def __init__(self) -> None:
        self.items: list[Progress] = []
        self._changed = asyncio.Event()

    def __call__(self, progress: Progress) -> None:
        self.items.append(progress)
        self._changed.set()

    async def until(self, predicate: Callable[[list[Progress]], bool]) -> None:
        while not predicate(self.items):
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), WAIT_S)


def submit(rig: Rig, label: str, owner: str | None = None) -> asyncio.Task[FakeResult]:
    """Queue ``label`` as its own job id, owned by ``owner`` (default: a user of its own)."""
    return asyncio.create_task(
        rig.engine.generate(request(label), job_id=label, owner=owner or f"user:{label}")
    )


async def settle(task: asyncio.Task[Any]) -> BaseException | None:
    """Wait for a task and return its exception (or None)."""
    await asyncio.wait_for(asyncio.wait([task]), WAIT_S)
    return task.exception()


# --- results, model ownership ------------------------------------------------------------


async def test_render_writes_files_and_the_model_loads_once_in_the_worker(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    rig = make_engine()
    files = [
        await rig.engine.render(
            request(f"r{n}"), job_id=f"job{n}", owner="user:1", out_dir=tmp_path
        )
        for n in range(3)
    ]
    assert [f.mp3.read_text() for f in files] == ["r0", "r1", "r2"]
    assert files[0].mp3 == tmp_path / "job0.mp3"
    assert files[0].timings["mp3_s"] == 0.25
    assert {"queued_s", "generate_s", "write_s", "batch_size"} <= set(files[0].timings)
    assert rig.loader.calls == 1
    assert threading.get_ident() not in rig.loader.threads
    assert rig.loader.threads == rig.runner.threads
    assert rig.engine.position("job0") is None


async def test_generate_returns_the_raw_result(make_engine: EngineFactory) -> None:
    rig = make_engine(writer=None)
    result = await rig.engine.generate(
        request("radio clip"), job_id="r1", owner="radio:guild:9", priority=Priority.RADIO
    )
    assert result == FakeResult("radio clip", 3, "MODEL")
    with pytest.raises(RuntimeError, match="no writer"):
        await rig.engine.render(request("x"), job_id="x", owner="u", out_dir=Path("."))


async def test_invalid_requests_are_refused_before_they_are_queued(
    make_engine: EngineFactory,
) -> None:
    """The engine's validator runs on every submission (bot, radio, CLI alike): a refusal
    reaches the caller with its message, and the runner never sees the request."""

    def validate(r: GenerationRequest) -> GenerationRequest:
        if not r.start.prompt.strip():
            raise InvalidRequest("Say what the music should sound like.")
        return replace(r, start=replace(r.start, prompt=r.start.prompt.strip()))

    rig = make_engine(validate=validate)
    with pytest.raises(InvalidRequest, match="Say what"):
        await rig.engine.generate(request("   "), job_id="empty", owner="user:1")
    assert rig.engine.position("empty") is None
    result = await rig.engine.generate(request("  jazz  "), job_id="ok", owner="user:1")
    assert result.label == "jazz"
    assert rig.runner.batches == [("jazz",)]


def test_the_engine_is_a_job_runner(make_engine: EngineFactory) -> None:
    runner: JobRunner = make_engine().engine
    assert runner.position("unknown") is None
    assert runner.cancel("unknown") is False


def test_unsafe_job_ids_make_safe_file_names(make_engine: EngineFactory, tmp_path: Path) -> None:
    rig = make_engine()
    files = rig.engine.render_sync(request("x"), tmp_path, job_id="../../etc/passwd")
    assert files.mp3.parent == tmp_path
    assert files.mp3.read_text() == "x"


# --- fairness and batching ---------------------------------------------------------------


async def test_a_late_user_runs_before_the_flooders_third_job(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine()
    held = rig.runner.hold("a1")
    tasks = [asyncio.create_task(rig.engine.generate(request("a1"), job_id="a1", owner="user:a"))]
    await reached(held)
    for n in range(2, 11):
        tasks.append(
            asyncio.create_task(
                rig.engine.generate(request(f"a{n}"), job_id=f"a{n}", owner="user:a")
            )
        )
    tasks.append(
        asyncio.create_task(rig.engine.generate(request("b1"), job_id="b1", owner="user:b"))
    )
    await asyncio.sleep(0)  # let every task reach the engine's queue
    assert rig.engine.position("b1") == 1
    rig.runner.release("a1")
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    order = [labels[0] for labels in rig.runner.batches]
    assert order.index("b1") < order.index("a3")


async def test_radio_is_served_under_interactive_load(make_engine: EngineFactory) -> None:
    rig = make_engine(radio_every=2, max_per_radio_owner=3)
    held = rig.runner.hold("i0")
    first = asyncio.create_task(rig.engine.generate(request("i0"), job_id="i0", owner="user:0"))
    await reached(held)
    tasks = [first]
    for n in range(1, 7):
        tasks.append(
            asyncio.create_task(
                rig.engine.generate(request(f"i{n}"), job_id=f"i{n}", owner=f"user:{n}")
            )
        )
    for n in range(2):
        tasks.append(
            asyncio.create_task(
                rig.engine.generate(
                    request(f"r{n}"), job_id=f"r{n}", owner="radio:guild:1", priority=Priority.RADIO
                )
            )
        )
    await asyncio.sleep(0)
    rig.runner.release("i0")
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    order = [labels[0] for labels in rig.runner.batches]
    assert order == ["i0", "r0", "i1", "r1", "i2", "i3", "i4", "i5", "i6"]


async def test_batches_group_same_keys_only_and_respect_max_batch(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine(max_batch=2, batch_key=by_negative_prompt)
    held = rig.runner.hold("first")
    tasks = [
        asyncio.create_task(
            rig.engine.generate(request("first", key="k0"), job_id="first", owner="user:0")
        )
    ]
    await reached(held)
    for label, key in [("a", "k1"), ("b", "k2"), ("c", "k1"), ("d", "k1")]:
        tasks.append(
            asyncio.create_task(
                rig.engine.generate(request(label, key=key), job_id=label, owner=f"user:{label}")
            )
        )
    await asyncio.sleep(0)
    rig.runner.release("first")
    results = await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    assert rig.runner.batches == [("first",), ("a", "c"), ("b",), ("d",)]
    assert [r.label for r in results] == ["first", "a", "b", "c", "d"]


async def test_takes_run_as_one_batch_whatever_max_batch_and_count_as_one_job(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    rig = make_engine(max_batch=1, max_per_owner=1, batch_key=by_negative_prompt)
    held = rig.runner.hold("first")
    first = asyncio.create_task(
        rig.engine.generate(request("first"), job_id="first", owner="user:9")
    )
    await reached(held)
    takes = [request(f"take{i}") for i in range(1, 4)]
    ids = ["t1", "t2", "t3"]
    outcome = asyncio.create_task(
        rig.engine.render_takes(
            takes, job_ids=ids, owner="user:1", out_dirs=[tmp_path / i for i in ids]
        )
    )
    await asyncio.sleep(0)
    # the owner limit of 1 admits the set of three: it is one job
    assert [rig.engine.position(i) for i in ids] == [1, 2, 3]
    with pytest.raises(OwnerLimit):
        await rig.engine.generate(request("more"), job_id="more", owner="user:1")
    rig.runner.release("first")
    files = await asyncio.wait_for(outcome, WAIT_S)
    await first
    assert rig.runner.batches == [("first",), ("take1", "take2", "take3")]
    assert [f.mp3.name for f in files if isinstance(f, ClipFiles)] == [
        "t1.mp3",
        "t2.mp3",
        "t3.mp3",
    ]


def test_a_group_is_queued_whole_or_not_at_all(make_engine: EngineFactory, tmp_path: Path) -> None:
    rig = make_engine()
    with pytest.raises(InvalidRequest, match="already queued"):
        rig.engine.render_takes_sync(
            [request("a"), request("b")], tmp_path, job_ids=["same", "same"]
        )
    assert rig.engine.position("same") is None
    assert rig.engine.snapshot() == []


async def test_a_failing_take_comes_back_as_its_error_while_the_others_land(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    rig = make_engine()
    rig.runner.fail["b"] = InvalidRequest("no good")
    outcomes = await asyncio.wait_for(
        rig.engine.render_takes(
            [request("a"), request("b")],
            job_ids=["a", "b"],
            owner="user:1",
            out_dirs=[tmp_path / "a", tmp_path / "b"],
        ),
        WAIT_S,
    )
    assert isinstance(outcomes[0], ClipFiles)
    assert isinstance(outcomes[1], InvalidRequest)
    assert str(outcomes[1]) == "no good"


def test_takes_sync_pumps_every_takes_progress_on_the_calling_thread(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    rig = make_engine()
    seen: list[tuple[str, str, int, int]] = []
    caller = threading.get_ident()
    threads: set[int] = set()

    def log(progress: Progress) -> None:
        threads.add(threading.get_ident())
        seen.append((progress.job_id, progress.state, progress.step, progress.total_steps))

    files = rig.engine.render_takes_sync(
        [request("x"), request("y")], tmp_path, log, job_ids=["x", "y"]
    )
    assert [f.mp3.name for f in files] == ["x.mp3", "y.mp3"]
    assert rig.runner.batches == [("x", "y")]
    assert threads == {caller}
    assert ("x", "running", 3, 3) in seen
    assert ("y", "running", 3, 3) in seen


# --- positions, ETA and progress -----------------------------------------------------------


async def test_positions_and_queued_progress(make_engine: EngineFactory) -> None:
    rig = make_engine()
    seen: dict[str, list[Progress]] = defaultdict(list)
    held = rig.runner.hold("a")

    def start(label: str) -> asyncio.Task[FakeResult]:
        return asyncio.create_task(
            rig.engine.generate(
                request(label),
                job_id=label,
                owner=f"user:{label}",
                on_progress=seen[label].append,
            )
        )

    tasks = [start("a")]
    await reached(held)
    tasks += [start("b"), start("c")]
    await asyncio.sleep(0)
    assert [rig.engine.position(x) for x in "abc"] == [0, 1, 2]
    assert rig.engine.position("zzz") is None
    assert [v.job_id for v in rig.engine.snapshot()] == ["a", "b", "c"]
    rig.runner.release("a")
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    assert rig.engine.position("a") is None
    c_places = [p.position for p in seen["c"] if p.state == "queued"]
    assert c_places == [2, 1]  # queued second, moved up when a finished and b started
    states = [p.state for p in seen["b"]]
    assert states[0] == "queued"
    assert states[1:] == ["running"] * 4  # step 0 then steps 1..3, no encoding for generate
    assert [p.step for p in seen["b"][1:]] == [0, 1, 2, 3]
    assert seen["b"][-1].preview_png == b"b@3"


async def test_eta_comes_from_measured_step_durations(make_engine: EngineFactory) -> None:
    clock = FakeClock()
    rig = make_engine(clock=clock)
    rig.runner.step_hook = lambda: setattr(clock, "now", clock.now + 2.0)  # 2 s per step
    await rig.engine.generate(request("warm", steps=4), job_id="warm", owner="user:w")
    held = rig.runner.hold("a", step=1)
    seen = ProgressLog()
    task_a = asyncio.create_task(
        rig.engine.generate(request("a", steps=4), job_id="a", owner="user:a")
    )
    await reached(held)  # a has done 1 of 4 steps
    task_b = asyncio.create_task(
        rig.engine.generate(request("b", steps=4), job_id="b", owner="user:b", on_progress=seen)
    )
    await seen.until(bool)
    # a: 3 steps left, then b's 4, at the measured 2 s per step.
    assert rig.engine.eta("b") == pytest.approx((3 + 4) * 2.0)
    assert seen.items[0].state == "queued"
    assert seen.items[0].eta_s == pytest.approx(14.0)
    rig.runner.release("a", step=1)
    await asyncio.wait_for(asyncio.gather(task_a, task_b), WAIT_S)
    running = [p for p in seen.items if p.state == "running" and p.step == 2]
    assert running[0].eta_s == pytest.approx(2 * 2.0)  # 2 of 4 done after 4 s


async def test_progress_arrives_on_the_callers_loop_thread(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    rig = make_engine()
    threads: set[int] = set()
    states: list[str] = []

    def on_progress(progress: Progress) -> None:
        threads.add(threading.get_ident())
        states.append(progress.state)

    await rig.engine.render(
        request("x", steps=2), job_id="x", owner="u", out_dir=tmp_path, on_progress=on_progress
    )
    assert threads == {threading.get_ident()}
    assert threading.get_ident() not in rig.runner.threads
    assert states == ["queued", "running", "running", "running", "encoding"]


async def test_progress_is_throttled_but_keeps_first_and_last(
    make_engine: EngineFactory,
) -> None:
    clock = FakeClock()
    rig = make_engine(clock=clock, progress_interval_s=0.5)
    steps: list[int] = []

    def on_progress(progress: Progress) -> None:
        if progress.state == "running":
            steps.append(progress.step)

    await rig.engine.generate(
        request("still", steps=10), job_id="s", owner="u", on_progress=on_progress
    )
    assert steps == [0, 10]  # the clock never moved: first and last only
    assert rig.runner.previews == [("still", 10)]  # previews only rendered when sent

    steps.clear()
    rig.runner.step_hook = lambda: setattr(clock, "now", clock.now + 0.3)
    await rig.engine.generate(
        request("slow", steps=10), job_id="t", owner="u", on_progress=on_progress
    )
    assert steps == [0, 2, 4, 6, 8, 10]


async def test_a_broken_progress_callback_does_not_break_the_job(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_engine()

    def explode(progress: Progress) -> None:
        raise ValueError("bad callback")

    result = await rig.engine.generate(request("x"), job_id="x", owner="u", on_progress=explode)
    assert result.label == "x"
    assert "progress callback" in caplog.text


# --- the event loop never waits ------------------------------------------------------------


async def test_the_event_loop_keeps_running_while_a_job_runs(make_engine: EngineFactory) -> None:
    rig = make_engine()
    held = rig.runner.hold("long", step=1)
    job = asyncio.create_task(rig.engine.generate(request("long"), job_id="long", owner="u"))
    await reached(held)  # the job is mid-denoising in the worker
    ticks = 0
    hundred = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while ticks < 100:
            ticks += 1
            rig.engine.position("long")  # the loop may ask questions while it runs
            await asyncio.sleep(0)
        hundred.set()

    tick_task = asyncio.create_task(ticker())
    await asyncio.wait_for(hundred.wait(), WAIT_S)
    assert not job.done()  # a hundred loop turns happened while the job was still running
    assert rig.engine.position("long") == 0
    rig.runner.release("long", step=1)
    assert (await asyncio.wait_for(job, WAIT_S)).label == "long"
    await tick_task


# --- cancellation --------------------------------------------------------------------------


async def test_cancel_a_queued_job_removes_it_at_once(make_engine: EngineFactory) -> None:
    rig = make_engine()
    held = rig.runner.hold("a")
    a = asyncio.create_task(rig.engine.generate(request("a"), job_id="a", owner="u1"))
    await reached(held)
    b = asyncio.create_task(rig.engine.generate(request("b"), job_id="b", owner="u2"))
    await asyncio.sleep(0)
    assert rig.engine.cancel("b") is True
    error = await settle(b)  # delivered while a is still held: nothing waited on the model
    assert isinstance(error, JobCancelled)
    assert rig.engine.cancel("b") is False
    assert rig.engine.position("b") is None
    rig.runner.release("a")
    await asyncio.wait_for(a, WAIT_S)
    assert rig.runner.batches == [("a",)]


async def test_cancel_a_running_job_leaves_its_batch_mates_running(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine(max_batch=2, batch_key=by_negative_prompt)
    gate = rig.runner.hold("first")
    first = asyncio.create_task(rig.engine.generate(request("first"), job_id="first", owner="u0"))
    await reached(gate)
    mid = rig.runner.hold("a", step=1)
    a = asyncio.create_task(rig.engine.generate(request("a"), job_id="a", owner="u1"))
    b = asyncio.create_task(rig.engine.generate(request("b"), job_id="b", owner="u2"))
    await asyncio.sleep(0)
    rig.runner.release("first")
    await reached(mid)
    assert rig.engine.cancel("a") is True
    rig.runner.release("a", step=1)
    assert isinstance(await settle(a), JobCancelled)
    assert (await asyncio.wait_for(b, WAIT_S)).steps == 3
    await first
    assert rig.runner.batches[1] == ("a", "b")
    assert rig.runner.cancel_seen == {"a"}


async def test_cancelling_the_awaiting_task_cancels_the_job(make_engine: EngineFactory) -> None:
    rig = make_engine()
    held = rig.runner.hold("a")
    a = asyncio.create_task(rig.engine.generate(request("a"), job_id="a", owner="u1"))
    await reached(held)
    b = asyncio.create_task(rig.engine.generate(request("b"), job_id="b", owner="u2"))
    await asyncio.sleep(0)
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b
    assert rig.engine.position("b") is None
    rig.runner.release("a")
    await a
    assert rig.runner.batches == [("a",)]


async def test_a_result_that_arrives_after_cancel_is_still_a_cancel(
    make_engine: EngineFactory,
) -> None:
    """The runner had already passed its last cancel check: the person still asked to stop."""
    rig = make_engine()
    held = rig.runner.hold("a", step=2)
    task = asyncio.create_task(rig.engine.generate(request("a", steps=3), job_id="a", owner="u"))
    await reached(held)

    def cancel_now() -> None:
        rig.engine.cancel("a")

    rig.runner.step_hook = cancel_now  # cancel after the last check
    rig.runner.release("a", step=2)
    assert isinstance(await settle(task), JobCancelled)


# --- errors --------------------------------------------------------------------------------


async def test_errors_are_isolated_per_request(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_engine(max_batch=3, batch_key=by_negative_prompt)
    rig.runner.fail["bad"] = GenerationError("That seed image is not a spectrogram.")
    rig.runner.fail["bug"] = ZeroDivisionError("internal detail")
    gate = rig.runner.hold("first")
    first = asyncio.create_task(rig.engine.generate(request("first"), job_id="first", owner="u0"))
    await reached(gate)
    tasks = {
        label: asyncio.create_task(rig.engine.generate(request(label), job_id=label, owner=label))
        for label in ("bad", "good", "bug")
    }
    await asyncio.sleep(0)
    rig.runner.release("first")
    await first
    bad, bug = await settle(tasks["bad"]), await settle(tasks["bug"])
    assert str(bad) == "That seed image is not a spectrogram."
    assert isinstance(bug, GenerationError)
    assert str(bug) == GENERIC_FAILURE
    assert "internal detail" not in str(bug)
    assert (await tasks["good"]).label == "good"
    assert rig.runner.batches[1] == ("bad", "good", "bug")
    assert "ZeroDivisionError" in caplog.text  # logged with its traceback
    assert (await rig.engine.generate(request("after"), job_id="after", owner="u")).label == "after"


async def test_a_runner_that_raises_fails_its_batch_not_the_worker(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine()
    rig.runner.batch_error = KeyError("cuda out of memory, maybe")
    with pytest.raises(GenerationError) as info:
        await rig.engine.generate(request("x"), job_id="x", owner="u")
    assert str(info.value) == GENERIC_FAILURE
    rig.runner.batch_error = GenerationError("The GPU ran out of memory; try fewer steps.")
    with pytest.raises(GenerationError, match="ran out of memory"):
        await rig.engine.generate(request("y"), job_id="y", owner="u")
    rig.runner.batch_error = None
    assert (await rig.engine.generate(request("z"), job_id="z", owner="u")).label == "z"


async def test_a_failed_model_load_fails_the_batch_and_is_retried(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine(loader=Loader(fail_times=1))
    with pytest.raises(GenerationError, match="model could not be loaded"):
        await rig.engine.generate(request("x"), job_id="x", owner="u")
    assert (await rig.engine.generate(request("y"), job_id="y", owner="u")).model == "MODEL"
    assert rig.loader.calls == 2
    assert rig.engine.model_loaded


async def test_a_failed_preload_leaves_the_worker_alive(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_engine(loader=Loader(fail_times=1))
    rig.engine.start(preload=True)
    assert (await rig.engine.generate(request("y"), job_id="y", owner="u")).model == "MODEL"
    assert rig.loader.calls == 2
    assert "preloading the model failed" in caplog.text


async def test_a_failing_writer_fails_only_that_job(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    def writer(result: FakeResult, out_dir: Path, stem: str) -> ClipFiles:
        if result.label == "unwritable":
            raise PermissionError("read-only disk")
        return fake_writer(result, out_dir, stem)

    rig = make_engine(writer=writer)
    with pytest.raises(GenerationError) as info:
        await rig.engine.render(request("unwritable"), job_id="w", owner="u", out_dir=tmp_path)
    assert str(info.value) == GENERIC_FAILURE
    files = await rig.engine.render(request("fine"), job_id="f", owner="u", out_dir=tmp_path)
    assert files.mp3.read_text() == "fine"


# --- limits --------------------------------------------------------------------------------


async def test_limits_raise_their_specific_errors(make_engine: EngineFactory) -> None:
    rig = make_engine(max_per_owner=1, max_queued=1)
    held = rig.runner.hold("a")
    a = asyncio.create_task(rig.engine.generate(request("a"), job_id="a", owner="user:1"))
    await reached(held)
    with pytest.raises(OwnerLimit, match="already have 1 job "):
        await rig.engine.generate(request("a2"), job_id="a2", owner="user:1")
    b = asyncio.create_task(rig.engine.generate(request("b"), job_id="b", owner="user:2"))
    await asyncio.sleep(0)
    with pytest.raises(QueueFull, match="queue is full"):
        await rig.engine.generate(request("c"), job_id="c", owner="user:3")
    assert rig.engine.position("a2") is None
    assert rig.engine.position("c") is None
    rig.runner.release("a")
    await asyncio.wait_for(asyncio.gather(a, b), WAIT_S)


# --- closing -------------------------------------------------------------------------------


async def test_close_cancels_the_queue_and_delivers_the_running_job(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine()
    held = rig.runner.hold("running")
    running = asyncio.create_task(
        rig.engine.generate(request("running"), job_id="running", owner="u1")
    )
    await reached(held)
    queued = asyncio.create_task(rig.engine.generate(request("queued"), job_id="q", owner="u2"))
    await asyncio.sleep(0)
    closing = asyncio.create_task(rig.engine.aclose())
    error = await settle(queued)
    assert isinstance(error, JobCancelled)
    assert "shutting down" in str(error)
    rig.runner.release("running")
    await asyncio.wait_for(closing, WAIT_S)
    assert (await running).label == "running"
    with pytest.raises(EngineClosed):
        await rig.engine.generate(request("late"), job_id="late", owner="u3")
    assert rig.runner.batches == [("running",)]


async def test_close_can_finish_the_queue_or_cancel_the_running_job(
    make_engine: EngineFactory,
) -> None:
    rig = make_engine()
    held = rig.runner.hold("one")
    tasks = [asyncio.create_task(rig.engine.generate(request("one"), job_id="one", owner="u1"))]
    await reached(held)
    tasks.append(asyncio.create_task(rig.engine.generate(request("two"), job_id="two", owner="u2")))
    await asyncio.sleep(0)
    closing = asyncio.create_task(rig.engine.aclose(finish_queued=True))
    rig.runner.release("one")
    await asyncio.wait_for(closing, WAIT_S)
    assert [t.result().label for t in tasks] == ["one", "two"]

    other = make_engine()
    mid = other.runner.hold("x", step=1)
    task = asyncio.create_task(other.engine.generate(request("x"), job_id="x", owner="u"))
    await reached(mid)
    other.engine.shutdown(cancel_running=True)
    other.runner.release("x", step=1)
    await asyncio.wait_for(other.engine.aclose(), WAIT_S)
    assert isinstance(await settle(task), JobCancelled)


# --- the plain face ------------------------------------------------------------------------


def test_generate_sync_delivers_progress_on_the_calling_thread(make_engine: EngineFactory) -> None:
    rig = make_engine()
    rig.engine.start(preload=True)
    seen: list[tuple[str, int]] = []
    result = rig.engine.generate_sync(
        request("cli", steps=2),
        on_progress=lambda p: seen.append((p.state, threading.get_ident())),
    )
    assert result.label == "cli"
    assert [state for state, _ in seen] == ["queued", "running", "running", "running"]
    assert {thread for _, thread in seen} == {threading.get_ident()}
    rig.runner.fail["oops"] = GenerationError("nope")
    with pytest.raises(GenerationError, match="nope"):
        rig.engine.generate_sync(request("oops"))


async def test_without_autostart_jobs_wait_for_start(make_engine: EngineFactory) -> None:
    rig = make_engine(autostart=False, max_batch=2)
    tasks = [submit(rig, "a"), submit(rig, "b")]
    await asyncio.sleep(0)
    assert [rig.engine.position(x) for x in "ab"] == [1, 2]
    assert rig.runner.batches == []
    rig.engine.start()
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    assert rig.runner.batches == [("a",), ("b",)]  # the default key never batches


# --- the real pipeline on the tiny model ---------------------------------------------------


async def test_the_real_pipeline_batches_and_writes_through_the_engine(
    tiny_model_session: LoadedModel, tmp_path: Path
) -> None:
    engine = pipeline_engine(lambda: tiny_model_session, max_batch=2, autostart=False)
    progress: dict[str, ProgressLog] = {"a": ProgressLog(), "b": ProgressLog()}

    def job(label: str, seed: int) -> asyncio.Task[ClipFiles]:
        riff = GenerationRequest(
            mode=Mode.RIFF, start=Endpoint("lofi piano", seed), steps=2, width=256
        )
        return asyncio.create_task(
            engine.render(
                riff,
                job_id=label,
                owner=f"user:{label}",
                out_dir=tmp_path,
                on_progress=progress[label],
            )
        )

    try:
        tasks = [job("a", 1), job("b", 2)]
        extra = asyncio.create_task(
            engine.generate(
                GenerationRequest(mode=Mode.RIFF, start=Endpoint("x", 3), steps=2),
                job_id="c",
                owner="user:c",
            )
        )
        await asyncio.sleep(0)
        assert engine.cancel("c") is True
        assert isinstance(await settle(extra), JobCancelled)
        engine.start()
        a, b = await asyncio.wait_for(asyncio.gather(*tasks), 300)
    finally:
        await engine.aclose(cancel_running=True)
    for files in (a, b):
        assert files.mp3.stat().st_size > 1000
        assert files.timings["batch_size"] == 2.0
        assert files.duration_s == pytest.approx(255 * 441 / 44_100, abs=0.01)
    record = json.loads(a.params_json.read_text())
    assert record["request"]["start"]["seed"] == 1
    assert a.raw_png.read_bytes() != b.raw_png.read_bytes()  # each kept its own seed
    states = [p.state for p in progress["a"].items]
    assert states[0] == "queued"
    assert states[-1] == "encoding"
    previews = [p.preview_png for p in progress["a"].items if p.preview_png]
    assert previews
    assert previews[0].startswith(b"\x89PNG")
