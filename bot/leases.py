"""Keeping jobs and picking up the orphans of a dead process, for several bot processes.

An extension (``lease_keeper``) that runs next to the bot: every ``period_s`` it renews the
leases of this process's jobs, then claims jobs whose lease lapsed (their process died) and
runs them like the jobs a restart finds, results going to their channel. With one process on
SQLite it is not installed, and recovery stays what it was: everything at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from bot.store import Recovered

if TYPE_CHECKING:
    from bot.app import RiffBot

log = logging.getLogger(__name__)


class LeaseStore(Protocol):
    async def renew_leases(self) -> int: ...

    async def recover(self) -> Recovered: ...


def lease_keeper(store: LeaseStore, *, period_s: float) -> Callable[[RiffBot], Awaitable[None]]:
    """The extension: starts the keeper's task when the bot sets up, stops it when it closes."""

    async def install(bot: RiffBot) -> None:
        async def keep() -> None:
            await bot.wait_until_ready()
            while not bot.is_closed():
                try:
                    renewed = await store.renew_leases()
                    orphans = await store.recover()
                    if orphans.requeued or orphans.failed:
                        jobs = await bot.services.dispatcher.recover(bot, orphans)
                        log.info("took over %d job(s) of a process that stopped", len(jobs))
                    log.debug("renewed %d lease(s)", renewed)
                except Exception:
                    log.exception("renewing leases failed; trying again")
                await asyncio.sleep(period_s)

        task = asyncio.create_task(keep(), name="riffbot-lease-keeper")
        close = bot.close

        async def close_and_stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close()

        bot.close = close_and_stop  # type: ignore[method-assign]

    return install
