"""Rules of learning progress: records from the wire to rows (newer state wins), and the
group-context analytics behind the mentor's pages. No HTTP, no commit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from eduketen.config import Settings
from eduketen.core.db import utcnow
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang.schemas import RecordIn

# -- ingest ------------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None or not value.utcoffset():
        return value
    return value.astimezone(UTC)


def build_rows(records, *, source_system_id: int, received_at, times=None) -> list[tuple]:
    """(record id, ``schemas.RecordIn``, school id) triples as staged rows (``repository.STAGE_COLUMNS``
    order), one per id: within one request the newest state of an id wins (of equal states the
    first). ``times``: converts a list of datetimes for the driver at once (``repository.time_binder``),
    or None to pass them as they are. This loop runs for every record of a bulk request, so it
    reads each field once and calls no helper per record."""
    if times is not None:
        states = times([r.status_changed_at for _, r, _ in records])
        starts = times([r.started_at for _, r, _ in records])
        completions = times([r.completed_at for _, r, _ in records])
    else:
        states = starts = completions = [None] * len(records)
    newest: dict[str, tuple] = {}
    utc = UTC
    dumps = orjson.dumps
    for (rid, record, school_id), state_text, started, completed in zip(records, states, starts, completions):
        state_at = record.status_changed_at
        seen = newest.get(rid)
        if seen is not None and not state_at > seen[0]:
            continue
        if state_text is None:  # passed as datetimes: in UTC, and the day from it
            if state_at.utcoffset():
                state_at = state_at.astimezone(utc)
            state, day, started, completed = state_at, state_at.date().isoformat(), record.started_at, record.completed_at
        else:
            state, day = state_text, state_text[:10]
        score, judgement, goals = record.score, record.judgement, record.learning_goals
        if score is not None:
            raw, top = score.raw, score.max
            if raw is not None and top is not None:
                pct = round(100.0 * raw / top, 2)
            else:
                pct = score.percentage
                pct = None if pct is None else float(pct)
        else:
            raw = top = pct = None
        if judgement is not None:
            text, ordinal, ordinal_max = judgement.text, judgement.ordinal, judgement.ordinal_max
        else:
            text = ordinal = ordinal_max = None
        newest[rid] = (state_at, (
            rid, state, source_system_id, school_id, record.student.eck_id, record.course_id, record.assignable_unit_id,
            record.subject, record.status, started, completed, raw, top, pct, text, ordinal, ordinal_max,
            record.access_duration_seconds, record.please_follow_up, record.detail_url, dumps(goals).decode() if goals else None,
            received_at, day,
        ))  # fmt: skip
    return [row for _, row in newest.values()]


@dataclass
class Stored:
    received: int
    applied: int

    @property
    def stale(self) -> int:
        return self.received - self.applied


def prepare(records: list[tuple[str, RecordIn, int]], *, source_system_id: int, times=None) -> list[tuple]:
    """(record id, validated record, school id) triples as staged rows, one per id: within one
    request the newest state of an id wins. Pure Python, so callers can do it before they open
    the write transaction. ``times``: ``repository.time_binder`` of the database written to."""
    now = utcnow()
    return build_rows(records, source_system_id=source_system_id, received_at=times([now])[0] if times is not None else now, times=times)


def store(session: Session, records: list[tuple[str, RecordIn, int]], *, source_system_id: int) -> Stored:
    """Store (record id, validated record, school id) triples in one pass. A record whose
    ``statusChangedAt`` is not newer than the stored state changes nothing (idempotent, and
    out-of-order delivery never goes back in time)."""
    rows = prepare(records, source_system_id=source_system_id, times=repo.time_binder(session.get_bind()))
    return Stored(received=len(records), applied=repo.ingest(session, rows))


def store_prepared(session: Session, received: int, rows: list[tuple]) -> Stored:
    return Stored(received=received, applied=repo.ingest(session, rows))


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

    @property
    def last_day(self) -> date:
        """The last day of the period (``until`` is the start of the day after it)."""
        return (self.until - timedelta(days=1)).date()


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


def window(until: datetime, t: Thresholds) -> tuple[date, date, date]:
    """The period the group view looks at, in whole UTC days: the ``period_days`` days ending with
    the day of ``until`` (today included), and the first day of the last ``recent_days``."""
    last = _utc(until).date()
    return last - timedelta(days=t.period_days - 1), last, last - timedelta(days=t.recent_days - 1)


@dataclass
class Sums:
    """One pupil's sums over the period (from raw records or from the day aggregates)."""

    units: int = 0
    completed: int = 0
    abandoned: int = 0
    seconds: int = 0
    score_sum: float = 0.0
    score_n: int = 0
    recent_sum: float = 0.0
    recent_n: int = 0
    follow_up: set = field(default_factory=set)


def sums_from_records(rows: list[tuple], first: date, last: date, recent_first: date, subject: str | None) -> tuple[dict, list[str]]:
    """Per ECK iD from raw rows as ``repository.records_of`` gives them; and the subjects seen."""
    out: dict[str, Sums] = {}
    subjects = set()
    for eck, subj, status, at, score, seconds, follow_up, unit, _judgement in rows:
        day = _utc(at).date()
        if day < first or day > last:
            continue
        subjects.add(subj)
        if subject is not None and subj != subject:
            continue
        s = out.get(eck) or out.setdefault(eck, Sums())
        s.seconds += seconds or 0
        if follow_up:
            s.follow_up.add(unit)
        if status == "not-started":
            continue
        s.units += 1
        if status == "abandoned":
            s.abandoned += 1
        elif status == "completed":
            s.completed += 1
            if score is not None:
                s.score_sum += score
                s.score_n += 1
                if day >= recent_first:
                    s.recent_sum += score
                    s.recent_n += 1
    return out, sorted(subjects)


def sums_from_days(rows: list[tuple], recent_first: date, subject: str | None) -> tuple[dict, list[str]]:
    """Per ECK iD from ``repository.day_sums`` rows (already limited to the period)."""
    out: dict[str, Sums] = {}
    subjects = set()
    recent = recent_first.isoformat()
    for eck, day, subj, _records, units, completed, abandoned, seconds, score_sum, score_n, follow_up in rows:
        subjects.add(subj)
        if subject is not None and subj != subject:
            continue
        s = out.get(eck) or out.setdefault(eck, Sums())
        s.units += units
        s.completed += completed
        s.abandoned += abandoned
        s.seconds += seconds
        s.score_sum += score_sum
        s.score_n += score_n
        if day >= recent:
            s.recent_sum += score_sum
            s.recent_n += score_n
        if follow_up:
            s.follow_up.update(orjson.loads(follow_up))
    return out, sorted(subjects)


def analyse(members: list[tuple[int, str | None]], rows: list[tuple], *, until: datetime, t: Thresholds,
            subject: str | None = None) -> GroupContext:  # fmt: skip
    """The group context of ``members`` (pupil id, ECK iD) from raw progress ``rows`` (as
    ``repository.records_of`` gives them) in the period ending with the day of ``until``."""
    first, last, recent_first = window(until, t)
    sums, subjects = sums_from_records(rows, first, last, recent_first, subject)
    return context(members, sums, subjects, first=first, last=last, t=t, subject=subject)


def context(members: list[tuple[int, str | None]], sums: dict[str, Sums], subjects: list[str], *, first: date, last: date, t: Thresholds,
            subject: str | None) -> GroupContext:  # fmt: skip
    """Measures, the group's spread and each pupil's signals from the pupils' sums."""
    pupils: list[PupilContext] = []
    for pupil_id, eck in members:
        s = sums.get(eck) if eck else None
        s = s or Sums()
        earlier_n = s.score_n - s.recent_n
        pupils.append(PupilContext(
            pupil_id=pupil_id, eck_id=eck,
            values={
                "units": float(s.units), "minutes": round(s.seconds / 60, 1),
                "completion": round(100.0 * s.completed / s.units, 1) if s.units else None,
                "abandonment": round(100.0 * s.abandoned / s.units, 1) if s.units else None,
                "score": round(s.score_sum / s.score_n, 1) if s.score_n else None,
            },
            abandoned=s.abandoned, follow_up_units=sorted(s.follow_up),
            recent_score=s.recent_sum / s.recent_n if s.recent_n >= t.drop_min_records else None,
            earlier_score=(s.score_sum - s.recent_sum) / earlier_n if earlier_n >= t.drop_min_records else None,
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
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
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
    """The group context from the day aggregates the worker keeps (``refresh_aggregates``): the
    page reads some hundreds of aggregate rows, never the raw records."""
    group = repo.group(session, group_id)
    pupils = repo.members(session, group_id)
    first, last, recent_first = window(until or utcnow(), t)
    rows = repo.day_sums(session, group.school_id, [p.eck_id for p in pupils if p.eck_id], first.isoformat(), last.isoformat())
    sums, subjects = sums_from_days(rows, recent_first, subject)
    return context([(p.id, p.eck_id) for p in pupils], sums, subjects, first=first, last=last, t=t, subject=subject)


def group_context_from_records(session: Session, group_id: int, *, t: Thresholds, until: datetime | None = None,
                               subject: str | None = None) -> GroupContext:  # fmt: skip
    """The same from the raw records (the check on the aggregates; not used by the pages)."""
    group = repo.group(session, group_id)
    pupils = repo.members(session, group_id)
    first, _last, _recent = window(until or utcnow(), t)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    rows = repo.records_of(session, group.school_id, [p.eck_id for p in pupils if p.eck_id], since, since + timedelta(days=t.period_days))
    return analyse([(p.id, p.eck_id) for p in pupils], rows, until=until or utcnow(), t=t, subject=subject)


# -- aggregates (worker) -------------------------------------------------------------------------------


def day_rows(school_id: int, raw: list[tuple]) -> list[dict]:
    """progress_day rows from ``repository.raw_rows_for_cells`` rows of one school."""
    table: dict[tuple, dict] = {}
    for eck, day, subject, system, course, unit, status, score, seconds, follow_up in raw:
        key = (eck, day, subject, system, course)
        row = table.get(key)
        if row is None:
            row = table[key] = {"school_id": school_id, "eck_id": eck, "day": day, "subject": subject, "source_system_id": system,
                                "course_id": course, "records": 0, "units": 0, "completed": 0, "abandoned": 0, "seconds": 0,
                                "score_sum": 0.0, "score_n": 0, "follow_up": set()}  # fmt: skip
        row["records"] += 1
        row["seconds"] += seconds or 0
        if follow_up:
            row["follow_up"].add(unit)
        if status != "not-started":
            row["units"] += 1
        if status == "abandoned":
            row["abandoned"] += 1
        elif status == "completed":
            row["completed"] += 1
            if score is not None:
                row["score_sum"] += score
                row["score_n"] += 1
    for row in table.values():
        row["follow_up"] = orjson.dumps(sorted(row["follow_up"])).decode() if row["follow_up"] else None
    return list(table.values())


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Round:
    """One aggregate round, computed in a read transaction, written in a short write transaction."""

    seqs: list[int]
    cells: list[tuple[int, str, str]]
    rows: list[dict]
    weeks: set[tuple[int, str, date]]


def plan_round(session: Session, *, limit: int = 5_000) -> Round | None:
    """Read up to ``limit`` dirty cells and recompute their progress_day rows from the raw records
    (reads only; None when nothing is dirty)."""
    marks = repo.peek_dirty(session, limit)
    if not marks:
        return None
    cells = sorted({(school_id, eck, day) for _seq, school_id, eck, day in marks})
    by_school: dict[int, list[tuple[str, str]]] = {}
    for school_id, eck, day in cells:
        by_school.setdefault(school_id, []).append((eck, day))
    rows: list[dict] = []
    weeks: set[tuple[int, str, date]] = set()
    for school_id, pairs in by_school.items():
        wanted = set(pairs)
        days = sorted({d for _, d in pairs})
        raw = repo.raw_rows_for_cells(session, school_id, sorted({e for e, _ in pairs}), days[0], days[-1])
        rows += day_rows(school_id, [r for r in raw if (r[0], r[1]) in wanted])
        for d in days:
            day = date.fromisoformat(d)
            weeks.add((school_id, iso_week(day), day - timedelta(days=day.weekday())))
    return Round([m[0] for m in marks], cells, rows, weeks)


def apply_round(session: Session, r: Round) -> int:
    """Write a planned round: the marks it read are removed (marks added since stay, so a cell
    that changed in between is recomputed in the next round), its day rows replace the cells'
    rows, and the touched schools' weeks of progress_usage are recomputed from progress_day."""
    repo.delete_dirty(session, r.seqs)
    repo.replace_days(session, r.cells, r.rows)
    for school_id, week, monday in sorted(r.weeks):
        usage = repo.usage_from_days(session, school_id, monday.isoformat(), (monday + timedelta(days=6)).isoformat())
        repo.replace_usage(session, school_id, week, [
            {"school_id": school_id, "week": week, "source_system_id": system, "course_id": course, "activated": activated,
             "used": int(used or 0), "units": int(units or 0)} for system, course, activated, used, units in usage])  # fmt: skip
    return len(r.cells)


def refresh_aggregates(session: Session, *, limit: int = 5_000) -> int:
    """Plan and apply one round in one transaction. Returns the cells done (0: nothing was waiting)."""
    r = plan_round(session, limit=limit)
    return apply_round(session, r) if r else 0


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


def usage_per_week(session: Session, *, until: datetime, weeks: int) -> list[dict]:
    """From the weekly aggregate: per supplier, material (course) and ISO week (the ``weeks``
    weeks ending with the week of ``until``), the pupils for whom the material is activated (any
    record, also ``not-started``), the pupils who used it (started, completed or abandoned a unit)
    and the use rate. Counts only; no pupil is named."""
    last = _utc(until).date()
    first = last - timedelta(weeks=weeks - 1)
    out = []
    for supplier, system, course, week, schools, activated, used, units in sorted(repo.usage_weeks(session, iso_week(first), iso_week(last))):
        activated, used = int(activated or 0), int(used or 0)
        out.append({"supplier": supplier, "system": system, "course": course, "week": week, "schools": schools,
                    "activated": activated, "used": used, "use_rate": round(100.0 * used / activated, 1) if activated else None,
                    "units": int(units or 0)})  # fmt: skip
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
