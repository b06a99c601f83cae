"""What each domain declares about the pupil data it stores, so that retention, the right of
access and erasure reach every table without the privacy code knowing the domains' models.

A domain lists its tables in ``privacy_tables()`` of its repository; eduketen.privacy walks them.
A new exchange (results, learning progress) adds its tables there and is covered."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table


@dataclass(frozen=True)
class PupilData:
    label: str  # the name in exports and purge counts
    table: Table
    pupil_column: str | None = None  # holds pupil.id: exported and erased with the pupil
    year_column: str | None = None  # holds the schooljaar: purged with it
    file_column: str | None = None  # holds a path of a file made from the row: deleted with it
    school_column: str | None = None  # rows with no pupil column but the pupil's references (see ref_columns)
    ref_columns: tuple[str, str] | None = None  # (label column, value column) matched against ECK iD / LAS-key
    ref_labels: tuple[str | None, str | None] = ("ECK-iD", "LAS-key")  # the label column's words for them (None: not held)
    eck_column: str | None = None  # holds the pupil's ECK iD itself (with school_column): the Edu-V exchanges
