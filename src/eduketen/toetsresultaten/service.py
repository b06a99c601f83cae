"""Rules of the results exchange: checks beyond the schema (scales, parts, duplicate students),
create-or-update storage (the latest state wins), and reading back. No HTTP, no commit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.toetsresultaten import repository as repo
from eduketen.toetsresultaten.models import ResultAssessment, StudentResult
from eduketen.toetsresultaten.schemas import AssessmentScoresAndResults, Part, StudentRef


class BundleProblems(ValueError):
    """The bundle is well formed but does not hold together; each problem names its field."""

    def __init__(self, problems: list[dict]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = problems


def student_key(ref: StudentRef) -> tuple[str, str]:
    """How a student is found again: the ECK iD when given, else the user id within its type."""
    if ref.eckId is not None:
        return "eckId", ref.eckId
    return f"user:{ref.userIdType}", ref.userId


def parse_student_key(key_type: str, key: str) -> tuple[str, str]:
    """From the admin API's path: ``eckId`` or a userIdType (``user:`` prefix optional)."""
    if key_type == "eckId":
        return "eckId", key
    return (key_type if key_type.startswith("user:") else f"user:{key_type}"), key


def _number(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _decimals(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 99


def value_problem(scale, value) -> str | None:
    """Why ``value`` does not fit ``scale`` (None when it fits)."""
    kind = scale.type
    if kind in ("numeric", "grade", "percentile"):
        number = _number(value)
        if number is None:
            return f"{value!r} is not a number (scale {scale.id!r} is {kind})"
        if kind == "numeric":
            if scale.min is not None and number < scale.min:
                return f"{value} is below the minimum {scale.min} of scale {scale.id!r}"
            if scale.max is not None and number > scale.max:
                return f"{value} is above the maximum {scale.max} of scale {scale.id!r}"
            if scale.decimals is not None and _decimals(number) > scale.decimals:
                return f"{value} has more than {scale.decimals} decimals (scale {scale.id!r})"
        elif kind == "grade":
            if not Decimal(1) <= number <= Decimal(10):
                return f"{value} is not a grade from 1 to 10 (scale {scale.id!r})"
            if _decimals(number) > scale.decimals:
                return f"{value} has more than {scale.decimals} decimals (scale {scale.id!r})"
        elif not (Decimal(0) <= number <= Decimal(100) and _decimals(number) == 0):
            return f"{value} is not a whole percentile from 0 to 100 (scale {scale.id!r})"
        return None
    if not isinstance(value, str):
        return f"{value!r} must be text on scale {scale.id!r} ({kind})"
    if kind == "referenceLevel" and value not in scale.levels:
        return f"{value!r} is not a level of scale {scale.id!r} ({', '.join(scale.levels)})"
    if kind == "passFail" and value not in ("pass", "fail"):
        return f"{value!r} must be 'pass' or 'fail' (scale {scale.id!r})"
    if kind == "ordinal" and value not in scale.labels:
        return f"{value!r} is not a label of scale {scale.id!r} ({', '.join(scale.labels[:12])}{', ...' if len(scale.labels) > 12 else ''})"
    return None


def _part_ids(parts: list[Part], found: list[str]) -> list[str]:
    for part in parts:
        found.append(part.id)
        _part_ids(part.parts, found)
    return found


def check(bundle: AssessmentScoresAndResults) -> None:
    """Raise BundleProblems listing everything that does not hold together."""
    problems: list[dict] = []
    scales = {}
    for i, scale in enumerate(bundle.scoreScales):
        if scale.id in scales:
            problems.append({"field": f"scoreScales/{i}/id", "problem": f"scale id {scale.id!r} is used twice"})
        scales[scale.id] = scale
    part_list = _part_ids(bundle.assessment.assessmentDefinition.parts, [])
    parts = set(part_list)
    if len(parts) != len(part_list):
        problems.append({"field": "assessment/assessmentDefinition/parts", "problem": "a part id is used twice"})
    seen: dict[tuple[str, str], int] = {}
    for s, student in enumerate(bundle.students):
        key = student_key(student.student)
        if key in seen:
            problems.append({"field": f"students/{s}/student", "problem": f"the same student as students/{seen[key]}"})
        seen.setdefault(key, s)
        for what, items in (("scores", student.scores), ("results", student.results)):
            for j, item in enumerate(items):
                where = f"students/{s}/{what}/{j}"
                if item.part is not None and item.part not in parts:
                    problems.append({"field": f"{where}/part", "problem": f"{item.part!r} is not a part of the assessment definition"})
                scale = scales.get(item.scale)
                if scale is None:
                    problems.append({"field": f"{where}/scale", "problem": f"{item.scale!r} is not one of the scoreScales"})
                    continue
                problem = value_problem(scale, item.value)
                if problem:
                    problems.append({"field": f"{where}/value", "problem": problem})
        if len(problems) > 200:
            break
    if problems:
        raise BundleProblems(problems[:200])


def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()


@dataclass
class Stored:
    assessment_id: int
    created: int
    updated: int


def store(session: Session, bundle: AssessmentScoresAndResults, *, school_id: int, source_system_id: int, api_version: str) -> Stored:
    """Create or update: the assessment's latest definition and scales, and each student's latest
    scores and results (a changed student gets a new revision; an unchanged one stays as it is)."""
    now = utcnow()
    a = bundle.assessment
    document = _dumps(
        {
            "assessment": a.model_dump(mode="json", exclude_none=True),
            "scoreScales": [s.model_dump(mode="json", exclude_none=True) for s in bundle.scoreScales],
            "provenance": bundle.provenance.model_dump(mode="json", exclude_none=True) if bundle.provenance else None,
        }
    )
    row = repo.assessment(session, school_id, source_system_id, a.id)
    if row is None:
        row = ResultAssessment(school_id=school_id, source_system_id=source_system_id, external_id=a.id, created_at=now)
        session.add(row)
    row.definition_id = a.assessmentDefinition.id
    row.definition_name = a.assessmentDefinition.name
    row.assessment_at = a.assessmentDateTime
    row.school_year = bundle.schoolYear
    row.document = document
    row.api_version = api_version
    row.updated_at = now
    session.flush()
    incoming = {}
    for student in bundle.students:
        incoming[student_key(student.student)] = student
    existing = {(r.student_key_type, r.student_key): r for r in repo.student_rows(session, row.id, list(incoming))}
    created = updated = 0
    new_rows = []
    for key, student in incoming.items():
        doc = _dumps(student.model_dump(mode="json", exclude_none=True))
        old = existing.get(key)
        if old is None:
            new_rows.append(
                {"assessment_id": row.id, "school_id": school_id, "student_key_type": key[0], "student_key": key[1], "document": doc,
                 "released_at": student.releasedAt, "revision": 1, "created_at": now, "updated_at": now}  # fmt: skip
            )
            created += 1
        elif old.document != doc:
            old.document, old.released_at, old.updated_at = doc, student.releasedAt, now
            old.revision += 1
            updated += 1
        else:
            updated += 1
    if new_rows:
        session.execute(insert(StudentResult), new_rows)
    session.flush()
    return Stored(row.id, created, updated)


def assessment_out(row: ResultAssessment) -> dict:
    doc = orjson.loads(row.document)
    return {
        "id": row.id,
        "assessment": doc["assessment"],
        "scoreScales": doc["scoreScales"],
        "provenance": doc.get("provenance"),
        "schoolYear": row.school_year,
        "updatedAt": row.updated_at.isoformat(),
    }


def student_out(row: StudentResult) -> dict:
    return {**orjson.loads(row.document), "revision": row.revision, "updatedAt": row.updated_at.isoformat()}


def bundle_of(session: Session, assessment_row: ResultAssessment, school_ref: dict) -> dict:
    """The stored state of an assessment as a v1 bundle (what a receiver holds now)."""
    doc = orjson.loads(assessment_row.document)
    bundle = {"school": school_ref, "assessment": doc["assessment"], "scoreScales": doc["scoreScales"]}
    if assessment_row.school_year:
        bundle["schoolYear"] = assessment_row.school_year
    if doc.get("provenance"):
        bundle["provenance"] = doc["provenance"]
    bundle["students"] = [orjson.loads(r.document) for r in repo.student_rows(session, assessment_row.id)]
    return bundle


CSV_COLUMNS = ("school_brin", "assessment_id", "definition_id", "definition_name", "assessment_datetime", "student_key_type",
               "student_key", "released_at", "status", "row", "kind", "part", "scale", "value")  # fmt: skip


def csv_rows(rows, brin: str):
    """One CSV line per score and per result (no names: students by pseudonym)."""
    for result, assessment in rows:
        doc = orjson.loads(result.document)
        base = [brin, assessment.external_id, assessment.definition_id, assessment.definition_name,
                assessment.assessment_at.isoformat(), result.student_key_type, result.student_key,
                doc.get("releasedAt", ""), doc.get("status", "")]  # fmt: skip
        for what in ("scores", "results"):
            for item in doc.get(what, []):
                yield [*base, what[:-1], item["kind"], item.get("part", ""), item["scale"], item["value"]]


def exchange_activity(session: Session, school_id: int) -> dict:
    """Per source system: the results flow's ``Activity`` (last bundle stored) for the school."""
    from eduketen.core.activity import Activity

    return {source: Activity(last_ok=last, exchanges=n) for source, (last, n) in repo.last_received_by_source(session, school_id).items()}
