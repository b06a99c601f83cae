"""The privacy duties (AVG/GDPR): retention per school year, the right of access (export of
everything stored about one pupil) and erasure. Each export, erasure and purge is written to the
audit log. No commit here: the caller's unit of work commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from eduketen.core import audit
from eduketen.privacy import repository as repo
from eduketen.register.models import School


class PrivacyError(ValueError):
    pass


def schooljaar_of(day: date) -> str:
    """The school year a day falls in (school years start on 1 August)."""
    start = day.year if day.month >= 8 else day.year - 1
    return f"{start}-{start + 1}"


def years_to_purge(session: Session, *, keep: int, today: date, only: list[str] | None = None) -> list[str]:
    """School years older than the ``keep`` most recent ones (the current one included)."""
    if keep < 1:
        raise PrivacyError("keep at least the current school year (--keep 1 or more)")
    current = int(schooljaar_of(today)[:4])
    oldest_kept = current - keep + 1
    old = [y for y in repo.school_years(session) if int(y[:4]) < oldest_kept]
    if only:
        refused = [y for y in only if int(y[:4]) >= oldest_kept]
        if refused:
            raise PrivacyError(f"{', '.join(refused)} is within the retention period ({keep} school year(s))")
        return [y for y in old if y in only]
    return old


@dataclass
class PurgeResult:
    years: list[str]
    counts: dict[str, int]
    files: list[str]  # report files to remove once the transaction is committed (remove_files)
    dry_run: bool


def purge(session: Session, *, keep: int, today: date, actor: str, only: list[str] | None = None, dry_run: bool = True) -> PurgeResult:
    years = years_to_purge(session, keep=keep, today=today, only=only)
    counts, files = repo.purge_years(session, years, dry_run=dry_run)
    if not dry_run and years:
        audit.record(session, actor=actor, action="purge", subject_type="schooljaar", subject_ids=years, purpose=f"bewaartermijn: {keep} schooljaar/jaren")
    return PurgeResult(years, counts, files, dry_run)


def _pupil(session: Session, school: School, eck_id: str | None, las_key: str | None):
    if bool(eck_id) == bool(las_key):
        raise PrivacyError("name the pupil by exactly one of ECK iD or LAS-key")
    pupil = repo.find_pupil(session, school.id, eck_id=eck_id, las_key=las_key)
    if pupil is None:
        raise PrivacyError("no pupil with that reference at this school")
    return pupil


def export_pupil(session: Session, school: School, *, eck_id: str | None, las_key: str | None, actor: str, purpose: str) -> dict:
    """Everything stored about one pupil (right of access, AVG art. 15), as JSON-ready data."""
    pupil = _pupil(session, school, eck_id, las_key)
    records = repo.pupil_records(session, pupil)
    audit.record(session, actor=actor, action="export", subject_type="pupil", subject_ids=[str(pupil.id)], purpose=purpose)
    return {
        "leerling": {
            "intern_id": pupil.id, "school": {"brin": school.brin, "oin": school.oin, "naam": school.name},
            "eck_id": pupil.eck_id, "las_key": pupil.las_key,
            "aangemaakt": pupil.created_at.isoformat(), "bijgewerkt": pupil.updated_at.isoformat(),
        },
        "gegevens": records,
    }  # fmt: skip


def erase_pupil(
    session: Session, school: School, *, eck_id: str | None, las_key: str | None, actor: str, purpose: str, force: bool = False
) -> tuple[dict[str, int], list[str]]:
    """Delete everything stored about one pupil (AVG art. 17); audited. Returns the counts and the
    report files to remove once the transaction is committed (remove_files).
    Refused while messages of the school are still waiting (they could bring the pupil back)
    unless ``force``."""
    pupil = _pupil(session, school, eck_id, las_key)
    waiting = repo.waiting_messages_of_school(session, school)
    if waiting and not force:
        raise PrivacyError(
            f"{waiting} message(s) of this school are still waiting to be processed and may name the pupil; "
            "erase after they are processed (or force)"
        )
    pupil_id = pupil.id
    counts, files = repo.erase_pupil(session, pupil)
    audit.record(session, actor=actor, action="erase", subject_type="pupil", subject_ids=[str(pupil_id)], purpose=purpose)
    session.flush()
    return counts, files


def remove_files(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
