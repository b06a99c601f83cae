"""Wire models of the keurmerk admin API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class AdmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supplier_oin: str = Field(pattern=r"^[0-9]{20}$")
    service: str = Field(min_length=1, max_length=100, description="the gegevensdienst, e.g. doorstroomtoets")
    role: str = Field(description="toetsaanbieder | las")
    on: date | None = Field(default=None, description="date of aanmelden; default today")
    note: str | None = Field(default=None, max_length=1000)


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str = Field(description="intake | intentieverklaring | basiskwalificatie | kwalificatie | deelnemersovereenkomst")
    on: date | None = None
    note: str | None = Field(default=None, max_length=1000)


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: dict = Field(description="the JSON summary written by `eduketen conformance run --json`")
    junit: str | None = Field(default=None, max_length=1_000_000, description="the JUnit XML of the same run")


class QualificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=40)
    evidence_id: int
    on: date | None = None
