"""Everything the bot says, as pure functions from data to text.

Prompts are user text shown back in public: they are escaped for markdown and mentions here,
and every send also passes ``NO_MENTIONS`` so that nothing the bot posts can ever ping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import PurePath

import discord

from bot import fit
from bot.store import JobRecord
from generation.types import GenerationRequest, Mode, Progress

NO_MENTIONS = discord.AllowedMentions.none()

REACTIONS: dict[str, str] = {
    "🔁": "reroll",
    "🎲": "vary",
    "⏩": "extend",
    "🔂": "loop",
    "🔀": "blend",
}
"""Emoji on a result post -> remix action (blend pairs it with the reacting user's last job)."""

_ACTION_WORDS = {
    "reroll": "a reroll",
    "vary": "a variation",
    "extend": "an extension",
    "loop": "a loop",
    "blend": "a blend",
    "remix": "a remix",
}


MISCONFIGURED = "the bot is misconfigured; its operator has been told."

# Two or more path separators (POSIX or Windows, absolute or relative): "/srv/out/1/x.png",
# "C:\\data\\x.png", "outputs/uploads/1456.wav". One slash ("w/ drums", "0.05/1") is prose.
_PATH = re.compile(r"""(?<![\w.])(?:[A-Za-z]:)?[.~]{0,2}(?:[\\/][^\s'"`<>|\\/]+){2,}""")


def public_error(text: str, names: Mapping[str, str] | None = None) -> str:
    """An error as the channel may see it: server paths and internal upload ids replaced by
    the name the person gave their file (``names``: path -> file name) or "your file"."""
    known = {str(PurePath(path)): name for path, name in (names or {}).items()}

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        path = found.rstrip(".,;:)!?")
        shown = known.get(str(PurePath(path)), "your file")
        return shown + found[len(path) :]

    return _PATH.sub(swap, text)


def safe(text: str, limit: int = 120) -> str:
    """User text made inert for display: markdown and mentions escaped, length capped.

    The cap applies to the escaped text (escaping can double its length), so ``limit`` is
    what it costs in a message.
    """
    return fit.clip(discord.utils.escape_mentions(discord.utils.escape_markdown(text)), limit)


def describe(request: GenerationRequest) -> str:
    if request.end is not None:
        return f"**{safe(request.start.prompt, 60)}** → **{safe(request.end.prompt, 60)}**"
    return f"**{safe(request.start.prompt)}**"


def seeds(request: GenerationRequest) -> str:
    if request.end is not None:
        return f"seeds {request.start.seed} → {request.end.seed}"
    return f"seed {request.start.seed}"


def origin(job: JobRecord) -> str:
    if job.parent_id is None or job.action is None:
        return ""
    word = _ACTION_WORDS.get(job.action, job.action)
    return f" · {word} of #{job.parent_id}"


def bar(step: int, total: int, width: int = 12) -> str:
    filled = 0 if total <= 0 else round(width * min(step, total) / total)
    return "▰" * filled + "▱" * (width - filled)


def eta(seconds: float | None, now: float | None = None) -> str:
    if seconds is None:
        return ""
    at = int((time.time() if now is None else now) + max(0.0, seconds))
    return f" · done <t:{at}:R>"


def status_text(job: JobRecord, progress: Progress | None, user_id: int) -> str:
    """The one live message while a job waits and runs."""
    head = f"🎛️ {describe(job.request)} for <@{user_id}> · job `{job.display_id}`{origin(job)}"
    if progress is None or progress.state == "queued":
        position = progress.position if progress is not None else None
        where = f"#{position} in the queue" if position else "in the queue"
        line = f"{head}\n⏳ Queued: {where}{eta(progress.eta_s if progress else None)}"
        note = progress.note if progress is not None else None
        return f"{line}\nℹ️ {safe(note, 300)}" if note else line
    if progress.state == "encoding":
        return f"{head}\n🎚️ Turning the spectrogram into sound…"
    percent = 0 if progress.total_steps <= 0 else 100 * progress.step // progress.total_steps
    return (
        f"{head}\n🎨 Generating {bar(progress.step, progress.total_steps)} "
        f"{progress.step}/{progress.total_steps} ({percent}%){eta(progress.eta_s)}"
    )


def result_text(job: JobRecord, user_id: int, note: str = "") -> str:
    duration = f" · {job.files.duration_s:.1f} s" if job.files is not None else ""
    kind = "" if job.request.mode is Mode.RIFF else f" · {job.request.mode.value}"
    line = (
        f"🎵 {describe(job.request)} · {seeds(job.request)}{kind}{duration} · "
        f"job `{job.display_id}`{origin(job)} · by <@{user_id}>"
    )
    return f"{line}\n{note}" if note else line


def failed_text(job: JobRecord, error: str) -> str:
    # Errors stored by older versions (or by recovery) may still name a path: scrub again.
    shown = safe(public_error(error), 300)
    return f"⚠️ {describe(job.request)} · job `{job.display_id}` failed: {shown}"


def cancelled_text(job: JobRecord) -> str:
    return f"🛑 {describe(job.request)} · job `{job.display_id}` was cancelled."


def too_big_note(what: str, size: int, limit: int) -> str:
    return (
        f"ℹ️ The {what} ({size / 2**20:.1f} MiB) is over this server's upload limit "
        f"({limit / 2**20:.0f} MiB), so it was left off."
    )


def info_text(job: JobRecord) -> str:
    request = job.request
    lines = [
        f"**Job {job.display_id}** · {request.mode.value} · {job.status.value}",
        f"Prompt: {safe(request.start.prompt, 400)}",
    ]
    if request.negative_prompt:
        lines.append(f"Negative: {safe(request.negative_prompt, 200)}")
    if request.end is not None:
        lines.append(f"To: {safe(request.end.prompt, 400)} (seed {request.end.seed})")
    lines.append(
        f"Seed {request.start.seed} · steps {request.steps} · strength {request.start.strength:g}"
        f" · guidance {request.start.guidance:g} · {request.scheduler}"
    )
    seed_image = request.seed_image or "none (text to image)"
    if "/" in seed_image or "\\" in seed_image:
        seed_image = "an earlier clip" if request.mode is not Mode.REMIX else "an uploaded clip"
    lines.append(f"Seed image: {safe(seed_image, 80)} · width {request.width}")
    if job.parent_id:
        lines.append(f"Made from #{job.parent_id} ({job.action})")
    if job.error:
        lines.append(f"Error: {safe(public_error(job.error), 300)}")
    return "\n".join(lines)


def history_text(jobs: Sequence[JobRecord], whose: str) -> str:
    if not jobs:
        return f"No jobs yet for {whose}."
    rows = [
        f"`{job.display_id}` {job.status.value} · {job.request.mode.value} · "
        f"{describe(job.request)} · {seeds(job.request)}"
        for job in jobs
    ]
    return fit.fit_lines(f"Recent jobs for {whose}:", rows)


def queue_text(entries: Sequence[tuple[JobRecord, int | None]], user_id: int) -> str:
    if not entries:
        return "The queue is empty. Start something with `/riff`."
    rows = []
    for job, position in entries:
        where = "running" if position == 0 else f"#{position}" if position else "waiting"
        mine = " (yours)" if job.user_id == user_id else ""
        rows.append(f"{where} · `{job.display_id}` {describe(job.request)}{mine}")
    return fit.fit_lines(f"{len(entries)} job(s) active:", rows)


def help_text(max_active: int) -> str:
    reactions = "  ".join(f"{emoji} {action}" for emoji, action in REACTIONS.items())
    return (
        "**Riffbot** makes music from text by drawing spectrograms.\n"
        "`/riff prompt` a clip · `/blend a b` a transition (prompts or job ids like #12) · "
        "`/remix audio prompt` restyle your clip · `/show job` re-post a result · "
        "`/history` your recent jobs · `/queue` what is waiting · `/cancel` stop a job · "
        "`/radio start` endless music in your voice channel, steered with `/radio prompt`.\n"
        "`/riff` makes 2 takes by default (`takes` 1-4; `length` extends into a track); "
        "`/preferences` sets your defaults. On any message, Apps → Remix this audio or "
        "Riff like this.\n"
        "Buttons under a result: Reroll, Vary, Extend, Loop, Blend with…, Remix, Info, Delete, "
        "Spectrogram (the raw image, to seed from; or give `seed_image: #12`).\n"
        f"React on any result post to remix it: {reactions} (🔀 blends with your previous job).\n"
        f"You may have {max_active} job(s) queued or running at once."
    )
