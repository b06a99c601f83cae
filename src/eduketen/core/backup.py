"""Backups of the store while eduketen runs.

SQLite: the SQLite online backup API copies the database in one step under one read
transaction. In WAL mode that transaction does not hold writers up, and the copy is the database
as it was at one moment: every message acknowledged before the backup began is in it. The copy is
written beside the destination, checked (``PRAGMA integrity_check`` and an eduketen schema), synced
and then renamed into place, so a half-written backup never has the destination's name.

PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot too) and ``pg_restore``; the
commands must be on the PATH and of the server's major version or newer.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from eduketen.config import Settings


class BackupError(RuntimeError):
    pass


@dataclass
class BackupInfo:
    path: Path
    bytes: int
    revision: str | None
    inbox_messages: int | None
    kind: str  # sqlite | pg_dump


def libpq_url(database_url: str) -> str:
    """postgresql+psycopg://... -> postgresql://... (what pg_dump and pg_restore take)."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def _describe_sqlite(path: Path) -> tuple[str | None, int | None]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a SQLite database ({exc})") from exc
        if check != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check: {check}")
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            count = conn.execute("SELECT count(*) FROM inbox_message").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not an eduketen database ({exc})") from exc
        return (revision[0] if revision else None), count
    finally:
        conn.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(settings: Settings, dest: Path) -> BackupInfo:
    dest = dest.resolve()
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory; give a file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        source = settings.sqlite_path()
        if source is None or not source.exists():
            raise BackupError(f"no SQLite database at {source}")
        if source.resolve() == dest:
            raise BackupError("the backup cannot be the database itself")
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # one step: one consistent snapshot, writers carry on (WAL)
                dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
            finally:
                dst.close()
        finally:
            src.close()
        revision, count = _describe_sqlite(partial)
        _fsync(partial)
        os.replace(partial, dest)
        return BackupInfo(dest, dest.stat().st_size, revision, count, "sqlite")
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not on the PATH (Debian: postgresql-client)")
    partial = dest.with_name(dest.name + ".partial")
    result = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--file", str(partial), libpq_url(settings.database_url)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[-500:]}")
    _fsync(partial)
    os.replace(partial, dest)
    return BackupInfo(dest, dest.stat().st_size, None, None, "pg_dump")


def restore(settings: Settings, source: Path) -> BackupInfo:
    """Copy a backup into the configured database. Stop API and worker processes first."""
    source = source.resolve()
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    if settings.is_sqlite:
        target = settings.sqlite_path()
        if target is None:
            raise BackupError("the database URL names no SQLite file")
        revision, count = _describe_sqlite(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target, timeout=30)
            try:
                src.backup(dst)  # under SQLite's own locks: no half-copied file, even if something has it open
                dst.execute("PRAGMA journal_mode=WAL")
            finally:
                dst.close()
        finally:
            src.close()
        return BackupInfo(target, target.stat().st_size, revision, count, "sqlite")
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not on the PATH (Debian: postgresql-client)")
    result = subprocess.run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
         "--dbname", libpq_url(settings.database_url), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[-500:]}")
    return BackupInfo(source, source.stat().st_size, None, None, "pg_dump")


def database_has_data(settings: Settings) -> bool:
    """True when the target already holds an eduketen schema with messages or schools."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is None or not path.exists() or path.stat().st_size == 0:
            return False
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT (SELECT count(*) FROM inbox_message) + (SELECT count(*) FROM school)")).scalar()
            )
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
