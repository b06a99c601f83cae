"""`eduketen keurmerk ...` for change and release, as an operator uses it: the calendar, a status
change that is allowed and one that is not, a chain-test period with a pairing, the reminders run
twice on a given day (sent once), and the desk's tickets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eduketen.cli import app
from eduketen.core.db import unit_of_work
from eduketen.core.platform import Platform
from eduketen.keurmerk import service as keurmerk
from eduketen.migrations import upgrade
from eduketen.simulate.region import install_region

from ..conftest import make_settings

runner = CliRunner()


@pytest.fixture
def db(tmp_path, region, monkeypatch):
    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    platform = Platform.build(make_settings(url, region))
    with unit_of_work(platform.sessions) as session:
        install_region(session, region)
    platform.close()
    monkeypatch.setenv("EDUKETEN_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return url


@dataclass
class Ran:
    exit_code: int
    output: str  # whitespace collapsed: a table cell may wrap where the terminal is narrow


def cli(*args) -> Ran:
    result = runner.invoke(app, ["keurmerk", *args])
    assert "Traceback" not in result.output
    return Ran(result.exit_code, " ".join(result.output.split()))


def test_change_and_release_from_the_command_line(db, region):
    r = cli("kalender")
    assert r.exit_code == 0 and "2026-2027" in r.output and "concept" in r.output
    r = cli("versie-status", "doorstroomtoets", "1.0.1", "previous", "--on", "2025-08-01", "--note", "1.1.0 in gebruik")
    assert r.exit_code == 0 and "now previous" in r.output, r.output
    r = cli("versie-status", "doorstroomtoets", "1.0.1", "in-force")
    assert r.exit_code == 1 and "cannot become in-force" in r.output
    r = cli("versie-status", "doorstroomtoets", "9.9", "withdrawn")
    assert r.exit_code == 1 and "no version" in r.output
    listing = json.loads(cli("kalender", "--json").output)
    v101 = next(v for v in listing["diensten"][0]["versies"] if v["versie"] == "1.0.1")
    assert v101["status"] == "previous" and v101["geschiedenis"][0]["door"] == "platformbeheer (CLI)"

    r = cli("ketentest-periode", "--dienst", "doorstroomtoets", "--versie", "2026-2027", "--naam", "Heenweg 2026-2027", "--opent", "2027-03-15", "--sluit", "2027-04-30")
    assert r.exit_code == 0 and "chain-test period 1" in r.output
    las, toets = region.las_suppliers[0], region.toetsaanbieder
    r = cli("koppel", "1", "--a", f"{las.oin}:{las.system}", "--b", f"{toets.oin}:{toets.system}")
    assert r.exit_code == 0 and "pairing 1" in r.output
    assert cli("koppel", "1", "--a", f"{las.oin}:{las.system}", "--b", f"{toets.oin}:{toets.system}").exit_code == 1
    assert cli("koppel", "1", "--a", "no-colon", "--b", f"{toets.oin}:{toets.system}").exit_code == 1
    assert cli("koppeling-status", "1", "passed").exit_code == 1  # planned -> passed skips the test
    assert cli("koppeling-status", "1", "testing").exit_code == 0
    board = json.loads(cli("ketentest", "1").output)
    assert board["aantallen"]["testing"] == 1 and board["herinnering_op"] == "2027-03-01"
    assert cli("ketentest", "77").exit_code == 1

    r = cli("herinneringen", "--vandaag", "2027-02-28")
    assert r.exit_code == 0 and "0 reminder(s)" in r.output
    r = cli("herinneringen", "--vandaag", "2027-03-01")
    assert r.exit_code == 0 and "2 reminder(s)" in r.output and "Heenweg 2026-2027" in r.output
    r = cli("herinneringen", "--vandaag", "2027-03-01")
    assert r.exit_code == 0 and "0 reminder(s)" in r.output
    assert cli("herinneringen", "--vandaag", "gisteren").exit_code == 1

    # the installed worker's own run (`eduketen worker --once`, a process of its own) runs the periodic tasks as well
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")}
    env["EDUKETEN_DATABASE_URL"] = db
    worker = subprocess.run([str(Path(sys.executable).parent / "eduketen"), "worker", "--once"], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0 and "periodic task keurmerk.herinneringen" in worker.stdout, worker.stderr
    assert "Traceback" not in worker.stderr

    assert "no ticket 1" in cli("melding-status", "1", "gesloten").output
    platform = Platform.build(make_settings(db, region))
    with unit_of_work(platform.sessions) as session:
        sv = keurmerk.version_of(session, "doorstroomtoets", "1.1.0")
        keurmerk.submit_ticket(session, kind="wijzigingsverzoek", sv=sv, supplier=None, title="Geslacht schrappen", description="Niet meer nodig.",
                               actor="test")  # fmt: skip
    platform.close()
    assert cli("melding-status", "1", "gesloten").exit_code == 1
    assert cli("melding-status", "1", "in-behandeling", "--note", "opgepakt").exit_code == 0
    r = cli("melding-status", "1", "ingepland", "--versie", "2026-2027")
    assert r.exit_code == 0 and "now ingepland" in r.output
    r = cli("meldingen", "--status", "ingepland")
    assert "Geslacht schrappen" in r.output and "wijzigingsverzoek" in r.output
