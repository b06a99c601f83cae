"""What the suite is told about the implementation under test: where it is, which certificates to
present, on behalf of which school to send, and (optionally) how to observe or steer it.

A target is built from command-line options, a manifest file, or both (options win). Two
manifest layouts are read: the suite's own (keys as in :class:`Target`) and the ``demo.json`` that
``eduketen demo`` writes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from eduketen.core.identifiers import school_oin as derive_school_oin

SERVICES = ("doorstroomtoets",)
VERSIONS = {"1.0.1": "v1.0", "1.1.0": "v1.1", "2026-2027": "2026-2027"}
ROLES = ("toetsaanbieder", "las")
EDU_ID = re.compile(r"^[0-9A-Za-z]{20}$")


class TargetError(ValueError):
    """The target is not described well enough to run the suite."""


@dataclass(frozen=True)
class Identity:
    """A client certificate and its key (PEM files)."""

    cert: Path
    key: Path


@dataclass
class Target:
    service: str
    version: str  # 1.0.1 | 1.1.0 | 2026-2027
    role: str  # the role of the implementation under test: toetsaanbieder | las
    url: str  # base URL of this service version, e.g. https://host/doorstroomtoets/v1.1
    sender: Identity  # the certificate of the mandated peer the suite plays (a LAS, or a test supplier)
    school_oin: str  # the school on whose behalf messages travel
    routing: str  # the routeringskenmerk of the school's administration
    brin: str
    ca: Path | None = None  # trust anchor for the implementation's server certificate
    other: Identity | None = None  # a valid certificate of an organisation the school has not mandated
    unknown_school_oin: str | None = None  # well formed, but a school the implementation does not know
    schooljaar: str | None = None  # default: the newest school year of the version
    admin_url: str | None = None  # eduketen only: its admin API, to observe effects and close windows
    admin_token: str | None = None
    pupil_ref: tuple[str, str] | None = None  # LAS role: (label, id) of a pupil the LAS knows
    las_oin: str | None = None  # LAS role: the OIN the LAS's client certificate must carry
    report_listen: tuple[str, int] | None = None  # LAS role: where the suite serves GET /leerlingrapport
    report_url: str | None = None  # LAS role: the base URL the LAS is told (default https://listen)
    report_cert: Identity | None = None  # server certificate of the suite's report endpoint
    timeout: float = 30.0  # seconds to wait for an effect to become observable
    extra: dict = field(default_factory=dict)

    @property
    def spec_key(self) -> str:
        return VERSIONS[self.version]

    def problems(self) -> list[str]:
        found = []
        if self.service not in SERVICES:
            found.append(f"service must be one of {', '.join(SERVICES)}")
        if self.version not in VERSIONS:
            found.append(f"version must be one of {', '.join(VERSIONS)}")
        if self.role not in ROLES:
            found.append(f"role must be one of {', '.join(ROLES)}")
        if not self.url.startswith("https://"):
            found.append("url must be an https:// address (the chain runs over mutual TLS)")
        for name in ("school_oin", "routing"):
            if not EDU_ID.match(getattr(self, name) or ""):
                found.append(f"{name} must be 20 letters or digits")
        for label, identity in (("cert", self.sender), ("other-cert", self.other), ("report-cert", self.report_cert)):
            if identity is not None:
                for path in (identity.cert, identity.key):
                    if not Path(path).is_file():
                        found.append(f"{label}: {path} is not a file")
        if self.ca is not None and not Path(self.ca).is_file():
            found.append(f"ca: {self.ca} is not a file")
        return found


def _identity(cert, key) -> Identity | None:
    if cert and key:
        return Identity(Path(cert), Path(key))
    return None


def from_demo_manifest(doc: dict, *, version: str, role: str) -> dict:
    """Options from the ``demo.json`` of ``eduketen demo`` (the implementation plays the test
    supplier): the first school, its LAS's certificate, another LAS's certificate without mandate."""
    if role != "toetsaanbieder":
        raise TargetError("a demo.json describes a test supplier; use --role toetsaanbieder or a suite manifest")
    school = doc["schools"][0]
    suppliers = doc.get("suppliers", [])
    las = next((s for s in suppliers if s["oin"] == school.get("las_supplier_oin")), None)
    other = next((s for s in suppliers if s.get("role") == "las" and s["oin"] != school.get("las_supplier_oin")), None)
    token = None
    token_file = doc.get("server", {}).get("admin_token_file")
    if token_file and Path(token_file).is_file():
        token = Path(token_file).read_text().strip()
    return {
        "url": doc["server"]["base_urls"].get(version),
        "ca": doc.get("client_certificate", {}).get("ca"),
        "cert": las and las["cert"],
        "key": las and las["key"],
        "other_cert": other and other["cert"],
        "other_key": other and other["key"],
        "school_oin": school["oin"],
        "routing": school["routeringskenmerken"][0],
        "brin": school["brin"],
        "admin_url": doc.get("server", {}).get("url"),
        "admin_token": token,
    }


def read_manifest(path: Path, *, version: str, role: str) -> dict:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"manifest {path} cannot be read: {exc}") from exc
    if "schools" in doc and "server" in doc:
        return from_demo_manifest(doc, version=version, role=role)
    # the suite's own layout: flat keys as the command-line options (cert, key, other_cert, ...)
    values = dict(doc)
    if isinstance(values.get("url"), dict):  # one manifest for several versions
        values["url"] = values["url"].get(version)
    return values


def build_target(*, service: str, version: str, role: str, manifest: Path | None = None, **options) -> Target:
    values: dict = {}
    if manifest is not None:
        values.update(read_manifest(manifest, version=version, role=role))
    values.update({k: v for k, v in options.items() if v is not None})
    missing = [k for k in ("url", "cert", "key", "school_oin", "routing") if not values.get(k)]
    if missing:
        raise TargetError("missing: " + ", ".join("--" + m.replace("_", "-") for m in missing))
    brin = values.get("brin")
    if not brin:
        raise TargetError("missing: --brin (the school's BRIN, named in deelnemersgroep/instellingscode)")
    pupil_ref = values.get("pupil_ref")
    if isinstance(pupil_ref, str):
        label, _, ident = pupil_ref.partition(":")
        if label not in ("ECK-iD", "LAS-key") or not ident:
            raise TargetError("--pupil must look like LAS-key:<id> or ECK-iD:<id>")
        pupil_ref = (label, ident)
    elif isinstance(pupil_ref, (list, tuple)):
        pupil_ref = (pupil_ref[0], pupil_ref[1])
    listen = values.get("report_listen")
    if isinstance(listen, str):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise TargetError("--report-listen must look like HOST:PORT")
        listen = (host, int(port))
    known = {f.name for f in fields(Target)}
    target = Target(
        service=service,
        version=version,
        role=role,
        url=values["url"].rstrip("/"),
        sender=Identity(Path(values["cert"]), Path(values["key"])),
        school_oin=values["school_oin"],
        routing=values["routing"],
        brin=brin.upper(),
        ca=Path(values["ca"]) if values.get("ca") else None,
        other=_identity(values.get("other_cert"), values.get("other_key")),
        unknown_school_oin=values.get("unknown_school_oin"),
        schooljaar=values.get("schooljaar"),
        admin_url=(values.get("admin_url") or "").rstrip("/") or None,
        admin_token=values.get("admin_token"),
        pupil_ref=pupil_ref,
        las_oin=values.get("las_oin"),
        report_listen=listen,
        report_url=values.get("report_url"),
        report_cert=_identity(values.get("report_cert"), values.get("report_key")),
        timeout=float(values.get("timeout") or 30.0),
        extra={k: v for k, v in values.items() if k not in known},
    )
    problems = target.problems()
    if problems:
        raise TargetError("; ".join(problems))
    return target


def unknown_school(target: Target) -> str:
    """A well-formed school OIN the implementation should not know: the given one, or the OIN of
    BRIN 99ZZ (not issued to a school in the Netherlands)."""
    return target.unknown_school_oin or derive_school_oin("99ZZ")
