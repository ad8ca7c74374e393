"""A stand-in bot process for the SIGKILL recovery test; run as ``python -m tests.db.crash_worker``.

It accepts two jobs (one whose uploaded audio will vanish), starts running the first, opens a
write transaction that it never commits, then tells the test it is ready (one line on stdout)
and blocks until it is killed.
"""

from __future__ import annotations

import sys
import threading

from db.engine import Database
from db.jobs import create_job, mark_running
from generation.types import Endpoint, GenerationRequest, Mode


def main(url: str, upload: str) -> None:
    database = Database(url)
    with database.session() as session:
        running = create_job(
            session,
            GenerationRequest(mode=Mode.RIFF, start=Endpoint("interrupted riff", 5)),
            user_id=1,
            model_id="tiny",
        )
        waiting = create_job(
            session,
            GenerationRequest(mode=Mode.REMIX, start=Endpoint("remix", 6), seed_image=upload),
            user_id=2,
            model_id="tiny",
        )
    with database.session() as session:
        mark_running(session, running.id)
    # A transaction in flight at the moment of death: it must vanish without a trace.
    doomed = database.sessions()
    doomed.begin()
    create_job(
        doomed,
        GenerationRequest(mode=Mode.RIFF, start=Endpoint("never committed", 1)),
        user_id=3,
        model_id="tiny",
    )
    print(f"ready {running.id} {waiting.id}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
