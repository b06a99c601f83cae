"""The pupil report: one A4 page of PDF with extractable text, filled from the template."""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from types import SimpleNamespace

import pytest
from pypdf import PdfReader

from eduketen.doorstroomtoets import report, resultaten
from eduketen.doorstroomtoets.report import NiveauRegel, ReportData, ScoreRegel, render_report

A4 = (595.28, 841.89)


def read(pdf: bytes) -> tuple[int, str, PdfReader]:
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages), reader


def flat(text: str) -> str:
    """Extracted text with line breaks as spaces: wrapped sentences read as one."""
    return " ".join(text.split())


def explanations() -> dict[str, str]:
    block = next(b for b in report.load_template().blocks if b["kind"] == "levels")
    return block["explanations"]


@pytest.fixture
def data() -> ReportData:
    return ReportData(
        school_name="Basisschool De Regenboog",
        brin="11BB",
        roepnaam="Çağan Şükrü",
        voorvoegsel="van der",
        achternaam="Yılmaz-Øvergård",
        geboortedatum=date(2014, 7, 19),
        rapport_id="3f2a9c1e-8b7d-4e11-9a0b-5c6d7e8f9a01",
        toets_naam="IEP Doorstroomtoets",
        toets_id="ICE",
        afnamedatum=date(2026, 4, 15),
        schooljaar="2025-2026",
        toetsscore="84",
        percentielscore="73",
        scores=[
            ScoreRegel("Rekenen", score="71", aantal_goed="38", aantal_opgaven="50"),
            ScoreRegel("Lezen", score="88", aantal_goed="41", aantal_opgaven="52"),
            ScoreRegel("Taalverzorging", score="64", aantal_goed="29", aantal_opgaven="45"),
        ],
        referentieniveaus=[NiveauRegel("Rekenen", "1S"), NiveauRegel("Lezen", "2F"), NiveauRegel("Taalverzorging", "1F")],
        toetsadvies="havo/vwo",
        resultaat_versie="Definitief",
    )


def test_one_page_with_everything_a_parent_needs(data):
    pages, text, reader = read(render_report(data))
    assert pages == 1
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert (round(width, 2), round(height, 2)) == A4
    t = flat(text)
    assert "Çağan Şükrü van der Yılmaz-Øvergård" in t
    assert "19 juli 2014" in t
    assert "Basisschool De Regenboog" in t and "11BB" in t
    assert "IEP Doorstroomtoets" in t and "15 april 2026" in t
    # scores: the total and each part's score and number right
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "84" in lines and "73" in lines
    for part, *numbers in (("Rekenen", "71", "38", "50"), ("Lezen", "88", "41", "52"), ("Taalverzorging", "64", "29", "45")):
        assert part in lines
        for number in numbers:
            assert number in lines
    # each reference level with its plain-Dutch explanation
    for niveau in ("1S", "2F", "1F"):
        assert niveau in lines
        assert explanations()[niveau] in t
    assert "havo/vwo" in lines
    assert "Rapport-id: 3f2a9c1e-8b7d-4e11-9a0b-5c6d7e8f9a01" in t


def test_explanations_say_what_the_levels_mean():
    e = explanations()
    assert "Fundamenteel" in e["1F"] and "basisschool" in e["1F"]
    assert "Streefniveau" in e["1S"] and "rekenen" in e["1S"]
    assert "Streefniveau" in e["2F"] and "taal" in e["2F"]
    assert e["<1F"] == e["L1F"] and "niet gehaald" in e["L1F"]


def test_not_reached_levels_are_explained(data):
    data = dataclasses.replace(
        data, referentieniveaus=[NiveauRegel("Rekenen", "<1F"), NiveauRegel("Lezen", "L1F"), NiveauRegel("Taalverzorging", "3X")]
    )
    _, text, _ = read(render_report(data))
    t = flat(text)
    assert "<1F" in t and "L1F" in t
    assert t.count(explanations()["L1F"]) == 2
    assert "Geen landelijk referentieniveau" in t  # an unknown value is not left unexplained


NEN_1888 = "é è ê ë á à â ä ó ò ô ö ú ù û ü í ì î ï ý ÿ ç ğ ş ı İ ĳ Ĳ ø Ø å Å æ œ ß č ř š ž ě ů ñ ł ő ű ă ș ț ą ę ć ń ś ź ż ğ ţ"


def test_every_nen_1888_character_renders_and_extracts(data):
    names = NEN_1888.split()
    data = dataclasses.replace(data, roepnaam="".join(names[:25]), achternaam="".join(names[25:]), voorvoegsel="d'")
    pdf = render_report(data)
    pages, text, reader = read(pdf)
    assert pages == 1
    for ch in names:
        assert ch in text, f"{ch!r} (U+{ord(ch):04X}) did not come back from the PDF"
    # the font is embedded (TrueType subsets), not left to the reader's machine
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        assert font["/Subtype"] == "/TrueType"
        assert "/FontFile2" in font["/FontDescriptor"].get_object()


def test_the_embedded_font_has_a_glyph_for_every_nen_1888_letter():
    from fontTools.ttLib import TTFont

    reduced = TTFont(io.BytesIO(report.reduce_font(report.font_files()["regular"].read_bytes())))
    cmap = reduced.getBestCmap()
    # NEN 1888 (2022) table of Latin letters with diacritics: Latin-1, Latin Extended-A and the
    # Latin Extended-B letters it names (ș ț Ș Ț ǎ ǐ ǒ ǔ)
    letters = [chr(c) for c in range(0xC0, 0x250) if chr(c).isalpha()] + list("șțȘȚǎǐǒǔ")
    missing = [ch for ch in letters if ord(ch) not in cmap]
    assert not missing, f"no glyph for {missing}"


def test_names_in_decomposed_form_come_out_composed(data):
    data = dataclasses.replace(data, roepnaam="Zoe\u0308", voorvoegsel=None, achternaam="Ve\u0301lez")
    _, text, _ = read(render_report(data))
    assert "Zoë Vélez" in flat(text)


def test_a_pupil_with_every_part_still_fits_on_one_page(data):
    depth = {"Onderdeel": 0, "Domein": 1, "Subdomein": 2}
    scores = [
        ScoreRegel(
            resultaten.part_name(code),
            score=str(100 + i),
            aantal_goed=str(i),
            aantal_opgaven="60",
            percentielscore=str(i),
            diepte=depth[level],
        )
        for i, (code, level) in enumerate(resultaten.part_levels().items())
    ]
    assert len(scores) >= 26
    data = dataclasses.replace(
        data,
        scores=scores,
        aantal_goed="140",
        aantal_opgaven="200",
        school_name="Stichting Katholiek Primair Onderwijs Sint-Franciscus van Assisi, locatie Het Kompas",
    )
    pages, text, _ = read(render_report(data))
    assert pages == 1
    t = flat(text)
    for row in scores:
        assert row.onderdeel in t
        assert row.score in text.split()
    assert "Rapport-id: 3f2a9c1e-8b7d-4e11-9a0b-5c6d7e8f9a01" in t
    assert "havo/vwo" in t


def test_far_too_many_lines_are_cut_with_a_note_not_spilled_onto_a_second_page(data):
    scores = [ScoreRegel(f"Onderdeel {i}", score=str(i)) for i in range(150)]
    levels = [NiveauRegel(f"Onderdeel {i}", "1F") for i in range(40)]
    pages, text, _ = read(render_report(dataclasses.replace(data, scores=scores, referentieniveaus=levels)))
    assert pages == 1
    t = flat(text)
    assert "… en nog" in t
    assert "havo/vwo" in t and "3f2a9c1e-8b7d-4e11-9a0b-5c6d7e8f9a01" in t


def test_missing_optional_parts(data):
    bare = ReportData(school_name="OBS Het Anker", brin=None, roepnaam="Sem", achternaam="Jansen", rapport_id="r-1", toets_naam="Route 8")
    pages, text, _ = read(render_report(bare))
    assert pages == 1
    t = flat(text)
    assert "Sem Jansen" in t and "OBS Het Anker" in t and "Route 8" in t and "Rapport-id: r-1" in t
    assert "Geboortedatum" not in t and "BRIN" not in t and "Afnamedatum" not in t
    assert "Er zijn geen scores bekend." in t
    assert "Er zijn geen referentieniveaus bekend." in t
    assert "Er is (nog) geen toetsadvies." in t
    # scores without numbers of items or percentiles: those columns are left out
    only_scores = dataclasses.replace(data, percentielscore=None, scores=[ScoreRegel("Rekenen", score="71")])
    _, text, _ = read(render_report(only_scores))
    assert "Aantal goed" not in text and "Percentiel" not in text and "71" in text.split()
    # an empty name, an empty advice, a part without any number
    odd = dataclasses.replace(
        data,
        roepnaam="",
        voorvoegsel=None,
        toetsadvies="  ",
        scores=[ScoreRegel("Nederlandse taal"), ScoreRegel("Lezen", score="9", diepte=1)],
    )
    pages, text, _ = read(render_report(odd))
    assert pages == 1
    t = flat(text)
    assert "Yılmaz-Øvergård" in t and "hoe de leerling de doorstroomtoets" in t
    assert "Er is (nog) geen toetsadvies." in t and "Nederlandse taal" in t


def test_voorlopig_result_is_marked(data):
    _, text, _ = read(render_report(dataclasses.replace(data, resultaat_versie="Voorlopig")))
    assert "VOORLOPIG RESULTAAT" in text
    _, text, _ = read(render_report(data))
    assert "VOORLOPIG" not in text


def test_same_input_same_bytes(data):
    assert render_report(data) == render_report(dataclasses.replace(data))


def test_plain_text_has_the_same_content(data):
    text = report.report_text(data)
    _, pdf_text, _ = read(render_report(data))
    for needle in (
        "Çağan Şükrü van der Yılmaz-Øvergård",
        "Basisschool De Regenboog",
        "havo/vwo",
        explanations()["1S"],
        "3f2a9c1e-8b7d-4e11-9a0b-5c6d7e8f9a01",
    ):
        assert needle in text and needle in flat(pdf_text)


def test_layout_and_texts_come_from_the_template(tmp_path, data):
    source = report.template_path().read_text(encoding="utf-8")
    assert "$leerling_naam" in source and "Streefniveau voor rekenen" in source
    changed = source.replace("title: Leerlingrapport Doorstroomtoets\n    subtitle", "title: Uitslag van $roepnaam\n    subtitle")
    changed = changed.replace("Toetsadvies\n    text:", "Advies van de toets\n    text:")
    assert changed != source
    path = tmp_path / "eigen.yaml"
    path.write_text(changed, encoding="utf-8")
    _, text, _ = read(render_report(data, template=report.load_template(str(path))))
    assert "Uitslag van Çağan Şükrü" in text and "Advies van de toets" in text


def test_a_template_with_an_unknown_placeholder_is_refused(tmp_path):
    path = tmp_path / "fout.yaml"
    path.write_text(report.template_path().read_text(encoding="utf-8").replace("$rapport_id", "$rapportnummer"), encoding="utf-8")
    with pytest.raises(ValueError, match="rapportnummer"):
        report.load_template(str(path))


def test_missing_font_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv(report.FONT_DIR_ENV, str(tmp_path))
    with pytest.raises(report.ReportFontError) as info:
        report.font_files()
    assert "fonts-dejavu-core" in str(info.value) and "apt-get install" in str(info.value)
    monkeypatch.delenv(report.FONT_DIR_ENV)
    assert all(p.is_file() for p in report.font_files().values())


# -- from the wire message ----------------------------------------------------------------------------------------


def wire_message(
    spec_key: str = "v1.1", rapport_url: str | None = "https://toets.example/doorstroomtoets/v1.1/leerlingrapport/rap-42"
) -> dict:
    csv_text = (
        "brin,las_key,schooljaar,toets,afnamedatum,versie,toetsscore,toetsadvies,percentielscore,"
        "detailscore:REKENEN,aantal_goed:REKENEN,aantal_opgaven:REKENEN,referentieniveau:REKENEN,"
        "detailscore:LEZEN,referentieniveau:LEZEN,detailscore:TAALVERZORGING,referentieniveau:TAALVERZORGING,detailscore:9010\n"
        "11BB,ll-7,2025-2026,ICE,2026-04-15,Definitief,84,havo/vwo,73,71,38,50,1S,88,2F,64,<1F,19\n"
    )
    imported = resultaten.parse(csv_text, fmt="csv")
    assert imported.ok, imported.report()
    return resultaten.to_leerlingresultaat(imported.accepted[0], spec_key, rapport_url)


def test_report_data_from_a_leerlingresultaat():
    data = report.report_data_from_leerlingresultaat(
        wire_message(),
        "Basisschool De Regenboog",
        "11BB",
        roepnaam="Daan",
        voorvoegsel="de",
        achternaam="Vries",
        geboortedatum=date(2014, 3, 2),
    )
    assert data.rapport_id == "rap-42"  # from aanvullendeinfo
    assert (data.toets_naam, data.toets_id, data.afnamedatum, data.schooljaar) == (
        "IEP Doorstroomtoets",
        "ICE",
        date(2026, 4, 15),
        "2025-2026",
    )
    assert (data.toetsscore, data.percentielscore, data.toetsadvies, data.resultaat_versie) == ("84", "73", "havo/vwo", "Definitief")
    assert [(s.onderdeel, s.score, s.diepte) for s in data.scores] == [
        ("Lezen", "88", 0),
        ("Begrijpend lezen", "19", 1),
        ("Taalverzorging", "64", 0),
        ("Rekenen", "71", 0),
    ]
    assert data.scores[-1].aantal_goed == "38" and data.scores[-1].aantal_opgaven == "50"
    assert [(n.onderdeel, n.niveau) for n in data.referentieniveaus] == [("Rekenen", "1S"), ("Lezen", "2F"), ("Taalverzorging", "L1F")]
    pages, text, _ = read(render_report(data))
    t = flat(text)
    assert pages == 1 and "Daan de Vries" in t and "2 maart 2014" in t and "Rapport-id: rap-42" in t
    assert explanations()["L1F"] in t


def test_the_specs_own_example_message_renders():
    from eduketen.doorstroomtoets.schemas import versions

    body = versions()["v1.1"].document["paths"]["/leerlingresultaat"]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"]["Leerlingresultaat"]["value"]  # its waarden are numbers, not strings
    data = report.report_data_from_leerlingresultaat(
        example, "OBS Het Anker", "22CC", roepnaam="Noor", achternaam="Đorđević", rapport_id="ex-1"
    )
    assert data.toetsscore == "100" and data.toetsadvies == "vwo"
    pages, text, _ = read(render_report(data))
    assert pages == 1 and "Noor Đorđević" in flat(text) and "vwo" in text.split()


def test_render_for_result_as_the_worker_calls_it():
    school = SimpleNamespace(name="Basisschool De Regenboog", brin="11BB")
    identity = SimpleNamespace(roepnaam="Fleur", voorvoegsel="van 't", achternaam="Hof", geboortedatum=date(2013, 12, 31))
    pdf = report.render_for_result(wire_message(), school=school, identity=identity, rapport_id="rap-99")
    pages, text, _ = read(pdf)
    assert pages == 1 and "Fleur van 't Hof" in flat(text) and "rap-99" in text
    pages, text, _ = read(report.render_for_result(wire_message(rapport_url=None), school=school, identity=None, rapport_id="rap-100"))
    assert pages == 1 and "rap-100" in text and "hoe de leerling" in flat(text)


def test_direct_writer_and_reportlab_give_the_same_text(data):
    """The file written directly holds the same text as the same page drawn by reportlab's canvas."""
    tpl, fonts = report.load_template(), report.ensure_fonts()
    ops = report._fit(data, report._values(data, tpl), tpl, fonts)
    direct, canvas = report._write_direct(ops, tpl), report._write_reportlab(ops, tpl, fonts)
    assert direct is not None
    _, direct_text, reader = read(direct)
    _, canvas_text, _ = read(canvas)
    assert direct_text.split() == canvas_text.split()
    assert reader.metadata.title == tpl.page["title"]


def test_font_subsets_are_reused_per_character_set(data):
    """Two reports with the same non-ASCII characters share one cached subset per font; a new
    character makes a new one, and it renders and extracts as itself."""
    report._embedded_font.cache_clear()
    render_report(data)
    render_report(dataclasses.replace(data, rapport_id="another-report"))
    first = report._embedded_font.cache_info()
    assert first.misses == 2 and first.hits == 2  # regular and bold, once each
    _, text, _ = read(render_report(dataclasses.replace(data, roepnaam="Ĳsbrand")))
    assert report._embedded_font.cache_info().misses > first.misses
    assert "Ĳsbrand" in flat(text)


def test_many_different_characters_still_render(data):
    """More non-ASCII characters than one subset holds: the report is drawn through reportlab."""
    tpl = report.load_template()
    many = "".join(chr(c) for c in range(0x100, 0x100 + 140))
    rich = dataclasses.replace(data, school_name="School " + " ".join(many[i : i + 10] for i in range(0, 140, 10)))
    ops = report._fit(rich, report._values(rich, tpl), tpl, report.ensure_fonts())
    assert report._write_direct(ops, tpl) is None
    pages, text, _ = read(render_report(rich))
    assert pages == 1 and many[:10] in flat(text) and many[130:] in flat(text)
