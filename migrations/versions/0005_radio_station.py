"""The radio as a station: per-server volume and 24/7, and the now-playing message of a session.

Every new column is nullable, so existing rows need no default: ``None`` volume is 100 %,
``None`` 24/7 is off (the bot-wide rule), a session without a message posts a fresh one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("guild_settings") as batch:
        batch.add_column(sa.Column("radio_volume", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("radio_always_on", sa.Boolean(), nullable=True))
    with op.batch_alter_table("radio_sessions") as batch:
        batch.add_column(sa.Column("now_playing_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("radio_sessions") as batch:
        batch.drop_column("now_playing_message_id")
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_column("radio_always_on")
        batch.drop_column("radio_volume")
