"""Wire models of the register's admin JSON API. Unknown fields are refused (no mass assignment)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VestigingIn(_In):
    code: str = Field(pattern=r"^[0-9]{2}$", examples=["00"])
    name: str | None = Field(default=None, max_length=200)


class SchoolIn(_In):
    name: str = Field(min_length=1, max_length=200)
    brin: str = Field(description="RIO instellingscode (BRIN4): 2 digits + 2 letters", examples=["11BB"])
    board: str | None = Field(default=None, max_length=200)
    vestigingen: list[VestigingIn] = Field(default_factory=list)
    routeringskenmerken: list[str] = Field(default_factory=list)


class AdministratieIn(_In):
    routeringskenmerk: str
    supplier_oin: str | None = None
    system: str | None = Field(default=None, description="name of the supplier's LAS that keeps this administration")
    administratienr: str | None = Field(default=None, pattern=r"^[0-9]{2}$")


class SupplierIn(_In):
    name: str = Field(min_length=1, max_length=200)
    oin: str


class SystemIn(_In):
    name: str = Field(min_length=1, max_length=200)
    kind: str


class ServiceIn(_In):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=400)


class ServiceVersionIn(_In):
    version: str = Field(min_length=1, max_length=40)
    namespace: str = Field(min_length=1, max_length=300)
    schooljaar: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{4}$")
    status: str = "in-force"


class MandateIn(_In):
    school: str = Field(description="BRIN or school OIN")
    supplier_oin: str
    system: str
    service: str
    version: str
    start_date: date
    end_date: date | None = None



class EndpointIn(_In):
    """OSR ``POST /endpoints``: a mandated supplier registers its delivery address."""

    mandate_token: str = Field(min_length=1, max_length=64)
    administration_id: str = Field(description="routeringskenmerk of the school administration, 20 letters or digits")
    service_version_namespace: str = Field(min_length=1, max_length=300)
    url: str = Field(min_length=1, max_length=500)
    attributes: list[str] = Field(default_factory=list, max_length=10)
    start_date: date
    end_date: date | None = None


class BoardAdministratorIn(_In):
    board: str = Field(min_length=1, max_length=200, description="the board (bevoegd gezag) as in the schools' `board`")
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100, examples=["OSR-beheerder"])
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
