"""Synthetic Doorstroomtoets results for the pupils of a synthetic region (chain test, demo,
benchmarks): plausible scores, reference levels and advice, deterministic per pupil."""

from __future__ import annotations

import random

from eduketen.doorstroomtoets.schemas import versions

ADVIES_VAN_SCORE = [(0, "vmbo-bb"), (20, "vmbo-kb"), (35, "vmbo-gt"), (50, "vmbo-gt/havo"), (62, "havo"), (75, "havo/vwo"), (86, "vwo")]
PARTS = [("REKENEN", "Rekenen"), ("LEZEN", "Lezen"), ("TAALVERZORGING", "Taalverzorging")]


def _level(part: str, score: int) -> str:
    if part == "REKENEN":
        return "1S" if score >= 65 else "1F" if score >= 35 else "<1F"
    return "2F" if score >= 60 else "1F" if score >= 30 else "<1F"


def synthetic_scores(seed: str) -> dict:
    rng = random.Random(seed)
    parts = {code: rng.randint(10, 100) for code, _ in PARTS}
    total = round(sum(parts.values()) / len(parts))
    advies = next(label for threshold, label in reversed(ADVIES_VAN_SCORE) if total >= threshold)
    return {"parts": parts, "total": total, "advies": advies, "percentiel": min(99, max(1, total))}


def leerlingresultaat(
    *, refs: list[dict], schooljaar: str, spec_key: str, rapport_url: str, seed: str, toets: tuple[str, str] = ("ROUTE_8", "Route 8"),
    advies_override: str | None = None,
) -> dict:
    """A valid wire ``Leerlingresultaat`` for one pupil."""
    s = synthetic_scores(seed)
    spec = versions()[spec_key]
    scores = [{"label": "Toetsscore", "id": "score-totaal", "waarde": str(200 + s["total"])}]
    for code, _name in PARTS:
        scores.append({"label": "Detailscore", "id": f"score-{code.lower()}", "toetseenheid": code, "waarde": str(s["parts"][code])})
    resultaten = [{"label": "Toetsadvies", "waarde": advies_override or s["advies"]}]
    for code, _name in PARTS:
        resultaten.append({"label": "Referentieniveau", "toetseenheid": code, "waarde": _level(code, s["parts"][code])})
    resultaten.append({"label": "Percentielscore", "waarde": str(s["percentiel"])})
    year = int(schooljaar[5:])
    return {
        "datumtijd": f"{year}-05-15T09:00:00Z",
        "auteur": f"{toets[1]} toetssysteem (synthetisch)",
        "versie": spec.versie,
        "profiel": "Leerlingtoetsresultaat",
        "schooljaar": schooljaar,
        "resultatenscores": {
            "id": f"rs-{abs(hash(seed)) % 10**12}",
            "deelnemerref": refs,
            "versie": "Definitief",
            "toetsdefinitie": toets[0],
            "afnamecontext": {"afname": {"id": f"afname-{year}-04", "afnametijdstip": f"{year}-04-15T00:00:00Z"}},
            "scores": {"id": "scores", "scores": scores},
            "resultaten": {"aanvullendeinfo": rapport_url, "resultaten": resultaten},
        },
        "toets": {
            "label": "Doorstroomtoets",
            "id": toets[0],
            "naam": toets[1],
            "toetsonderdelen": [
                {"label": "Onderdeel", "id": "REKENEN", "omschrijving": "Rekenen"},
                {
                    "label": "Onderdeel",
                    "id": "NEDERLANDSE_TAAL",
                    "omschrijving": "Nederlandse taal",
                    "toetsonderdelen": [
                        {"label": "Domein", "id": "LEZEN", "omschrijving": "Lezen"},
                        {"label": "Domein", "id": "TAALVERZORGING", "omschrijving": "Taalverzorging"},
                    ],
                },
            ],
        },
    }
