"""Rules of learning progress: records from the wire to rows (newer state wins), and the
group-context analytics behind the mentor's pages. No HTTP, no commit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from eduketen.config import Settings
from eduketen.core.db import utcnow
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang.schemas import Progress

# -- ingest ------------------------------------------------------------------------------------------


def to_row(record: Progress, *, record_id: str, school_id: int, source_system_id: int, received_at: datetime) -> dict:
    score = record.score
    judgement = record.judgement
    return {
        "id": record_id,
        "source_system_id": source_system_id,
        "school_id": school_id,
        "eck_id": record.student.eckId,
        "course_id": record.courseId,
        "unit_id": record.assignableUnitId,
        "subject": record.subject,
        "status": record.status,
        "state_at": record.statusChangedAt,
        "started_at": record.startedAt,
        "completed_at": record.completedAt,
        "score_raw": score.raw if score else None,
        "score_max": score.max if score else None,
        "score_pct": score.pct() if score else None,
        "judgement": judgement.text if judgement else None,
        "judgement_ordinal": judgement.ordinal if judgement else None,
        "judgement_ordinal_max": judgement.ordinalMax if judgement else None,
        "duration_seconds": record.accessDurationSeconds,
        "please_follow_up": record.pleaseFollowUp,
        "detail_url": record.detailUrl,
        "goals": orjson.dumps(record.learningGoals).decode() if record.learningGoals else None,
        "received_at": received_at,
    }


@dataclass
class Stored:
    received: int
    applied: int

    @property
    def stale(self) -> int:
        return self.received - self.applied


def store(session: Session, records: list[tuple[str, Progress, int]], *, source_system_id: int) -> Stored:
    """Store (record id, record, school id) triples in one statement. A record whose
    ``statusChangedAt`` is not newer than the stored state changes nothing (idempotent, and
    out-of-order delivery never goes back in time)."""
    now = utcnow()
    rows = [to_row(r, record_id=rid, school_id=sid, source_system_id=source_system_id, received_at=now) for rid, r, sid in records]
    # Within one request the newest state of an id wins too.
    newest: dict[str, dict] = {}
    for row in rows:
        seen = newest.get(row["id"])
        if seen is None or row["state_at"] > seen["state_at"]:
            newest[row["id"]] = row
    applied = repo.upsert(session, list(newest.values()))
    return Stored(received=len(rows), applied=applied)


def record_out(row) -> dict:
    return {
        "id": row.id, "subject": row.subject, "courseId": row.course_id, "assignableUnitId": row.unit_id, "status": row.status,
        "statusChangedAt": row.state_at.isoformat().replace("+00:00", "Z"),
        "score": row.score_pct, "judgement": row.judgement, "accessDurationSeconds": row.duration_seconds,
        "pleaseFollowUp": row.please_follow_up, "detailUrl": row.detail_url,
        "learningGoals": orjson.loads(row.goals) if row.goals else [],
    }  # fmt: skip


# -- groups: CSV import ----------------------------------------------------------------------------------

CSV_COLUMNS = ("groep", "omschrijving", "jaargroep", "eck_id", "las_key", "roepnaam", "voorvoegsel", "achternaam")


class ImportProblems(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:20]))
        self.problems = problems


def import_groups_csv(session: Session, *, school_id: int, schooljaar: str, text: str, as_of: datetime | None = None) -> dict:
    """Groups and pupils of a school year from a CSV (header row with ``CSV_COLUMNS``; ``;`` or
    ``,``), through the same path the Doorstroomtoets pupil lists take. Nothing is written when
    a row is wrong; the problems name their line."""
    import csv
    import io

    from eduketen.core.identifiers import parse_schooljaar
    from eduketen.register import service as register

    if parse_schooljaar(schooljaar) is None:
        raise ImportProblems([f"schooljaar {schooljaar!r} is not like 2026-2027"])
    sample = text[:2000]
    dialect = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=dialect)
    missing = [c for c in ("groep", "roepnaam", "achternaam") if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportProblems([f"header lacks {', '.join(missing)} (columns: {', '.join(CSV_COLUMNS)})"])
    groups: dict[str, register.GroupIn] = {}
    pupils: list[register.PupilIn] = []
    problems: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        get = {k: (row.get(k) or "").strip() for k in CSV_COLUMNS}
        eck, las = get["eck_id"] or None, get["las_key"] or None
        if not get["groep"] or len(get["groep"]) > 256:
            problems.append(f"line {line}: groep is empty or too long")
        if eck is None and las is None:
            problems.append(f"line {line}: give eck_id or las_key")
        if eck is not None and (not eck.startswith("https://") or len(eck) > 300):
            problems.append(f"line {line}: eck_id is not an ECK iD (https://...)")
        if not get["roepnaam"] or not get["achternaam"] or len(get["roepnaam"]) > 64 or len(get["achternaam"]) > 70:
            problems.append(f"line {line}: roepnaam and achternaam are required (at most 64 and 70 characters)")
        key = eck or f"las:{las}"
        if key in seen:
            problems.append(f"line {line}: the same pupil twice")
        seen.add(key)
        groups.setdefault(get["groep"], register.GroupIn(get["groep"], get["omschrijving"][:64] or None, get["jaargroep"][:2] or None))
        pupils.append(register.PupilIn(eck_id=eck, las_key=las and las[:256], achternaam=get["achternaam"],
                                       voorvoegsel=get["voorvoegsel"][:10] or None, roepnaam=get["roepnaam"], voorletters=None,
                                       geboortedatum=None, geslacht=None, group_external_id=get["groep"],
                                       jaargroep=get["jaargroep"][:2] or None))  # fmt: skip
    if problems:
        raise ImportProblems(problems)
    result = register.upsert_pupils(session, school_id=school_id, schooljaar=schooljaar, groups=list(groups.values()), pupils=pupils,
                                    as_of=as_of or utcnow())  # fmt: skip
    return {"groups": len(groups), "pupils": len(result), "new": sum(1 for _, created in result if created)}


# -- group-context analytics -------------------------------------------------------------------------

MEASURES = {  # measure -> (label on the page, unit)
    "units": ("Geoefende onderdelen", "aantal"),
    "minutes": ("Oefentijd", "minuten"),
    "completion": ("Afgerond", "% van geoefend"),
    "abandonment": ("Afgebroken", "% van geoefend"),
    "score": ("Gemiddelde score", "%"),
}
SIGNAL_LABELS = {
    "practises-much-scores-low": "Oefent veel, scoort laag",
    "hardly-practises": "Oefent nauwelijks",
    "often-abandons": "Breekt vaak af",
    "follow-up": "Leverancier vraagt opvolging",
    "sudden-drop": "Plotselinge daling",
}


@dataclass(frozen=True)
class Thresholds:
    period_days: int
    recent_days: int
    z_high: float
    much_factor: float
    low_percentile: float
    hardly_fraction: float
    abandon_rate: float
    abandon_min: int
    drop_points: float
    drop_min_records: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            period_days=settings.progress_period_days, recent_days=settings.progress_recent_days, z_high=settings.progress_z_high,
            much_factor=settings.progress_much_factor,
            low_percentile=settings.progress_low_percentile, hardly_fraction=settings.progress_hardly_fraction,
            abandon_rate=settings.progress_abandon_rate, abandon_min=settings.progress_abandon_min,
            drop_points=settings.progress_drop_points, drop_min_records=settings.progress_drop_min_records,
        )  # fmt: skip


@dataclass
class Signal:
    code: str
    label: str
    explanation: str


@dataclass
class PupilContext:
    pupil_id: int
    eck_id: str | None
    values: dict[str, float | None]
    percentile: dict[str, float | None] = field(default_factory=dict)
    z: dict[str, float | None] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    abandoned: int = 0
    follow_up_units: list[str] = field(default_factory=list)
    recent_score: float | None = None
    earlier_score: float | None = None


@dataclass
class GroupContext:
    subject: str | None
    since: datetime
    until: datetime
    pupils: list[PupilContext]
    median: dict[str, float | None]
    spread: dict[str, tuple[float, float] | None]  # 25th and 75th percentile
    subjects: list[str]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(s) - 1)
    return s[low] + (s[high] - s[low]) * (pos - low)


def percentile_rank(value: float, values: list[float]) -> float:
    """Mid-rank percentile (0-100) of ``value`` among ``values``: ties count half."""
    below = sum(1 for v in values if v < value)
    equal = sum(1 for v in values if v == value)
    return round(100.0 * (below + 0.5 * equal) / len(values), 1)


def robust_z(value: float, values: list[float]) -> float:
    """(x - median) / (1.4826 * MAD); with MAD 0 the mean absolute deviation (x 1.2533) stands in,
    and with no spread at all every pupil is 0."""
    med = median(values)
    deviations = [abs(v - med) for v in values]
    mad = median(deviations)
    if mad and mad > 0:
        return round((value - med) / (1.4826 * mad), 2)
    mean_ad = sum(deviations) / len(deviations)
    if mean_ad > 0:
        return round((value - med) / (1.2533 * mean_ad), 2)
    return 0.0


def _fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}".replace(".", ",")


def analyse(members: list[tuple[int, str | None]], rows: list[tuple], *, until: datetime, t: Thresholds,
            subject: str | None = None) -> GroupContext:  # fmt: skip
    """The group context of ``members`` (pupil id, ECK iD) from progress ``rows`` (as
    ``repository.records_of`` gives them) in the period ending at ``until``."""
    since = until - timedelta(days=t.period_days)
    recent_from = until - timedelta(days=t.recent_days)
    subjects = sorted({r[1] for r in rows})
    by_eck: dict[str, list[tuple]] = {}
    for r in rows:
        if subject is None or r[1] == subject:
            by_eck.setdefault(r[0], []).append(r)
    pupils: list[PupilContext] = []
    for pupil_id, eck in members:
        own = by_eck.get(eck, []) if eck else []
        practised = [r for r in own if r[2] != "not-started"]
        units = len(practised)
        completed = sum(1 for r in practised if r[2] == "completed")
        abandoned = sum(1 for r in practised if r[2] == "abandoned")
        seconds = sum(r[5] or 0 for r in own)
        scores = [r[4] for r in practised if r[2] == "completed" and r[4] is not None]
        recent = [r[4] for r in practised if r[2] == "completed" and r[4] is not None and r[3] >= recent_from]
        earlier = [r[4] for r in practised if r[2] == "completed" and r[4] is not None and r[3] < recent_from]
        pupils.append(PupilContext(
            pupil_id=pupil_id, eck_id=eck,
            values={
                "units": float(units), "minutes": round(seconds / 60, 1),
                "completion": round(100.0 * completed / units, 1) if units else None,
                "abandonment": round(100.0 * abandoned / units, 1) if units else None,
                "score": round(sum(scores) / len(scores), 1) if scores else None,
            },
            abandoned=abandoned, follow_up_units=sorted({r[7] for r in own if r[6]}),
            recent_score=sum(recent) / len(recent) if len(recent) >= t.drop_min_records else None,
            earlier_score=sum(earlier) / len(earlier) if len(earlier) >= t.drop_min_records else None,
        ))  # fmt: skip
    med: dict[str, float | None] = {}
    spread: dict[str, tuple[float, float] | None] = {}
    for m in MEASURES:
        values = [p.values[m] for p in pupils if p.values[m] is not None]
        med[m] = median(values)
        spread[m] = (quantile(values, 0.25), quantile(values, 0.75)) if values else None
        for p in pupils:
            v = p.values[m]
            p.percentile[m] = percentile_rank(v, values) if v is not None else None
            p.z[m] = robust_z(v, values) if v is not None else None
    for p in pupils:
        p.signals = signals(p, med, t)
    return GroupContext(subject=subject, since=since, until=until, pupils=pupils, median=med, spread=spread, subjects=subjects)


def signals(p: PupilContext, med: dict[str, float | None], t: Thresholds) -> list[Signal]:
    """Each signal with one plain sentence for the mentor."""
    out: list[Signal] = []
    v, z, pct = p.values, p.z, p.percentile

    def add(code: str, text: str) -> None:
        out.append(Signal(code, SIGNAL_LABELS[code], text))

    def much(m: str) -> bool:
        return z[m] is not None and z[m] >= t.z_high and bool(med[m]) and v[m] >= t.much_factor * med[m]

    practises_much = much("units") or much("minutes")
    if practises_much and pct["score"] is not None and pct["score"] <= t.low_percentile:
        add("practises-much-scores-low",
            f"Oefent veel meer dan de groep ({_fmt(v['units'])} onderdelen en {_fmt(v['minutes'])} minuten, de groep zit op "
            f"{_fmt(med['units'])} en {_fmt(med['minutes'])}) maar scoort bij de laagsten (gemiddeld {_fmt(v['score'])}%, "
            f"de groep {_fmt(med['score'])}%): een reden voor een gesprek.")  # fmt: skip
    if med["units"] and v["units"] <= t.hardly_fraction * med["units"]:
        add("hardly-practises", f"Oefent nauwelijks: {_fmt(v['units'])} onderdelen in deze periode, de groep zit op {_fmt(med['units'])}.")
    if p.abandoned >= t.abandon_min and v["abandonment"] is not None and v["abandonment"] >= 100 * t.abandon_rate:
        add("often-abandons", f"Breekt vaak af: {p.abandoned} van de {_fmt(v['units'])} onderdelen afgebroken "
                              f"({_fmt(v['abandonment'])}%, de groep {_fmt(med['abandonment'])}%).")  # fmt: skip
    if p.follow_up_units:
        n = len(p.follow_up_units)
        add("follow-up", f"De leverancier van het lesmateriaal vraagt om opvolging bij {n} "
                         f"{'onderdeel' if n == 1 else 'onderdelen'} ({', '.join(p.follow_up_units[:3])}{', ...' if n > 3 else ''}).")  # fmt: skip
    if p.recent_score is not None and p.earlier_score is not None and p.earlier_score - p.recent_score >= t.drop_points:
        add("sudden-drop", f"Plotselinge daling: gemiddeld {_fmt(p.recent_score)}% in de laatste {t.recent_days} dagen, "
                           f"tegen {_fmt(p.earlier_score)}% daarvoor.")  # fmt: skip
    return out


def group_context(session: Session, group_id: int, *, t: Thresholds, until: datetime | None = None,
                  subject: str | None = None) -> GroupContext:  # fmt: skip
    group = repo.group(session, group_id)
    pupils = repo.members(session, group_id)
    until = until or utcnow()
    rows = repo.records_of(session, group.school_id, [p.eck_id for p in pupils if p.eck_id], until - timedelta(days=t.period_days), until)
    return analyse([(p.id, p.eck_id) for p in pupils], rows, until=until, t=t, subject=subject)


def assign_mentor(session: Session, *, username: str, school_id: int, schooljaar: str, group_external_id: str) -> dict:
    """Let a mentor of the school see a group; ValueError when the account or group does not fit."""
    from eduketen.register import repository as register_repo

    account = repo.account_by_username(session, username)
    if account is None or account.role != "mentor" or account.school_id != school_id:
        raise ValueError(f"{username!r} is not a mentor account of this school")
    group = register_repo.groups_by_external(session, school_id, schooljaar, [group_external_id]).get(group_external_id)
    if group is None:
        raise ValueError(f"no group {group_external_id!r} in {schooljaar} at this school")
    added = repo.assign_mentor(session, account.id, group.id)
    return {"username": username, "group": group_external_id, "group_id": group.id, "added": added}


# -- quality staff: activation and use per material and supplier per week --------------------------------


def usage_per_week(rows: list[tuple]) -> list[dict]:
    """From ``repository.usage_rows``: per supplier, material (course) and ISO week, the pupils for
    whom the material is activated (any record, also ``not-started``), the pupils who used it
    (started, completed or abandoned a unit) and the use rate. Counts only; no pupil is named."""
    table: dict[tuple, dict] = {}
    for supplier, system, course, school_id, eck, status, at in rows:
        year, week, _ = at.isocalendar()
        key = (supplier, system, course, f"{year}-W{week:02d}")
        entry = table.setdefault(key, {"activated": set(), "used": set(), "schools": set(), "units": 0})
        entry["activated"].add((school_id, eck))
        entry["schools"].add(school_id)
        if status != "not-started":
            entry["used"].add((school_id, eck))
            entry["units"] += 1
    out = []
    for (supplier, system, course, week), e in sorted(table.items()):
        activated, used = len(e["activated"]), len(e["used"])
        out.append({"supplier": supplier, "system": system, "course": course, "week": week, "schools": len(e["schools"]),
                    "activated": activated, "used": used, "use_rate": round(100.0 * used / activated, 1) if activated else None,
                    "units": e["units"]})  # fmt: skip
    return out


def school_overview(session: Session, school_id: int, *, t: Thresholds, until: datetime | None = None) -> list[dict]:
    """Per group of the school: pupils, pupils who practised, median measures, pupils with a signal per kind."""
    until = until or utcnow()
    out = []
    for group in repo.groups_of_school(session, school_id):
        ctx = group_context(session, group.id, t=t, until=until)
        counts = {code: sum(1 for p in ctx.pupils if any(s.code == code for s in p.signals)) for code in SIGNAL_LABELS}
        out.append({"group": group, "pupils": len(ctx.pupils), "active": sum(1 for p in ctx.pupils if p.values["units"]),
                    "median": ctx.median, "signals": counts, "flagged": sum(1 for p in ctx.pupils if p.signals)})  # fmt: skip
    return out


def exchange_activity(session: Session, school_id: int) -> dict:
    """Per source system: the progress flow's ``Activity`` (last record received) for the school."""
    from eduketen.core.activity import Activity

    return {source: Activity(last_ok=last, exchanges=n) for source, (last, n) in repo.last_received_by_source(session, school_id).items()}
