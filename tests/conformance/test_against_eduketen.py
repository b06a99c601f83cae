"""The suite against eduketen itself, over HTTPS with real client certificates: every scenario
that can run passes, for every version, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from eduketen.conformance.runner import run_suite

from .conftest import start_toetsaanbieder, stop, toetsaanbieder_target


@pytest.fixture
def installation(database_url, conformance_region, ca, tmp_path):
    inst = start_toetsaanbieder(database_url, conformance_region, ca, tmp_path)
    yield inst
    stop(inst)


def _report(result) -> str:
    lines = []
    for o in result.outcomes:
        lines.append(f"{o.status:8} {o.scenario.name} {o.reason}")
        for c in o.failures:
            lines.append(f"    {c.what}: {c.detail} | {c.exchange.summary() if c.exchange else ''}")
    return "\n".join(lines)


@pytest.mark.parametrize("version", ["1.1.0", "2026-2027", "1.0.1"])
def test_every_toetsaanbieder_scenario_passes_against_eduketen(installation, version):
    result = run_suite(toetsaanbieder_target(installation, version))
    assert result.ok, _report(result)
    skipped = {o.scenario.name for o in result.outcomes if o.status == "skipped"}
    # only scenarios that are not part of the version are skipped: eduketen offers everything else
    expected_skips = {"1.0.1": {"schooladviezen-geldig", "onbekende-leerling-advies", "geslacht-niet-bewaard"}, "1.1.0": {"geslacht-niet-bewaard"}, "2026-2027": set()}
    assert skipped == expected_skips[version], _report(result)


@pytest.fixture
def las_installation(database_url, conformance_region, ca, tmp_path):
    from .conftest import start_las

    inst = start_las(database_url, conformance_region, ca, tmp_path)
    yield inst
    stop(inst)


def test_every_las_scenario_passes_against_eduketen_and_the_report_is_fetched(las_installation):
    from .conftest import las_target

    result = run_suite(las_target(las_installation))
    assert result.ok, _report(result)
    assert not [o.scenario.name for o in result.outcomes if o.status == "skipped"], _report(result)
    report = next(o for o in result.outcomes if o.scenario.name == "rapport-ophalen")
    assert any("got the PDF" in c.what and c.ok for c in report.checks)


@pytest.fixture
def eduv_installation(database_url, conformance_region, ca, tmp_path):
    from .conftest import start_eduv, stop_eduv

    inst = start_eduv(database_url, conformance_region, ca, tmp_path)
    yield inst
    stop_eduv(inst)


@pytest.mark.parametrize(("service", "version"), [("toetsresultaten", "1.0.0"), ("toetsresultaten", "0.9.0"), ("leervoortgang", "1.0.0")])
def test_every_eduv_scenario_passes_against_eduketen(eduv_installation, service, version):
    """The Results and Progress APIs: every scenario runs (nothing skipped) and passes, and what
    eduketen lets be observed is observed (no scenario says it could not see an effect)."""
    from .conftest import eduv_target

    result = run_suite(eduv_target(eduv_installation, service, version))
    assert result.ok, _report(result)
    assert not [o.scenario.name for o in result.outcomes if o.status != "passed"], _report(result)
    assert not [(o.scenario.name, o.notes) for o in result.outcomes if o.notes], _report(result)
    prefix = {"toetsresultaten": "results-", "leervoortgang": "progress-"}[service]
    assert len(result.outcomes) >= 11 and all(o.scenario.name.startswith(prefix) for o in result.outcomes)
