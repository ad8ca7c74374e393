"""The radio on the real database: clip jobs with lineage, and a restart that resumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.db_store import DbStore
from bot.radio.store import DbRadioStore
from db.engine import Database
from db.jobs import load_job
from db.migrate import upgrade
from db.radio import radio_clips
from generation.radio_plan import RadioState, next_request
from tests.bot.test_radio import GUILD, Rig, SignallingStore


class SignallingDbStore(DbRadioStore, SignallingStore):
    def __init__(self, database: Database) -> None:
        DbRadioStore.__init__(self, database)
        SignallingStore.__init__(self)

    async def save_state(self, session_id: int, state: RadioState, *, paused: bool) -> None:
        await DbRadioStore.save_state(self, session_id, state, paused=paused)
        self.saves += 1
        self.saved.set()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'riffbot.db'}")
    upgrade(db.url)
    yield db
    db.dispose()


async def test_clips_are_jobs_with_lineage_and_a_restart_resumes(
    tmp_path: Path, database: Database
) -> None:
    jobs = DbStore(database, data_dir=tmp_path, model_id="synthetic")
    first = Rig(tmp_path, store=SignallingDbStore(database), jobs=jobs)
    await first.start("lofi", seed=21)
    await first.listen(12)
    await first.controller.queue_prompt(guild_id=GUILD, user_id=102, prompt="techno")
    playing = first.stations[0].status().now_job_id
    assert playing is not None
    await first.controller.shutdown()

    (saved,) = await first.store.active_sessions()
    clips: Any = database.call(radio_clips, saved.session_id)
    job_ids = [clip.job_id for clip in clips]
    assert len(job_ids) >= 3
    rows = [database.call(load_job, j) for j in job_ids]
    assert [row.parent_id for row in rows[1:]] == job_ids[:-1]
    assert all(row.action == "radio" for row in rows)
    assert rows[0].status.value == "done"
    played = database.call(load_job, int(playing))
    assert saved.state.prompt == "lofi"
    assert "techno" in (saved.state.target, *saved.state.up_next)

    second = Rig(tmp_path, store=SignallingDbStore(database), jobs=jobs)
    assert await second.controller.resume_all() == [GUILD]
    await second.stations[0].wait_ready()
    played_request = next_request(saved.state)[0]
    assert second.generator.requests[0] == played_request
    assert played.request["start"]["prompt"] == "lofi"
    await second.controller.shutdown()


async def test_station_settings_and_the_now_playing_message_live_in_the_database(
    database: Database,
) -> None:
    from bot.radio.store import RadioGuildSettings
    from generation.radio_plan import initial_state

    store = DbRadioStore(database)
    assert await store.guild_settings(GUILD) == RadioGuildSettings()
    wanted = RadioGuildSettings(dj_role_ids=frozenset({7, 2**60}), volume_pct=35, always_on=True)
    await store.save_guild_settings(GUILD, wanted, updated_by=3)
    assert await store.guild_settings(GUILD) == wanted
    with pytest.raises(ValueError, match="volume"):
        await store.save_guild_settings(GUILD, RadioGuildSettings(volume_pct=900), updated_by=3)
    session = await store.open_session(
        guild_id=GUILD,
        voice_channel_id=10,
        text_channel_id=20,
        started_by=3,
        state=initial_state("lofi", 4),
    )
    await store.set_message(session, 2**61)
    (saved,) = await store.active_sessions()
    assert saved.message_id == 2**61
