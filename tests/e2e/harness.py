"""The simulated-Discord harness: a real ``RiffBot`` on SimCord with a real or gated runner.

Reusable by other rooms' e2e tests (the radio): see the fixtures in ``tests/e2e/conftest.py``.

Two gaps of SimCord are filled here, never in the bot:

* reaction payloads lack ``message_author_id`` (real Discord sends it on add events): the
  backend's ``emit`` is wrapped to add it from the stored message;
* ``attachment_size_limit`` is fixed at 25 MiB: ``set_upload_limit`` makes it what a test wants.

SimCord settles (waits for) the bot's work after each simulated action. Generation runs on
the engine's thread, so the runner is wrapped in :class:`SimRunner`, which declares the wait as
external; tests then wait for the engine with :meth:`Sim.finish` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import simcord
from simcord.backend.models import Message

from bot.app import BotDeps, Extension, RiffBot, create_bot
from bot.config import BotConfig
from bot.dispatcher import Shrinker
from bot.services import CombinePictures, DurationProbe, WebLinkMaker
from bot.store import JobStore
from generation.picture import combine_takes
from generation.seeds import SEED_IMAGE_NAMES
from generation.types import (
    ClipFiles,
    GenerationError,
    GenerationRequest,
    JobRunner,
    Priority,
    ProgressCallback,
)

SEED_IMAGES = SEED_IMAGE_NAMES  # the shipped names, so tests pick what users can pick
WAIT_S = 60.0  # a safety net against hangs, never a synchronisation mechanism


class SimRunner:
    """Wraps a runner so SimCord sees a job's wait as external input, with completion events."""

    def __init__(self, inner: JobRunner) -> None:
        self.inner = inner
        self.env: simcord.Env | None = None
        self.finished: dict[str, asyncio.Event] = {}
        self.order: list[str] = []

    def done_event(self, job_id: str) -> asyncio.Event:
        return self.finished.setdefault(job_id, asyncio.Event())

    async def render(
        self,
        request: GenerationRequest,
        *,
        job_id: str,
        owner: str,
        out_dir: Path,
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> ClipFiles:
        assert self.env is not None
        work = self.inner.render(
            request,
            job_id=job_id,
            owner=owner,
            out_dir=out_dir,
            priority=priority,
            on_progress=on_progress,
        )
        try:
            files: ClipFiles = await self.env.external_wait(work, reason="generation engine")
            return files
        finally:
            self.order.append(job_id)
            self.done_event(job_id).set()

    async def render_takes(
        self,
        requests: Sequence[GenerationRequest],
        *,
        job_ids: Sequence[str],
        owner: str,
        out_dirs: Sequence[Path],
        priority: Priority = Priority.INTERACTIVE,
        on_progress: ProgressCallback | None = None,
    ) -> list[ClipFiles | GenerationError]:
        assert self.env is not None
        work = self.inner.render_takes(
            requests,
            job_ids=job_ids,
            owner=owner,
            out_dirs=out_dirs,
            priority=priority,
            on_progress=on_progress,
        )
        try:
            outcomes: list[ClipFiles | GenerationError] = await self.env.external_wait(
                work, reason="generation engine"
            )
            return outcomes
        finally:
            for job_id in job_ids:
                self.order.append(job_id)
                self.done_event(job_id).set()

    def cancel(self, job_id: str) -> bool:
        return self.inner.cancel(job_id)

    def position(self, job_id: str) -> int | None:
        return self.inner.position(job_id)


def fill_reaction_author(env: simcord.Env) -> None:
    """Real Discord sends ``message_author_id`` with reaction adds; SimCord does not."""
    backend = env.backend
    original = backend.emit

    def emit(event: str, payload: Any) -> Any:
        if event == "MESSAGE_REACTION_ADD" and "message_author_id" not in payload:
            stored = backend.get_message(int(payload["channel_id"]), int(payload["message_id"]))
            payload = {**payload, "message_author_id": str(stored.author_id)}
        return original(event, payload)

    backend.emit = emit


def set_upload_limit(monkeypatch: Any, limit: int) -> None:
    """Make every simulated interaction carry ``attachment_size_limit = limit``."""
    import simcord.interactions as interactions

    original = interactions.base_payload

    def base_payload(*args: Any, **kwargs: Any) -> Any:
        record, payload = original(*args, **kwargs)
        payload["attachment_size_limit"] = limit
        return record, payload

    monkeypatch.setattr(interactions, "base_payload", base_payload)


@dataclass
class Sim:
    """One running simulated guild: the env, a channel, two members, the bot and its parts."""

    env: simcord.Env
    bot: RiffBot
    runner: SimRunner
    store: JobStore
    config: BotConfig
    make_deps: Callable[[JobRunner], BotDeps]
    guild: simcord.GuildHandle
    channel: simcord.ChannelHandle
    alice: simcord.MemberActor
    bob: simcord.MemberActor
    extra: dict[str, Any] = field(default_factory=dict)

    async def finish(self, *job_ids: str) -> None:
        """Wait (bounded) until the engine finished these jobs, then let the bot deliver."""
        for job_id in job_ids:
            await asyncio.wait_for(self.runner.done_event(job_id).wait(), WAIT_S)
        await self.env.settle(timeout=WAIT_S)

    async def restart(self, runner: JobRunner) -> None:
        """Replace the bot process: same store (database), new runner (engine)."""
        self.runner = SimRunner(runner)
        self.runner.env = self.env
        self.bot = create_bot(self.make_deps(self.runner))
        await self.env.restart_bot(self.bot)

    def backend_messages(self) -> Iterator[Message]:
        for channel_id, messages in self.env.backend.messages.items():
            del channel_id
            yield from messages.values()

    def bot_messages(self) -> list[Message]:
        bot_id = self.env.backend.bot_user.id
        return [m for m in self.backend_messages() if m.author_id == bot_id]

    def message_for(self, job_id: str) -> discord.Message:
        """The channel message whose text names ``job_id`` last (the delivered post)."""
        found = [m for m in self.channel.history() if f"`#{job_id}`" in m.content]
        if not found:
            raise AssertionError(f"no message for job {job_id}")
        newest: discord.Message = max(found, key=lambda message: message.id)
        return newest


@contextlib.asynccontextmanager
async def open_sim(
    runner: JobRunner,
    store: JobStore,
    config: BotConfig,
    *,
    extensions: Sequence[Extension] = (),
    seed: int = 1234,
    settle_timeout: float = WAIT_S,
    shrink: Shrinker | None = None,
    probe: DurationProbe | None = None,
    web_links: WebLinkMaker | None = None,
    combine_pictures: CombinePictures | None = combine_takes,
) -> AsyncIterator[Sim]:
    """Start a ``RiffBot`` on SimCord with one guild, one channel, members alice and bob."""
    sim_runner = SimRunner(runner)

    def make_deps(job_runner: JobRunner) -> BotDeps:
        return BotDeps(
            runner=job_runner,
            store=store,
            config=config,
            extensions=extensions,
            rng=random.Random(seed),
            seed_images=SEED_IMAGES,
            shrink=shrink,
            probe=probe,
            web_links=web_links,
            combine_pictures=combine_pictures,
        )

    bot = create_bot(make_deps(sim_runner))
    # Env is driven by hand rather than with ``simcord.run``: pytest runs an async fixture's
    # set-up and tear-down in different contexts, which ``run``'s context variables refuse.
    env = simcord.Env(bot, settle_timeout=settle_timeout)
    await env.start()
    try:
        sim_runner.env = env
        fill_reaction_author(env)
        guild = env.create_guild("Riff Guild")
        channel = guild.create_text_channel("music")
        alice = guild.add_member(env.create_user("alice"))
        bob = guild.add_member(env.create_user("bob"))
        await env.settle()
        yield Sim(
            env=env,
            bot=bot,
            runner=sim_runner,
            store=store,
            config=config,
            make_deps=make_deps,
            guild=guild,
            channel=channel,
            alice=alice,
            bob=bob,
        )
    finally:
        await env.shutdown()
    env.raise_errors()
