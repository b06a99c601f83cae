"""The attack suite's record: every attempt and whether it leaked, written per test to
test-artifacts/security/ and summed up at the end of the run (also under xdist)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "security"


@dataclass
class Attempt:
    category: str
    endpoint: str
    attack: str
    status: int
    leak: bool
    why: str = ""


@dataclass
class Record:
    name: str
    attempts: list[Attempt] = field(default_factory=list)

    def check(self, category: str, endpoint: str, attack: str, response, *, refused=(401, 403, 404, 405), markers=()) -> Attempt:
        text = response.text if response.content else ""
        why = ""
        if response.status_code not in refused:
            why = f"answered {response.status_code}, expected one of {sorted(refused)}"
        elif response.status_code >= 500:
            why = "server error"
        for marker in markers:
            if marker and marker in text:
                why = (why + "; " if why else "") + f"response holds {marker!r}"
        attempt = Attempt(category, endpoint, attack, response.status_code, bool(why), why)
        self.attempts.append(attempt)
        return attempt

    @property
    def leaks(self) -> list[Attempt]:
        return [a for a in self.attempts if a.leak]


@pytest.fixture
def record(request):
    rec = Record(request.node.nodeid)
    yield rec
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() else "_" for c in request.node.nodeid)[-150:]
    (ARTIFACTS / f"{safe}.json").write_text(json.dumps({"test": request.node.nodeid, "attempts": [asdict(a) for a in rec.attempts]}))
    print(f"\n{request.node.name}: {len(rec.attempts)} attempts, {len(rec.leaks)} leaks")
