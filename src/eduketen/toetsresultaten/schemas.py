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
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

API_VERSIONS = {"v1": "1.0.0", "v0": "0.9.0"}

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
LongText = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00]*$")]
Value = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")] | StrictInt | StrictFloat

NAME_FIELDS = {"name", "firstName", "lastName", "givenName", "familyName", "fullName", "displayName",
               "achternaam", "roepnaam", "voornaam", "voorletters", "birthDate", "geboortedatum"}  # fmt: skip
REFERENCE_LEVELS = ["1F", "2F", "3F", "1S", "2S"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SchoolRef(_Strict):
    """The school (onderwijsaanbieder) the results belong to."""

    idType: Literal["BRIN", "OIN"]
    id: Annotated[str, StringConstraints(min_length=4, max_length=20, pattern=r"^[0-9A-Za-z]+$")]


class Part(_Strict):
    """A part of an assessment definition (Onderdeel, Domein, Subdomein, a subject's section...)."""

    id: Text
    index: int | None = Field(default=None, ge=0, le=10_000)
    kind: Text | None = None
    name: Text | None = None
    parts: list[Part] = Field(default_factory=list, max_length=200)


class AssessmentDefinition(_Strict):
    id: Text
    name: Text
    kind: Text | None = None
    version: Text | None = None
    url: Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")] | None = None
    description: LongText | None = None
    parts: list[Part] = Field(default_factory=list, max_length=200)


class Assessment(_Strict):
    """One administration of a test (an afname)."""

    id: Text
    assessmentDateTime: AwareDatetime
    assessmentDefinition: AssessmentDefinition
    additionalInfo: LongText | None = None


class NumericScale(_Strict):
    """A number, optionally bounded, with at most ``decimals`` decimals."""

    id: Text
    type: Literal["numeric"]
    min: Decimal | None = Field(default=None, allow_inf_nan=False, max_digits=20)
    max: Decimal | None = Field(default=None, allow_inf_nan=False, max_digits=20)
    decimals: int | None = Field(default=None, ge=0, le=6)

    @model_validator(mode="after")
    def _bounds(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        return self


class GradeScale(_Strict):
    """The Dutch grade 1 to 10, with ``decimals`` decimals (default 1: 5.5, 7.8)."""

    id: Text
    type: Literal["grade"]
    decimals: int = Field(default=1, ge=0, le=2)


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

    eckId: Key | None = None
    userId: Key | None = None
    userIdType: Text | None = None

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

    id: Text | None = None
    kind: Text
    part: Text | None = None
    scale: Text
    value: Value


class Result(_Strict):
    """A result derived from scores: an advice, a reference level, a percentile, a grade, pass/fail."""

    kind: Text
    part: Text | None = None
    scale: Text
    value: Value


class StudentScoresAndResults(_Strict):
    id: Text | None = None
    student: StudentRef
    status: Text | None = Field(default=None, description="e.g. Definitief, Voorlopig")
    releasedAt: AwareDatetime | None = Field(default=None, description="when the supplier released the result")
    scoresId: Text | None = None
    scores: list[Score] = Field(default_factory=list, max_length=500)
    results: list[Result] = Field(default_factory=list, max_length=500)
    additionalInfo: LongText | None = None


class Provenance(_Strict):
    """Where a bundle came from when it was converted from another standard (e.g. Doorstroomtoets)."""

    standard: Text
    agreementVersion: Text | None = None
    profile: Text | None = None
    author: Text | None = None
    createdAt: AwareDatetime | None = None


class AssessmentScoresAndResults(_Strict):
    """``POST /results`` body (v1): one assessment with its scales and the results of 1..n students."""

    schemaVersion: Literal["1.0.0"] | None = None
    school: SchoolRef
    schoolYear: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{4}$")] | None = None
    provenance: Provenance | None = None
    assessment: Assessment
    scoreScales: list[ScoreScale] = Field(min_length=1, max_length=50)
    students: list[StudentScoresAndResults] = Field(min_length=1, max_length=1000)


# -- v0 (previous major) ---------------------------------------------------------------------------


class StudentScoresAndResultsV0(_Strict):
    """v0 names the student with flat fields (as the Results API draft 0.0.5 did)."""

    id: Text | None = None
    eckId: Key | None = None
    userId: Key | None = None
    userIdType: Text | None = None
    status: Text | None = None
    scores: list[Score] = Field(default_factory=list, max_length=500)
    results: list[Result] = Field(default_factory=list, max_length=500)
    additionalInfo: LongText | None = None

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
        StudentRef(eckId=self.eckId, userId=self.userId, userIdType=self.userIdType)
        return self


class AssessmentScoresAndResultsV0(_Strict):
    school: SchoolRef
    assessment: Assessment
    scoreScales: list[ScoreScale] = Field(min_length=1, max_length=50)
    students: list[StudentScoresAndResultsV0] = Field(min_length=1, max_length=1000)


def upgrade_v0(bundle: AssessmentScoresAndResultsV0) -> AssessmentScoresAndResults:
    return AssessmentScoresAndResults(
        school=bundle.school,
        assessment=bundle.assessment,
        scoreScales=bundle.scoreScales,
        students=[
            StudentScoresAndResults(
                id=s.id,
                student=StudentRef(eckId=s.eckId, userId=s.userId, userIdType=s.userIdType),
                status=s.status,
                scores=s.scores,
                results=s.results,
                additionalInfo=s.additionalInfo,
            )
            for s in bundle.students
        ],
    )


class Accepted(BaseModel):
    assessment: str
    students: int
    created: int
    updated: int


class Problem(BaseModel):
    status: int
    title: str
    detail: str | None = None


def _dt(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
