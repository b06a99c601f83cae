"""Synthetic learning progress with planted patterns: groups of pupils who practise in a normal,
noisy way, and a few planted pupils per group who practise far more yet score lowest, hardly
practise, often abandon, are flagged by the supplier, or drop suddenly. The analytics must find
the planted ones and leave the others alone (tests/leervoortgang/test_signals.py)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from eduketen.leervoortgang import service as svc
from eduketen.leervoortgang.schemas import parse_record
from eduketen.register import service as register
from eduketen.simulate.region import FIRST_NAMES, LAST_NAMES

# pattern -> the signal that should find it
PATTERNS = {
    "grinder": "practises-much-scores-low",
    "idle": "hardly-practises",
    "quitter": "often-abandons",
    "follow-up": "follow-up",
    "drop": "sudden-drop",
}
SUBJECTS = ("rekenen", "taal", "spelling")


@dataclass
class PlantedGroup:
    group_external_id: str
    pupils: dict[str, str] = field(default_factory=dict)  # ECK iD -> pattern ("normal" or a PATTERNS key)
    names: dict[str, str] = field(default_factory=dict)  # ECK iD -> display name


def _eck(rng: random.Random) -> str:
    return "https://ketenid.nl/201703/" + "".join(rng.choice("0123456789abcdef") for _ in range(128))


def make_groups(session: Session, *, school_id: int, brin: str, schooljaar: str, n_groups: int, size: int, seed: int,
                as_of: datetime) -> list[PlantedGroup]:  # fmt: skip
    """Groups and pupils in the register (through the pupil-list path); each group gets one pupil
    of every pattern and two "grinders", the rest normal."""
    rng = random.Random(seed)
    planted: list[PlantedGroup] = []
    groups, pupils = [], []
    for g in range(n_groups):
        external = f"vg-{brin.lower()}-{g + 1}"
        group = PlantedGroup(external)
        groups.append(register.GroupIn(external, f"Groep 7{chr(ord('A') + g)}", "7"))
        patterns = ["grinder", "grinder", "idle", "quitter", "follow-up", "drop"]
        patterns += ["normal"] * (size - len(patterns))
        rng.shuffle(patterns)
        for pattern in patterns:
            eck = _eck(rng)
            voorvoegsel, achternaam = rng.choice(LAST_NAMES)
            roepnaam = rng.choice(FIRST_NAMES)
            group.pupils[eck] = pattern
            group.names[eck] = f"{roepnaam} {voorvoegsel + ' ' if voorvoegsel else ''}{achternaam}"
            pupils.append(register.PupilIn(eck_id=eck, las_key=None, achternaam=achternaam, voorvoegsel=voorvoegsel or None,
                                           roepnaam=roepnaam, voorletters=None, geboortedatum=None, geslacht=None,
                                           group_external_id=external, jaargroep="7"))  # fmt: skip
        planted.append(group)
    register.upsert_pupils(session, school_id=school_id, schooljaar=schooljaar, groups=groups, pupils=pupils, as_of=as_of)
    return planted


def records_for(group: PlantedGroup, *, brin: str, until: datetime, days: int, recent_days: int, seed: int) -> list[dict]:
    """Progress records (wire format) of one group over ``days`` days ending at ``until``."""
    rng = random.Random(seed)
    out: list[dict] = []
    start = until - timedelta(days=days)
    for eck, pattern in group.pupils.items():
        ability = rng.gauss(72, 9)
        units = max(12, round(rng.gauss(30, 5)))
        minutes_per_unit = max(4.0, rng.gauss(12, 3))
        abandon_p = 0.04
        if pattern == "grinder":
            units, minutes_per_unit, ability = round(units * rng.uniform(2.0, 2.6)), minutes_per_unit * 1.3, rng.gauss(40, 5)
        elif pattern == "idle":
            units = rng.randint(3, 7)
        elif pattern == "quitter":
            abandon_p = rng.uniform(0.4, 0.6)
        follow_up = set(rng.sample(range(units), rng.randint(1, 3))) if pattern == "follow-up" else set()
        for n in range(units):
            at = start + timedelta(seconds=rng.uniform(60, days * 86400 - 60))
            subject = SUBJECTS[n % len(SUBJECTS)]
            level = ability - (30 if pattern == "drop" and at >= until - timedelta(days=recent_days) else 0)
            abandoned = rng.random() < abandon_p
            duration = max(60, int(rng.gauss(minutes_per_unit, minutes_per_unit / 5) * 60))
            record = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "student": {"eckId": eck},
                "school": {"idType": "BRIN", "id": brin},
                "courseId": f"methode-{subject}-groep7",
                "assignableUnitId": f"{subject}-les-{n + 1}",
                "subject": subject,
                "status": "abandoned" if abandoned else "completed",
                "statusChangedAt": at.isoformat().replace("+00:00", "Z"),
                "startedAt": (at - timedelta(seconds=duration)).isoformat().replace("+00:00", "Z"),
                "accessDurationSeconds": duration,
                "pleaseFollowUp": n in follow_up,
                "detailUrl": f"https://methode.example/voortgang/{n}",
            }
            if not abandoned:
                score = min(100.0, max(0.0, rng.gauss(level, 8)))
                record["completedAt"] = record["statusChangedAt"]
                record["score"] = {"raw": round(score / 5), "max": 20}
                record["judgement"] = {"text": "goed" if score >= 70 else "voldoende" if score >= 55 else "onvoldoende",
                                       "ordinal": 3 if score >= 70 else 2 if score >= 55 else 1, "ordinalMax": 3}  # fmt: skip
            out.append(record)
    return out


def plant(session: Session, *, school_id: int, brin: str, schooljaar: str, source_system_id: int, until: datetime,
          thresholds: svc.Thresholds, n_groups: int = 8, size: int = 25, seed: int = 6) -> list[PlantedGroup]:  # fmt: skip
    """Groups, pupils and their progress, stored through the same service as the API uses."""
    groups = make_groups(session, school_id=school_id, brin=brin, schooljaar=schooljaar, n_groups=n_groups, size=size, seed=seed,
                         as_of=until)  # fmt: skip
    for i, group in enumerate(groups):
        wire = records_for(group, brin=brin, until=until, days=thresholds.period_days, recent_days=thresholds.recent_days, seed=seed * 1000 + i)
        triples = [(r["id"], parse_record(r), school_id) for r in wire]
        svc.store(session, triples, source_system_id=source_system_id)
    return groups
