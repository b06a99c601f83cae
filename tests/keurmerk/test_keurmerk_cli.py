"""`eduketen keurmerk ...` as an operator uses it, with a report of a real suite run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from eduketen.cli import app
from eduketen.conformance import reports
from eduketen.conformance.runner import run_suite
from eduketen.migrations import upgrade

from ..conformance.conftest import conformance_region, start_toetsaanbieder, stop, toetsaanbieder_target  # noqa: F401 (fixture)

runner = CliRunner()


@pytest.fixture
def inst(conformance_region, ca, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    installation = start_toetsaanbieder(url, conformance_region, ca, tmp_path)
    monkeypatch.setenv("EDUKETEN_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    yield installation
    stop(installation)


def cli(*args):
    result = runner.invoke(app, ["keurmerk", *args])
    assert "Traceback" not in result.output
    return result


def test_keurmerk_from_the_command_line(inst, tmp_path):
    supplier = inst.region.toetsaanbieder.oin
    r = cli("aanmelden", "--supplier", supplier, "--service", "doorstroomtoets", "--role", "toetsaanbieder", "--on", "2026-09-01")
    assert r.exit_code == 0, r.output
    assert "stage aanmelden" in r.output and "next: intake" in r.output
    r = cli("stap", "1", "kwalificatie")
    assert r.exit_code == 1 and "comes after basiskwalificatie" in r.output
    for stage in ("intake", "intentieverklaring", "basiskwalificatie"):
        assert cli("stap", "1", stage).exit_code == 0

    result = run_suite(toetsaanbieder_target(inst, "2026-2027"))
    report = tmp_path / "report.json"
    reports.write_json(result, report, reports.BodyFiles(tmp_path / "b"))
    r = cli("bewijs", "1", str(report))
    assert r.exit_code == 0 and "evidence 1: sufficient" in r.output, r.output
    r = cli("kwalificeer", "1", "--version", "1.1.0", "--evidence", "1")
    assert r.exit_code == 1 and "another version" in r.output
    r = cli("kwalificeer", "1", "--version", "2026-2027", "--evidence", "1")
    assert r.exit_code == 0 and "qualified for 2026-2027" in r.output
    assert cli("bewijs", "1", str(tmp_path / "missing.json")).exit_code == 1

    r = cli("deelnemers", "--dienst", "doorstroomtoets")
    listing = json.loads(r.output)
    versions = {v["versie"]: v["deelnemers"] for v in listing["diensten"][0]["versies"]}
    assert [p["oin"] for p in versions["2026-2027"]] == [supplier] and versions["1.1.0"] == []
    r = cli("toon", "1")
    assert r.exit_code == 0 and "qualified for 2026-2027" in r.output
