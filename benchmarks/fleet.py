"""The fleet: throughput over 1, 2, 4 (and 8) replicas, dispatch overhead, a replica killed.

A local Ray (2 CPUs; replicas ask for none) runs replicas of a stand-in generator: a real
``Engine`` (fair queue, batching by shape up to ``--batch``) whose model sleeps a fixed
``--cost`` seconds per batch, so the 2 cores are not the limit and what is measured is the
fleet's own machinery. Jobs go through ``FleetRunner.render``, the client the bot uses, which
writes each clip's files (received as bytes) into a temporary folder.

Measured:
- throughput: a closed loop keeps 2 full batches per replica in flight for ``--seconds``;
  jobs finished per second after the first two batch periods; ``scaling`` is the throughput at
  N replicas over N times that at 1 (1.0 is linear);
- dispatch overhead: one job at a time through the fleet (1 replica) against the same stand-in
  in the in-process engine; per job, fleet latency minus the in-process median, p50/p99;
- a replica killed (``ray.kill``) a third of the way through 200 jobs on 4 replicas: jobs
  delivered, and lost (neither delivered nor failed clearly; the goal is 0).

Last line: ``fleet: replicas N, scaling E of linear, dispatch p99 D ms, killed K, lost L``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.engine import CancelCheck, Engine, StepCallback  # noqa: E402
from generation.fleet.deploy import FleetConfig, app_handle, deploy  # noqa: E402
from generation.fleet.runner import FleetRunner  # noqa: E402
from generation.types import ClipFiles, Endpoint, GenerationRequest, Mode  # noqa: E402

_ids = itertools.count()


@dataclass(frozen=True)
class SleepyGenerator:
    """A stand-in engine factory: ``cost_s`` per batch, whatever its size (as a GPU roughly
    behaves up to its batch limit), two progress steps, small files."""

    cost_s: float
    max_batch: int

    def run(
        self,
        model: None,
        requests: Sequence[GenerationRequest],
        on_steps: Sequence[StepCallback],
        cancels: Sequence[CancelCheck],
    ) -> list[str | BaseException]:
        for step in (1, 2):
            time.sleep(self.cost_s / 2)
            for on_step in on_steps:
                on_step(step, 2, None)
        return [request.start.prompt for request in requests]

    @staticmethod
    def write(prompt: str, out_dir: Path, stem: str) -> ClipFiles:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / f"{stem}{end}" for end in (".mp3", ".png", ".picture.png", ".json")]
        for path in paths:
            path.write_bytes(prompt.encode() * 64)
        return ClipFiles(paths[0], paths[1], paths[2], paths[3], duration_s=5.11)

    def __call__(self) -> Engine[None, str]:
        return Engine(
            loader=lambda: None,
            batch_runner=self.run,
            writer=self.write,
            batch_key=lambda request: "all",
            cost_steps=lambda request: 2,
            max_batch=self.max_batch,
            max_queued=10_000,
            max_per_owner=10_000,
            progress_interval_s=0.0,
        )


def request() -> GenerationRequest:
    return GenerationRequest(Mode.RIFF, Endpoint("bench", seed=1), steps=2, seed_image=None)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_app(name: str, replicas: int, generator: SleepyGenerator) -> FleetRunner:
    config = FleetConfig(
        app_name=name,
        min_replicas=replicas,
        max_replicas=replicas,
        max_ongoing_requests=2 * generator.max_batch,
    )
    deploy(generator, config)
    return FleetRunner(lambda: app_handle(name), reconnect_s=0.2)


async def one(runner: Any, out: Path) -> float:
    job_id = f"job-{next(_ids)}"
    started = time.perf_counter()
    await runner.render(request(), job_id=job_id, owner=f"user:{job_id}", out_dir=out)
    return time.perf_counter() - started


async def throughput(runner: FleetRunner, replicas: int, args: argparse.Namespace) -> float:
    """Jobs per second in steady state, with 2 full batches per replica always in flight."""
    finished: list[float] = []
    began = time.perf_counter()
    stop = began + float(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:

        async def worker() -> None:
            while time.perf_counter() < stop:
                await one(runner, Path(tmp))
                finished.append(time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(2 * replicas * args.batch)))
    warm = began + 2 * float(args.cost)
    counted = [t for t in finished if warm <= t <= stop]
    return len(counted) / (stop - warm)


async def dispatch(args: argparse.Namespace) -> tuple[float, float, float]:
    """(local p50, overhead p50, overhead p99), seconds, one job at a time."""
    generator = SleepyGenerator(args.dispatch_cost, 1)
    local = generator()
    with tempfile.TemporaryDirectory() as tmp:
        local_times = [await one(local, Path(tmp)) for _ in range(args.dispatch_jobs)]
        local.close()
        runner = await asyncio.to_thread(start_app, "bench-dispatch", 1, generator)
        for _ in range(5):  # warm the route and the replica
            await one(runner, Path(tmp))
        fleet_times = [await one(runner, Path(tmp)) for _ in range(args.dispatch_jobs)]
    base = statistics.median(local_times)
    overheads = [t - base for t in fleet_times]
    return base, percentile(overheads, 50), percentile(overheads, 99)


def kill_one_replica(name: str) -> None:
    import ray

    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith(f"SERVE_REPLICA::{name}#"):
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
            return
    raise RuntimeError("no replica to kill")


async def killed_run(args: argparse.Namespace) -> tuple[int, int, int, int]:
    """(killed, delivered, failed clearly, lost) for 200 jobs on 4 replicas."""
    name = "bench-kill"
    generator = SleepyGenerator(args.cost, args.batch)
    runner = await asyncio.to_thread(start_app, name, 4, generator)
    jobs = 200
    delivered = failed = 0
    killed = 0
    gate = asyncio.Semaphore(2 * 4 * args.batch)
    with tempfile.TemporaryDirectory() as tmp:

        async def job() -> None:
            nonlocal delivered, failed, killed
            async with gate:
                try:
                    files = await runner.render(
                        request(), job_id=f"kill-{next(_ids)}", owner="user:1", out_dir=Path(tmp)
                    )
                except Exception as error:
                    logging.warning("job failed: %s", error)
                    failed += 1
                    return
                delivered += files.mp3.exists()
                if delivered == jobs // 3 and not killed:
                    killed += 1
                    await asyncio.to_thread(kill_one_replica, name)

        await asyncio.gather(*(job() for _ in range(jobs)))
    from ray import serve

    serve.delete(name)
    return killed, delivered, failed, jobs - delivered - failed


async def main(args: argparse.Namespace) -> None:
    import ray
    from ray import serve

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    serve.start(proxy_location="Disabled")
    counts = [n for n in (1, 2, 4, 8) if n <= args.max_replicas]
    rates: dict[int, float] = {}
    generator = SleepyGenerator(args.cost, args.batch)
    for replicas in counts:
        name = f"bench-{replicas}"
        runner = await asyncio.to_thread(start_app, name, replicas, generator)
        rates[replicas] = await throughput(runner, replicas, args)
        serve.delete(name)
        ideal = replicas * rates[counts[0]]
        print(
            f"replicas {replicas}: {rates[replicas]:.2f} jobs/s "
            f"({rates[replicas] / ideal:.2f} of linear; one replica's ceiling "
            f"{args.batch / args.cost:.2f} jobs/s)",
            flush=True,
        )
    base, p50, p99 = await dispatch(args)
    serve.delete("bench-dispatch")
    print(
        f"dispatch: in-process engine {base * 1000:.1f} ms per job "
        f"({args.dispatch_cost * 1000:.0f} ms of it the stand-in); fleet overhead "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {args.dispatch_jobs} jobs",
        flush=True,
    )
    killed, delivered, failed, lost = await killed_run(args)
    print(
        f"killed run: 200 jobs on 4 replicas, {killed} replica killed, {delivered} delivered, "
        f"{failed} failed clearly, {lost} lost",
        flush=True,
    )
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    top = counts[-1]
    scaling = rates[top] / (top * rates[counts[0]])
    print(
        f"fleet: replicas {top}, scaling {scaling:.2f} of linear, "
        f"dispatch p99 {p99 * 1000:.0f} ms, killed {killed}, lost {lost}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-replicas", type=int, default=8, choices=(1, 2, 4, 8))
    parser.add_argument("--cost", type=float, default=1.0, help="seconds per batch")
    parser.add_argument("--batch", type=int, default=4, help="largest batch per replica")
    parser.add_argument("--seconds", type=float, default=12.0, help="per throughput run")
    parser.add_argument("--dispatch-cost", type=float, default=0.05)
    parser.add_argument("--dispatch-jobs", type=int, default=100)
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parser.parse_args()))
