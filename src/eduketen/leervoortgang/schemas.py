"""Wire format of the Progress API (Edu-V Progress API, ``SimpleProgress``, v0.0.5 prototype as far
as the fact sheet captured it), extended with the fields the sector named as available at every
content supplier: date/time, score, judgement and access duration. JSON names are camelCase.

The records are TypedDicts validated by one pydantic ``TypeAdapter`` straight from the JSON bytes
(the bulk body of thousands of records is validated in one call, without building a model object
per nested part); the rules that tie two fields together are checked after it, in ``check``."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

API_VERSION = "1.0.0"
MAX_RECORDS = 20_000  # in one bulk request
STATUSES = ("not-started", "started", "completed", "abandoned")

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
EckId = Annotated[str, StringConstraints(min_length=20, max_length=300, pattern=r"^https://[^\x00\s]+$")]
Url = Annotated[str, StringConstraints(max_length=1000, pattern=r"^https://[^\x00\s]+$")]
GoalCode = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z._:-]+$")]
# A record id: a UUID in its 36-character form (either case; stored in lower case).
RecordId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")]

_STRICT = ConfigDict(extra="forbid")


@with_config(_STRICT)
class StudentRef(TypedDict):
    """The pupil by ECK iD only: never a name."""

    eckId: EckId


@with_config(_STRICT)
class SchoolRef(TypedDict):
    idType: Literal["BRIN", "OIN"]
    id: Annotated[str, StringConstraints(min_length=4, max_length=20, pattern=r"^[0-9A-Za-z]+$")]


@with_config(_STRICT)
class Score(TypedDict, total=False):
    """Raw score with its maximum, or a percentage (0-100)."""

    raw: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None
    max: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] | None
    percentage: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None


@with_config(_STRICT)
class Judgement(TypedDict):
    """The supplier's own judgement (beoordeling): free text, optionally a place on an ordinal scale."""

    text: Text
    ordinal: NotRequired[Annotated[int, Field(ge=0, le=100)] | None]
    ordinalMax: NotRequired[Annotated[int, Field(ge=1, le=100)] | None]


@with_config(_STRICT)
class Progress(TypedDict):
    """One pupil's progress on one learning unit. ``id`` is stable across status changes;
    ``statusChangedAt`` orders the states (an older state never replaces a newer one)."""

    id: NotRequired[RecordId | None]  # required in a bulk list; in PUT /progress/{id} the path gives it
    student: StudentRef
    school: SchoolRef
    courseId: Text
    assignableUnitId: Text
    subject: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    status: Literal["not-started", "started", "completed", "abandoned"]
    statusChangedAt: AwareDatetime
    startedAt: NotRequired[AwareDatetime | None]
    completedAt: NotRequired[AwareDatetime | None]
    score: NotRequired[Score | None]
    judgement: NotRequired[Judgement | None]
    accessDurationSeconds: NotRequired[Annotated[int, Field(ge=0, le=10_000_000)] | None]
    pleaseFollowUp: NotRequired[bool]
    detailUrl: NotRequired[Url | None]
    learningGoals: NotRequired[Annotated[list[GoalCode], Field(max_length=50, description="SLO goal codes")]]
    additionalInfo: NotRequired[Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")] | None]


@with_config(_STRICT)
class ProgressBulk(TypedDict):
    records: Annotated[list[Progress], Field(min_length=1, max_length=MAX_RECORDS)]


@with_config(ConfigDict(extra="ignore"))
class Accepted(TypedDict):
    received: int
    applied: int
    stale: int


RECORD = TypeAdapter(Progress)
BULK = TypeAdapter(ProgressBulk)
RECORDS = TypeAdapter(list[Progress])  # a part of a bulk body (the API validates it in parts)


def check(record: dict) -> list[tuple[str, str]]:
    """The rules between fields that the schema cannot say: (field, problem) pairs, none when fine."""
    out = []
    score = record.get("score")
    if score is not None:
        raw, top, pct = score.get("raw"), score.get("max"), score.get("percentage")
        if pct is None and (raw is None or top is None):
            out.append(("score", "give raw with max, or percentage"))
        elif raw is not None and top is not None and raw > top:
            out.append(("score", "raw is above max"))
    judgement = record.get("judgement")
    if judgement is not None:
        ordinal, top = judgement.get("ordinal"), judgement.get("ordinalMax")
        if (ordinal is None) != (top is None):
            out.append(("judgement", "give ordinal and ordinalMax together"))
        elif ordinal is not None and ordinal > top:
            out.append(("judgement", "ordinal is above ordinalMax"))
    return out


def score_pct(score: dict | None) -> float | None:
    if not score:
        return None
    raw, top = score.get("raw"), score.get("max")
    if raw is not None and top is not None:
        return round(100.0 * raw / top, 2)
    pct = score.get("percentage")
    return None if pct is None else float(pct)


class Invalid(ValueError):
    """A record that fails ``check`` (for callers outside HTTP, such as the simulator)."""


def parse_record(data) -> dict:
    """One record from Python data (not JSON bytes): validated and checked; ValidationError or
    Invalid when it does not hold."""
    record = RECORD.validate_python(data)
    problems = check(record)
    if problems:
        raise Invalid("; ".join(f"{f}: {p}" for f, p in problems))
    return record


__all__ = ["API_VERSION", "BULK", "MAX_RECORDS", "RECORD", "RECORDS", "Accepted", "Invalid", "Progress", "ProgressBulk", "ValidationError", "check",
           "parse_record", "score_pct"]  # fmt: skip
