"""Many writers at once through the async engine: nothing lost, never 'database is locked'."""

from __future__ import annotations

import asyncio
import threading

from db.engine import Database
from db.jobs import create_job, mark_done, mark_running
from db.models import JobStatus
from db.queries import active_counts, get_job, recent_jobs, record_post, stats
from tests.db.conftest import riff

WRITERS = 50


async def test_fifty_tasks_insert_at_once_and_every_row_arrives(adatabase: Database) -> None:
    barrier = asyncio.Event()

    async def writer(n: int) -> int:
        await barrier.wait()  # release all writers together
        job = await adatabase.run(create_job, riff(f"task {n} 🎹"), user_id=n % 7, model_id="m")
        await adatabase.run(record_post, message_id=10_000 + n, channel_id=1, job_id=job.id)
        return job.id

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.sleep(0)  # let every task reach the barrier
    barrier.set()
    ids = await asyncio.gather(*tasks)
    assert len(set(ids)) == WRITERS
    summary = await adatabase.run(stats)
    assert summary.total == WRITERS
    assert summary.by_status == {"queued": WRITERS}
    prompts = {
        job.prompt
        for user in range(7)
        for job in await adatabase.run(recent_jobs, user, limit=WRITERS)
    }
    assert prompts == {f"task {n} 🎹" for n in range(WRITERS)}


async def test_concurrent_read_then_write_transactions_all_succeed(adatabase: Database) -> None:
    """Each task reads a job and then updates it: the race SQLite's lazy BEGIN gets wrong."""
    ids = [
        (await adatabase.run(create_job, riff(), user_id=n, model_id="m")).id
        for n in range(WRITERS)
    ]

    async def lifecycle(job_id: int) -> None:
        await adatabase.run(mark_running, job_id)
        await adatabase.run(mark_done, job_id, timings={"total": 1.0})

    await asyncio.gather(*(lifecycle(job_id) for job_id in ids))
    assert await adatabase.run(active_counts) == {}
    for job_id in ids:
        job = await adatabase.run(get_job, job_id)
        assert job is not None
        assert job.status == JobStatus.DONE
        assert job.attempts == 1


async def test_async_bot_and_sync_cli_write_the_same_file_together(adatabase: Database) -> None:
    errors: list[BaseException] = []

    def cli_writer() -> None:
        try:
            for n in range(20):
                with adatabase.session() as s:
                    create_job(s, riff(f"cli {n}"), user_id=999, model_id="m")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=cli_writer)
    thread.start()
    await asyncio.gather(
        *(adatabase.run(create_job, riff(f"bot {n}"), user_id=1, model_id="m") for n in range(20))
    )
    await asyncio.to_thread(thread.join)
    assert errors == []
    assert (await adatabase.run(stats)).total == 40
