"""What the suite is told about the implementation under test: where it is, which certificates to
present (Doorstroomtoets) or how to get an access token (the Edu-V Results and Progress APIs), on
behalf of which school to send, and (optionally) how to observe or steer it.

A target is built from command-line options, a manifest file, or both (options win). Two
manifest layouts are read: the suite's own (keys as in :class:`Target`) and the ``demo.json`` that
``eduketen demo`` writes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from eduketen.core.identifiers import school_oin as derive_school_oin

SERVICES = ("doorstroomtoets", "toetsresultaten", "leervoortgang")
# Other names people use for the Edu-V services.
SERVICE_ALIASES = {"results": "toetsresultaten", "results-api": "toetsresultaten", "progress": "leervoortgang", "progress-api": "leervoortgang"}
VERSIONS = {"1.0.1": "v1.0", "1.1.0": "v1.1", "2026-2027": "2026-2027"}
# Per service: the versions the suite knows (-> the key of the version's path) and the roles an
# implementation under test can play. Edu-V services: the implementation is the receiver
# (``ontvanger``: the results administration, the learning-materials dashboard).
SERVICE_VERSIONS = {
    "doorstroomtoets": VERSIONS,
    "toetsresultaten": {"1.0.0": "v1", "0.9.0": "v0"},
    "leervoortgang": {"1.0.0": "v1"},
}
SERVICE_ROLES = {"doorstroomtoets": ("toetsaanbieder", "las"), "toetsresultaten": ("ontvanger",), "leervoortgang": ("ontvanger",)}
DEFAULT_VERSION = {"doorstroomtoets": "1.1.0", "toetsresultaten": "1.0.0", "leervoortgang": "1.0.0"}
EDUV_SERVICES = ("toetsresultaten", "leervoortgang")
EDUV_SCOPES = {"toetsresultaten": "eduv.result", "leervoortgang": "eduv.progress"}
ROLES = ("toetsaanbieder", "las", "ontvanger")
EDU_ID = re.compile(r"^[0-9A-Za-z]{20}$")


class TargetError(ValueError):
    """The target is not described well enough to run the suite."""


@dataclass(frozen=True)
class Identity:
    """A client certificate and its key (PEM files)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class EduvAuth:
    """How the suite gets access tokens for an Edu-V API (OAuth2 client credentials with a
    ``private_key_jwt`` client assertion), or a ready token. The wrong-scope and expired tokens
    are optional; the scenarios that need them are skipped without."""

    token_url: str | None = None  # the authorization server's token endpoint
    client_id: str | None = None
    key: Path | None = None  # the client's private key: PEM, a JWK or a JWKS with one private key
    alg: str | None = None  # default: RS256 for RSA keys, ES256/384/512 for EC keys
    kid: str | None = None  # default: the JWK's kid, if any
    scope: str | None = None  # default: the service's scope (eduv.result, eduv.progress)
    token: str | None = None  # a ready access token instead of token_url/client_id/key
    wrong_scope: str | None = None  # a scope the client may get that is NOT the service's scope
    wrong_scope_client_id: str | None = None  # a client registered without the service's scope
    wrong_scope_key: Path | None = None  # its key (default: key)
    wrong_scope_token: str | None = None  # a ready token without the service's scope
    expired_token: str | None = None  # a token the authorization server really issued, now expired

    def can_fetch(self) -> bool:
        return bool(self.token_url and self.client_id and self.key)


@dataclass
class Target:
    service: str
    version: str  # doorstroomtoets: 1.0.1 | 1.1.0 | 2026-2027; toetsresultaten: 1.0.0 | 0.9.0; leervoortgang: 1.0.0
    role: str  # the role of the implementation under test: toetsaanbieder | las | ontvanger
    url: str  # base URL of this service version, e.g. https://host/doorstroomtoets/v1.1, https://host/toetsresultaten/v1
    sender: Identity | None = None  # Doorstroomtoets: the certificate of the mandated peer the suite plays
    school_oin: str = ""  # Doorstroomtoets: the school on whose behalf messages travel
    routing: str = ""  # Doorstroomtoets: the routeringskenmerk of the school's administration
    brin: str = ""
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
    # Edu-V services (toetsresultaten, leervoortgang):
    auth: EduvAuth | None = None
    school: tuple[str, str] | None = None  # (idType, id): ("BRIN", "11BB") or ("OIN", "...")
    no_consent_school: tuple[str, str] | None = None  # a school that gave the caller's system no consent
    student: str | None = None  # an ECK iD the scenarios may use (default: made up per run)
    extra: dict = field(default_factory=dict)

    @property
    def spec_key(self) -> str:
        return SERVICE_VERSIONS.get(self.service, VERSIONS).get(self.version, self.version)

    @property
    def eduv(self) -> bool:
        return self.service in EDUV_SERVICES

    def problems(self) -> list[str]:
        found = []
        if self.service not in SERVICES:
            return [f"service must be one of {', '.join(SERVICES)}"]
        versions = SERVICE_VERSIONS[self.service]
        if self.version not in versions:
            found.append(f"version of {self.service} must be one of {', '.join(versions)}")
        if self.role not in SERVICE_ROLES[self.service]:
            found.append(f"role for {self.service} must be one of {', '.join(SERVICE_ROLES[self.service])}")
        if not self.url.startswith("https://"):
            found.append("url must be an https:// address" + ("" if self.eduv else " (the chain runs over mutual TLS)"))
        if self.eduv:
            return found + self._eduv_problems()
        if self.sender is None:
            found.append("missing: --cert, --key")
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

    def _eduv_problems(self) -> list[str]:
        found = []
        auth = self.auth or EduvAuth()
        if not auth.token and not auth.can_fetch():
            found.append("missing: --token-url, --client-id and --key (the client's private key, PEM or JWK), or a ready --token")
        if auth.token_url and not auth.token_url.startswith("https://"):
            found.append("token-url must be an https:// address")
        for label, path in (("key", auth.key), ("wrong-scope-key", auth.wrong_scope_key)):
            if path is not None and not Path(path).is_file():
                found.append(f"{label}: {path} is not a file")
        for label, ref in (("school", self.school), ("no-consent-school", self.no_consent_school)):
            if ref is not None and (ref[0] not in ("BRIN", "OIN") or not re.fullmatch(r"[0-9A-Za-z]{4,20}", ref[1])):
                found.append(f"{label} must look like BRIN:11BB or OIN:<20 digits>")
        if self.school is None:
            found.append("missing: --school (BRIN:<brin> or OIN:<oin>, a school that gave the suite's client consent)")
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
        if role not in ("toetsaanbieder", "las"):
            raise TargetError("a demo.json describes the Doorstroomtoets; for the Results and Progress APIs use a suite manifest")
        return from_demo_manifest(doc, version=version, role=role)
    # the suite's own layout: flat keys as the command-line options (cert, key, other_cert, ...)
    values = dict(doc)
    if isinstance(values.get("url"), dict):  # one manifest for several versions
        values["url"] = values["url"].get(version)
    return values


def school_ref(value, label: str = "--school") -> tuple[str, str] | None:
    """``BRIN:11BB``, ``OIN:0000...``, a bare BRIN (4 characters) or OIN (20), or a pair."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (str(value[0]).upper(), str(value[1]))
    if isinstance(value, dict):
        return (str(value.get("idType", "")).upper(), str(value.get("id", "")))
    text = str(value)
    kind, sep, ident = text.partition(":")
    if not sep:
        kind, ident = ("OIN" if len(text) == 20 else "BRIN"), text
    kind = kind.upper()
    if kind not in ("BRIN", "OIN") or not re.fullmatch(r"[0-9A-Za-z]{4,20}", ident):
        raise TargetError(f"{label} must look like BRIN:11BB or OIN:<20 digits>, not {text!r}")
    return (kind, ident.upper() if kind == "BRIN" else ident)


def canonical_service(service: str) -> str:
    return SERVICE_ALIASES.get(service, service)


def build_target(*, service: str, version: str | None = None, role: str | None = None, manifest: Path | None = None, **options) -> Target:
    service = canonical_service(service)
    if service not in SERVICES:
        raise TargetError(f"service must be one of {', '.join(SERVICES)}")
    version = version or DEFAULT_VERSION[service]
    role = role or SERVICE_ROLES[service][0]
    values: dict = {}
    if manifest is not None:
        values.update(read_manifest(manifest, version=version, role=role))
    values.update({k: v for k, v in options.items() if v is not None})
    if service in EDUV_SERVICES:
        return _eduv_target(service, version, role, values)
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


def _eduv_target(service: str, version: str, role: str, values: dict) -> Target:
    if not values.get("url"):
        raise TargetError("missing: --url (the base URL of the service version, e.g. https://host/toetsresultaten/v1)")

    def path(name):
        return Path(values[name]) if values.get(name) else None

    auth = EduvAuth(
        token_url=values.get("token_url"), client_id=values.get("client_id"), key=path("key"), alg=values.get("alg"),
        kid=values.get("kid"), scope=values.get("scope"), token=values.get("token"), wrong_scope=values.get("wrong_scope"),
        wrong_scope_client_id=values.get("wrong_scope_client_id"), wrong_scope_key=path("wrong_scope_key"),
        wrong_scope_token=values.get("wrong_scope_token"), expired_token=values.get("expired_token"),
    )  # fmt: skip
    token_file = values.get("admin_token_file")
    if not values.get("admin_token") and token_file:
        try:
            values["admin_token"] = Path(token_file).read_text().strip()
        except OSError as exc:
            raise TargetError(f"admin_token_file {token_file} cannot be read: {exc}") from exc
    known = {f.name for f in fields(Target)} | {f.name for f in fields(EduvAuth)} | {"key", "wrong_scope_key", "admin_token_file"}
    target = Target(
        service=service, version=version, role=role, url=values["url"].rstrip("/"),
        ca=Path(values["ca"]) if values.get("ca") else None, auth=auth,
        school=school_ref(values.get("school")), no_consent_school=school_ref(values.get("no_consent_school"), "--no-consent-school"),
        student=values.get("student"), admin_url=(values.get("admin_url") or "").rstrip("/") or None,
        admin_token=values.get("admin_token"), timeout=float(values.get("timeout") or 30.0),
        extra={k: v for k, v in values.items() if k not in known},
    )  # fmt: skip
    problems = target.problems()
    if problems:
        raise TargetError("; ".join(problems))
    return target


def unknown_school(target: Target) -> str:
    """A well-formed school OIN the implementation should not know: the given one, or the OIN of
    BRIN 99ZZ (not issued to a school in the Netherlands)."""
    return target.unknown_school_oin or derive_school_oin("99ZZ")
