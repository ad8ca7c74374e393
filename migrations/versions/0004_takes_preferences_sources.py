"""Takes and preferences: a server default for takes, per-user preferences, a job's source.

``guild_settings.default_takes`` (the admins' default number of takes per ``/riff``),
``user_preferences`` (``/preferences``) and ``jobs.source`` (``"cli"`` for command-line jobs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("guild_settings") as batch:
        batch.add_column(sa.Column("default_takes", sa.Integer(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=True))
    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("takes", sa.Integer(), nullable=True),
        sa.Column("length_clips", sa.Integer(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("guidance", sa.Float(), nullable=True),
        sa.Column("scheduler", sa.String(length=32), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_preferences")),
    )


def downgrade() -> None:
    op.drop_table("user_preferences")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_column("default_takes")
