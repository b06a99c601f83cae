"""The suite catches what it must: against each deliberately broken variant of eduketen at least
one named scenario fails, and it is the scenario meant for that bug. The untouched app, served
the same way, passes (test_against_eduketen.py)."""

from __future__ import annotations

import pytest

from eduketen.conformance.runner import REGISTRY, run_suite
from eduketen.migrations import upgrade

from .conftest import eduv_target, las_target, start_eduv, start_las, start_toetsaanbieder, stop, stop_eduv, toetsaanbieder_target
from .variants import EDUV_VARIANTS, LAS_VARIANTS, TOETSAANBIEDER_VARIANTS, activate


def _sqlite(tmp) -> str:
    url = f"sqlite:///{tmp / 'eduketen.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def toetsaanbieder(conformance_region, ca, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants-ta")
    inst = start_toetsaanbieder(_sqlite(tmp), conformance_region, ca, tmp)
    yield inst
    stop(inst)


@pytest.fixture(scope="module")
def las_installation(conformance_region, ca, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants-las")
    inst = start_las(_sqlite(tmp), conformance_region, ca, tmp)
    yield inst
    stop(inst)


def _caught(result) -> dict[str, list[str]]:
    return {o.scenario.name: [f"{c.what}: {c.detail}" for c in o.failures] for o in result.outcomes if o.status == "failed"}


def test_every_variant_names_a_scenario_that_exists():
    from eduketen.conformance.runner import select

    select("toetsaanbieder", "1.1.0")  # registers the scenarios
    for variant in TOETSAANBIEDER_VARIANTS + LAS_VARIANTS + EDUV_VARIANTS:
        sc = REGISTRY.get(variant.catcher)
        assert sc is not None and sc.role == variant.role and sc.service == variant.service, variant.name


def test_every_eduv_scenario_is_meant_to_catch_a_variant():
    """Each scenario of the Results and Progress APIs is the named catcher of at least one broken variant."""
    from eduketen.conformance.runner import select

    for service in ("toetsresultaten", "leervoortgang"):
        names = {sc.name for sc in select("ontvanger", "1.0.0", service=service)}
        catchers = {v.catcher for v in EDUV_VARIANTS if v.service == service}
        assert names - catchers == set(), f"{service}: no variant for {sorted(names - catchers)}"


@pytest.mark.parametrize("variant", TOETSAANBIEDER_VARIANTS, ids=lambda v: v.name)
def test_toetsaanbieder_variant_is_caught(toetsaanbieder, variant):
    with pytest.MonkeyPatch.context() as mp:
        activate(variant, toetsaanbieder, mp)
        try:
            result = run_suite(toetsaanbieder_target(toetsaanbieder, variant.version, timeout=3.0, window_settle=1))
        finally:
            toetsaanbieder.switch.variant = None
    caught = _caught(result)
    assert not [o.scenario.name for o in result.outcomes if o.status == "error"], [o.reason for o in result.outcomes]
    assert variant.catcher in caught, f"{variant.name} ({variant.bug}) not caught by {variant.catcher}; failed: {caught}"
    assert not result.ok


@pytest.mark.parametrize("variant", LAS_VARIANTS, ids=lambda v: v.name)
def test_las_variant_is_caught(las_installation, variant):
    with pytest.MonkeyPatch.context() as mp:
        activate(variant, las_installation, mp)
        try:
            result = run_suite(las_target(las_installation, timeout=4.0))
        finally:
            las_installation.switch.variant = None
    caught = _caught(result)
    assert variant.catcher in caught, f"{variant.name} ({variant.bug}) not caught by {variant.catcher}; failed: {caught}"
    assert not result.ok


@pytest.fixture(scope="module")
def eduv_installation(conformance_region, ca, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants-eduv")
    inst = start_eduv(_sqlite(tmp), conformance_region, ca, tmp)
    yield inst
    stop_eduv(inst)


@pytest.mark.parametrize("variant", EDUV_VARIANTS, ids=lambda v: v.name)
def test_eduv_variant_is_caught(eduv_installation, variant):
    with pytest.MonkeyPatch.context() as mp:
        activate(variant, eduv_installation, mp)
        try:
            result = run_suite(eduv_target(eduv_installation, variant.service, variant.version))
        finally:
            eduv_installation.switch.variant = None
    caught = _caught(result)
    assert not [o.scenario.name for o in result.outcomes if o.status == "error"], [o.reason for o in result.outcomes]
    assert variant.catcher in caught, f"{variant.name} ({variant.bug}) not caught by {variant.catcher}; failed: {caught}"
    assert not result.ok
