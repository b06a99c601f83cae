"""The `eduketen` command as an operator uses it: the installed console script in a subprocess, and
the same commands through typer's CliRunner. Clear messages, a non-zero exit code and never a
traceback when something is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update
from rich.console import Console
from typer.testing import CliRunner

from eduketen import cli as cli_module
from eduketen.cli import app
from eduketen.core import audit
from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.core.models import AuditEntry
from eduketen.simulate.region import deelnemerslijst

SCRIPT = Path(sys.executable).parent / "eduketen"
SUPPLIER = "00000003123456780000"
NS = "https://doorstroomtoets.example/v1.1"


def clean_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")}
    env.update(EDUKETEN_DATABASE_URL=database_url, COLUMNS="200", NO_COLOR="1")
    return env


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text


# -- the installed script --------------------------------------------------------------------------


def script(env, *args) -> subprocess.CompletedProcess:
    result = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)
    no_traceback(result.stdout + result.stderr)
    return result


def test_installed_console_script(tmp_path):
    assert SCRIPT.exists(), SCRIPT
    env = clean_env(f"sqlite:///{tmp_path / 'cli.db'}")
    up = script(env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert "database at revision" in up.stdout

    good = script(env, "register", "school-add", "--name", "OBS De Vlinder", "--brin", "11bb", "--routeringskenmerk", "0000000700011BB00001")
    assert good.returncode == 0, good.stderr
    assert "BRIN 11BB" in good.stdout and "OIN 0000000700011BB00000" in good.stdout

    bad = script(env, "register", "school-add", "--name", "X", "--brin", "1BBB")
    assert bad.returncode == 1
    assert "BRIN" in bad.stderr and "2 digits and 2 letters" in bad.stderr and "1BBB" in bad.stderr
    assert bad.stdout == ""

    dup = script(env, "register", "school-add", "--name", "Nog eens", "--brin", "11BB")
    assert dup.returncode == 1 and "exists already" in dup.stderr

    listed = script(env, "register", "schools")
    assert listed.returncode == 0 and "0000000700011BB00000" in listed.stdout and "0000000700011BB00001" in listed.stdout

    usage = script(env, "register", "mandate-revoke", "not-a-number")
    assert usage.returncode == 2 and "mandate_id" in usage.stderr and "integer" in usage.stderr


def test_installed_worker_processes_what_the_api_accepted(chain):
    school = chain.region.schools[0]
    assert chain.post("/doorstroomtoets/v1.1/registreren", deelnemerslijst(school)).status_code == 202
    settings = chain.platform.settings
    env = clean_env(settings.database_url)
    env.update(EDUKETEN_ROLES='["toetsaanbieder", "register"]', EDUKETEN_OWN_OIN=settings.own_oin)
    result = script(env, "worker", "--once")
    assert result.returncode == 0, result.stderr
    assert "processed 1 message(s)" in result.stdout
    for p in school.pupils:  # the worker's log lines hold no pupil data
        assert p.achternaam not in result.stderr and p.las_key not in result.stderr
    assert chain.drain() == 0


# -- the same commands through CliRunner --------------------------------------------------------------


def wide_consoles(monkeypatch) -> None:
    """Tables and messages unwrapped, whatever width the console guessed at import."""
    monkeypatch.setattr(cli_module, "console", Console(width=200))
    monkeypatch.setattr(cli_module, "err", Console(stderr=True, width=200))


@pytest.fixture
def cli(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for key in [k for k in os.environ if k.startswith("EDUKETEN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("EDUKETEN_DATABASE_URL", url)
    wide_consoles(monkeypatch)
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        no_traceback(result.output)
        assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
        if code != 0:
            assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
        return result

    run.url = url
    assert "database at revision" in run("db", "upgrade").stdout
    return run


def _register_everything(run):
    run("register", "service-add", "--name", "doorstroomtoets", "--version", "1.1.0", "--namespace", NS, "--schooljaar", "2025-2026")
    run("register", "supplier-add", "--name", "Toets B.V.", "--oin", SUPPLIER)
    run("register", "system-add", "--supplier", SUPPLIER, "--name", "Toetssysteem", "--kind", "toetssysteem")
    run("register", "school-add", "--name", "De Regenboog", "--brin", "11BB", "--vestiging", "00", "--vestiging", "01")
    return run(
        "register", "mandate-grant", "--school", "11BB", "--supplier", SUPPLIER, "--system", "Toetssysteem",
        "--service", "doorstroomtoets", "--version", "1.1.0", "--start", "2025-08-01", "--end", "2026-07-31",
    )  # fmt: skip


def test_db_current(cli):
    assert cli("db", "current").stdout.strip()


def test_register_and_list_mandates(cli):
    granted = _register_everything(cli)
    assert "mandate 1 granted, token " in granted.stdout
    table = cli("register", "mandates").stdout
    assert "11BB" in table and "Toets B.V." in table and "Toetssysteem" in table and "2025-08-01" in table
    assert "yes" not in table
    assert "11BB" in cli("register", "mandates", "--school", "0000000700011BB00000").stdout
    assert "11BB" in cli("register", "mandates", "--supplier", SUPPLIER).stdout
    assert "unknown school" in cli("register", "mandates", "--school", "99ZZ", code=1).stderr
    assert "unknown supplier" in cli("register", "mandates", "--supplier", "00000003000000000404", code=1).stderr


def test_mandate_revoke(cli):
    _register_everything(cli)
    assert "mandate 1 revoked" in cli("register", "mandate-revoke", "1").stdout
    assert "yes" in cli("register", "mandates").stdout
    assert "mandate 1 revoked" in cli("register", "mandate-revoke", "1").stdout  # twice is harmless
    for unknown in ("999", "0", "99999999999999999999"):
        assert "unknown mandate" in cli("register", "mandate-revoke", unknown, code=1).stderr


WRONG_INPUT = [
        (("register", "school-add", "--name", "X", "--brin", "11B"), "2 digits and 2 letters"),
        (("register", "school-add", "--name", "X", "--brin", "11ß"), "2 digits and 2 letters"),
        (("register", "school-add", "--name", "X", "--brin", "22CC", "--routeringskenmerk", "0000000700022CC000012"), "21 tekens"),
        (("register", "school-add", "--name", "X", "--brin", "22CC", "--vestiging", "0"), "vestigingscode"),
        (("register", "school-add", "--name", "X", "--brin", "22CC", "--vestiging", "01", "--vestiging", "01"), "more than once"),
        (("register", "school-add", "--name", " ", "--brin", "22CC"), "name is empty"),
        (("register", "school-add", "--name", "X", "--brin", "11BB"), "exists already"),
        (("register", "supplier-add", "--name", "Y", "--oin", "123"), "20 positions"),
        (("register", "supplier-add", "--name", "Y", "--oin", "0000000312345678000a"), "digits and capital letters"),
        (("register", "supplier-add", "--name", "Y", "--oin", SUPPLIER), "exists already"),
        (("register", "system-add", "--supplier", SUPPLIER, "--name", "Z", "--kind", "robot"), "las, toetssysteem"),
        (("register", "system-add", "--supplier", "00000003000000000404", "--name", "Z", "--kind", "las"), "unknown supplier"),
        (("register", "system-add", "--supplier", SUPPLIER, "--name", " Toetssysteem ", "--kind", "las"), "already"),
        (("register", "service-add", "--name", "doorstroomtoets", "--version", "1.1.0", "--namespace", "urn:x"), "exists already"),
        (("register", "service-add", "--name", "doorstroomtoets", "--version", "1.2.0", "--namespace", NS), "belongs to"),
        (("register", "service-add", "--name", "doorstroomtoets", "--version", "1.2.0", "--namespace", "urn:y", "--status", "geldig"), "in-force"),
        (("register", "service-add", "--name", "doorstroomtoets", "--version", "1.2.0", "--namespace", "urn:y", "--schooljaar", "2025-2030"), "2025-2026"),
        (("register", "mandate-grant", "--school", "11BB", "--supplier", SUPPLIER, "--system", "Toetssysteem", "--service", "doorstroomtoets",
          "--version", "1.1.0", "--start", "01-08-2025"), "YYYY-MM-DD"),
        (("register", "mandate-grant", "--school", "11BB", "--supplier", SUPPLIER, "--system", "Toetssysteem", "--service", "doorstroomtoets",
          "--version", "1.1.0", "--start", "2025-08-01", "--end", "2025-07-01"), "before its start"),
        (("register", "mandate-grant", "--school", "99ZZ", "--supplier", SUPPLIER, "--system", "Toetssysteem", "--service", "doorstroomtoets",
          "--version", "1.1.0", "--start", "2025-08-01"), "unknown school"),
        (("register", "mandate-grant", "--school", "11BB", "--supplier", SUPPLIER, "--system", "Nope", "--service", "doorstroomtoets",
          "--version", "1.1.0", "--start", "2025-08-01"), "no system named"),
        (("register", "mandate-grant", "--school", "11BB", "--supplier", SUPPLIER, "--system", "Toetssysteem", "--service", "doorstroomtoets",
          "--version", "9.9", "--start", "2025-08-01"), "unknown service version"),
]  # fmt: skip


def test_wrong_input_gives_a_clear_message_and_exit_1(cli):
    _register_everything(cli)
    for args, words in WRONG_INPUT:
        result = cli(*args, code=1)
        assert result.stderr.startswith("error:"), (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert result.stdout == "", args
    assert "22CC" not in cli("register", "schools").stdout  # nothing of the refused commands was kept


def test_venster(cli):
    out = cli("doorstroomtoets", "venster", "--schooljaar", "2025-2026", "--soort", "registratie", "--opens", "2025-09-01", "--closes", "2026-02-15")
    assert "registratie 2025-2026: 2025-09-01 to 2026-02-15" in out.stdout
    out = cli("doorstroomtoets", "venster", "--schooljaar", "2025-2026", "--soort", "registratie", "--opens", "2025-10-01", "--closes", "2026-02-20")
    assert "2025-10-01 to 2026-02-20" in out.stdout  # changed, not added twice
    for args, words in (
        (("--schooljaar", "2025-2026", "--soort", "inschrijving", "--opens", "2025-09-01", "--closes", "2026-02-15"), "registratie, schooladvies"),
        (("--schooljaar", "2025/2026", "--soort", "registratie", "--opens", "2025-09-01", "--closes", "2026-02-15"), "2025-2026"),
        (("--schooljaar", "2025-2026", "--soort", "registratie", "--opens", "2026-02-15", "--closes", "2025-09-01"), "close before it opens"),
        (("--schooljaar", "2025-2026", "--soort", "registratie", "--opens", "1 september", "--closes", "2026-02-15"), "YYYY-MM-DD"),
    ):
        assert words in cli("doorstroomtoets", "venster", *args, code=1).stderr


def test_overzicht_json_on_an_empty_installation(cli):
    assert json.loads(cli("doorstroomtoets", "overzicht", "--json").stdout) == []


def test_overzicht_after_a_pupil_list(chain, monkeypatch):
    """The staff view from the command line, on the installation's own database (both backends)."""
    for key in [k for k in os.environ if k.startswith("EDUKETEN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("EDUKETEN_DATABASE_URL", chain.platform.settings.database_url)
    wide_consoles(monkeypatch)
    school = chain.region.schools[0]
    assert chain.post("/doorstroomtoets/v1.1/registreren", deelnemerslijst(school)).status_code == 202
    chain.drain()
    runner = CliRunner()
    result = runner.invoke(app, ["doorstroomtoets", "overzicht", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    mine = [r for r in rows if r["brin"] == school.brin]
    assert len(mine) == 1
    assert mine[0]["leerlingen_geregistreerd"] == len(school.pupils)
    assert mine[0]["laatste_bericht"]["status"] == "done"
    for p in school.pupils:
        assert p.achternaam not in result.stdout and p.geboortedatum not in result.stdout
    filtered = runner.invoke(app, ["doorstroomtoets", "overzicht", "--json", "--school", school.oin])
    assert [r["brin"] for r in json.loads(filtered.stdout)] == [school.brin]
    table = runner.invoke(app, ["doorstroomtoets", "overzicht"])
    assert table.exit_code == 0 and school.brin in table.stdout
    no_traceback(table.output)


def test_audit_verify_intact_then_broken(cli):
    assert "audit log intact: 0 entries" in cli("audit", "verify").stdout
    engine = make_engine(cli.url)
    sessions = make_sessionmaker(engine)
    try:
        with unit_of_work(sessions) as s:
            audit.record(s, actor=SUPPLIER, action="read", subject_type="pupil", subject_ids=["1", "2", "3"], purpose="rapport")
        assert "audit log intact: 3 entries" in cli("audit", "verify").stdout
        with unit_of_work(sessions) as s:
            s.execute(update(AuditEntry).where(AuditEntry.subject_id == "2").values(purpose="iets anders"))
    finally:
        engine.dispose()
    result = cli("audit", "verify", code=1)
    assert "audit log broken at entry 2" in result.stderr and "after 1 intact" in result.stderr


def test_help_lists_the_command_groups(cli):
    out = cli("--help").stdout
    for group in ("db", "register", "doorstroomtoets", "audit"):
        assert group in out


def test_commands_on_a_database_without_schema_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("EDUKETEN_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = CliRunner().invoke(app, ["register", "schools"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "db upgrade" in result.output
