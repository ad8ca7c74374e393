from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from db.engine import Database
from db.guilds import get_guild_settings, update_guild_settings
from db.jobs import create_job, mark_cancelled, mark_done, mark_failed, mark_running
from db.models import GuildSettings, JobStatus, RadioStatus, TriggerSource
from db.queries import (
    active_count,
    active_counts,
    get_job,
    job_by_message,
    jobs_with_status,
    lineage,
    posts_for_job,
    queue_length,
    queue_position,
    recent_jobs,
    record_post,
    record_trigger,
    stats,
    triggers_for_message,
)
from db.radio import (
    RadioSessionNotFound,
    active_radio_session,
    active_radio_sessions,
    add_radio_clip,
    load_radio_session,
    radio_clips,
    start_radio_session,
    stop_radio_session,
    update_radio_session,
)
from generation.types import Mode
from tests.db.conftest import riff

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_job_by_id_and_by_message(database: Database) -> None:
    with database.session() as s:
        job = create_job(s, riff("a"), user_id=1, model_id="m")
        other = create_job(s, riff("b"), user_id=1, model_id="m")
        record_post(s, message_id=2**62 + 1, channel_id=10, guild_id=20, job_id=job.id)
        record_post(s, message_id=555, channel_id=10, job_id=job.id, purpose="progress")
    with database.session() as s:
        found = get_job(s, job.id)
        assert found is not None
        assert found.prompt == "a"
        assert get_job(s, 999) is None
        by_message = job_by_message(s, 2**62 + 1)
        assert by_message is not None
        assert by_message.id == job.id
        assert job_by_message(s, 1234) is None
        assert [p.message_id for p in posts_for_job(s, job.id)] == [2**62 + 1, 555]
        # Recording the same message again points it at the new job (an edited post).
        record_post(s, message_id=555, channel_id=10, job_id=other.id)
    with database.session() as s:
        moved = job_by_message(s, 555)
        assert moved is not None
        assert moved.id == other.id


def test_posts_must_point_at_real_jobs(database: Database) -> None:
    with pytest.raises(IntegrityError), database.session() as s:
        record_post(s, message_id=1, channel_id=1, job_id=424242)


def test_recent_jobs_are_a_users_newest_first_with_paging(database: Database) -> None:
    with database.session() as s:
        for minute in range(6):
            create_job(
                s,
                riff(f"u1 {minute}"),
                user_id=1,
                guild_id=minute % 2,
                model_id="m",
                now=at(minute),
            )
        create_job(s, riff("u2"), user_id=2, model_id="m", now=at(10))
        create_job(s, riff("u1 dm"), user_id=1, model_id="m", now=at(11))
    with database.session() as s:
        assert [j.prompt for j in recent_jobs(s, 1, dm=True)] == ["u1 dm"]
        first = recent_jobs(s, 1, limit=3, before_id=7)
        assert [j.prompt for j in first] == ["u1 5", "u1 4", "u1 3"]
        more = recent_jobs(s, 1, limit=3, before_id=first[-1].id)
        assert [j.prompt for j in more] == ["u1 2", "u1 1", "u1 0"]
        assert [j.prompt for j in recent_jobs(s, 1, guild_id=0)] == ["u1 4", "u1 2", "u1 0"]
        assert recent_jobs(s, 3) == []


def test_lineage_walks_parents_nearest_first(database: Database) -> None:
    with database.session() as s:
        root = create_job(s, riff("root"), user_id=1, model_id="m")
        child = create_job(
            s, riff("child"), user_id=1, model_id="m", parent_id=root.id, action="reroll"
        )
        grandchild = create_job(
            s, riff("grand"), user_id=2, model_id="m", parent_id=child.id, action="extend"
        )
        create_job(s, riff("sibling"), user_id=1, model_id="m", parent_id=root.id)
    with database.session() as s:
        chain = lineage(s, grandchild.id)
        assert [j.id for j in chain] == [grandchild.id, child.id, root.id]
        assert [j.action for j in chain] == ["extend", "reroll", None]
        assert [j.id for j in lineage(s, root.id)] == [root.id]
        assert lineage(s, 999) == []
        assert [j.id for j in lineage(s, grandchild.id, max_depth=1)] == [grandchild.id, child.id]


def test_queue_position_follows_acceptance_order(database: Database) -> None:
    with database.session() as s:
        ids = [create_job(s, riff(), user_id=i, model_id="m", now=at(i)).id for i in range(4)]
        late_but_earlier = create_job(s, riff(), user_id=9, model_id="m", now=at(-1)).id
    with database.session() as s:
        assert queue_position(s, late_but_earlier) == 1
        assert [queue_position(s, i) for i in ids] == [2, 3, 4, 5]
        mark_running(s, ids[0])
        mark_running(s, late_but_earlier)
        mark_done(s, late_but_earlier)
    with database.session() as s:
        assert queue_position(s, ids[0]) == 0
        assert [queue_position(s, i) for i in ids[1:]] == [1, 2, 3]
        assert queue_position(s, late_but_earlier) is None
        assert queue_position(s, 999) is None
        assert queue_length(s) == 3
        assert [j.id for j in jobs_with_status(s, JobStatus.QUEUED)] == ids[1:]


def test_active_counts_are_queued_plus_running_per_user(database: Database) -> None:
    with database.session() as s:
        a1 = create_job(s, riff(), user_id=1, model_id="m").id
        create_job(s, riff(), user_id=1, model_id="m")
        a3 = create_job(s, riff(), user_id=1, model_id="m").id
        b1 = create_job(s, riff(), user_id=2, model_id="m").id
        mark_running(s, a1)
        mark_failed(s, a3, "no")
        mark_cancelled(s, b1)
    with database.session() as s:
        assert active_count(s, 1) == 2
        assert active_count(s, 2) == 0
        assert active_counts(s) == {1: 2}
        assert active_counts(s, [2, 3]) == {}


def test_stats_count_by_status_and_kind(database: Database) -> None:
    with database.session() as s:
        j1 = create_job(s, riff(), user_id=1, guild_id=1, model_id="m").id
        create_job(s, riff(mode="loop"), user_id=2, guild_id=1, model_id="m")
        create_job(
            s,
            riff(mode="blend", end={"prompt": "b", "seed": 1}),
            user_id=2,
            guild_id=2,
            model_id="m",
        )
        mark_running(s, j1)
        mark_done(s, j1)
    with database.session() as s:
        everything = stats(s)
        assert everything.total == 3
        assert everything.users == 2
        assert everything.by_status == {"done": 1, "queued": 2}
        assert everything.by_kind == {Mode.RIFF: 1, Mode.LOOP: 1, Mode.BLEND: 1}
        guild = stats(s, guild_id=1)
        assert (guild.total, guild.by_kind) == (2, {"riff": 1, "loop": 1})
        assert stats(s, user_id=2).by_status == {"queued": 2}
        assert stats(s, guild_id=77).total == 0


def test_triggers_remember_who_pressed_what_and_what_it_made(database: Database) -> None:
    with database.session() as s:
        source = create_job(s, riff(), user_id=1, model_id="m").id
        made = create_job(s, riff(), user_id=2, model_id="m", parent_id=source, action="reroll").id
        record_post(s, message_id=77, channel_id=1, job_id=source)
        record_trigger(
            s,
            message_id=77,
            user_id=2,
            source=TriggerSource.REACTION,
            key="🔁",
            source_job_id=source,
            job_id=made,
            guild_id=3,
            channel_id=1,
        )
        record_trigger(s, message_id=77, user_id=3, source="button", key="riff:vary:" + "x" * 200)
    with database.session() as s:
        first, second = triggers_for_message(s, 77)
        assert (first.key, first.source, first.job_id, first.source_job_id) == (
            "🔁",
            TriggerSource.REACTION,
            made,
            source,
        )
        assert second.source == TriggerSource.BUTTON
        assert len(second.key) == 100
        assert second.job_id is None
    with database.session() as s, pytest.raises(ValueError, match="telepathy"):
        record_trigger(s, message_id=1, user_id=1, source="telepathy", key="x")


def test_radio_sessions_save_load_and_resume(database: Database) -> None:
    with database.session() as s:
        radio = start_radio_session(
            s,
            guild_id=1,
            voice_channel_id=2,
            text_channel_id=3,
            started_by=4,
            prompt="ambient",
            seed=10,
            seed_image="og_beat",
            state={"steps": 20},
        )
        clip_jobs = [
            create_job(s, riff(mode="radio"), user_id=4, model_id="m").id for _ in range(3)
        ]
        positions = [add_radio_clip(s, radio.id, job).position for job in clip_jobs]
        update_radio_session(
            s,
            radio.id,
            alpha=0.5,
            target_prompt="jazz",
            target_seed=10,
            queued_prompts=["techno", "rain"],
            state={"steps": 25},
        )
    assert positions == [1, 2, 3]
    with database.session() as s:
        loaded = load_radio_session(s, radio.id)
        assert loaded is not None
        assert (loaded.prompt, loaded.seed, loaded.alpha, loaded.target_prompt) == (
            "ambient",
            10,
            0.5,
            "jazz",
        )
        assert loaded.queued_prompts == ["techno", "rain"]
        assert loaded.state == {"steps": 25}
        assert [r.id for r in active_radio_sessions(s)] == [radio.id]
        assert [c.job_id for c in radio_clips(s, radio.id)] == clip_jobs
        assert [c.job_id for c in radio_clips(s, radio.id, last=2)] == clip_jobs[1:]
        with pytest.raises(TypeError, match="started_by"):
            update_radio_session(s, radio.id, started_by=99)
        with pytest.raises(RadioSessionNotFound):
            add_radio_clip(s, 999, clip_jobs[0])
    with database.session() as s:
        again = start_radio_session(
            s, guild_id=1, voice_channel_id=2, started_by=5, prompt="new", seed=1
        )
        other_guild = start_radio_session(
            s, guild_id=9, voice_channel_id=2, started_by=5, prompt="x", seed=1
        )
    with database.session() as s:
        old = load_radio_session(s, radio.id)
        assert old is not None
        assert old.status == RadioStatus.STOPPED
        assert old.stop_reason == "replaced by a new radio session"
        assert old.stopped_at
        current = active_radio_session(s, 1)
        assert current is not None
        assert current.id == again.id
        stop_radio_session(s, other_guild.id, reason="channel empty")
    with database.session() as s:
        assert [r.id for r in active_radio_sessions(s)] == [again.id]
        assert active_radio_session(s, 9) is None


def test_guild_settings_default_update_and_validate(database: Database) -> None:
    with database.session() as s:
        blank = get_guild_settings(s, 42)
        assert blank.default_steps is None
        assert blank.blocked_words == []
        assert s.get(GuildSettings, 42) is None  # reading does not create a row
    with database.session() as s:
        row = update_guild_settings(
            s,
            42,
            updated_by=7,
            default_steps=30,
            max_jobs_per_user=3,
            max_queue_length=20,
            blocked_words=["  Bad ", "bad", "WORSE", ""],
            radio_role_ids=[2**60, 5, 5],
            default_seed_image="vibes",
        )
        assert row.blocked_words == ["bad", "worse"]
    with database.session() as s:
        row = get_guild_settings(s, 42)
        assert (row.default_steps, row.max_jobs_per_user, row.max_queue_length) == (30, 3, 20)
        assert row.radio_role_ids == [5, 2**60]
        assert row.default_seed_image == "vibes"
        assert row.updated_by == 7
        update_guild_settings(s, 42, default_steps=None)
    with database.session() as s:
        row = get_guild_settings(s, 42)
        assert row.default_steps is None
        assert row.max_jobs_per_user == 3
        for bad in ({"default_steps": 0}, {"default_steps": 151}, {"max_queue_length": True}):
            with pytest.raises(ValueError, match=r"Default steps|Queue length"):
                update_guild_settings(s, 42, **bad)
        with pytest.raises(TypeError, match="token"):
            update_guild_settings(s, 42, token="secret")
