"""Progress at scale: the id arbiter and monthly partitions (PostgreSQL), newer-wins across the
bulk path when a record moves between days and months, and the worker's aggregates checked
against a recompute from the raw records."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from eduketen.core.db import unit_of_work
from eduketen.leervoortgang import repository as repo
from eduketen.leervoortgang import service as svc
from eduketen.leervoortgang import tasks
from eduketen.leervoortgang.models import (
    ProgressDay,
    ProgressDirty,
    ProgressKey,
    ProgressRecord,
    ProgressUsage,
)

from .conftest import drain, record, setup_mentors

UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _rows(progress, model) -> int:
    with progress.platform.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_partitions_by_month_and_a_default_that_refuses_nothing(progress):
    platform = progress.platform
    pg = platform.engine.dialect.name == "postgresql"
    with platform.sessions() as session:
        names = repo.partitions(session)
    if not pg:
        assert names == []  # SQLite: one plain table, the same queries
    else:
        today = datetime.now(UTC).date()
        assert "progress_record_default" in names
        assert f"progress_record_p{today.year:04d}{today.month:02d}" in names  # created ahead by the migration
        nxt = (today.replace(day=28) + timedelta(days=5))
        assert f"progress_record_p{nxt.year:04d}{nxt.month:02d}" in names

    brin = progress.eduv.school.brin
    rid = str(uuid.uuid4())
    # A state in a month no partition covers (2019): stored (in the default partition on PostgreSQL).
    assert progress.put(rid, record(brin, rid=rid, status="started", at="2019-03-05T10:00:00Z")).json()["applied"] == 1
    with platform.sessions() as session:
        if pg:
            where = session.scalar(text("SELECT tableoid::regclass::text FROM progress_record WHERE id = :i"), {"i": rid})
            assert where == "progress_record_default"
    # The worker's maintenance makes that month's partition and moves the row into it.
    created = tasks.maintain_partitions(platform.sessions, ahead=3)
    with platform.sessions() as session:
        if pg:
            assert "progress_record_p201903" in created
            where = session.scalar(text("SELECT tableoid::regclass::text FROM progress_record WHERE id = :i"), {"i": rid})
            assert where == "progress_record_p201903"
            assert session.scalar(text("SELECT count(*) FROM progress_record_default")) == 0
        else:
            assert created == []
    assert tasks.maintain_partitions(platform.sessions, ahead=3) == []  # idempotent

    # A newer state in another month: the row moves (old one deleted, new one inserted); one row, one key.
    assert progress.put(rid, record(brin, rid=rid, status="completed", at="2026-11-02T10:00:00Z")).json()["applied"] == 1
    with platform.sessions() as session:
        rows = session.execute(select(ProgressRecord.status, ProgressRecord.state_at).where(ProgressRecord.id == rid)).all()
        assert [r[0] for r in rows] == ["completed"]
        key = session.get(ProgressKey, rid)
        assert key.state_at == datetime(2026, 11, 2, 10, tzinfo=UTC)
        assert key.prev_state_at == datetime(2019, 3, 5, 10, tzinfo=UTC)
        if pg:
            where = session.scalar(text("SELECT tableoid::regclass::text FROM progress_record WHERE id = :i"), {"i": rid})
            assert where == "progress_record_p202611"
    # The older state again: stale, the row stays where it is.
    assert progress.put(rid, record(brin, rid=rid, status="started", at="2019-03-05T10:00:00Z")).json()["stale"] == 1
    assert _rows(progress, ProgressRecord) == 1 and _rows(progress, ProgressKey) == 1


def test_bulk_newer_wins_across_days_and_the_aggregates_follow(progress):
    """States of the same records arrive over several bulk requests, out of order, moving between
    days; after the worker's round the day aggregates hold only the newest state of each."""
    brin = progress.eduv.school.brin
    ids = [str(uuid.uuid4()) for _ in range(300)]
    eck = [f"https://ketenid.nl/201703/{n:0128x}" for n in range(30)]
    day1, day2, day3 = datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 3, 10, tzinfo=UTC), datetime(2026, 11, 4, 10, tzinfo=UTC)

    def states(at: datetime, status: str, unit_prefix: str = "u") -> list[dict]:
        out = []
        for n, rid in enumerate(ids):
            body = record(brin, rid=rid, eck=eck[n % 30], status=status, at=_z(at + timedelta(minutes=n)), unit=f"{unit_prefix}{n}",
                          pct=float(n % 100))  # fmt: skip
            if status != "completed":
                body.pop("score")
            out.append(body)
        return out

    # Day 2 first (completed), then day 1 (started, older: stale), then day 3 for half (abandoned, newer).
    r = progress.bulk(states(day2, "completed"))
    assert r.json() == {"received": 300, "applied": 300, "stale": 0}
    drain(progress.platform)
    r = progress.bulk(states(day1, "started"))
    assert r.json() == {"received": 300, "applied": 0, "stale": 300}
    r = progress.bulk(states(day3, "abandoned")[:150] + states(day1, "started")[150:])
    assert r.json() == {"received": 300, "applied": 150, "stale": 150}
    # Within one request the newest state of an id wins, whatever the order.
    twice = [states(day3, "abandoned")[200], states(day2, "completed")[200]]
    twice[0]["statusChangedAt"] = _z(day3 + timedelta(hours=1))
    assert progress.bulk(list(reversed(twice))).json() == {"received": 2, "applied": 1, "stale": 1}
    assert _rows(progress, ProgressRecord) == 300 and _rows(progress, ProgressKey) == 300
    assert _rows(progress, ProgressDirty) > 0
    drain(progress.platform)
    assert _rows(progress, ProgressDirty) == 0
    with progress.platform.sessions() as session:
        per_day = dict(session.execute(select(ProgressDay.day, func.sum(ProgressDay.records)).group_by(ProgressDay.day)).all())
        abandoned = session.scalar(select(func.sum(ProgressDay.abandoned)))
    # Day 1 had only stale states: nothing; day 2 keeps the 149 not moved; day 3 the 151 that moved.
    assert per_day == {"2026-11-03": 149, "2026-11-04": 151}
    assert abandoned == 151
    _assert_aggregates_match_raw(progress)


def _recompute_days(session) -> dict:
    """progress_day from every raw record, by the straightforward route (no dirty list)."""
    c = ProgressRecord
    rows = session.execute(select(c.school_id, c.eck_id, c.state_at, c.subject, c.source_system_id, c.course_id, c.unit_id, c.status,
                                  c.score_pct, c.duration_seconds, c.please_follow_up)).all()  # fmt: skip
    by_school: dict[int, list] = {}
    for school_id, eck, at, *rest in rows:
        by_school.setdefault(school_id, []).append((eck, at.date().isoformat(), *rest))
    out = {}
    for school_id, raw in by_school.items():
        for row in svc.day_rows(school_id, raw):
            out[(row["school_id"], row["eck_id"], row["day"], row["subject"], row["source_system_id"], row["course_id"])] = row
    return out


def _assert_aggregates_match_raw(progress) -> None:
    with progress.platform.sessions() as session:
        want = _recompute_days(session)
        d = ProgressDay
        have = {}
        for row in session.scalars(select(d)):
            have[(row.school_id, row.eck_id, row.day, row.subject, row.source_system_id, row.course_id)] = row
        assert set(have) == set(want)
        for k, w in want.items():
            h = have[k]
            assert (h.records, h.units, h.completed, h.abandoned, h.seconds, h.score_n, h.follow_up) == (
                w["records"], w["units"], w["completed"], w["abandoned"], w["seconds"], w["score_n"], w["follow_up"])
            assert h.score_sum == pytest.approx(w["score_sum"])
        # progress_usage: per school, ISO week and material, pupils activated / used and units.
        usage: dict = {}
        for (school_id, eck, day, _subject, system, course), w in want.items():
            week = svc.iso_week(date.fromisoformat(day))
            u = usage.setdefault((school_id, week, system, course), {"activated": set(), "used": set(), "units": 0})
            u["activated"].add(eck)
            if w["units"]:
                u["used"].add(eck)
            u["units"] += w["units"]
        got = {(r.school_id, r.week, r.source_system_id, r.course_id): (r.activated, r.used, r.units) for r in session.scalars(select(ProgressUsage))}
        assert got == {k: (len(v["activated"]), len(v["used"]), v["units"]) for k, v in usage.items()}


def test_group_context_from_aggregates_equals_the_one_from_raw_records(progress):
    """The pages' numbers (from the worker's aggregates) are the numbers a recompute from the raw
    records gives, also after a burst of updates (newer states moving between days, follow-up
    flags, abandonments) that the worker has processed."""
    m = setup_mentors(progress.platform, progress.eduv.region, progress.method_system_id, until=UNTIL, n_groups=2, seed=9)
    brin = progress.eduv.school.brin
    rng = random.Random(4)
    # Updates to existing planted records: load their ids, send newer states for a third of them.
    with progress.platform.sessions() as session:
        existing = session.execute(select(ProgressRecord.id, ProgressRecord.eck_id, ProgressRecord.state_at, ProgressRecord.unit_id,
                                          ProgressRecord.subject)).all()  # fmt: skip
    updates = []
    for rid, eck, at, unit, subject in rng.sample(existing, len(existing) // 3):
        status = rng.choice(["completed", "abandoned", "started"])
        body = record(brin, rid=rid, eck=eck, status=status, at=_z(min(at + timedelta(days=rng.randint(0, 9), hours=1), UNTIL)),
                      unit=unit, subject=subject, pct=float(rng.randint(0, 100)), follow_up=rng.random() < 0.05)  # fmt: skip
        if status != "completed":
            body.pop("score")
        updates.append(body)
    r = progress.bulk(updates)
    assert r.status_code == 200 and r.json()["applied"] >= len(updates) - 5, r.text
    drain(progress.platform)
    _assert_aggregates_match_raw(progress)
    t = svc.Thresholds.from_settings(progress.platform.settings)
    with progress.platform.sessions() as session:
        for group_id in m.group_ids:
            for subject in (None, "rekenen"):
                agg = svc.group_context(session, group_id, t=t, until=UNTIL, subject=subject)
                raw = svc.group_context_from_records(session, group_id, t=t, until=UNTIL, subject=subject)
                assert agg.subjects == raw.subjects and (agg.since, agg.until) == (raw.since, raw.until)
                for a, b in zip(agg.pupils, raw.pupils, strict=True):
                    assert a.pupil_id == b.pupil_id
                    assert a.values == pytest.approx(b.values)
                    assert [s.code for s in a.signals] == [s.code for s in b.signals]
                    assert a.follow_up_units == b.follow_up_units
                assert agg.median == pytest.approx(raw.median)


def test_the_worker_loop_keeps_aggregates_and_partitions(progress):
    """The maintenance loop the worker process runs: one round recomputes what is dirty."""
    platform = progress.platform
    loop = next(loop for loop in platform.loops if isinstance(loop, tasks.ProgressMaintenance))
    brin = progress.eduv.school.brin
    bodies = [record(brin, at=_z(UNTIL - timedelta(days=n % 5)), unit=f"x{n}") for n in range(40)]
    assert progress.bulk(bodies).json()["applied"] == 40
    assert _rows(progress, ProgressDay) == 0  # nothing computed in the request
    assert loop.run_once() > 0
    assert loop.run_once() == 0
    assert _rows(progress, ProgressDay) == 5
    _assert_aggregates_match_raw(progress)


def test_a_failed_round_leaves_the_cells_dirty(progress):
    brin = progress.eduv.school.brin
    assert progress.bulk([record(brin, unit=f"y{n}") for n in range(3)]).json()["applied"] == 3
    with pytest.raises(RuntimeError), unit_of_work(progress.platform.sessions) as session:
        assert svc.refresh_aggregates(session) == 1
        raise RuntimeError("the worker died mid-round")
    assert _rows(progress, ProgressDirty) >= 1 and _rows(progress, ProgressDay) == 0
    drain(progress.platform)
    assert _rows(progress, ProgressDirty) == 0 and _rows(progress, ProgressDay) == 1


def test_bulk_bad_input_names_the_record(progress):
    brin = progress.eduv.school.brin
    good = record(brin)
    wrong_score = record(brin)
    wrong_score["score"] = {"raw": 11, "max": 10}
    r = progress.bulk([good, good, wrong_score])
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "records/2/score", "problem": "raw is above max"}]
    for bad_id in ("not-a-uuid", "1234", good["id"].replace("-", ""), "{" + good["id"] + "}"):
        body = dict(good, id=bad_id)
        r = progress.bulk([body])
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "records/0/id", bad_id
    upper = dict(good, id=good["id"].upper())
    assert progress.bulk([upper]).json()["applied"] == 1
    with progress.platform.sessions() as session:
        assert repo.record(session, good["id"]) is not None  # stored in lower case
    too_many = b'{"records": [' + b",".join([b"{}"] * 20_001) + b"]}"
    assert progress.bulk([], raw=too_many).status_code == 422
    assert progress.bulk([], raw=b'{"records": []}').status_code == 422
    assert progress.bulk([], raw=b'{"records": [1, "x", null]}').status_code == 422
    r = progress.bulk([], raw=b'{"records": [{"id": "' + good["id"].encode() + b'"}]}', token="")
    assert r.status_code == 401


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_migration_keeps_existing_records_and_marks_them_for_the_worker(storage, tmp_path, request):
    """0010 moves the records of 0007 into the new tables (key, partitions) and marks every cell
    dirty, so the worker builds the aggregates of what was there."""
    from sqlalchemy import create_engine

    from eduketen.core.db import make_sessionmaker
    from eduketen.migrations import upgrade

    if storage == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        name = f"m_{uuid.uuid4().hex[:10]}"
        admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = server.url(name)
    upgrade(url, "0007_progress")
    engine = create_engine(url)
    at = "2024-05-06 07:08:09.000000" if storage == "sqlite" else "2024-05-06 07:08:09+00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO supplier (name, oin, created_at) VALUES ('M', '00000003000000005000', :at)"), {"at": at})
        supplier = conn.execute(text("SELECT id FROM supplier")).scalar()
        conn.execute(text("INSERT INTO system (supplier_id, name, kind) VALUES (:s, 'O', 'leermiddel')"), {"s": supplier})
        conn.execute(text("INSERT INTO school (name, brin, oin, created_at) VALUES ('School', '00AA', '00000001000000000001', :at)"),
                     {"at": at})  # fmt: skip
        system, school = conn.execute(text("SELECT id FROM system")).scalar(), conn.execute(text("SELECT id FROM school")).scalar()
        conn.execute(text(
            "INSERT INTO progress_record (id, source_system_id, school_id, eck_id, course_id, unit_id, subject, status, state_at, "
            "score_pct, duration_seconds, please_follow_up, received_at) VALUES ('6c1d0b1e-0000-4000-8000-000000000001', :y, :s, "
            "'https://ketenid.nl/201703/abcdefabcdefabcdef', 'c', 'u', 'rekenen', 'completed', :at, 80.0, 300, false, :at)"),
            {"y": system, "s": school, "at": at})  # fmt: skip
    engine.dispose()
    upgrade(url)
    sessions = make_sessionmaker(create_engine(url))
    with sessions() as session:
        assert repo.count(session) == 1
        assert session.get(ProgressKey, "6c1d0b1e-0000-4000-8000-000000000001").state_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
        assert session.scalar(select(func.count()).select_from(ProgressDirty)) == 1
        if storage == "postgres":
            assert "progress_record_p202405" in repo.partitions(session)
    assert tasks.drain(sessions) == 1
    with sessions() as session:
        day = session.scalars(select(ProgressDay)).one()
        assert (day.day, day.records, day.completed, day.score_sum, day.seconds) == ("2024-05-06", 1, 1, 80.0, 300)
    sessions.kw["bind"].dispose()


def test_a_change_between_reading_and_writing_a_round_is_not_lost(progress):
    """A round reads (no write lock) and then writes; a record that changes a planned cell in
    between leaves its own mark, so the next round puts the cell right."""
    brin = progress.eduv.school.brin
    body = record(brin, at="2026-11-02T10:00:00Z", pct=40.0)
    assert progress.bulk([body]).json()["applied"] == 1
    with progress.platform.read_sessions() as session:
        planned = svc.plan_round(session)
    newer = dict(body, statusChangedAt="2026-11-02T11:00:00Z", score={"percentage": 90.0})
    assert progress.put(body["id"], newer).json()["applied"] == 1
    with unit_of_work(progress.platform.sessions) as session:
        assert svc.apply_round(session, planned) == 1
    with progress.platform.sessions() as session:
        assert session.scalar(select(ProgressDay.score_sum)) == 40.0  # written from the older read
    assert _rows(progress, ProgressDirty) == 1  # the PUT's own mark stayed
    drain(progress.platform)
    with progress.platform.sessions() as session:
        assert session.scalar(select(ProgressDay.score_sum)) == 90.0
    _assert_aggregates_match_raw(progress)
