"""Wire format of the Progress API (Edu-V Progress API, ``SimpleProgress``, v0.0.5 prototype as far
as the fact sheet captured it), extended with the fields the sector named as available at every
content supplier: date/time, score, judgement and access duration. JSON names are camelCase."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

API_VERSION = "1.0.0"
STATUSES = ("not-started", "started", "completed", "abandoned")

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
EckId = Annotated[str, StringConstraints(min_length=20, max_length=300, pattern=r"^https://[^\x00\s]+$")]
Url = Annotated[str, StringConstraints(max_length=1000, pattern=r"^https://[^\x00\s]+$")]
GoalCode = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z._:-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudentRef(_Strict):
    """The pupil by ECK iD only: never a name."""

    eckId: EckId


class SchoolRef(_Strict):
    idType: Literal["BRIN", "OIN"]
    id: Annotated[str, StringConstraints(min_length=4, max_length=20, pattern=r"^[0-9A-Za-z]+$")]


class Score(_Strict):
    """Raw score with its maximum, or a percentage (0-100)."""

    raw: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    max: float | None = Field(default=None, gt=0, le=1e9, allow_inf_nan=False)
    percentage: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)

    @model_validator(mode="after")
    def _complete(self):
        if self.percentage is None and (self.raw is None or self.max is None):
            raise ValueError("give raw with max, or percentage")
        if self.raw is not None and self.max is not None and self.raw > self.max:
            raise ValueError("raw is above max")
        return self

    def pct(self) -> float:
        if self.raw is not None and self.max is not None:
            return round(100.0 * self.raw / self.max, 2)
        return float(self.percentage)


class Judgement(_Strict):
    """The supplier's own judgement (beoordeling): free text, optionally a place on an ordinal scale."""

    text: Text
    ordinal: int | None = Field(default=None, ge=0, le=100)
    ordinalMax: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _scale(self):
        if (self.ordinal is None) != (self.ordinalMax is None):
            raise ValueError("give ordinal and ordinalMax together")
        if self.ordinal is not None and self.ordinal > self.ordinalMax:
            raise ValueError("ordinal is above ordinalMax")
        return self


class Progress(_Strict):
    """One pupil's progress on one learning unit. ``id`` is stable across status changes;
    ``statusChangedAt`` orders the states (an older state never replaces a newer one)."""

    id: UUID | None = None  # required in a bulk list; in PUT /progress/{id} the path gives it
    student: StudentRef
    school: SchoolRef
    courseId: Text
    assignableUnitId: Text
    subject: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    status: Literal["not-started", "started", "completed", "abandoned"]
    statusChangedAt: AwareDatetime
    startedAt: AwareDatetime | None = None
    completedAt: AwareDatetime | None = None
    score: Score | None = None
    judgement: Judgement | None = None
    accessDurationSeconds: int | None = Field(default=None, ge=0, le=10_000_000)
    pleaseFollowUp: bool = False
    detailUrl: Url | None = None
    learningGoals: list[GoalCode] = Field(default_factory=list, max_length=50, description="SLO goal codes")
    additionalInfo: Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")] | None = None


class ProgressBulk(_Strict):
    records: list[Progress] = Field(min_length=1, max_length=20_000)


class Accepted(BaseModel):
    received: int
    applied: int
    stale: int
