"""Doorstroomtoets ``Leerlingresultaat`` <-> the sector-wide results model, without loss.

Every field of the Doorstroomtoets message has a place in the base model:

=====================================================  ============================================
Leerlingresultaat                                      AssessmentScoresAndResults
=====================================================  ============================================
datumtijd, auteur, versie, profiel                     provenance.createdAt/author/agreementVersion/profile
schooljaar                                             schoolYear
toets {label, id, naam, versie, url, omschrijving}     assessment.assessmentDefinition {kind, id, name, version, url, description}
toets.toetsonderdelen (Onderdeel > Domein > Subdomein) assessmentDefinition.parts (kind = label, name = omschrijving)
resultatenscores.afnamecontext.afname {id, tijdstip}   assessment {id, assessmentDateTime}
resultatenscores.toetsdefinitie                        must equal toets.id (both Toetssoort_enum)
resultatenscores {id, versie, datumtijd}               students[0] {id, status, releasedAt}
resultatenscores.deelnemerref                          students[0].student {eckId (ECK-iD), userId + userIdType (LAS-key)}
scores {id, scores[{label, id, toetseenheid, waarde}]} students[0] {scoresId, scores[{kind, id, part, value}]}
resultaten {aanvullendeinfo, resultaten[...]}          students[0] {additionalInfo, results[{kind, part, value}]}
=====================================================  ============================================

A JSON number in ``waarde`` (as in the official example, though the schema says string) stays a
number, a string stays a string. Date-times keep their instant (written back in RFC 3339 form).
The scales are the Doorstroomtoets's own: open numeric for Toetsscore and Detailscore, whole
numbers from 0 for the counts, percentile, referentieniveau (L1F = below 1F) and toetsadvies
(free text in the specification, so the scale lists the advice values of the message as well)."""

from __future__ import annotations

from datetime import datetime

from eduketen.toetsresultaten.schemas import AssessmentScoresAndResults

SCORE_KINDS = {"Toetsscore": "total", "Detailscore": "detail", "Aantal opgaven": "itemCount", "Aantal goed": "correctCount"}
RESULT_KINDS = {"Toetsadvies": "advice", "Referentieniveau": "referenceLevel", "Percentielscore": "percentile"}
SCORE_SCALE = {"total": "dt-toetsscore", "detail": "dt-toetsscore", "itemCount": "dt-aantal", "correctCount": "dt-aantal"}
RESULT_SCALE = {"advice": "dt-toetsadvies", "referenceLevel": "dt-referentieniveau", "percentile": "dt-percentiel"}
LEVELS = ["L1F", "1F", "2F", "3F", "1S", "2S"]
ADVICE = ["vso", "praktijkonderwijs", "vmbo-b", "vmbo-b/k", "vmbo-k", "vmbo-k/gt", "vmbo-gt", "vmbo-gt/havo", "havo",
          "havo/vwo", "vwo"]  # fmt: skip
ID_LABELS = {"ECK-iD": "eckId", "LAS-key": "userId"}


class MappingError(ValueError):
    pass


def _parts(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        part = {"id": item["id"], "kind": item["label"]}
        if "omschrijving" in item:
            part["name"] = item["omschrijving"]
        if "toetsonderdelen" in item:
            part["parts"] = _parts(item["toetsonderdelen"])
        out.append(part)
    return out


def _onderdelen(parts: list[dict]) -> list[dict]:
    out = []
    for part in parts:
        item = {"label": part["kind"], "id": part["id"]}
        if part.get("name") is not None:
            item["omschrijving"] = part["name"]
        if "parts" in part and (part["parts"] or part.get("_explicit")):
            item["toetsonderdelen"] = _onderdelen(part["parts"])
        out.append(item)
    return out


def from_leerlingresultaat(message: dict, *, school: dict) -> dict:
    """A Doorstroomtoets Leerlingresultaat (1.0.1 or 1.1.0) as a v1 results bundle (a dict that
    validates as AssessmentScoresAndResults)."""
    rs, toets = message["resultatenscores"], message["toets"]
    if rs["toetsdefinitie"] != toets["id"]:
        raise MappingError("resultatenscores.toetsdefinitie differs from toets.id")
    student: dict = {}
    for ref in rs["deelnemerref"]:
        field = ID_LABELS.get(ref["label"])
        if field is None or field in student:
            raise MappingError(f"deelnemerref {ref['label']!r} cannot be mapped (once ECK-iD, once LAS-key)")
        student[field] = ref["onderwijsdeelnemerID"]
        if field == "userId":
            student["userIdType"] = ref["label"]
    definition = {"id": toets["id"], "name": toets["naam"], "kind": toets["label"]}
    for src, dst in (("versie", "version"), ("url", "url"), ("omschrijving", "description")):
        if src in toets:
            definition[dst] = toets[src]
    definition["parts"] = _parts(toets.get("toetsonderdelen", []))
    entry: dict = {"id": rs["id"], "student": student, "status": rs["versie"]}
    if "datumtijd" in rs:
        entry["releasedAt"] = rs["datumtijd"]
    if "scores" in rs:
        entry["scoresId"] = rs["scores"]["id"]
        entry["scores"] = []
        for score in rs["scores"]["scores"]:
            kind = SCORE_KINDS[score["label"]]
            item = {"id": score["id"], "kind": kind, "scale": SCORE_SCALE[kind], "value": score["waarde"]}
            if "toetseenheid" in score:
                item["part"] = score["toetseenheid"]
            entry["scores"].append(item)
    entry["results"] = []
    for result in rs["resultaten"]["resultaten"]:
        kind = RESULT_KINDS[result["label"]]
        item = {"kind": kind, "scale": RESULT_SCALE[kind], "value": result["waarde"]}
        if "toetseenheid" in result:
            item["part"] = result["toetseenheid"]
        entry["results"].append(item)
    if "aanvullendeinfo" in rs["resultaten"]:
        entry["additionalInfo"] = rs["resultaten"]["aanvullendeinfo"]
    values = [r["waarde"] for r in rs["resultaten"]["resultaten"]]
    extra_levels = [v for v in values if isinstance(v, str) and v not in LEVELS and any(
        r["waarde"] == v and r["label"] == "Referentieniveau" for r in rs["resultaten"]["resultaten"])]  # fmt: skip
    extra_advice = [v for v in values if isinstance(v, str) and v not in ADVICE and any(
        r["waarde"] == v and r["label"] == "Toetsadvies" for r in rs["resultaten"]["resultaten"])]  # fmt: skip
    return {
        "schemaVersion": "1.0.0",
        "school": school,
        "schoolYear": message["schooljaar"],
        "provenance": {
            "standard": "doorstroomtoets",
            "agreementVersion": message["versie"],
            "profile": message["profiel"],
            "author": message["auteur"],
            "createdAt": message["datumtijd"],
        },
        "assessment": {
            "id": rs["afnamecontext"]["afname"]["id"],
            "assessmentDateTime": rs["afnamecontext"]["afname"]["afnametijdstip"],
            "assessmentDefinition": definition,
        },
        "scoreScales": [
            {"id": "dt-toetsscore", "type": "numeric"},
            {"id": "dt-aantal", "type": "numeric", "min": 0, "decimals": 0},
            {"id": "dt-percentiel", "type": "percentile"},
            {"id": "dt-referentieniveau", "type": "referenceLevel", "levels": LEVELS + list(dict.fromkeys(extra_levels))},
            {"id": "dt-toetsadvies", "type": "ordinal", "labels": ADVICE + list(dict.fromkeys(extra_advice))},
        ],
        "students": [entry],
    }


def _when(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def to_leerlingresultaat(bundle: AssessmentScoresAndResults | dict) -> list[dict]:
    """Each student of a bundle that came from the Doorstroomtoets, as a Leerlingresultaat."""
    if isinstance(bundle, dict):
        bundle = AssessmentScoresAndResults.model_validate(bundle)
    prov = bundle.provenance
    if prov is None or prov.standard != "doorstroomtoets":
        raise MappingError("this bundle did not come from the Doorstroomtoets (provenance.standard)")
    score_labels = {v: k for k, v in SCORE_KINDS.items()}
    result_labels = {v: k for k, v in RESULT_KINDS.items()}
    d = bundle.assessment.assessmentDefinition
    toets = {"label": d.kind or "Doorstroomtoets", "id": d.id, "naam": d.name}
    for src, dst in (("version", "versie"), ("url", "url"), ("description", "omschrijving")):
        if getattr(d, src) is not None:
            toets[dst] = getattr(d, src)
    if d.parts:
        toets["toetsonderdelen"] = _onderdelen([p.model_dump(exclude_none=True) for p in d.parts])
    messages = []
    for s in bundle.students:
        refs = []
        if s.student.eckId is not None:
            refs.append({"label": "ECK-iD", "onderwijsdeelnemerID": s.student.eckId})
        if s.student.userId is not None:
            refs.append({"label": s.student.userIdType, "onderwijsdeelnemerID": s.student.userId})
        rs: dict = {"id": s.id, "deelnemerref": refs, "versie": s.status}
        if s.releasedAt is not None:
            rs["datumtijd"] = _when(s.releasedAt)
        rs["toetsdefinitie"] = d.id
        rs["afnamecontext"] = {"afname": {"id": bundle.assessment.id, "afnametijdstip": _when(bundle.assessment.assessmentDateTime)}}
        if s.scoresId is not None:
            scores = []
            for score in s.scores:
                item = {"label": score_labels[score.kind], "id": score.id}
                if score.part is not None:
                    item["toetseenheid"] = score.part
                item["waarde"] = score.value
                scores.append(item)
            rs["scores"] = {"id": s.scoresId, "scores": scores}
        resultaten: dict = {}
        if s.additionalInfo is not None:
            resultaten["aanvullendeinfo"] = s.additionalInfo
        resultaten["resultaten"] = []
        for result in s.results:
            item = {"label": result_labels[result.kind]}
            if result.part is not None:
                item["toetseenheid"] = result.part
            item["waarde"] = result.value
            resultaten["resultaten"].append(item)
        rs["resultaten"] = resultaten
        message = {
            "datumtijd": _when(prov.createdAt),
            "auteur": prov.author,
            "versie": prov.agreementVersion,
            "profiel": prov.profile,
            "schooljaar": bundle.schoolYear,
            "resultatenscores": rs,
            "toets": toets,
        }
        messages.append(message)
    return messages
