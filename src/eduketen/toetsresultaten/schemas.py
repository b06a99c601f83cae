"""Wire models of the results exchange: ``AssessmentScoresAndResults``, one model for PO, VO, SO
and MBO (Edu-V Results API; the public parts of its prototype, completed where it is silent).

An assessment (a test taken at a time) of a definition with nested parts; the score scales its
values use; and the scores and results of 1..n students, each referenced by ECK iD or by a
supplier user id with its type, never by name. Versions: ``v1`` (1.0.0) is current; ``v0``
(0.9.0) is still served: it names the student with flat ``eckId``/``userId``/``userIdType``
fields instead of a ``student`` object, and knows no ``releasedAt`` (see ``upgrade_v0``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
    StringConstraints,
    field_validator,
    model_validator,
)

API_VERSIONS = {"v1": "1.0.0", "v0": "0.9.0"}

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
LongText = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00]*$")]
# Numbers within what every JSON reader keeps exactly (2^53), so a stored value reads back the same.
SAFE = 2**53


def _safe_number(value):
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE:
        raise ValueError(f"numbers must lie within -{SAFE} and {SAFE}")
    return value


Value = Annotated[
    Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    | Annotated[StrictInt, Field(ge=-SAFE, le=SAFE)]
    | Annotated[StrictFloat, Field(ge=-SAFE, le=SAFE)],
    BeforeValidator(_safe_number),
]

NAME_FIELDS = {"name", "firstName", "lastName", "givenName", "familyName", "fullName", "displayName",
               "achternaam", "roepnaam", "voornaam", "voorletters", "birthDate", "geboortedatum"}  # fmt: skip
REFERENCE_LEVELS = ["1F", "2F", "3F", "1S", "2S"]


def _number_only(value):
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _json_integer(value):
    """A JSON integer: 3 or 3.0 (JSON Schema counts both), never true, "3" or 3.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def _date_time_text(value):
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string with its offset, e.g. 2026-04-14T08:30:00Z")
    return value


# A scale bound: a JSON number, kept exact (Decimal).
Bound = Annotated[
    Decimal,
    BeforeValidator(_number_only),
    Field(allow_inf_nan=False, ge=-SAFE, le=SAFE),
    PlainSerializer(lambda d: int(d) if d == d.to_integral_value() else float(d), when_used="json"),
    WithJsonSchema({"type": "number", "minimum": -SAFE, "maximum": SAFE}),
]
# A date-time with its offset, given as text (never a number of seconds).
WireDateTime = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


def _drop_null_defaults(schema: dict, _cls=None) -> None:
    """Optional fields are left out, never null: the document shows no ``default: null``."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]


def _student_ref_schema(schema: dict, _cls=None) -> None:
    _drop_null_defaults(schema)
    schema["anyOf"] = [{"required": ["eckId"]}, {"required": ["userId", "userIdType"]}]
    schema["dependentRequired"] = {"userId": ["userIdType"], "userIdType": ["userId"]}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, json_schema_extra=_drop_null_defaults)


class SchoolRef(_Strict):
    """The school (onderwijsaanbieder) the results belong to."""

    idType: Literal["BRIN", "OIN"]
    id: Annotated[str, StringConstraints(min_length=4, max_length=20, pattern=r"^[0-9A-Za-z]+$")]


class Part(_Strict):
    """A part of an assessment definition (Onderdeel, Domein, Subdomein, a subject's section...)."""

    id: Text
    index: JsonInt = Field(default=None, ge=0, le=10_000)
    kind: Text = None
    name: Text = None
    parts: list[Part] = Field(default_factory=list, max_length=200)


class AssessmentDefinition(_Strict):
    id: Text
    name: Text
    kind: Text = None
    version: Text = None
    url: Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")] = None
    description: LongText = None
    parts: list[Part] = Field(default_factory=list, max_length=200)


class Assessment(_Strict):
    """One administration of a test (an afname)."""

    id: Text
    assessmentDateTime: WireDateTime
    assessmentDefinition: AssessmentDefinition
    additionalInfo: LongText = None


class NumericScale(_Strict):
    """A number, optionally bounded, with at most ``decimals`` decimals."""

    id: Text
    type: Literal["numeric"]
    min: Bound = None
    max: Bound = None
    decimals: JsonInt = Field(default=None, ge=0, le=6)

    @model_validator(mode="after")
    def _bounds(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        return self


class GradeScale(_Strict):
    """The Dutch grade 1 to 10, with ``decimals`` decimals (default 1: 5.5, 7.8)."""

    id: Text
    type: Literal["grade"]
    decimals: JsonInt = Field(default=1, ge=0, le=2)


class ReferenceLevelScale(_Strict):
    """Referentieniveaus (1F, 2F, 3F, 1S, 2S); a supplier may list the levels it uses, such as
    L1F (below 1F) in the Doorstroomtoets."""

    id: Text
    type: Literal["referenceLevel"]
    levels: list[Text] = Field(default_factory=lambda: list(REFERENCE_LEVELS), min_length=1, max_length=20)


class PercentileScale(_Strict):
    """A percentile 0 to 100, whole numbers."""

    id: Text
    type: Literal["percentile"]


class PassFailScale(_Strict):
    """``pass`` or ``fail``."""

    id: Text
    type: Literal["passFail"]


class OrdinalScale(_Strict):
    """Ordered labels of its own (a school advice, a level such as A1..C2, onvoldoende..goed)."""

    id: Text
    type: Literal["ordinal"]
    labels: list[Text] = Field(min_length=2, max_length=100)

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be unique")
        return labels


ScoreScale = Annotated[
    NumericScale | GradeScale | ReferenceLevelScale | PercentileScale | PassFailScale | OrdinalScale,
    Field(discriminator="type"),
]


class StudentRef(_Strict):
    """ECK iD (preferred), or a user id in the supplier's or school's scheme with its type
    (e.g. ``nlEduPersonProfileId``, ``LAS-key``). Never a name."""

    model_config = ConfigDict(json_schema_extra=_student_ref_schema)

    eckId: Key = None
    userId: Key = None
    userIdType: Text = None

    @model_validator(mode="before")
    @classmethod
    def _no_names(cls, data):
        if isinstance(data, dict):
            named = sorted(NAME_FIELDS & set(data))
            if named:
                raise ValueError(f"students are referenced by eckId or userId with userIdType, never by name or birth date ({', '.join(named)})")
        return data

    @model_validator(mode="after")
    def _one_reference(self):
        if self.eckId is None and self.userId is None:
            raise ValueError("give eckId, or userId with userIdType")
        if (self.userId is None) != (self.userIdType is None):
            raise ValueError("userId and userIdType go together")
        return self


class Score(_Strict):
    """A score on the whole assessment (no ``part``) or on one part: its kind (total, detail,
    itemCount, correctCount, raw...), the scale it is on, and its value."""

    id: Text = None
    kind: Text
    part: Text = None
    scale: Text
    value: Value


class Result(_Strict):
    """A result derived from scores: an advice, a reference level, a percentile, a grade, pass/fail."""

    kind: Text
    part: Text = None
    scale: Text
    value: Value


class StudentScoresAndResults(_Strict):
    id: Text = None
    student: StudentRef
    status: Text = Field(default=None, description="e.g. Definitief, Voorlopig")
    releasedAt: WireDateTime = Field(default=None, description="when the supplier released the result")
    scoresId: Text = None
    scores: list[Score] = Field(default_factory=list, max_length=500)
    results: list[Result] = Field(default_factory=list, max_length=500)
    additionalInfo: LongText = None


class Provenance(_Strict):
    """Where a bundle came from when it was converted from another standard (e.g. Doorstroomtoets)."""

    standard: Text
    agreementVersion: Text = None
    profile: Text = None
    author: Text = None
    createdAt: WireDateTime = None


class AssessmentScoresAndResults(_Strict):
    """``POST /results`` body (v1): one assessment with its scales and the results of 1..n students."""

    schemaVersion: Literal["1.0.0"] = None
    school: SchoolRef
    schoolYear: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{4}$")] = None
    provenance: Provenance = None
    assessment: Assessment
    scoreScales: list[ScoreScale] = Field(min_length=1, max_length=50)
    students: list[StudentScoresAndResults] = Field(min_length=1, max_length=1000)


# -- v0 (previous major) ---------------------------------------------------------------------------


class StudentScoresAndResultsV0(_Strict):
    """v0 names the student with flat fields (as the Results API draft 0.0.5 did)."""

    model_config = ConfigDict(json_schema_extra=_student_ref_schema)

    id: Text = None
    eckId: Key = None
    userId: Key = None
    userIdType: Text = None
    status: Text = None
    scores: list[Score] = Field(default_factory=list, max_length=500)
    results: list[Result] = Field(default_factory=list, max_length=500)
    additionalInfo: LongText = None

    @model_validator(mode="before")
    @classmethod
    def _no_names(cls, data):
        if isinstance(data, dict):
            named = sorted(NAME_FIELDS & set(data))
            if named:
                raise ValueError(f"students are referenced by eckId or userId with userIdType, never by name or birth date ({', '.join(named)})")
        return data

    @model_validator(mode="after")
    def _one_reference(self):
        StudentRef.model_validate(self.model_dump(include={"eckId", "userId", "userIdType"}, exclude_none=True))
        return self


class AssessmentScoresAndResultsV0(_Strict):
    school: SchoolRef
    assessment: Assessment
    scoreScales: list[ScoreScale] = Field(min_length=1, max_length=50)
    students: list[StudentScoresAndResultsV0] = Field(min_length=1, max_length=1000)


def upgrade_v0(bundle: AssessmentScoresAndResultsV0) -> AssessmentScoresAndResults:
    """A v0 bundle in the v1 shape: the flat student fields become the ``student`` object."""
    data = bundle.model_dump(exclude_none=True)
    for student in data["students"]:
        student["student"] = {k: student.pop(k) for k in ("eckId", "userId", "userIdType") if k in student}
    return AssessmentScoresAndResults.model_validate(data)


class Accepted(BaseModel):
    assessment: str
    students: int
    created: int
    updated: int


class Problem(BaseModel):
    status: int
    title: str
    detail: str = None


def _dt(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
