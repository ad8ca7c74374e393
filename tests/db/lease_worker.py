"""A stand-in bot process for the lease tests; run as ``python -m tests.db.lease_worker``.

``keep URL OWNER LEASE_S``: claim every lapsed job, print ``claimed ID...``, then renew the
leases forever, printing ``renewed N`` after each renewal, until killed.
``drain URL OWNER``: claim lapsed jobs three at a time until none is left, printing
``claimed ID...`` for each batch, then ``done``.
"""

from __future__ import annotations

import sys
import threading

from db.engine import Database
from db.leases import claim_expired, renew_leases


def keep(database: Database, owner: str, lease_s: float) -> None:
    with database.session() as session:
        jobs = claim_expired(session, owner, lease_s=lease_s)
        print("claimed", *(job.id for job in jobs), flush=True)
    pause = threading.Event()
    while True:
        pause.wait(lease_s / 5)  # the renewal period a real bot uses, not a test's sync
        with database.session() as session:
            print("renewed", renew_leases(session, owner, lease_s=lease_s), flush=True)


def drain(database: Database, owner: str) -> None:
    while True:
        with database.session() as session:
            jobs = claim_expired(session, owner, lease_s=600, limit=3)
            ids = [job.id for job in jobs]
        if not ids:
            print("done", flush=True)
            return
        print("claimed", *ids, flush=True)


if __name__ == "__main__":
    command, url, owner, *rest = sys.argv[1:]
    database = Database(url)
    if command == "keep":
        keep(database, owner, float(rest[0]))
    else:
        drain(database, owner)
