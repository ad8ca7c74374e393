from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import Database
from db.jobs import (
    IllegalTransition,
    JobNotFound,
    clip_files,
    create_job,
    describe_clip,
    is_legal,
    mark_cancelled,
    mark_done,
    mark_failed,
    mark_running,
    requeue_interrupted,
)
from db.models import Job, JobStatus, OutputRole, format_job_id, parse_job_id
from db.queries import get_job
from generation.types import ClipFiles, Endpoint, GenerationRequest, Mode, Priority
from tests.db.conftest import riff

S = JobStatus
LEGAL = {
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.CANCELLED),
    (S.QUEUED, S.FAILED),
    (S.RUNNING, S.DONE),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product(S, S)))
def test_state_machine_allows_exactly_the_legal_moves(old: S, new: S) -> None:
    assert is_legal(old, new) == ((old, new) in LEGAL)
    assert is_legal(old, new, recovery=True) == ((old, new) in LEGAL | {(S.RUNNING, S.QUEUED)})


def write_clip(folder: Path, tag: str = "a") -> ClipFiles:
    folder.mkdir(parents=True, exist_ok=True)
    names = {"mp3": "clip.mp3", "raw": "raw.png", "pic": "picture.png", "json": "params.json"}
    for key, name in names.items():
        (folder / name).write_bytes(f"{tag}:{key}".encode() * 100)
    return ClipFiles(
        mp3=folder / names["mp3"],
        raw_png=folder / names["raw"],
        picture_png=folder / names["pic"],
        params_json=folder / names["json"],
        duration_s=5.11,
        timings={"unet": 1.5, "vocoder": 0.25},
    )


def test_a_job_runs_its_whole_life_and_keeps_its_files(database: Database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with database.session() as s:
        job = create_job(s, riff(), user_id=11, model_id="tiny", guild_id=5, channel_id=6)
        assert job.status == S.QUEUED
        assert job.id >= 1
        assert job.attempts == 0
    with database.session() as s:
        started = mark_running(s, job.id)
        assert started.started_at is not None
        assert started.attempts == 1
    files = write_clip(data_dir / "outputs" / "1")
    outputs = describe_clip(files)
    with database.session() as s:
        done = mark_done(
            s, job.id, outputs, data_dir=data_dir, timings=files.timings, duration_s=5.11
        )
        assert done.finished_at is not None
        assert done.finished_at >= started.started_at
    with database.session() as s:
        stored = get_job(s, job.id)
        assert stored is not None
        assert stored.status == S.DONE
        assert stored.timings == {"unet": 1.5, "vocoder": 0.25}
        mp3 = stored.output(OutputRole.MP3)
        assert mp3 is not None
        assert mp3.path == "outputs/1/clip.mp3"  # relative to the data dir
        assert mp3.size_bytes == files.mp3.stat().st_size
        assert mp3.sha256 == hashlib.sha256(files.mp3.read_bytes()).hexdigest()
        assert {out.role for out in stored.outputs} == set(OutputRole)
        rebuilt = clip_files(stored, data_dir)
    assert rebuilt is not None
    assert rebuilt.mp3 == files.mp3
    assert rebuilt.params_json == files.params_json
    assert rebuilt.timings == files.timings
    assert rebuilt.duration_s == pytest.approx(5.11)


def test_a_radio_clip_without_a_picture_keeps_its_other_files(
    database: Database, tmp_path: Path
) -> None:
    from dataclasses import replace

    data_dir = tmp_path / "data"
    with database.session() as s:
        job = create_job(s, riff(), user_id=11, model_id="tiny", guild_id=5, channel_id=6)
    with database.session() as s:
        mark_running(s, job.id)
    files = replace(write_clip(data_dir / "outputs" / "1"), picture_png=None)
    outputs = describe_clip(files)
    assert OutputRole.PICTURE_PNG not in {spec.role for spec in outputs}
    with database.session() as s:
        mark_done(s, job.id, outputs, data_dir=data_dir, timings={}, duration_s=5.11)
    with database.session() as s:
        stored = get_job(s, job.id)
        assert stored is not None
        rebuilt = clip_files(stored, data_dir)
    assert rebuilt is not None
    assert rebuilt.picture_png is None
    assert rebuilt.raw_png == files.raw_png


def test_illegal_transitions_are_refused_and_change_nothing(database: Database) -> None:
    with database.session() as s:
        job_id = create_job(s, riff(), user_id=1, model_id="m").id
    with database.session() as s, pytest.raises(IllegalTransition, match="queued to done"):
        mark_done(s, job_id)
    with database.session() as s:
        mark_running(s, job_id)
    with database.session() as s, pytest.raises(IllegalTransition):
        mark_running(s, job_id)  # never run twice
    with database.session() as s:
        mark_cancelled(s, job_id, "cancelled by its owner")
    for move in (mark_running, mark_done, lambda s, i: mark_failed(s, i, "x")):
        with database.session() as s, pytest.raises(IllegalTransition, match="cancelled"):
            move(s, job_id)
    with database.session() as s:
        job = get_job(s, job_id)
        assert job is not None
        assert job.status == S.CANCELLED
        assert job.error == "cancelled by its owner"


def test_only_recovery_may_put_a_running_job_back(database: Database) -> None:
    with database.session() as s:
        job_id = create_job(s, riff(), user_id=1, model_id="m").id
        mark_running(s, job_id)
    from db.jobs import transition

    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        with pytest.raises(IllegalTransition):
            transition(job, S.QUEUED)
    with database.session() as s:
        job = requeue_interrupted(s, job_id, "restart")
        assert job.status == S.QUEUED
        assert job.started_at is None
        assert job.note == "restart"
    with database.session() as s, pytest.raises(IllegalTransition):
        requeue_interrupted(s, job_id, "again")  # queued -> queued is not a move


def test_queued_jobs_may_fail_or_be_cancelled_without_running(database: Database) -> None:
    with database.session() as s:
        a = create_job(s, riff(), user_id=1, model_id="m").id
        b = create_job(s, riff(), user_id=1, model_id="m").id
        mark_failed(s, a, "That prompt contains a blocked word.")
        mark_cancelled(s, b)
    with database.session() as s:
        job_a, job_b = get_job(s, a), get_job(s, b)
        assert job_a is not None
        assert job_b is not None
        assert (job_a.status, job_a.error) == (S.FAILED, "That prompt contains a blocked word.")
        assert job_b.status == S.CANCELLED
        assert job_b.started_at is None


def test_unknown_jobs_raise_a_readable_error(database: Database) -> None:
    with database.session() as s, pytest.raises(JobNotFound, match="no job #404"):
        mark_running(s, 404)


def test_every_parameter_is_stored_and_the_request_comes_back_equal(database: Database) -> None:
    request = GenerationRequest(
        mode=Mode.BLEND,
        start=Endpoint("church bells", 2**32 - 1, strength=0.6, guidance=6.5),
        end=Endpoint("dubstep drop", 12, strength=0.9, guidance=8.0),
        alpha=0.25,
        negative_prompt="vocals",
        steps=33,
        scheduler="dpm",
        seed_image="uploads/42/clip.wav",
        mask="masks/m.png",
        width=768,
        extend_keep=0.25,
    )
    with database.session() as s:
        parent = create_job(s, riff(), user_id=9, model_id="m").id
        partner = create_job(s, riff(), user_id=9, model_id="m").id
        job_id = create_job(
            s,
            request,
            user_id=2**63 - 1,
            guild_id=2**62,
            channel_id=2**61 + 3,
            model_id="riffusion/riffusion-model-v1",
            model_revision="abc123",
            parent_id=parent,
            partner_id=partner,
            action="blend",
            priority=Priority.RADIO,
        ).id
    with database.session() as s:
        job = get_job(s, job_id)
        assert job is not None
        assert job.generation_request() == request
        assert (job.kind, job.prompt, job.end_prompt) == (
            Mode.BLEND,
            "church bells",
            "dubstep drop",
        )
        assert (job.seed, job.end_seed) == (2**32 - 1, 12)
        assert (job.alpha, job.steps, job.guidance, job.strength) == (0.25, 33, 6.5, 0.6)
        assert (job.scheduler, job.seed_image, job.negative_prompt) == (
            "dpm",
            "uploads/42/clip.wav",
            "vocals",
        )
        assert (job.model_id, job.model_revision) == ("riffusion/riffusion-model-v1", "abc123")
        assert (job.user_id, job.guild_id, job.channel_id) == (2**63 - 1, 2**62, 2**61 + 3)
        assert (job.parent_id, job.partner_id, job.action) == (parent, partner, "blend")
        assert job.priority == Priority.RADIO
        assert job.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "prompt",
    [
        "lo-fi ☕ beats, 日本語の歌詞, emoji 🎛️🎚️ and RTL עברית",
        "zero\u200bwidth and combining é and a NUL-free \U0001f3b5 line\nbreak\ttab",
        "🎸" * 2_500 + "x" * 10_000,  # 10,000+ chars, astral code points
        "'; DROP TABLE jobs; --",
    ],
)
def test_unicode_and_very_long_prompts_come_back_unchanged(database: Database, prompt: str) -> None:
    with database.session() as s:
        job_id = create_job(
            s, riff(prompt, negative_prompt=prompt[::-1]), user_id=1, model_id="m"
        ).id
    with database.session() as s:
        job = s.scalars(select(Job).where(Job.prompt == prompt)).one()
        assert job.id == job_id
        assert job.prompt == prompt
        assert len(job.prompt) == len(prompt)
        assert job.negative_prompt == prompt[::-1]
        assert job.generation_request().start.prompt == prompt


def test_job_ids_are_shown_with_a_hash_and_read_back_leniently() -> None:
    assert format_job_id(123) == "#123"
    assert parse_job_id("#123") == parse_job_id(" # 123 ") == parse_job_id("123") == 123
    assert parse_job_id(7) == 7
    for bad in ("", "#", "abc", "#-1", "0", "12a", "١٢", str(2**63)):
        with pytest.raises(ValueError, match="not a job id"):
            parse_job_id(bad)
