"""Contract test: schemathesis against eduketen's OWN OpenAPI document of the results API
(``/toetsresultaten/v1/openapi.json`` and ``/v0/openapi.json``), every phase and every check, on
SQLite and PostgreSQL, with no failures.

* The caller is a registered test supplier with an access token (scope ``eduv.result``) and the
  school's consent in force; the token travels as a header from the configuration, so the
  ``ignored_auth`` check can send requests without it and expects 401.
* Positive cases are made coherent where the document cannot say so (the prose rules): the school
  is the consenting school, every score and result points at a scale of the bundle with a value
  inside it and at a part that exists, ids are unique, bounds ordered. Negative cases are never
  touched. ``positive_data_acceptance`` then accepts only 201, ``negative_data_rejection`` only
  422 (or 415 for a body sent as another content type, 400 for bytes that are not UTF-8).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pytest
import schemathesis
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi as schemathesis_asgi

from eduketen.toetsresultaten.api import openapi_document

from ..eduv import client_keys, eduv, eduv_settings, jwks_server  # noqa: F401
from .conftest import BehindLoopbackProxy

SEED = 20261123
EXAMPLES = 25


def _valid_value(scale: dict):
    kind = scale.get("type")
    if kind == "numeric":
        for bound in ("min", "max"):
            value = scale.get(bound)
            if value is not None and len(repr(value)) <= 40:
                return value
        return 0
    return {"grade": "7", "percentile": 50, "passFail": "pass"}.get(kind) or (scale.get("levels") or ["1F"])[0] if kind == "referenceLevel" \
        else {"grade": "7", "percentile": 50, "passFail": "pass"}.get(kind) or (scale.get("labels") or ["a"])[0]  # fmt: skip


def _unique(value: str, taken: set, suffix: str) -> str:
    while value in taken:
        value = (value[: 200 - len(suffix)] + suffix)[:200]
        suffix += "x"
    taken.add(value)
    return value


def _parts(parts: list, taken: set) -> list[str]:
    ids = []
    for part in parts or []:
        part["id"] = _unique(part["id"], taken, "-p")
        ids.append(part["id"])
        ids.extend(_parts(part.get("parts"), taken))
    return ids


def _student_ref(ref: dict, index: int, taken: set, flat: bool) -> None:
    # The document says userId and userIdType go together (dependentRequired); the generator
    # does not know that keyword, so a lone one is dropped here.
    if ("userId" in ref) != ("userIdType" in ref):
        ref.pop("userId", None), ref.pop("userIdType", None)
    if ref.get("eckId") is None and (ref.get("userId") is None or ref.get("userIdType") is None):
        ref["eckId"] = f"eck-{index}"
        ref.pop("userId", None), ref.pop("userIdType", None)
    if ref.get("eckId") is not None:
        ref["eckId"] = _unique(ref["eckId"][:290], taken, f"-{index}")
    else:
        key = _unique(f"{ref['userIdType']}\x1f{ref['userId'][:290]}", taken, f"-{index}")
        ref["userId"] = key.split("\x1f", 1)[1]


def coherent(body, brin: str, flat: bool) -> None:
    """Make a positive bundle follow the rules the document states only in prose."""
    if not isinstance(body, dict):
        return
    body["school"] = {"idType": "BRIN", "id": brin}
    scales = body.get("scoreScales") or []
    taken: set = set()
    for scale in scales:
        scale["id"] = _unique(scale["id"], taken, "-s")
        if scale.get("type") == "numeric":
            scale.pop("decimals", None)
            lo, hi = scale.get("min"), scale.get("max")
            try:
                if lo is not None and hi is not None and Decimal(str(lo)) > Decimal(str(hi)):
                    scale["min"], scale["max"] = hi, lo
            except InvalidOperation:
                scale.pop("min", None), scale.pop("max", None)
        if scale.get("type") == "ordinal":
            labels = list(dict.fromkeys(scale.get("labels") or []))
            scale["labels"] = labels + [f"label-{i}" for i in range(2 - len(labels))] if len(labels) < 2 else labels
    definition = (body.get("assessment") or {}).get("assessmentDefinition") or {}
    part_ids = _parts(definition.get("parts"), set())
    students_taken: set = set()
    for i, student in enumerate(body.get("students") or []):
        _student_ref(student if flat else student.setdefault("student", {}), i, students_taken, flat)
        for item in [*(student.get("scores") or []), *(student.get("results") or [])]:
            if scales:
                item["scale"] = scales[0]["id"]
                item["value"] = _valid_value(scales[0])
            if part_ids and item.get("part") is not None:
                item["part"] = part_ids[0]
            else:
                item.pop("part", None)


# A check of the Doorstroomtoets contract test (registered globally by schemathesis when that module
# is imported in the same process); it is about Doorstroomtoets "melding" texts, not this API.
FOREIGN_CHECKS = {"melding_is_the_official_text"}


def _checks() -> set[str]:
    return set(CHECKS.get_all_names()) - FOREIGN_CHECKS


def _config(token: str) -> SchemathesisConfig:
    checks = {name: {"enabled": False} for name in FOREIGN_CHECKS & set(CHECKS.get_all_names())}
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},
            "base-url": "http://127.0.0.1",
            "headers": {"Authorization": f"Bearer {token}"},
            "continue-on-failure": True,
            "suppress-health-check": ["all"],
            "generation": {"max-examples": EXAMPLES, "database": "none", "allow-x00": False},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": ["201"]},
                "negative_data_rejection": {"expected-statuses": ["422", "415", "400"]},
                **checks,
            },
        }
    )


@pytest.fixture
def eduv_settings():
    return {"register_cache_seconds": 300.0}


@pytest.mark.parametrize("major", ["v1", "v0"])
def test_results_api_against_its_own_openapi_with_every_check(eduv, major):
    token = eduv.token("toets-a", scope="eduv.result")
    brin = eduv.school.brin
    schema = schemathesis.openapi.from_dict(openapi_document(major), config=_config(token))
    schema.app = BehindLoopbackProxy(eduv.client.app)

    def adapt(case):
        if case.body is not None and case.meta is not None:
            components = case.meta.components
            body_meta = components.get(ParameterLocation.BODY)
            if body_meta is not None and body_meta.mode.value == "positive":
                coherent(case.body, brin, flat=(major == "v0"))
        return case

    @schema.hook
    def map_case(context, case):
        return adapt(case)

    @schema.hook
    def before_add_examples(context, examples):
        for case in examples:
            adapt(case)

    failures, errors, checks_run, statuses = [], [], set(), {}
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, (events.NonFatalError, events.FatalError)):
                errors.append(repr(getattr(event, "value", None) or getattr(event, "exception", None)))
            if not isinstance(event, events.ScenarioFinished):
                continue
            recorder = event.recorder
            for case_id in recorder.cases:
                response = recorder.find_response(case_id=case_id)
                if response is not None:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    checks_run.add(check.name)
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        response = recorder.find_response(case_id=case_id)
                        failures.append(f"[{check.name}] {failure.title}: {failure.message}\n  answer: "
                                        f"{response.status_code if response else '-'} {response.content[:300] if response else b''!r}\n"
                                        f"  reproduce: {check.failure_info.code_sample.replace(token, '<token>')[:1500]}")  # fmt: skip
    finally:
        schemathesis_asgi.shutdown_lifespans()
    assert not errors, errors
    assert not failures, "\n\n".join(failures[:12])
    assert checks_run == _checks(), _checks() - checks_run
    # results were really accepted and stored, and bad input really refused
    assert statuses.get(201, 0) > 0 and statuses.get(422, 0) > 0, statuses
    assert statuses.get(500, 0) == 0
