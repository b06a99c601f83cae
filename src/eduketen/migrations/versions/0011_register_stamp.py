"""register_stamp: a counter that triggers raise on every change to the tables the in-memory
register view is built from, so a server process reloads the view only when something changed

Revision ID: 0011_register_stamp
Revises: 0010_progress_scale
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_register_stamp"
down_revision = "0010_progress_scale"
branch_labels = None
depends_on = None

# The tables RegisterView._load reads (register.repository.snapshot_rows); keep in step.
WATCHED = ("school", "supplier", "system", "administratie", "service", "service_version", "mandate")


def upgrade() -> None:
    op.create_table(
        "register_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_stamp")),
    )
    op.execute("INSERT INTO register_stamp (id, generation) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        # One bump per statement, not per row: a bulk import raises it once.
        op.execute(
            "CREATE FUNCTION register_stamp_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE register_stamp SET generation = generation + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER register_stamp_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION register_stamp_bump()"
            )
        return
    # SQLite has row triggers only; its single writer makes the counter row no bottleneck.
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER register_stamp_{table}_{event.lower()} AFTER {event} ON {table} "
                "BEGIN UPDATE register_stamp SET generation = generation + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS register_stamp_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS register_stamp_bump()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS register_stamp_{table}_{event}")
    op.drop_table("register_stamp")
