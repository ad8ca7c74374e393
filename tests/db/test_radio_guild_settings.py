"""The radio's per-server settings (migration 0005): volume, 24/7, DJ roles, the message id."""

from __future__ import annotations

import pytest

from db.engine import Database
from db.guilds import get_guild_settings, update_guild_settings
from db.radio import start_radio_session, update_radio_session


def test_radio_volume_and_24_7_persist_and_are_validated(database: Database) -> None:
    with database.session() as s:
        blank = get_guild_settings(s, 9)
        assert (blank.radio_volume, blank.radio_always_on) == (None, None)
        update_guild_settings(s, 9, radio_volume=60, radio_always_on=True, radio_role_ids=[3])
    with database.session() as s:
        row = get_guild_settings(s, 9)
        assert (row.radio_volume, row.radio_always_on, row.radio_role_ids) == (60, True, [3])
        for bad in (-1, 201, True, 1.5):
            with pytest.raises(ValueError, match="volume"):
                update_guild_settings(s, 9, radio_volume=bad)


def test_a_session_remembers_its_now_playing_message(database: Database) -> None:
    with database.session() as s:
        radio = start_radio_session(
            s,
            guild_id=1,
            voice_channel_id=2,
            text_channel_id=3,
            started_by=4,
            prompt="lofi",
            seed=5,
        )
        update_radio_session(s, radio.id, now_playing_message_id=2**62)
        radio_id = radio.id
    with database.session() as s:
        from db.models import RadioSession

        saved = s.get(RadioSession, radio_id)
        assert saved is not None
        assert saved.now_playing_message_id == 2**62
