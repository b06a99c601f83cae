"""Scenarios, the context they run in, and the runner that runs them and collects outcomes."""

from __future__ import annotations

import itertools
import secrets
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from eduketen.conformance.exchange import Exchange, Http
from eduketen.conformance.observe import EduketenAdmin
from eduketen.conformance.target import Identity, Target
from eduketen.doorstroomtoets.schemas import SpecVersion, versions


class Skip(Exception):
    """The scenario cannot run against this target (the reason says what it would need)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    role: str  # toetsaanbieder | las | ontvanger
    description: str  # one line: what it checks
    run: Callable[[Context], None]
    versions: tuple[str, ...] | None = None  # None: every version
    service: str = "doorstroomtoets"  # doorstroomtoets | toetsresultaten | leervoortgang


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, role: str, description: str, *, versions: tuple[str, ...] | None = None, service: str = "doorstroomtoets"):
    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        if name in REGISTRY:
            raise ValueError(f"scenario {name} registered twice")
        REGISTRY[name] = Scenario(name, role, description, fn, versions, service)
        return fn

    return register


# ``token=`` of Context.request: the run's token with the service's scope (the default for Edu-V).
GOOD_TOKEN = object()
PROBLEM_FIELDS = ("title", "detail", "status", "type", "error", "message", "melding")


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""
    exchange: Exchange | None = None


@dataclass
class Outcome:
    scenario: Scenario
    status: str = "passed"  # passed | failed | skipped | error
    checks: list[Check] = field(default_factory=list)
    reason: str = ""  # skipped: why; error: what broke in the suite run itself
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what could not be observed from outside, and why

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


class Context:
    """What a scenario gets: the target, the version's spec, HTTP with the right certificates,
    checks that record what was expected and what came back, and optional observation."""

    def __init__(self, target: Target, http: Http, outcome: Outcome, run_tag: str, report_server=None, counter=None, tokens=None) -> None:
        self.target = target
        self.http = http
        self.outcome = outcome
        self.tag = run_tag
        # the Doorstroomtoets specification of the version; Edu-V services have none here
        self.spec: SpecVersion | None = versions()[target.spec_key] if target.service == "doorstroomtoets" else None
        self.schooljaar = target.schooljaar or (self.spec.schooljaren[-1] if self.spec else None)
        self.report_server = report_server
        self.tokens = tokens  # Edu-V: eduketen.conformance.oauth.Tokens
        self._numbers = counter if counter is not None else itertools.count(1)
        self._counter = 0
        self.admin = (
            EduketenAdmin(http, target.admin_url, target.admin_token, target.sender)
            if target.admin_url and target.admin_token
            else None
        )

    # -- identifiers unique to this run, so effects can be told apart ----------------------------

    def unique(self, prefix: str) -> str:
        self._counter = next(self._numbers)
        return f"{prefix}-{self.tag}-{self._counter:04d}"

    # -- requests ------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body=None,
        raw: bytes | None = None,
        content_type: str | None = "application/json",
        identity: Identity | None | str = "sender",
        params: list[tuple[str, str]] | None = None,
        token=GOOD_TOKEN,
        show_token: bool = False,
        url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Exchange:
        """``token`` (Edu-V services): the run's token by default, None for none, or this text;
        ``show_token``: the token is one the suite made up to be refused (safe in a report)."""
        if identity == "sender":
            identity = self.target.sender
        elif identity == "other":
            identity = self.target.other
        if params is None:
            params = self.default_params()
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        headers = dict(headers or {})
        if data is not None and content_type is not None:
            headers["Content-Type"] = content_type
        if self.target.eduv:
            if token is GOOD_TOKEN:
                token = self.tokens.good()
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
        exchange = Exchange(method, (url or self.target.url) + path, params=params, headers=headers, body=data, identity=identity,
                            ca=self.target.ca, show_token=show_token)  # fmt: skip
        return self.http.send(exchange)

    def post(self, path: str, body=None, **kw) -> Exchange:
        return self.request("POST", path, body=body, **kw)

    def put(self, path: str, body=None, **kw) -> Exchange:
        return self.request("PUT", path, body=body, **kw)

    def default_params(self) -> list[tuple[str, str]]:
        t = self.target
        if t.eduv:
            return []
        if t.role == "toetsaanbieder":  # the suite plays the school's LAS
            return [("edu-to", t.school_oin), ("edu-from", t.routing)]
        return [("edu-to", t.routing), ("edu-from", t.school_oin)]  # the suite plays the test supplier

    # -- checks ------------------------------------------------------------------------------------------

    def check(self, what: str, ok: bool, detail: str = "", exchange: Exchange | None = None) -> bool:
        self.outcome.checks.append(Check(what, bool(ok), detail, exchange))
        return bool(ok)

    def melding_for(self, path: str, method: str, status: int) -> str | None:
        try:
            return self.spec.melding(path, method, status)
        except KeyError:
            return None

    def expect(self, exchange: Exchange, status: int, what: str, *, path: str | None = None, melding: bool = True) -> bool:
        """The answer has ``status`` and, for statuses the specification documents, its own
        ``melding`` text byte for byte; for others (413) a ``melding`` of any text."""
        if exchange.error:
            return self.check(what, False, f"expected {status}, got no answer: {exchange.error}", exchange)
        if exchange.status != status:
            return self.check(what, False, f"expected status {status}, got {exchange.status}", exchange)
        if not melding:
            return self.check(what, True, f"{status}", exchange)
        documented = self.melding_for(path, "post", status) if path else None
        got = exchange.melding
        if documented is not None:
            if got != documented:
                return self.check(what, False, f"status {status} is right, but melding is {got!r}; the specification says {documented!r}", exchange)
        elif not got:
            return self.check(what, False, f"status {status} is right, but the answer carries no JSON melding", exchange)
        return self.check(what, True, f"{status} {got!r}", exchange)

    def expect_status(self, exchange: Exchange, allowed: int | tuple[int, ...], what: str, *, problem: bool = False) -> bool:
        """The answer's status is one of ``allowed``; ``problem``: its body is a JSON object that
        says what is wrong (RFC 9457 problem details, an OAuth error, or a melding)."""
        allowed = (allowed,) if isinstance(allowed, int) else tuple(allowed)
        wanted = " or ".join(map(str, allowed))
        if exchange.error:
            return self.check(what, False, f"expected {wanted}, got no answer: {exchange.error}", exchange)
        if exchange.status not in allowed:
            never = " (a refusal must never be a 5xx)" if exchange.status >= 500 and allowed[0] < 500 else ""
            return self.check(what, False, f"expected status {wanted}, got {exchange.status}{never}", exchange)
        if problem:
            body = exchange.json()
            ctype = exchange.response_headers.get("content-type", "")
            if not isinstance(body, dict) or not any(k in body for k in PROBLEM_FIELDS):
                return self.check(what, False, f"status {exchange.status} is right, but the body is no JSON problem ({ctype or 'no content type'})", exchange)
            said = body.get("detail") or body.get("title") or body.get("error_description") or body.get("error") or body.get("melding")
            return self.check(what, True, f"{exchange.status} {str(said)[:120]!r}", exchange)
        return self.check(what, True, f"{exchange.status}", exchange)

    def note(self, text: str) -> None:
        """Say in the report what this run could not observe, and why (no check is made)."""
        if text not in self.outcome.notes:
            self.outcome.notes.append(text)

    # -- observation -----------------------------------------------------------------------------------

    def need_admin(self, why: str) -> EduketenAdmin:
        if self.admin is None:
            raise Skip(f"{why}: needs an admin API to observe the implementation (--admin-url, --admin-token)")
        return self.admin

    def skip(self, reason: str) -> None:
        raise Skip(reason)


def select(role: str, version: str, only: list[str] | None = None, *, service: str = "doorstroomtoets") -> list[Scenario]:
    from eduketen.conformance import scenarios, scenarios_eduv  # noqa: F401  (registers them)

    chosen = [s for s in REGISTRY.values() if s.role == role and s.service == service]
    if only:
        unknown = [n for n in only if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
        foreign = [n for n in only if REGISTRY[n].service != service or REGISTRY[n].role != role]
        if foreign:
            raise ValueError(f"not scenario(s) of {service} in the role {role}: {', '.join(foreign)}")
        chosen = [s for s in chosen if s.name in only]
    return chosen


@dataclass
class SuiteResult:
    target: Target
    outcomes: list[Outcome]
    started: datetime
    seconds: float
    run_tag: str

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return not any(o.status in ("failed", "error") for o in self.outcomes)


def run_suite(target: Target, *, only: list[str] | None = None, progress: Callable[[Outcome], None] | None = None, on_start: Callable[[Scenario], None] | None = None) -> SuiteResult:
    chosen = select(target.role, target.version, only, service=target.service)
    http = Http(target.ca)
    tokens = None
    if target.eduv:
        from eduketen.conformance.oauth import Tokens

        tokens = Tokens(target, http)
    run_tag = secrets.token_hex(4)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    report_server = None
    counter = itertools.count(1)
    try:
        if target.role == "las" and target.report_listen is not None:
            from eduketen.conformance.reportserver import ReportServer

            report_server = ReportServer(target)
            report_server.start()
        for sc in chosen:
            if on_start:
                on_start(sc)
            outcome = Outcome(sc)
            begin = time.monotonic()
            if sc.versions is not None and target.version not in sc.versions:
                outcome.status, outcome.reason = "skipped", f"not part of version {target.version}"
            else:
                ctx = Context(target, http, outcome, run_tag, report_server, counter, tokens)
                try:
                    sc.run(ctx)
                    outcome.status = "failed" if outcome.failures else "passed"
                    if not outcome.checks:
                        outcome.status, outcome.reason = "error", "the scenario made no check"
                except Skip as exc:
                    outcome.status, outcome.reason = ("failed" if outcome.failures else "skipped"), str(exc)
                except Exception as exc:  # noqa: BLE001 - the suite itself broke: an error, with where
                    frames = traceback.extract_tb(exc.__traceback__)
                    where = f"{frames[-1].name}:{frames[-1].lineno}" if frames else "?"
                    outcome.status, outcome.reason = "error", f"{type(exc).__name__}: {exc} (at {where})"
            outcome.seconds = time.monotonic() - begin
            outcomes.append(outcome)
            if progress:
                progress(outcome)
    finally:
        if report_server is not None:
            report_server.stop()
        http.close()
    return SuiteResult(target, outcomes, started, time.monotonic() - t0, run_tag)
