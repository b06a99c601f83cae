"""PostgreSQL: the inbox payload compressed with lz4 instead of pglz.

An accepted pupil list is some 15 KB of JSON, stored before its 202 and cleared once processed.
PostgreSQL compresses such a value on insert (TOAST); with pglz that was about half of the
database server's CPU per accepted list (0.45 ms), with lz4 it is a fraction of it. Only new
values are written with lz4; PostgreSQL reads both. Skipped where the server was built without
lz4, and on SQLite, which does not compress.

Revision ID: 0013_inbox_lz4
Revises: 0012_perf4c
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_inbox_lz4"
down_revision = "0012_perf4c"
branch_labels = None
depends_on = None


def _lz4_available(bind) -> bool:
    return bool(
        bind.execute(
            sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _lz4_available(bind):
        op.execute("ALTER TABLE inbox_message ALTER COLUMN payload SET COMPRESSION lz4")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _lz4_available(bind):
        op.execute("ALTER TABLE inbox_message ALTER COLUMN payload SET COMPRESSION DEFAULT")
