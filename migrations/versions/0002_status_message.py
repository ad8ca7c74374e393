"""Jobs keep where their live status message is, so a restarted bot edits that message.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("status_channel_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("status_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("status_message_id")
        batch.drop_column("status_channel_id")
