"""Bot under load: a simulated guild sends 200 commands from 20 users while the engine generates.

Real discord.py against SimCord (no network), the real history database (temporary SQLite),
the real engine with the tiny model (1.28 s clips, 2 steps, batches of up to 4). Commands are
a mix of /riff, /blend and the cheap ones (/queue, /history, /help), sent in rounds while
earlier jobs generate, so acknowledgements and progress edits compete with generation.

Measured:
- time to acknowledge: from dispatching the interaction to the bot's interaction callback
  (the defer, or the ephemeral refusal/answer), p50/p99;
- event-loop lag: a 10 ms ticker on the bot's loop, how late it wakes, p99;
- lost: commands that got neither their result (files posted) nor a clear refusal/answer.

SimCord runs one simulated action at a time, so commands are dispatched back to back rather
than truly simultaneously; generation, database writes and progress edits run concurrently.

Last line: ``bot_load: ack p99 <ms> ms, loop lag p99 <ms> ms, lost 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REFUSALS = ("already have", "queue is full", "blocked", "not allowed")


@dataclass
class Sent:
    user: int
    command: str
    interaction_id: int
    dispatched: float
    result: Any


class StampedList(list[Any]):
    """SimCord's request log, with the arrival time of every REST call."""

    def __init__(self, items: list[Any]) -> None:
        super().__init__(items)
        self.times: list[float] = [0.0] * len(items)

    def append(self, item: Any) -> None:
        super().append(item)
        self.times.append(time.perf_counter())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def ticker(lags: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(max(0.0, time.perf_counter() - start - period))


def pick_command(round_no: int, user_no: int) -> str:
    slot = (round_no * 7 + user_no) % 10
    if slot < 6:
        return "riff"
    if slot == 6:
        return "blend"
    return ("queue", "history", "help")[slot % 3]


async def run(args: argparse.Namespace) -> int:
    from bot.config import BotConfig
    from bot.db_store import DbStore
    from db import Database, upgrade
    from generation.models import load_model
    from generation.pipeline_engine import pipeline_engine
    from generation.tiny import make_tiny
    from tests.e2e.harness import open_sim

    work = Path(tempfile.mkdtemp(prefix="bot-load-"))
    tiny = make_tiny(work / "tiny", seed=0)
    engine = pipeline_engine(
        lambda: load_model(str(tiny), device="cpu", dtype="float32", progress=False),
        max_per_owner=2,
        max_queued=50,
        max_batch=4,
    )
    engine.start(preload=True)
    database = Database(f"sqlite:///{work / 'riffbot.db'}")
    upgrade(database.url)
    store = DbStore(database, data_dir=work, model_id="tiny")
    config = replace(
        BotConfig(out_dir=work / "outputs", default_takes=1),  # as measured: one clip a /riff
        clip_width=128,
        default_steps=2,
        default_seed_image=None,
        progress_interval_s=1.0,
        max_active_per_user=2,
        max_queue_length=50,
    )

    sent: list[Sent] = []
    lags: list[float] = []
    stop = asyncio.Event()
    started = time.perf_counter()
    async with open_sim(engine, store, config, settle_timeout=600.0) as sim:
        log = StampedList(list(sim.env.backend.http_requests))
        sim.env.backend.http_requests = log
        users = [sim.guild.add_member(sim.env.create_user(f"user{i}")) for i in range(args.users)]
        await sim.env.settle()
        tick = asyncio.create_task(ticker(lags, stop))
        rounds = args.commands // args.users
        for round_no in range(rounds):
            for user_no, user in enumerate(users):
                command = pick_command(round_no, user_no)
                options: dict[str, Any] = {}
                if command == "riff":
                    options = {"prompt": f"user {user_no} groove {round_no}", "seed": round_no}
                elif command == "blend":
                    options = {"a": f"calm {user_no}", "b": f"wild {round_no}"}
                dispatched = time.perf_counter()
                result = await user.slash(sim.channel, command, **options)
                sent.append(Sent(user.id, command, result._interaction.id, dispatched, result))
            await asyncio.sleep(args.round_gap)  # let generation run between rounds
        # Wait for every admitted job to be delivered.
        jobs = [job for user in users for job in await store.recent_jobs(user.id, limit=50)]
        for job in jobs:
            await asyncio.wait_for(sim.runner.done_event(job.id).wait(), args.timeout)
        await sim.env.settle(timeout=args.timeout)
        stop.set()
        await tick

        # Acknowledgement times from the request log.
        callbacks: dict[int, float] = {}
        for entry, at in zip(log, log.times, strict=True):
            if entry.method == "POST" and entry.path.endswith("/callback"):
                interaction_id = int(entry.path.split("/")[2])
                callbacks.setdefault(interaction_id, at)
        acks = [
            (callbacks[item.interaction_id] - item.dispatched) * 1000
            for item in sent
            if item.interaction_id in callbacks
        ]
        delivered = refused = answered = lost = 0
        for item in sent:
            response = item.result.response
            content = response.content if response is not None else ""
            if item.command in ("riff", "blend"):
                if (
                    response is not None
                    and response.ephemeral
                    and any(r in content for r in REFUSALS)
                ):
                    refused += 1
                elif response is not None and len(response.attachments) >= 1 and "🎵" in content:
                    delivered += 1
                elif response is not None and ("failed:" in content or "cancelled" in content):
                    refused += 1  # a clear explanation, not a silent loss
                else:
                    lost += 1
                    print(f"lost: {item.command} by {item.user}: {content[:120]!r}")
            elif response is not None and response.ephemeral and content:
                answered += 1
            else:
                lost += 1
                print(f"lost: {item.command} by {item.user}")
        elapsed = time.perf_counter() - started
    await asyncio.to_thread(engine.close)
    database.dispose()

    print(f"commands {len(sent)} from {args.users} users in {elapsed:.1f} s")
    print(f"results delivered {delivered}, clear refusals {refused}, answers {answered}")
    print(
        f"ack p50 {percentile(acks, 50):.1f} ms, p99 {percentile(acks, 99):.1f} ms, "
        f"max {max(acks):.1f} ms (n={len(acks)})"
    )
    print(
        f"loop lag p50 {percentile(lags, 50) * 1000:.1f} ms, "
        f"p99 {percentile(lags, 99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms"
    )
    if acks:
        print(f"ack mean {statistics.fmean(acks):.1f} ms")
    print(
        f"bot_load: ack p99 {percentile(acks, 99):.0f} ms, "
        f"loop lag p99 {percentile(lags, 99) * 1000:.0f} ms, lost {lost}"
    )
    return 0 if lost == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--round-gap", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--timeout", type=float, default=900.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
