"""Validity of the group-context signals on a synthetic region with planted pupils, and the
statistics they rest on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eduketen.core.db import unit_of_work
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang import service as svc
from eduketen.register import service as register
from eduketen.simulate.progress import PATTERNS, plant

from .conftest import drain

UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_percentile_and_robust_z():
    values = [10.0, 12.0, 12.0, 14.0, 100.0]
    assert svc.median(values) == 12.0
    assert svc.percentile_rank(12.0, values) == 40.0  # one below, two equal
    assert svc.percentile_rank(100.0, values) == 90.0
    # MAD is 2; an outlier far out, the median at 0; one extreme value does not move the others much.
    assert svc.robust_z(12.0, values) == 0.0
    assert svc.robust_z(100.0, values) == pytest.approx((100 - 12) / (1.4826 * 2), abs=0.01)
    assert svc.robust_z(14.0, values) == pytest.approx(2 / (1.4826 * 2), abs=0.01)
    assert svc.robust_z(5.0, [5.0, 5.0, 5.0]) == 0.0  # no spread: nobody stands out


@pytest.mark.parametrize("seed", [5, 11, 23])
def test_signals_find_planted_pupils_and_leave_the_others_alone(progress, seed):
    env = progress
    thresholds = svc.Thresholds.from_settings(env.platform.settings)
    with unit_of_work(env.platform.sessions) as session:
        school = register.get_school(session, env.eduv.school.brin)
        groups = plant(session, school_id=school.id, brin=school.brin, schooljaar="2026-2027", source_system_id=env.method_system_id,
                       until=UNTIL, thresholds=thresholds, n_groups=8, size=25, seed=seed)  # fmt: skip
        group_ids = {g.external_id: g.id for g in repo.groups_of_school(session, school.id)}
    drain(env.platform)
    found = planted_total = flagged = normal_total = 0
    with env.platform.sessions() as session:
        for g in groups:
            ctx = svc.group_context(session, group_ids[g.group_external_id], t=thresholds, until=UNTIL)
            assert len(ctx.pupils) == 25
            for p in ctx.pupils:
                pattern = g.pupils[p.eck_id]
                codes = {s.code for s in p.signals}
                for s in p.signals:
                    assert s.explanation.endswith(".") and len(s.explanation) < 300
                if pattern == "normal":
                    normal_total += 1
                    flagged += bool(codes)
                    if codes:
                        print("false positive", codes, p.values)
                else:
                    planted_total += 1
                    found += PATTERNS[pattern] in codes
    print({"found": found, "planted": planted_total, "flagged": flagged, "normal": normal_total})
    assert planted_total == 8 * 6 and normal_total == 8 * 19
    assert found / planted_total >= 0.90, (found, planted_total)
    assert flagged / normal_total < 0.05, (flagged, normal_total)


def test_thresholds_are_settings(progress):
    """A stricter setting changes what is flagged: the signals follow the settings, not constants."""
    env = progress
    t = svc.Thresholds.from_settings(env.platform.settings)
    members = [(i, f"https://ketenid.nl/201703/{i:0128d}") for i in range(1, 11)]
    rows = []
    for pid, eck in members:
        n = 2 if pid == 1 else 10
        rows += [(eck, "rekenen", "completed", UNTIL.replace(day=10), 70.0, 600, False, f"u{k}", "goed") for k in range(n)]
    ctx = svc.analyse(members, rows, until=UNTIL, t=t)
    assert [s.code for s in ctx.pupils[0].signals] == ["hardly-practises"]
    assert "2 onderdelen" in ctx.pupils[0].signals[0].explanation
    import dataclasses

    lenient = dataclasses.replace(t, hardly_fraction=0.1)
    assert svc.analyse(members, rows, until=UNTIL, t=lenient).pupils[0].signals == []
