"""Many radios and /riff on one engine: does every radio stay ahead, how long does /riff wait?

R radios (real ``RadioStation``s with the bot's settings: 3 clips ahead, playback after 2) and
20 users sending /riff share ONE real ``generation.engine.Engine``: its worker thread, its
``FairQueue`` (owners take turns, radio guaranteed one pick in ``radio_every``), its asyncio
face. Only the model is a stand-in: every job costs a fixed ``--clip-s`` seconds, chosen by
default so that the radios together use ``--radio-share`` (70 %) of the generator.

Time is virtual (``VirtualTimeLoop``): nothing sleeps. The engine's worker is a real thread,
so the loop is kept from moving the clock while a job is on its way between the loop and the
worker (a job submitted but not yet "running" on the virtual clock, or a result not yet
delivered); everything else happens at exact virtual instants. Each radio is read like
discord.py's player, one 20 ms frame per 20 ms of virtual time. Users are a closed loop: each
sends a /riff, waits for it, thinks for an exponential time (mean ``--think-s``), repeats.

Printed: underruns per radio (a clip ended with nothing queued, so it looped), the worst frame
delivery gap (20 ms + the read's extra wall time, as ``benchmarks/radio.py`` measures it; also
by the thread's CPU time, which a busy shared machine does not inflate),
/riff p50/p95 wait (queued to started), GPU busy share, and how many radios this clip time
carries: by the same simulation with one radio more at a time until one underruns (shorter
runs, from one radio up), and by arithmetic (all capacity; the guaranteed share under an
endless /riff queue).

Usage: ``.venv/bin/python benchmarks/radio_load.py [--radios 4] [--minutes 10] [--clip-s S]``

Last line: ``radio_load: radios R, underruns U, worst gap G ms, riff p95 wait W s``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import selectors
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from generation.engine import Engine, StepCallback
from generation.radio import RadioStation, engine_generator
from generation.radio_plan import RadioSettings, initial_state
from generation.radio_sim import CLIP_WIDTH, VirtualTimeLoop, _Clock, synth_clip
from generation.types import Endpoint, GenerationRequest, Mode, Priority

SAMPLE_RATE = 44_100
CLIP_S = (CLIP_WIDTH - 1) * 441 / SAMPLE_RATE  # 5.11 s: one Riffusion clip


class Gate:
    """Counts jobs in transit between the loop and the engine's worker thread.

    ``version`` moves on every leave, so a selector that saw no event can tell that something
    arrived while it was looking (the wake-up byte is written before the leave).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self.version = 0

    def enter(self) -> None:
        with self._lock:
            self._inside += 1

    def leave(self) -> None:
        with self._lock:
            self._inside -= 1
            self.version += 1

    def busy(self) -> bool:
        with self._lock:
            return self._inside > 0


class _GatedSelector(selectors.DefaultSelector):
    """``VirtualTimeLoop``'s selector, but the clock never jumps while the gate is busy."""

    def __init__(self, clock: _Clock, gate: Gate) -> None:
        super().__init__()
        self._clock = clock
        self._gate = gate

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        seen = self._gate.version
        events = super().select(0)
        if events:
            return events
        if timeout is None:
            return super().select(None)
        if timeout <= 0:
            return []  # callbacks are ready: run them (one may be what the gate waits for)
        if self._gate.busy() or self._gate.version != seen:
            while self._gate.busy():
                events = super().select(0.0002)  # real time: the worker thread is on its way
                if events:
                    return events
            return []  # look again before time moves
        self._clock.now += max(0.0, timeout)
        return []


class GatedLoop(VirtualTimeLoop):
    def __init__(self, gate: Gate) -> None:
        self._virtual_clock = _Clock()
        asyncio.SelectorEventLoop.__init__(self, _GatedSelector(self._virtual_clock, gate))


@dataclass(frozen=True)
class StandInResult:
    audio: Any
    sample_rate: int


class StandInModel:
    """Every job costs ``cost_s`` of virtual time on the loop; the worker waits for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, gate: Gate, cost_s: float) -> None:
        self.loop = loop
        self.gate = gate
        self.cost_s = cost_s
        self.busy_s = 0.0
        self.pending: list[threading.Event] = []
        request = GenerationRequest(mode=Mode.RADIO, start=Endpoint("stand-in", 1), alpha=0.5)
        self.audio = synth_clip(request)

    def run_batch(
        self,
        model: object,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[Any],
    ) -> list[StandInResult]:
        done = threading.Event()
        self.pending.append(done)

        async def cost() -> None:
            await asyncio.sleep(self.cost_s)
            self.busy_s += self.cost_s
            self.gate.enter()  # the result travels back to the loop: no time passes meanwhile
            done.set()

        asyncio.run_coroutine_threadsafe(cost(), self.loop)
        self.gate.leave()  # the job is now a timer on the loop
        done.wait()
        self.pending.remove(done)
        return [StandInResult(self.audio, SAMPLE_RATE) for _ in requests]


class GatedCondition(threading.Condition):
    """The engine's wake-up condition, telling the gate when its worker sleeps and wakes.

    A sleeping worker is not in transit; once the loop wakes it (a submit) it is, until it
    sleeps again or hands its next job to the loop as a timer. Every call is made with the
    engine's lock held, which also guards ``sleeping``.
    """

    def __init__(self, lock: Any, gate: Gate) -> None:
        super().__init__(lock)
        self.gate = gate
        self.sleeping = False

    def wait(self, timeout: float | None = None) -> bool:
        self.sleeping = True
        self.gate.leave()
        try:
            return super().wait(timeout)
        finally:
            if self.sleeping:  # woke without a notify
                self.sleeping = False
                self.gate.enter()

    def notify(self, n: int = 1) -> None:
        self._wake()
        super().notify(n)

    def notify_all(self) -> None:
        self._wake()
        super().notify_all()

    def _wake(self) -> None:
        if self.sleeping:
            self.sleeping = False
            self.gate.enter()


@dataclass
class Run:
    radios: int
    underruns: list[int]
    worst_gap_ms: float
    worst_cpu_gap_ms: float
    slow_reads: int
    reads: int
    riff_waits: list[float]
    busy_share: float
    clips: int
    wall_s: float


def _worst_gap(read_s: list[float]) -> float:
    """Frame delivery gap: 20 ms plus how much longer a read took than the one before."""
    return 0.020 + float(np.diff(np.array(read_s)).max()) if len(read_s) > 1 else 0.020


def simulate(
    radios: int,
    *,
    minutes: float,
    clip_s: float,
    users: int,
    think_s: float,
    radio_every: int,
    seed: int = 7,
) -> Run:
    gate = Gate()
    loop = GatedLoop(gate)
    model = StandInModel(loop, gate, clip_s)
    engine: Engine[Any, Any] = Engine(
        loader=lambda: None,
        batch_runner=model.run_batch,
        max_batch=1,
        max_queued=50,
        radio_every=radio_every,
        name="radio-load-engine",
        autostart=False,
    )
    # The real engine, its worker thread and its queue; only its wake-up condition is watched.
    engine._wake = GatedCondition(engine._lock, gate)
    gate.enter()  # the worker starts awake
    engine.start()
    rng = random.Random(seed)
    frames = round(minutes * 60 * 50)
    waits: list[float] = []
    reads: list[list[float]] = [[] for _ in range(radios)]
    cpu_reads: list[list[float]] = [[] for _ in range(radios)]
    settings = RadioSettings(steps=50)

    async def listen(index: int, station: RadioStation) -> None:
        timings, cpu = reads[index], cpu_reads[index]
        for _ in range(frames):
            t0, c0 = time.perf_counter(), time.thread_time()
            station.read()
            timings.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            await asyncio.sleep(0.02)

    async def user(index: int, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            await asyncio.sleep(rng.expovariate(1.0 / think_s))
            if stop.is_set():
                return
            request = GenerationRequest(
                mode=Mode.RIFF, start=Endpoint(f"riff {index}", n), steps=50
            )
            sent = loop.time()
            await engine.generate(
                request,
                job_id=f"u{index}-{n}",
                owner=f"user:{index}",
                priority=Priority.INTERACTIVE,
            )
            waits.append(loop.time() - sent - clip_s)
            n += 1

    async def main() -> list[RadioStation]:
        stations = [
            RadioStation(
                engine_generator(engine, owner=f"radio:{i}"),
                initial_state(f"station {i}", 1000 * i, settings),
                ahead=3,
                start_after=2,
                history_s=1.0,
            )
            for i in range(radios)
        ]
        for station in stations:
            await station.start()
        stop = asyncio.Event()
        people = [asyncio.ensure_future(user(i, stop)) for i in range(users)]
        await asyncio.gather(*(listen(i, s) for i, s in enumerate(stations)))
        stop.set()
        for task in people:
            task.cancel()
        for outcome in await asyncio.gather(*people, return_exceptions=True):
            if isinstance(outcome, Exception):  # a user that failed is a broken benchmark
                raise outcome
        for station in stations:
            await station.stop()
        return stations

    wall = time.perf_counter()
    try:
        stations = loop.run_until_complete(main())
        elapsed = loop.time()
    finally:
        engine.shutdown()
        for done in list(model.pending):  # a job left on the loop's clock
            done.set()
        engine.join(5)
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        if leftovers:

            async def drain() -> None:
                await asyncio.gather(*leftovers, return_exceptions=True)

            loop.run_until_complete(drain())
        loop.close()
    wall = time.perf_counter() - wall
    worst_gap = max(_worst_gap(t) for t in reads)
    worst_cpu_gap = max(_worst_gap(t) for t in cpu_reads)
    slow = sum(1 for t in reads for x in t if x > 0.020)
    return Run(
        radios=radios,
        underruns=[s.stream.stats.underruns for s in stations],
        worst_gap_ms=worst_gap * 1000,
        worst_cpu_gap_ms=worst_cpu_gap * 1000,
        slow_reads=slow,
        reads=sum(len(t) for t in reads),
        riff_waits=waits,
        busy_share=model.busy_s / elapsed if elapsed else 0.0,
        clips=sum(s.stream.stats.clips_started for s in stations),
        wall_s=wall,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radios", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--radio-share", type=float, default=0.7)
    parser.add_argument("--clip-s", type=float, default=None, help="cost of one job (s)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--think-s", type=float, default=90.0)
    parser.add_argument("--radio-every", type=int, default=3)
    parser.add_argument("--capacity-minutes", type=float, default=3.0)
    parser.add_argument("--max-radios", type=int, default=24)
    args = parser.parse_args()
    clip_s = args.clip_s if args.clip_s is not None else args.radio_share * CLIP_S / args.radios

    run = simulate(
        args.radios,
        minutes=args.minutes,
        clip_s=clip_s,
        users=args.users,
        think_s=args.think_s,
        radio_every=args.radio_every,
    )
    waits = np.array(run.riff_waits) if run.riff_waits else np.zeros(1)
    p50, p95 = float(np.percentile(waits, 50)), float(np.percentile(waits, 95))
    print(
        f"clip cost {clip_s:.3f} s (radios alone use {args.radios * clip_s / CLIP_S:.0%} of the "
        f"generator), {args.users} users thinking {args.think_s:g} s on average, "
        f"radio_every {args.radio_every}, {args.minutes:g} virtual min in {run.wall_s:.1f} s wall"
    )
    print("underruns per radio: " + ", ".join(str(u) for u in run.underruns))
    print(
        f"{run.clips} clips played, generator busy {run.busy_share:.0%}, "
        f"{len(run.riff_waits)} /riff: wait p50 {p50:.2f} s, p95 {p95:.2f} s, "
        f"max {float(waits.max()):.2f} s"
    )
    print(
        f"frame reads: {run.reads}, slower than 20 ms: {run.slow_reads}; worst gap "
        f"{run.worst_gap_ms:.1f} ms by wall clock (this shared 2-core CPU), "
        f"{run.worst_cpu_gap_ms:.1f} ms by the reading thread's CPU time"
    )

    carried = 0
    for more in range(1, args.max_radios + 1):
        trial = simulate(
            more,
            minutes=args.capacity_minutes,
            clip_s=clip_s,
            users=args.users,
            think_s=args.think_s,
            radio_every=args.radio_every,
        )
        if sum(trial.underruns):
            print(
                f"  {more} radios: underruns {sum(trial.underruns)} ({args.capacity_minutes:g} min)"
            )
            break
        carried = more
        trial_p95 = float(np.percentile(trial.riff_waits or [0.0], 95))
        print(f"  {more} radios: no underrun, /riff p95 {trial_p95:.2f} s")
    alone = int(CLIP_S // clip_s)
    guaranteed = int(CLIP_S // (clip_s * args.radio_every))
    print(
        f"this clip time carries {carried} radios with this /riff load (simulated); "
        f"{alone} with no /riff at all, {guaranteed} guaranteed under an endless /riff queue "
        f"(one pick in {args.radio_every})"
    )
    print(
        f"radio_load: radios {args.radios}, underruns {sum(run.underruns)}, "
        f"worst gap {run.worst_gap_ms:.0f} ms, riff p95 wait {p95:.1f} s"
    )


if __name__ == "__main__":
    main()
