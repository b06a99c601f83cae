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


# -- change and release ----------------------------------------------------------------------------------------


class VersionTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(description="draft | in-force | previous | withdrawn: the state the version moves to")
    on: date | None = Field(default=None, description="the day it took effect; default today, never in the future")
    note: str | None = Field(default=None, max_length=1000)


class ReleasePlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    concept_op: date | None = None
    in_gebruik_vanaf: date | None = None
    vorige_vanaf: date | None = None
    ingetrokken_op: date | None = None
    aankondiging: str | None = Field(default=None, max_length=10_000, description="the changes announced with this version")


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dienst: str = Field(min_length=1, max_length=100)
    versie: str = Field(min_length=1, max_length=40)
    naam: str = Field(min_length=1, max_length=200)
    opent: date
    sluit: date


class SystemRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leverancier_oin: str = Field(pattern=r"^[0-9]{20}$")
    systeem: str = Field(min_length=1, max_length=200)


class PairingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: SystemRef
    b: SystemRef


class PairingStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(description="planned | testing | passed | failed")
    note: str | None = Field(default=None, max_length=1000)
    evidence_id: int | None = Field(default=None, description="a conformance report (keurmerk evidence) of one of the two suppliers")


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notify_url: str | None = Field(default=None, max_length=500, description="https webhook for notifications; null to remove")


class TicketIn(BaseModel):
    """A melding from a supplier (its own OAuth token says who it is)."""

    model_config = ConfigDict(extra="forbid")
    soort: str = Field(description="incident | klacht | wijzigingsverzoek")
    dienst: str = Field(min_length=1, max_length=100)
    versie: str = Field(min_length=1, max_length=40)
    titel: str = Field(min_length=1, max_length=200)
    omschrijving: str = Field(min_length=1, max_length=20_000)


class AdminTicketIn(TicketIn):
    """A melding recorded by platform staff, optionally on behalf of a participant."""

    leverancier_oin: str | None = Field(default=None, pattern=r"^[0-9]{20}$")
    door: str | None = Field(default=None, max_length=100, description="who at the platform recorded it")


class TicketTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(description="in-behandeling | ingepland | opgelost | afgewezen | gesloten")
    note: str | None = Field(default=None, max_length=2000)
    versie: str | None = Field(default=None, max_length=40, description="for ingepland: the upcoming release (a draft version)")
    door: str | None = Field(default=None, max_length=100, description="who at the platform made the change")
