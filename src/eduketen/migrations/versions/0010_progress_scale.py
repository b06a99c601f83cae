"""learning progress at scale: records partitioned by month (PostgreSQL), the id arbiter
progress_key, and the aggregates the pages read (progress_day, progress_usage) with the worker's
dirty list

Revision ID: 0010_progress_scale
Revises: 0007_progress
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import eduketen.core.db

revision = "0010_progress_scale"
down_revision = "0009_landscape"
branch_labels = None
depends_on = None

T = eduketen.core.db.UTCDateTime
RECORD_COLUMNS = ("id", "state_at", "source_system_id", "school_id", "eck_id", "course_id", "unit_id", "subject", "status", "started_at",
                  "completed_at", "score_raw", "score_max", "score_pct", "judgement", "judgement_ordinal", "judgement_ordinal_max",
                  "duration_seconds", "please_follow_up", "detail_url", "goals", "received_at")  # fmt: skip


def _month(year: int, month: int) -> tuple[int, int]:
    return year + (month - 1) // 12, (month - 1) % 12 + 1


def _create_partition(year: int, month: int) -> None:
    # The same naming as leervoortgang.repository.ensure_partitions (which the worker runs).
    ny, nm = _month(year, month + 1)
    op.execute(f"CREATE TABLE IF NOT EXISTS progress_record_p{year:04d}{month:02d} PARTITION OF progress_record "
               f"FOR VALUES FROM ('{year:04d}-{month:02d}-01 00:00:00+00') TO ('{ny:04d}-{nm:02d}-01 00:00:00+00')")  # fmt: skip


def _record_columns() -> list:
    return [
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("state_at", T(timezone=True), nullable=False),
        sa.Column("source_system_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("eck_id", sa.String(300), nullable=False),
        sa.Column("course_id", sa.String(200), nullable=False),
        sa.Column("unit_id", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("started_at", T(timezone=True), nullable=True),
        sa.Column("completed_at", T(timezone=True), nullable=True),
        sa.Column("score_raw", sa.Float(), nullable=True),
        sa.Column("score_max", sa.Float(), nullable=True),
        sa.Column("score_pct", sa.Float(), nullable=True),
        sa.Column("judgement", sa.String(200), nullable=True),
        sa.Column("judgement_ordinal", sa.SmallInteger(), nullable=True),
        sa.Column("judgement_ordinal_max", sa.SmallInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("please_follow_up", sa.Boolean(), nullable=False),
        sa.Column("detail_url", sa.String(1000), nullable=True),
        sa.Column("goals", sa.Text(), nullable=True),
        sa.Column("received_at", T(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    op.drop_index("ix_progress_school_subject", table_name="progress_record")
    op.drop_index("ix_progress_pupil", table_name="progress_record")
    op.rename_table("progress_record", "progress_record_0007")
    if pg:
        op.execute("ALTER TABLE progress_record_0007 RENAME CONSTRAINT pk_progress_record TO pk_progress_record_0007")
        op.execute("ALTER TABLE progress_record_0007 DROP CONSTRAINT IF EXISTS fk_progress_record_school_id_school")
        op.execute("ALTER TABLE progress_record_0007 DROP CONSTRAINT IF EXISTS fk_progress_record_source_system_id_system")

    op.create_table(
        "progress_key",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("source_system_id", sa.Integer(), nullable=False),
        sa.Column("state_at", T(timezone=True), nullable=False),
        sa.Column("prev_state_at", T(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_key")),
    )
    op.create_table(
        "progress_record",
        *_record_columns(),
        sa.PrimaryKeyConstraint("id", "state_at", name=op.f("pk_progress_record")),
        postgresql_partition_by="RANGE (state_at)",
    )
    op.create_index("ix_progress_pupil", "progress_record", ["school_id", "eck_id", "state_at"])
    if pg:
        op.execute("CREATE TABLE progress_record_default PARTITION OF progress_record DEFAULT")
        now = datetime.now(UTC)
        months = {_month(now.year, now.month + k) for k in range(-2, 4)}
        # Months that already hold records (bounded: absurd dates stay in the default partition).
        for (start,) in bind.execute(sa.text("SELECT DISTINCT date_trunc('month', state_at AT TIME ZONE 'UTC') FROM progress_record_0007")):
            if 2000 <= start.year <= now.year + 1:
                months.add((start.year, start.month))
        for year, month in sorted(months):
            _create_partition(year, month)

    op.create_table(
        "progress_dirty",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("eck_id", sa.String(300), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_progress_dirty")),
    )
    op.create_table(
        "progress_day",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("eck_id", sa.String(300), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("source_system_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(200), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.BigInteger(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("score_n", sa.Integer(), nullable=False),
        sa.Column("follow_up", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("school_id", "eck_id", "day", "subject", "source_system_id", "course_id", name=op.f("pk_progress_day")),
    )
    op.create_index("ix_progress_day_school_day", "progress_day", ["school_id", "day"])
    op.create_table(
        "progress_usage",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("source_system_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(200), nullable=False),
        sa.Column("activated", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "week", "source_system_id", "course_id", name=op.f("pk_progress_usage")),
    )
    op.create_index("ix_progress_usage_week", "progress_usage", ["week"])

    cols = ", ".join(RECORD_COLUMNS)
    op.execute(f"INSERT INTO progress_record ({cols}) SELECT {cols} FROM progress_record_0007")
    op.execute("INSERT INTO progress_key (id, source_system_id, state_at) SELECT id, source_system_id, state_at FROM progress_record_0007")
    day = "to_char(state_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if pg else "substr(state_at, 1, 10)"
    # Every existing cell is dirty: the worker builds the aggregates on its first rounds.
    op.execute(f"INSERT INTO progress_dirty (school_id, eck_id, day) "
               f"SELECT DISTINCT school_id, eck_id, {day} FROM progress_record_0007")  # fmt: skip
    op.drop_table("progress_record_0007")


def downgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    op.drop_table("progress_usage")
    op.drop_table("progress_day")
    op.drop_table("progress_dirty")
    op.drop_index("ix_progress_pupil", table_name="progress_record")
    op.rename_table("progress_record", "progress_record_0010")
    if pg:
        op.execute("ALTER TABLE progress_record_0010 RENAME CONSTRAINT pk_progress_record TO pk_progress_record_0010")
    op.create_table(
        "progress_record",
        *_record_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_record")),
    )
    op.create_index("ix_progress_pupil", "progress_record", ["school_id", "eck_id", "state_at"])
    op.create_index("ix_progress_school_subject", "progress_record", ["school_id", "subject", "state_at"])
    cols = ", ".join(RECORD_COLUMNS)
    op.execute(f"INSERT INTO progress_record ({cols}) SELECT {cols} FROM progress_record_0010")
    op.drop_table("progress_record_0010")  # on PostgreSQL with its partitions
    op.drop_table("progress_key")
