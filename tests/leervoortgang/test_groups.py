"""Groups come from the pupil lists the platform already has, or from a CSV import (CLI); a mentor
is assigned to groups."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from eduketen.cli import app
from eduketen.core.db import unit_of_work
from eduketen.insight.security import create_account
from eduketen.leervoortgang import repository as repo
from eduketen.register import service as register

ECK1 = "https://ketenid.nl/201703/" + "1" * 128
ECK2 = "https://ketenid.nl/201703/" + "2" * 128
CSV = f"""groep;omschrijving;jaargroep;eck_id;las_key;roepnaam;voorvoegsel;achternaam
g7a;Groep 7A;7;{ECK1};;Sanne;de;Vries
g7a;Groep 7A;7;{ECK2};;Daan;;Bakker
g7b;Groep 7B;7;;ll-0003;Noor;van;Dijk
"""


def _cli(monkeypatch, progress, *args):
    monkeypatch.setenv("EDUKETEN_DATABASE_URL", progress.platform.settings.database_url)
    return CliRunner().invoke(app, list(args))


def test_csv_import_and_mentor_assignment_via_cli(progress, tmp_path, monkeypatch):
    brin = progress.eduv.school.brin
    path = tmp_path / "groepen.csv"
    path.write_text(CSV, encoding="utf-8")
    result = _cli(monkeypatch, progress, "progress", "groups-import", str(path), "--school", brin, "--schooljaar", "2026-2027")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"groups": 2, "pupils": 3, "new": 3}
    # Again: nothing new (the same pupils are found by ECK iD or LAS key).
    result = _cli(monkeypatch, progress, "progress", "groups-import", str(path), "--school", brin, "--schooljaar", "2026-2027")
    assert json.loads(result.output)["new"] == 0
    with progress.platform.sessions() as session:
        school = register.get_school(session, brin)
        groups = {g.external_id: g for g in repo.groups_of_school(session, school.id)}
        assert {g.omschrijving for g in groups.values()} >= {"Groep 7A", "Groep 7B"}
        members = repo.members(session, groups["g7a"].id)
        assert sorted(p.eck_id for p in members) == [ECK1, ECK2]
        assert sorted(repo.names(session, [p.id for p in members]).values()) == ["Daan Bakker", "Sanne de Vries"]

    result = _cli(monkeypatch, progress, "progress", "mentor-assign", "--username", "mentor-school0", "--school", brin,
                  "--schooljaar", "2026-2027", "--group", "g7a")  # fmt: skip
    assert result.exit_code == 0, result.output
    with progress.platform.sessions() as session:
        account = repo.account_by_username(session, "mentor-school0")
        assert [g.external_id for g in repo.groups_of_mentor(session, account.id)] == ["g7a"]
    # A school administrator is not a mentor; a group of another year does not exist.
    bad = _cli(monkeypatch, progress, "progress", "mentor-assign", "--username", "beheer-school0", "--school", brin,
               "--schooljaar", "2026-2027", "--group", "g7a")  # fmt: skip
    assert bad.exit_code == 1 and "not a mentor" in bad.output
    bad = _cli(monkeypatch, progress, "progress", "mentor-assign", "--username", "mentor-school0", "--school", brin,
               "--schooljaar", "2025-2026", "--group", "g7a")  # fmt: skip
    assert bad.exit_code == 1 and "no group" in bad.output


def test_csv_problems_name_their_line_and_nothing_is_written(progress, tmp_path, monkeypatch):
    brin = progress.eduv.school.brin
    text = CSV + f"g7b;Groep 7B;7;not-an-eck;;Ali;;Yilmaz\n;;;{ECK1.replace('1', '3')};;Eva;;Smit\ng7b;;7;{ECK1};;Sanne;de;Vries\n"
    path = tmp_path / "fout.csv"
    path.write_text(text, encoding="utf-8")
    result = _cli(monkeypatch, progress, "progress", "groups-import", str(path), "--school", brin, "--schooljaar", "2026-2027")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "line 5: eck_id is not an ECK iD" in out and "line 6: groep is empty" in out and "line 7: the same pupil twice" in out
    with progress.platform.sessions() as session:
        assert repo.groups_of_school(session, register.get_school(session, brin).id) == []
    path.write_text("naam,klas\nJan,7a\n", encoding="utf-8")
    result = _cli(monkeypatch, progress, "progress", "groups-import", str(path), "--school", brin, "--schooljaar", "2026-2027")
    assert result.exit_code == 1 and "header lacks" in result.output


def test_groups_from_the_register_pupil_list_path_are_used(progress):
    """Groups written by register.upsert_pupils (the path a Doorstroomtoets Deelnemerslijst takes) show up with their pupils."""
    school_spec = progress.eduv.school
    with unit_of_work(progress.platform.sessions) as session:
        school = register.get_school(session, school_spec.brin)
        groups = [register.GroupIn(g, g[-2:].upper(), "8") for g in dict.fromkeys(p.groep for p in school_spec.pupils)]
        pupils = [register.PupilIn(eck_id=p.eck_id, las_key=p.las_key, achternaam=p.achternaam, voorvoegsel=p.voorvoegsel or None,
                                   roepnaam=p.roepnaam, voorletters=p.voorletters, geboortedatum=None, geslacht=None,
                                   group_external_id=p.groep, jaargroep="8") for p in school_spec.pupils]  # fmt: skip
        from datetime import UTC, datetime

        register.upsert_pupils(session, school_id=school.id, schooljaar="2026-2027", groups=groups, pupils=pupils, as_of=datetime.now(UTC))
        account = create_account(session, username="mentor-x", password="correct horse battery staple", role="mentor", school_id=school.id)
        group = repo.groups_of_school(session, school.id)[0]
        repo.assign_mentor(session, account.id, group.id)
    with progress.platform.sessions() as session:
        assert len(repo.members(session, group.id)) == sum(1 for p in school_spec.pupils if p.groep == group.external_id)
