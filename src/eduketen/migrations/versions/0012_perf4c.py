"""report PDFs in the database: dt_rapport_pdf (test supplier) and las_rapport_pdf (LAS), each
row going with its result (cascade). Reports written before stay files (rapport_path) and are
still served and removed from there.

Revision ID: 0012_perf4c
Revises: 0011_register_stamp
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_perf4c"
down_revision = "0011_register_stamp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dt_rapport_pdf",
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("schooljaar", sa.String(length=9), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["pupil_id", "schooljaar"], ["dt_resultaat.pupil_id", "dt_resultaat.schooljaar"],
                                name=op.f("fk_dt_rapport_pdf_pupil_id_dt_resultaat"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pupil_id", "schooljaar", name=op.f("pk_dt_rapport_pdf")),
    )
    op.create_table(
        "las_rapport_pdf",
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("schooljaar", sa.String(length=9), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["pupil_id", "schooljaar"], ["las_resultaat.pupil_id", "las_resultaat.schooljaar"],
                                name=op.f("fk_las_rapport_pdf_pupil_id_las_resultaat"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pupil_id", "schooljaar", name=op.f("pk_las_rapport_pdf")),
    )


def downgrade() -> None:
    op.drop_table("las_rapport_pdf")
    op.drop_table("dt_rapport_pdf")
