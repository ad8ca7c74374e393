"""Formatting: user text is made inert, statuses say where a job is."""

from __future__ import annotations

from bot import messages
from bot.store import JobRecord
from generation.types import Endpoint, GenerationRequest, Mode, Progress


def _job(prompt: str) -> JobRecord:
    request = GenerationRequest(Mode.RIFF, Endpoint(prompt, 42))
    return JobRecord(id="7", request=request, user_id=1, guild_id=None, channel_id=None)


def test_user_text_cannot_mention_or_format() -> None:
    shown = messages.safe("@everyone **bold** <@123> @here")
    assert "@everyone" not in shown
    assert "@here" not in shown
    assert "**" not in shown.replace("\\*\\*", "")
    assert len(messages.safe("x" * 500, 50)) == 50


def test_status_lines_for_each_state() -> None:
    job = _job("lofi")
    queued = messages.status_text(job, Progress("7", "queued", position=3, eta_s=10), 1)
    assert "#3 in the queue" in queued
    assert "<t:" in queued
    running = messages.status_text(job, Progress("7", "running", 5, 10), 1)
    assert "5/10 (50%)" in running
    assert messages.bar(5, 10) in running
    encoding = messages.status_text(job, Progress("7", "encoding", 10, 10), 1)
    assert "into sound" in encoding


def test_result_line_has_prompt_seed_and_job_id() -> None:
    line = messages.result_text(_job("rainy jazz"), 99)
    assert "rainy jazz" in line
    assert "seed 42" in line
    assert "`#7`" in line


def test_help_lists_every_reaction() -> None:
    text = messages.help_text(2)
    for emoji in messages.REACTIONS:
        assert emoji in text


def test_failure_and_info_texts_never_show_a_stored_server_path() -> None:
    from dataclasses import replace

    job = replace(
        _job("lofi"), error="The seed image '/srv/riffbot/outputs/uploads/1456.png' is empty."
    )
    for text in (messages.failed_text(job, job.error or ""), messages.info_text(job)):
        assert "/srv/" not in text
        assert "1456" not in text
        assert "your file" in text
