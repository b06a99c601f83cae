"""Results import at the test supplier (CSV and JSON, docs/formats/resultaten-import.md) and the
wire Leerlingresultaat built from it, validated against the official schema of every version."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from eduketen.doorstroomtoets import resultaten
from eduketen.doorstroomtoets.resultaten import parse, to_leerlingresultaat
from eduketen.doorstroomtoets.schemas import body_schema, schema_errors, versions

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats" / "resultaten-import.md"
URL = "https://toets.example/doorstroomtoets/v1.1/leerlingrapport/9c1e"

BASE = {
    "brin": "11BB",
    "eck_id": "https://ketenid.nl/201703/4f1c2d",
    "las_key": "ll-0001",
    "schooljaar": "2025-2026",
    "toets": "ICE",
    "afnamedatum": "2026-04-15",
    "versie": "Definitief",
    "toetsscore": "84",
    "percentielscore": "73",
    "toetsadvies": "havo/vwo",
    "detailscore:REKENEN": "71",
    "aantal_goed:REKENEN": "38",
    "aantal_opgaven:REKENEN": "50",
    "referentieniveau:REKENEN": "1S",
    "detailscore:LEZEN": "88",
    "referentieniveau:LEZEN": "2F",
    "detailscore:TAALVERZORGING": "64",
    "referentieniveau:TAALVERZORGING": "1F",
}
COLUMNS = list(BASE)


def pupil(n: int, **changes) -> dict:
    row = dict(BASE, eck_id=f"https://ketenid.nl/201703/{n:06d}", las_key=f"ll-{n:04d}")
    row.update(changes)
    return row


def csv_text(rows: list[dict], sep: str = ",") -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row)) if rows else COLUMNS
    lines = [sep.join(columns)]
    for row in rows:
        lines.append(sep.join(_quote(row.get(c, ""), sep) for c in columns))
    return "\n".join(lines) + "\n"


def _quote(value: str, sep: str) -> str:
    return f'"{value}"' if sep in value or '"' in value else value


def json_item(n: int, **changes) -> dict:
    item = {
        "brin": "11BB", "eck_id": f"https://ketenid.nl/201703/{n:06d}", "las_key": f"ll-{n:04d}", "schooljaar": "2025-2026",
        "toets": "ICE", "afnamedatum": "2026-04-15", "versie": "Definitief", "toetsscore": 84, "percentielscore": 73,
        "toetsadvies": "havo/vwo",
        "onderdelen": [
            {"code": "REKENEN", "detailscore": 71, "aantal_goed": 38, "aantal_opgaven": 50, "referentieniveau": "1S"},
            {"code": "LEZEN", "detailscore": 88, "referentieniveau": "2F"},
            {"code": "TAALVERZORGING", "detailscore": 64, "referentieniveau": "1F"},
        ],
    }  # fmt: skip
    item.update(changes)
    return item


def only_problem(result, where: str):
    assert len(result.rejected) == 1, result.report()
    rejected = result.rejected[0]
    assert rejected.where == where, rejected.text()
    return rejected


# -- good files ---------------------------------------------------------------------------------------------------


def test_the_documented_examples_import():
    doc = DOC.read_text(encoding="utf-8")
    csv_example = re.search(r"```csv\n(.*?)```", doc, re.S).group(1)
    json_example = re.search(r"```json\n(.*?)```", doc, re.S).group(1)
    from_csv = parse(csv_example, fmt="csv")
    assert from_csv.ok and from_csv.format == "csv" and len(from_csv.accepted) == 2, from_csv.report()
    second = from_csv.accepted[1]
    assert second.eck_id is None and second.las_key == "ll-0002"
    assert {p.code: p.referentieniveau for p in second.onderdelen}["TAALVERZORGING"] == "L1F"  # <1F is sent as L1F
    from_json = parse(json_example)  # detected from the content
    assert from_json.ok and from_json.format == "json" and len(from_json.accepted) == 1, from_json.report()
    row = from_json.accepted[0]
    assert [p.code for p in row.onderdelen] == ["REKENEN", "LEZEN", "9010", "TAALVERZORGING"]
    assert row.toets_naam == "IEP Doorstroomtoets"


def test_good_csv_is_normalized():
    text = csv_text([pupil(1), pupil(2, toets="route_8", versie="voorlopig", eck_id="", **{"referentieniveau:REKENEN": "<1f"})])
    result = parse(text.encode("utf-8"), filename="uitslagen.csv")
    assert result.ok and result.format == "csv", result.report()
    first, second = result.accepted
    assert (first.where, second.where) == ("regel 2", "regel 3")
    assert first.school_oin == "00000007000" + "11BB" + "00000"
    assert (first.toets_id, first.toets_naam, first.afnamedatum, first.afnametijdstip) == (
        "ICE",
        "IEP Doorstroomtoets",
        date(2026, 4, 15),
        "2026-04-15T00:00:00Z",
    )
    assert (first.toetsscore, first.percentielscore, first.toetsadvies, first.versie) == ("84", "73", "havo/vwo", "Definitief")
    rekenen = first.onderdelen[0]
    assert (rekenen.code, rekenen.niveau, rekenen.detailscore, rekenen.aantal_goed, rekenen.aantal_opgaven, rekenen.referentieniveau) == (
        "REKENEN", "Onderdeel", "71", 38, 50, "1S",
    )  # fmt: skip
    assert {p.code: p.niveau for p in first.onderdelen}["LEZEN"] == "Domein"
    assert (second.toets_id, second.toets_naam, second.versie, second.eck_id) == ("ROUTE_8", "Route 8", "Voorlopig", None)
    assert second.onderdelen[0].referentieniveau == "L1F"


def test_semicolons_decimal_commas_bom_and_quotes():
    text = csv_text([pupil(1, toetsscore="212,5", toetsadvies="vmbo-gt; havo", **{"detailscore:LEZEN": "87,5"}), pupil(2)], sep=";")
    result = parse(b"\xef\xbb\xbf" + text.encode("utf-8"))  # Excel's UTF-8 with BOM
    assert result.ok, result.report()
    row = result.accepted[0]
    assert row.toetsscore == "212.5" and row.toetsadvies == "vmbo-gt; havo"
    assert {p.code: p.detailscore for p in row.onderdelen}["LEZEN"] == "87.5"


def test_school_by_oin_date_time_and_diacritics():
    row = pupil(1, afnamedatum="2026-04-15T09:30:00+02:00", las_key="llø-Ĳ-01")
    del row["brin"]
    row["school_oin"] = "00000007000" + "11BB" + "00000"
    result = parse(csv_text([row]), fmt="csv")
    assert result.ok, result.report()
    accepted = result.accepted[0]
    assert accepted.brin == "11BB" and accepted.afnametijdstip == "2026-04-15T07:30:00Z" and accepted.las_key == "llø-Ĳ-01"


def test_good_json_array_and_object():
    items = [json_item(1), json_item(2, toetsscore="79", onderdelen=[{"code": "rekenen", "detailscore": "60", "referentieniveau": "1F"}])]
    for document in (items, {"resultaten": items}):
        result = parse(json.dumps(document, ensure_ascii=False), filename="uitslagen.json")
        assert result.ok and result.format == "json" and len(result.accepted) == 2, result.report()
    prefix = "resultaten"
    assert [r.where for r in result.accepted] == [f"{prefix}[0]", f"{prefix}[1]"]
    assert result.accepted[1].onderdelen[0].code == "REKENEN"


def test_csv_and_json_of_the_same_result_give_the_same_message():
    from_csv = parse(csv_text([pupil(1)]), fmt="csv").accepted[0]
    from_json = parse(json.dumps([json_item(1)])).accepted[0]
    moment = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
    assert to_leerlingresultaat(from_csv, "v1.1", URL, datumtijd=moment) == to_leerlingresultaat(from_json, "v1.1", URL, datumtijd=moment)


# -- bad rows: rejected with the reason, the good rows still accepted --------------------------------------------

BAD_CSV_ROWS = [
    ({"brin": "1BBB"}, "brin", "geen BRIN"),
    ({"school_oin": "00000007000" + "22CC" + "00000"}, "school_oin", "hoort bij BRIN 22CC"),
    ({"school_oin": "12345"}, "school_oin", "geen school-OIN"),
    ({"brin": ""}, "brin", "verplicht"),
    ({"eck_id": "", "las_key": ""}, "eck_id", "ECK-iD en/of LAS-key"),
    ({"las_key": "x" * 257}, "las_key", "hoogstens 256"),
    ({"schooljaar": "2025-2027"}, "schooljaar", "opeenvolgende jaren"),
    ({"schooljaar": "2031-2032"}, "schooljaar", "geen versie van de afspraak"),
    ({"toets": "CITO"}, "toets", "Toetssoort_enum"),
    ({"toets": ""}, "toets", "verplicht"),
    ({"afnamedatum": "15-04-2026"}, "afnamedatum", "geen datum"),
    ({"afnamedatum": "2025-04-15"}, "afnamedatum", "valt niet in schooljaar 2025-2026"),
    ({"afnamedatum": ""}, "afnamedatum", "verplicht"),
    ({"versie": "Concept"}, "versie", "Definitief of Voorlopig"),
    ({"toetsscore": ""}, "toetsscore", "verplicht"),
    ({"toetsscore": "tachtig"}, "toetsscore", "geen getal"),
    ({"toetsscore": "-3"}, "toetsscore", "kleiner dan 0"),
    ({"toetsscore": "NaN"}, "toetsscore", "geen getal"),
    ({"percentielscore": "101"}, "percentielscore", "groter dan 100"),
    ({"percentielscore": "-1"}, "percentielscore", "kleiner dan 0"),
    ({"toetsadvies": ""}, "toetsadvies", "verplicht"),
    ({"toetsadvies": "x" * 65}, "toetsadvies", "hoogstens 64"),
    ({"detailscore:LEZEN": "veel"}, "detailscore:LEZEN", "geen getal"),
    ({"aantal_goed:REKENEN": "38.5"}, "aantal_goed:REKENEN", "geheel getal"),
    ({"aantal_goed:REKENEN": "60"}, "aantal_goed:REKENEN", "meer dan de 50 opgaven"),
    ({"referentieniveau:REKENEN": "2F"}, "referentieniveau:REKENEN", "geen uitslag van de doorstroomtoets voor rekenen"),
    ({"referentieniveau:LEZEN": "1S"}, "referentieniveau:LEZEN", "geen uitslag van de doorstroomtoets voor lezen"),
    ({"referentieniveau:TAALVERZORGING": "3F"}, "referentieniveau:TAALVERZORGING", "geen referentieniveau"),
]


@pytest.mark.parametrize(("change", "field", "reason"), BAD_CSV_ROWS, ids=[f"{f}-{r[:20]}" for _c, f, r in BAD_CSV_ROWS])
def test_bad_csv_row_is_rejected_with_its_reason(change, field, reason):
    bad = pupil(2, **change)
    if "school_oin" in change and change["school_oin"] == "12345":
        bad.pop("brin")
    rows = [pupil(1), bad, pupil(3)]
    result = parse(csv_text(rows), fmt="csv")
    assert result.file_error is None
    assert [r.las_key for r in result.accepted] == ["ll-0001", "ll-0003"]
    rejected = only_problem(result, "regel 3")
    assert rejected.line == 3
    assert any(p.field == field and reason in p.reason for p in rejected.problems), rejected.text()
    assert rejected.text().startswith("regel 3")


def test_every_problem_of_a_row_is_listed_and_the_pupil_named():
    bad = pupil(2, toets="CITO", toetsscore="x", percentielscore="300", **{"referentieniveau:REKENEN": "2F"})
    result = parse(csv_text([pupil(1), bad]), fmt="csv")
    rejected = only_problem(result, "regel 3")
    assert {p.field for p in rejected.problems} == {"toets", "toetsscore", "percentielscore", "referentieniveau:REKENEN"}
    assert rejected.pupil == "ECK-iD https://ketenid.nl/201703/000002"
    assert "referentieniveau:REKENEN" in rejected.text()


def test_the_same_pupil_twice_in_one_file():
    twice = pupil(2, eck_id="", las_key="ll-0001")  # same LAS-key as line 2
    result = parse(csv_text([pupil(1), twice, pupil(3)]), fmt="csv")
    rejected = only_problem(result, "regel 3")
    assert rejected.problems[0].field == "leerling" and "regel 2" in rejected.problems[0].reason
    assert len(result.accepted) == 2


def test_a_csv_line_with_too_many_fields():
    text = csv_text([pupil(1), pupil(2)]) + ",".join(pupil(3).values()) + ",extra\n"
    result = parse(text, fmt="csv")
    rejected = only_problem(result, "regel 4")
    assert "velden" in rejected.problems[0].reason and len(result.accepted) == 2


BAD_JSON_ITEMS = [
    ({"toetscore": 80}, "toetscore", "onbekend veld"),
    ({"toetsscore": True}, "toetsscore", "getal"),
    ({"toetsscore": [80]}, "toetsscore", "getal"),
    ({"toetsadvies": 5}, "toetsadvies", "tekst"),
    ({"onderdelen": {"code": "REKENEN"}}, "onderdelen", "lijst"),
    ({"onderdelen": [{"code": "WISKUNDE", "detailscore": 3}]}, "onderdelen[0].code", "Onderdeelcode_enum"),
    ({"onderdelen": [{"detailscore": 3}]}, "onderdelen[0].code", "verplicht"),
    ({"onderdelen": [{"code": "REKENEN", "score": 3}]}, "onderdelen[0].score", "onbekend veld"),
    ({"onderdelen": [{"code": "REKENEN"}, {"code": "rekenen"}]}, "onderdelen[1].code", "meer dan eens"),
    ({"onderdelen": [{"code": "8002", "referentieniveau": "1F"}]}, "onderdelen[0].referentieniveau", "alleen voor rekenen"),
    ({"onderdelen": [{"code": "9010", "percentielscore": 150}]}, "onderdelen[0].percentielscore", "groter dan 100"),
    ({"onderdelen": [{"code": "REKENEN", "aantal_opgaven": -1}]}, "onderdelen[0].aantal_opgaven", "kleiner dan 0"),
    ({"onderdelen": ["REKENEN"]}, "onderdelen[0]", "JSON-object"),
]


@pytest.mark.parametrize(("change", "field", "reason"), BAD_JSON_ITEMS, ids=[f"{f}-{r[:16]}" for _c, f, r in BAD_JSON_ITEMS])
def test_bad_json_result_is_rejected_with_its_reason(change, field, reason):
    items = [json_item(1), json_item(2, **change), json_item(3)]
    result = parse(json.dumps({"resultaten": items}), fmt="json")
    assert result.file_error is None
    assert [r.las_key for r in result.accepted] == ["ll-0001", "ll-0003"]
    rejected = only_problem(result, "resultaten[1]")
    assert rejected.index == 1
    assert any(p.field == field and reason in p.reason for p in rejected.problems), rejected.text()


def test_a_json_result_that_is_not_an_object():
    result = parse(json.dumps([json_item(1), "ll-0002", json_item(3)]))
    rejected = only_problem(result, "[1]")
    assert "JSON-object" in rejected.problems[0].reason and len(result.accepted) == 2


# -- the whole file -----------------------------------------------------------------------------------------------

FILE_ERRORS = [
    (b"", None, "leeg"),
    (b"   \n", None, "leeg"),
    ("brin;schooljaar\n11BB;2025-2026\n".encode("latin-1") + b"\xe9\xff\n", "csv", "geen UTF-8"),
    (b"%PDF-1.4\n\x00\x01\x02binary", None, "binaire"),
    (b'{"resultaten": [', None, "geen geldige JSON"),
    (b'{"uitslagen": []}', None, '"resultaten"'),
    (b'{"resultaten": [], "extra": 1}', None, "onbekende velden"),
    (b'"hallo"', "json", "lijst resultaten"),
    (b"[]", None, "geen resultaten"),
    (b"Dit is een brief, geen tabel.\nMet vriendelijke groet\n", None, "geen CSV-kopregel"),
    (b"Beste school\n", None, "geen CSV-kopregel"),
    ((",".join(COLUMNS) + "\n").encode(), "csv", "geen resultaten"),
    (b"brin,las_key,schooljaar,toets\n11BB,ll-1,2025-2026,ICE\n", "csv", "mist de kolom(men) afnamedatum, toetsscore, toetsadvies"),
    (b"las_key,schooljaar,toets,afnamedatum,toetsscore,toetsadvies\nx,2025-2026,ICE,2026-04-15,80,havo\n", "csv", "brin of school_oin"),
    ((",".join([*COLUMNS, "opmerking"]) + "\n").encode(), "csv", "onbekende kolom(men): opmerking"),
    ((",".join([*COLUMNS, "detailscore:WISKUNDE"]) + "\n").encode(), "csv", "WISKUNDE"),
    ((",".join([*COLUMNS, "cijfer:REKENEN"]) + "\n").encode(), "csv", "soort 'cijfer'"),
    ((",".join([*COLUMNS, "toetsscore"]) + "\n").encode(), "csv", "meer dan eens"),
    ((",".join([*COLUMNS, "detailscore:rekenen"]) + "\n").encode(), "csv", "hetzelfde onderdeel"),
    (b'[{"brin": "11BB"}]', "csv", "lijkt JSON"),
    (b"brin,toets\n", "xml", "onbekend bestandsformaat"),
]


@pytest.mark.parametrize(("data", "fmt", "message"), FILE_ERRORS, ids=[m for *_x, m in FILE_ERRORS])
def test_file_level_errors(data, fmt, message):
    result = parse(data, fmt=fmt)
    assert result.file_error is not None and message in result.file_error, result.file_error
    assert not result.accepted and not result.ok
    assert result.report() == [f"bestand geweigerd: {result.file_error}"]


def test_import_file_takes_the_format_from_the_extension(tmp_path):
    path = tmp_path / "uitslagen.json"
    path.write_text(json.dumps([json_item(1)]), encoding="utf-8")
    assert resultaten.import_file(path).format == "json"
    path = tmp_path / "uitslagen.csv"
    path.write_text(csv_text([pupil(1)]), encoding="utf-8")
    result = resultaten.import_file(path)
    assert result.format == "csv" and result.ok
    assert result.report() == ["1 resultaat geaccepteerd, 0 geweigerd"]


# -- the wire message, valid against the official schema of every version ---------------------------------------

ALL_PARTS = sorted(resultaten.part_levels())


def full_row(schooljaar: str):
    first = int(schooljaar[:4])
    item = json_item(
        1, schooljaar=schooljaar, afnamedatum=f"{first + 1}-04-15", toets_versie="IEP papier", aantal_goed=140, aantal_opgaven=200,
        onderdelen=[
            {"code": code, "detailscore": 10 + i, "aantal_goed": i, "aantal_opgaven": 40, "percentielscore": 50}
            | ({"referentieniveau": {"REKENEN": "1S", "LEZEN": "2F", "TAALVERZORGING": "<1F"}[code]} if code in ("REKENEN", "LEZEN", "TAALVERZORGING") else {})
            for i, code in enumerate(ALL_PARTS)
        ],
    )  # fmt: skip
    result = parse(json.dumps([item]))
    assert result.ok, result.report()
    return result.accepted[0]


@pytest.mark.parametrize(("key", "schooljaar"), [("v1.0", "2024-2025"), ("v1.1", "2025-2026"), ("2026-2027", "2026-2027")])
def test_round_trip_to_a_valid_leerlingresultaat(key, schooljaar):
    row = full_row(schooljaar)
    message = to_leerlingresultaat(row, key, URL)
    assert schema_errors(body_schema(key, "Leerlingresultaat"), message) == []
    assert message["versie"] == versions()[key].versie and message["profiel"] == "Leerlingtoetsresultaat"
    assert message["schooljaar"] == schooljaar
    rs = message["resultatenscores"]
    assert rs["deelnemerref"] == [
        {"label": "ECK-iD", "onderwijsdeelnemerID": "https://ketenid.nl/201703/000001"},
        {"label": "LAS-key", "onderwijsdeelnemerID": "ll-0001"},
    ]
    assert rs["versie"] == "Definitief" and rs["toetsdefinitie"] == "ICE"
    assert rs["afnamecontext"]["afname"]["afnametijdstip"] == f"{int(schooljaar[:4]) + 1}-04-15T00:00:00Z"
    scores = rs["scores"]["scores"]
    assert all(isinstance(s["waarde"], str) for s in scores)
    assert {"label": "Toetsscore", "id": "score-toetsscore", "waarde": "84"} in scores
    assert [s["waarde"] for s in scores if "toetseenheid" not in s] == ["84", "140", "200"]
    assert {(s["toetseenheid"], s["waarde"]) for s in scores if s["label"] == "Detailscore"} == {
        (c, str(10 + i)) for i, c in enumerate(ALL_PARTS)
    }
    assert len({s["id"] for s in scores}) == len(scores)
    results = rs["resultaten"]
    assert results["aanvullendeinfo"] == URL
    assert {"label": "Toetsadvies", "waarde": "havo/vwo"} in results["resultaten"]
    assert {"label": "Percentielscore", "waarde": "73"} in results["resultaten"]
    levels = {r["toetseenheid"]: r["waarde"] for r in results["resultaten"] if r["label"] == "Referentieniveau"}
    assert levels == {"REKENEN": "1S", "LEZEN": "2F", "TAALVERZORGING": "L1F"}
    toets = message["toets"]
    assert (toets["label"], toets["id"], toets["naam"], toets["versie"]) == ("Doorstroomtoets", "ICE", "IEP Doorstroomtoets", "IEP papier")
    tree = {o["id"]: o for o in toets["toetsonderdelen"]}
    assert set(tree) == {"NEDERLANDSE_TAAL", "REKENEN", "8002", "8003"}
    taal = {d["id"]: d for d in tree["NEDERLANDSE_TAAL"]["toetsonderdelen"]}
    assert taal["LEZEN"]["label"] == "Domein" and taal["LEZEN"]["omschrijving"] == "Lezen"
    assert [s["id"] for s in taal["LEZEN"]["toetsonderdelen"]] == ["9010", "9011", "9012", "9013", "9014"]
    assert {d["id"] for d in tree["REKENEN"]["toetsonderdelen"]} == {"8060", "8061", "8062", "8063", "8064", "8065"}


@pytest.mark.parametrize("key", ["v1.0", "v1.1", "2026-2027"])
def test_minimal_result_without_report_url_is_valid(key):
    schooljaar = versions()[key].schooljaren[-1]
    row = parse(
        csv_text(
            [
                {
                    k: v
                    for k, v in pupil(1, schooljaar=schooljaar, afnamedatum=f"{schooljaar[5:]}-04-20").items()
                    if ":" not in k and k not in ("eck_id", "percentielscore")
                }
            ]
        ),
        fmt="csv",
    ).accepted[0]
    message = to_leerlingresultaat(row, key, None)
    assert schema_errors(body_schema(key, "Leerlingresultaat"), message) == []
    assert "aanvullendeinfo" not in message["resultatenscores"]["resultaten"]
    assert "toetsonderdelen" not in message["toets"]
    assert message["resultatenscores"]["deelnemerref"] == [{"label": "LAS-key", "onderwijsdeelnemerID": "ll-0001"}]


def test_a_version_that_does_not_fit_the_school_year_is_refused():
    row = full_row("2025-2026")
    with pytest.raises(ValueError, match="hoort niet bij versie v1.0"):
        to_leerlingresultaat(row, "v1.0", URL)


def test_the_same_result_imported_again_is_the_same_message():
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    once = to_leerlingresultaat(parse(csv_text([pupil(1)]), fmt="csv").accepted[0], "v1.1", URL, datumtijd=moment)
    again = to_leerlingresultaat(parse(csv_text([pupil(1)]), fmt="csv").accepted[0], "v1.1", URL, datumtijd=moment)
    assert once == again
    other = to_leerlingresultaat(parse(csv_text([pupil(2)]), fmt="csv").accepted[0], "v1.1", URL, datumtijd=moment)
    assert other["resultatenscores"]["id"] != once["resultatenscores"]["id"]


def test_result_inputs_feed_store_results():
    result = parse(csv_text([pupil(1), pupil(2, eck_id="")]), fmt="csv")
    items = resultaten.result_inputs(result)
    assert [(i.line, i.school, i.eck_id, i.las_key, i.schooljaar) for i in items] == [
        ("regel 2", "11BB", "https://ketenid.nl/201703/000001", "ll-0001", "2025-2026"),
        ("regel 3", "11BB", None, "ll-0002", "2025-2026"),
    ]
    message = items[1].build("v1.1", URL)
    assert schema_errors(body_schema("v1.1", "Leerlingresultaat"), message) == []


# -- the waardelijsten come from the official files ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["v1.0", "v1.1", "2026-2027"])
def test_every_part_code_of_the_spec_has_its_place(key):
    schemas = versions()[key].document["components"]["schemas"]
    levels = resultaten.part_levels(key)
    assert set(levels) == {str(c) for e in ("Onderdeelcode_enum", "Domeincode_enum", "Subdomeincode_enum") for c in schemas[e]["enum"]}
    expected_parent = {"Domein": "Onderdeel", "Subdomein": "Domein"}
    for code, level in levels.items():
        if level == "Onderdeel":
            assert code not in resultaten.PARENT
        else:
            assert levels[resultaten.PARENT[code]] == expected_parent[level], code
        assert resultaten.part_name(code, key) and "<" not in resultaten.part_name(code, key)
    assert resultaten.waardelijst("Toetssoort_enum", key).codes == tuple(schemas["Toetssoort_enum"]["enum"])
    assert resultaten.toets_name("ICE", key) == "IEP Doorstroomtoets"


def test_every_part_code_is_accepted_as_a_csv_column_in_any_case():
    row = {k: v for k, v in pupil(1).items() if ":" not in k}
    for code in ALL_PARTS:
        row[f"detailscore:{code.lower()}"] = "5"
    result = parse(csv_text([row]), fmt="csv")
    assert result.ok, result.report()
    assert {p.code for p in result.accepted[0].onderdelen} == set(ALL_PARTS)
