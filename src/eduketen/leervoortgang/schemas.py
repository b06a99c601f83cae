"""Wire format of the Progress API (Edu-V Progress API, ``SimpleProgress``, v0.0.5 prototype as far
as the fact sheet captured it), extended with the fields the sector named as available at every
content supplier: date/time, score, judgement and access duration. JSON names are camelCase.

A record is read in one of two ways, with one outcome:

- **msgspec** (``decode_record``, ``decode_records``): the ``RecordIn`` structs below, decoded and
  checked from the JSON bytes in one pass. Strict: no numbers sent as text, no ``5.0`` for an
  integer, RFC 3339 times only. This is the path of every well-formed request.
- **pydantic** (``RECORD``, ``BULK``, ``RECORDS``: TypedDicts validated by a ``TypeAdapter``): the
  contract as documented, lax where pydantic is lax, and the one that names every offending field
  in a 422. A body msgspec refuses goes through it; what it accepts becomes ``RecordIn`` with
  ``record_from_dict``.

The msgspec path accepts a subset of what pydantic accepts and reads the same values from it
(``tests/leervoortgang/test_fast_decode.py`` holds them to that), so which path a body took never
shows in the answer or in what is stored. The rules that tie two fields together are checked
after either, in ``check``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, NotRequired

import msgspec
from msgspec import Meta
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

# The patterns of the text fields (pydantic's Rust engine: ``$`` is the end of the text). The msgspec
# path checks them otherwise (``_patterns_hold``).
NO_NUL = r"^[^\x00]*$"
HTTPS = r"^https://[^\x00\s]+$"
GOAL = r"^[0-9A-Za-z._:-]+$"
SCHOOL_ID = r"^[0-9A-Za-z]+$"
# A record id: a UUID in its 36-character form (either case; stored in lower case).
UUID36 = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
EckId = Annotated[str, StringConstraints(min_length=20, max_length=300, pattern=HTTPS)]
Url = Annotated[str, StringConstraints(max_length=1000, pattern=HTTPS)]
GoalCode = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=GOAL)]
RecordId = Annotated[str, StringConstraints(pattern=UUID36)]

_STRICT = ConfigDict(extra="forbid")


@with_config(_STRICT)
class StudentRef(TypedDict):
    """The pupil by ECK iD only: never a name."""

    eckId: EckId


@with_config(_STRICT)
class SchoolRef(TypedDict):
    idType: Literal["BRIN", "OIN"]
    id: Annotated[str, StringConstraints(min_length=4, max_length=20, pattern=SCHOOL_ID)]


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
    subject: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
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
    additionalInfo: NotRequired[Annotated[str, StringConstraints(max_length=1000, pattern=NO_NUL)] | None]


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


# -- the msgspec path ------------------------------------------------------------------------------------


# The patterns are not given to msgspec: a regular expression per text is most of the cost of a
# record. They are checked after decoding, column by column over the whole request with str
# methods (``_patterns_hold``), to the same effect or stricter; NO_NUL at once over the JSON, where
# a NUL in a text can only be written as the escape \u0000 (``_NUL``).
_NUL = b"\\u0000"
# msgspec rounds fractional seconds beyond the sixth digit where pydantic cuts them off: a body
# with such a fraction anywhere goes the pydantic way (msgspec reads no other separator than ".").
_LONG_FRACTION = re.compile(rb"\.\d{7}")
_GOAL_PUNCTUATION = str.maketrans("", "", "._:-")


def _text(lo: int, hi: int):
    return Annotated[str, Meta(min_length=lo, max_length=hi)]


def _all_https(values: list[str]) -> bool:
    """Every value matches HTTPS, or more strictly: ``https://`` and then printable ASCII without
    spaces (each value is 9 characters or more, as msgspec checked)."""
    if not values:
        return True
    text = " ".join(values)
    n = len(values) - 1
    return text.isascii() and text.isprintable() and text.count(" ") == n and text.startswith("https://") and text.count(" https://") == n


def _patterns_hold(records: list[RecordIn]) -> bool:
    """UUID36, SCHOOL_ID, GOAL and HTTPS over all ``records`` at once (the lengths msgspec checked)."""
    ids = "".join([r.id for r in records if r.id is not None])
    n = len(ids) // 36
    if n and not (ids[8::36] == ids[13::36] == ids[18::36] == ids[23::36] == "-" * n):
        return False
    try:
        if n and len(bytes.fromhex(ids.replace("-", ""))) != 16 * n:  # fromhex skips spaces: fewer bytes
            return False
    except ValueError:
        return False
    schools = "".join([r.school.id for r in records])
    if not (schools.isascii() and schools.isalnum()):
        return False
    goals = "".join([g for r in records if r.learning_goals for g in r.learning_goals])
    if goals and not (goals.isascii() and (goals.translate(_GOAL_PUNCTUATION).isalnum() or not goals.translate(_GOAL_PUNCTUATION))):
        return False
    return _all_https([r.student.eck_id for r in records]) and _all_https([r.detail_url for r in records if r.detail_url is not None])


class _In(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """A part of a record as received; the JSON names are the camelCase of the attributes. Not
    tracked by the garbage collector (``gc=False``: a struct here refers only to texts, numbers,
    times, a list of texts and other such structs, never back), so the thousands a bulk request
    makes do not set off collections."""


class StudentIn(_In):
    eck_id: _text(20, 300)  # and HTTPS


class SchoolIn(_In):
    id_type: Literal["BRIN", "OIN"]
    id: _text(4, 20)  # and SCHOOL_ID


class ScoreIn(_In):
    raw: Annotated[float, Meta(ge=0, le=1e9)] | None = None
    max: Annotated[float, Meta(gt=0, le=1e9)] | None = None
    percentage: Annotated[float, Meta(ge=0, le=100)] | None = None


class JudgementIn(_In):
    text: _text(1, 200)
    ordinal: Annotated[int, Meta(ge=0, le=100)] | None = None
    ordinal_max: Annotated[int, Meta(ge=1, le=100)] | None = None


_Time = Annotated[datetime, Meta(tz=True)]


class RecordIn(_In):
    """One progress record (the ``Progress`` TypedDict above, field for field)."""

    student: StudentIn
    school: SchoolIn
    course_id: _text(1, 200)
    assignable_unit_id: _text(1, 200)
    subject: _text(1, 100)
    status: Literal["not-started", "started", "completed", "abandoned"]
    status_changed_at: _Time
    id: _text(36, 36) | None = None  # and UUID36
    started_at: _Time | None = None
    completed_at: _Time | None = None
    score: ScoreIn | None = None
    judgement: JudgementIn | None = None
    access_duration_seconds: Annotated[int, Meta(ge=0, le=10_000_000)] | None = None
    please_follow_up: bool = False
    detail_url: _text(9, 1000) | None = None  # and HTTPS (which needs 9 characters)
    learning_goals: Annotated[list[_text(1, 40)], Meta(max_length=50)] = []  # and GOAL
    additional_info: Annotated[str, Meta(max_length=1000)] | None = None


_RECORDS = msgspec.json.Decoder(list[RecordIn])


def decode_record(raw: bytes) -> RecordIn | None:
    """One record from JSON bytes, or None when the msgspec path does not take it (then ``RECORD``
    decides: accepted, or a 422 naming the fields)."""
    records = decode_records(b"[" + raw + b"]")
    return records[0] if records is not None and len(records) == 1 else None


def decode_records(raw: bytes) -> list[RecordIn] | None:
    """A JSON array of records, or None as in ``decode_record`` (then ``RECORDS``/``BULK`` decide)."""
    if _NUL in raw or _LONG_FRACTION.search(raw):
        return None
    try:
        records = _RECORDS.decode(raw)
    except (msgspec.DecodeError, ValueError):  # ValidationError is a DecodeError; invalid UTF-8 a ValueError
        return None
    return records if _patterns_hold(records) else None


def record_from_dict(d: dict) -> RecordIn:
    """A record pydantic accepted (``Progress``) as ``RecordIn``: the same values, no second check."""
    score, judgement = d.get("score"), d.get("judgement")
    return RecordIn(
        student=StudentIn(d["student"]["eckId"]), school=SchoolIn(d["school"]["idType"], d["school"]["id"]), course_id=d["courseId"],
        assignable_unit_id=d["assignableUnitId"], subject=d["subject"], status=d["status"], status_changed_at=d["statusChangedAt"],
        id=d.get("id"), started_at=d.get("startedAt"), completed_at=d.get("completedAt"),
        score=None if score is None else ScoreIn(score.get("raw"), score.get("max"), score.get("percentage")),
        judgement=None if judgement is None else JudgementIn(judgement["text"], judgement.get("ordinal"), judgement.get("ordinalMax")),
        access_duration_seconds=d.get("accessDurationSeconds"), please_follow_up=d.get("pleaseFollowUp", False),
        detail_url=d.get("detailUrl"), learning_goals=list(d.get("learningGoals") or ()), additional_info=d.get("additionalInfo"),
    )  # fmt: skip


def check(record: RecordIn) -> list[tuple[str, str]]:
    """The rules between fields that the schema cannot say: (field, problem) pairs, none when fine."""
    out = []
    score = record.score
    if score is not None:
        raw, top, pct = score.raw, score.max, score.percentage
        if pct is None and (raw is None or top is None):
            out.append(("score", "give raw with max, or percentage"))
        elif raw is not None and top is not None and raw > top:
            out.append(("score", "raw is above max"))
    judgement = record.judgement
    if judgement is not None:
        ordinal, top = judgement.ordinal, judgement.ordinal_max
        if (ordinal is None) != (top is None):
            out.append(("judgement", "give ordinal and ordinalMax together"))
        elif ordinal is not None and ordinal > top:
            out.append(("judgement", "ordinal is above ordinalMax"))
    return out


class Invalid(ValueError):
    """A record that fails ``check`` (for callers outside HTTP, such as the simulator)."""


def parse_record(data) -> RecordIn:
    """One record from Python data (not JSON bytes): validated and checked; ValidationError or
    Invalid when it does not hold."""
    record = record_from_dict(RECORD.validate_python(data))
    problems = check(record)
    if problems:
        raise Invalid("; ".join(f"{f}: {p}" for f, p in problems))
    return record


__all__ = ["API_VERSION", "BULK", "MAX_RECORDS", "RECORD", "RECORDS", "Accepted", "Invalid", "Progress", "ProgressBulk", "RecordIn", "ValidationError",
           "check", "decode_record", "decode_records", "parse_record", "record_from_dict"]  # fmt: skip
