"""`eduketen conformance run` end to end: a manifest, progress and summary on the terminal, an HTML
report without outside resources, JUnit XML, a JSON summary, exit codes, and curl lines that
really repeat the failing exchange."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from eduketen.cli import app
from eduketen.migrations import upgrade

from .conftest import start_toetsaanbieder, stop
from .variants import TOETSAANBIEDER_VARIANTS, activate

runner = CliRunner()


@pytest.fixture
def installation(conformance_region, ca, tmp_path):
    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    inst = start_toetsaanbieder(url, conformance_region, ca, tmp_path)
    yield inst
    stop(inst)


def _manifest(inst, tmp_path) -> str:
    school = inst.region.schools[0]
    other = next(s for s in inst.region.las_suppliers if s.oin != school.las.oin)
    doc = {
        "url": {"1.1.0": inst.url("v1.1"), "2026-2027": inst.url("2026-2027")},
        "ca": str(inst.pki / "ca.crt"),
        "cert": str(inst.certs[school.las.oin][0]),
        "key": str(inst.certs[school.las.oin][1]),
        "other_cert": str(inst.certs[other.oin][0]),
        "other_key": str(inst.certs[other.oin][1]),
        "school_oin": school.oin,
        "routing": school.routing,
        "brin": school.brin,
        "admin_url": inst.base,
        "admin_token": "test-admin-token",
        "timeout": 5,
    }
    path = tmp_path / "target.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_all_pass_exits_0_and_writes_reports(installation, tmp_path):
    html, junit, summary = tmp_path / "r.html", tmp_path / "r.xml", tmp_path / "r.json"
    result = runner.invoke(
        app,
        ["conformance", "run", "--version", "2026-2027", "--manifest", _manifest(installation, tmp_path),
         "--html", str(html), "--junit", str(junit), "--json", str(summary)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "geslacht-niet-bewaard" in result.output and "0 failed" in result.output
    page = html.read_text()
    assert "All scenarios that could run passed" in page
    assert "<script" not in page and "http://" not in page and "<link" not in page  # self-contained
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 17
    assert json.loads(summary.read_text())["ok"] is True


@pytest.mark.parametrize("name", ["unknown-school-404", "proxy-html-413"])
def test_failure_exits_1_and_its_curl_line_repeats_it(installation, tmp_path, name):
    variant = next(v for v in TOETSAANBIEDER_VARIANTS if v.name == name)
    html, junit = tmp_path / "r.html", tmp_path / "r.xml"
    with pytest.MonkeyPatch.context() as mp:
        activate(variant, installation, mp)
        try:
            result = runner.invoke(
                app,
                ["conformance", "run", "--version", "1.1.0", "--manifest", _manifest(installation, tmp_path),
                 "--scenario", variant.catcher, "--scenario", "deelnemerslijst-geldig", "--html", str(html), "--junit", str(junit)],
            )  # fmt: skip
            assert result.exit_code == 1, result.output
            case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == variant.catcher)
            failure = case.find("failure")
            assert failure is not None
            curl = next(line.removeprefix("repeat: ") for line in failure.text.splitlines() if line.startswith("repeat: curl"))
            assert "--cert" in curl and "--key" in curl and "--cacert" in curl
            # the curl line, run as it stands, gets the same wrong answer from the variant
            out = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=60).stdout
        finally:
            installation.switch.variant = None
    expected = {"unknown-school-404": "HTTP/1.1 404", "proxy-html-413": "HTTP/1.1 413"}[name]
    assert out.startswith(expected), out[:300]
    page = html.read_text()
    assert "did not pass" in page and "To repeat it" in page and "curl" in page
    passed = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "deelnemerslijst-geldig")
    assert passed.find("failure") is None


def test_misconfigured_run_exits_2_and_says_what_is_missing(tmp_path):
    result = runner.invoke(app, ["conformance", "run", "--url", "https://127.0.0.1:1/doorstroomtoets/v1.1"])
    assert result.exit_code == 2
    assert "--cert" in result.output and "--school-oin" in result.output
    result = runner.invoke(app, ["conformance", "run", "--version", "9.9", "--manifest", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "cannot be read" in result.output


def test_scenario_list_names_each_with_what_it_checks():
    result = runner.invoke(app, ["conformance", "scenarios", "--role", "toetsaanbieder"])
    assert result.exit_code == 0
    for name in ("onbekende-leerling-advies", "dubbel-bericht", "nen1888-namen", "geslacht-niet-bewaard", "buiten-venster"):
        assert name in result.output


# -- Edu-V: the Results and Progress APIs ------------------------------------------------------------------

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}")


@pytest.fixture
def eduv_installation(conformance_region, ca, tmp_path):
    from .conftest import start_eduv, stop_eduv

    url = f"sqlite:///{tmp_path / 'eduketen.db'}"
    upgrade(url)
    inst = start_eduv(url, conformance_region, ca, tmp_path)
    yield inst
    stop_eduv(inst)


def _eduv_manifest(inst, tmp_path) -> str:
    doc = {
        "url": {"1.0.0": f"{inst.base}/toetsresultaten/v1", "0.9.0": f"{inst.base}/toetsresultaten/v0"},
        "ca": str(inst.pki / "ca.crt"),
        "token_url": f"{inst.base}/oauth/token",
        "client_id": "conformance-suite",
        "key": str(inst.keys["rsa-pem"]),
        "wrong_scope_client_id": "conformance-consent-only",
        "school": f"BRIN:{inst.school[1]}",
        "no_consent_school": f"BRIN:{inst.no_consent_school[1]}",
        "admin_url": inst.base,
        "admin_token": "test-admin-token",
        "timeout": 5,
    }
    path = tmp_path / "results-target.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_results_run_writes_reports_without_secrets_and_its_curl_line_repeats_the_failure(eduv_installation, tmp_path):
    from .variants import EDUV_VARIANTS

    inst = eduv_installation
    html, junit, summary = tmp_path / "r.html", tmp_path / "r.xml", tmp_path / "r.json"
    expired = inst.expired_token()
    args = ["conformance", "run", "--service", "results", "--manifest", _eduv_manifest(inst, tmp_path),
            "--html", str(html), "--junit", str(junit), "--json", str(summary)]  # fmt: skip
    result = runner.invoke(app, [*args, "--expired-token", expired])
    assert result.exit_code == 0, result.output
    assert "results-bad-token" in result.output and "0 failed" in result.output
    assert json.loads(summary.read_text())["service"] == "toetsresultaten"

    variant = next(v for v in EDUV_VARIANTS if v.name == "results-scope-ignored")
    with pytest.MonkeyPatch.context() as mp:
        activate(variant, inst, mp)
        try:
            result = runner.invoke(app, [*args, "--expired-token", expired])
            assert result.exit_code == 1, result.output
            case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "results-wrong-scope")
            curl = next(line.removeprefix("repeat: ") for line in case.find("failure").text.splitlines() if line.startswith("repeat: curl"))
            assert "Authorization: Bearer <token>" in curl and "--cacert" in curl
            # no token, assertion or key reaches a report: only the placeholder
            for path in (html, junit, summary):
                text = path.read_text()
                assert not JWT.search(text), (path, JWT.search(text).group(0)[:40])
                assert expired not in text
            # the line, with a token of the client without eduv.result put in, gets the same wrong answer
            token = inst.signed_token("conformance-consent-only", "eduv.consent", 600)
            command = [p.replace("<token>", token) for p in shlex.split(curl)]
            out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False).stdout
        finally:
            inst.switch.variant = None
    assert out.startswith("HTTP/1.1 201"), out[:300]
    assert "did not pass" in html.read_text()


def test_eduv_run_misconfigured_exits_2_and_scenarios_are_listed():
    result = runner.invoke(app, ["conformance", "run", "--service", "leervoortgang", "--url", "https://127.0.0.1:1/leervoortgang/v1"])
    assert result.exit_code == 2
    assert "--token-url" in result.output and "--school" in result.output
    result = runner.invoke(app, ["conformance", "scenarios", "--service", "progress"])
    assert result.exit_code == 0
    for name in ("progress-out-of-order", "progress-bulk", "progress-id-mismatch", "progress-no-consent", "progress-repeat"):
        assert name in result.output
    assert "results-valid" not in result.output
