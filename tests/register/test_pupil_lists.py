"""register.upsert_pupil_lists: many schools' pupil lists at once (the set-based path of the
LAS import and the Deelnemerslijst) with the outcome of applying them one after the other."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.migrations import upgrade
from eduketen.register import service as register
from eduketen.register.models import GroupMembership, Pupil, PupilIdentity, SchoolGroup

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def pupil(eck, las, naam, groep="g8a", roepnaam="Noor"):
    return register.PupilIn(eck, las, naam, None, roepnaam, "N", date(2014, 5, 1), 2, groep, "8")


def test_lists_of_many_schools_behave_as_one_after_the_other(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    groups = [register.GroupIn("g8a", "8A", "8"), register.GroupIn("g8b", "8B", "8")]
    with unit_of_work(sessions) as s:
        a = register.add_school(s, name="De Ster", brin="01AB").id
        b = register.add_school(s, name="Het Anker", brin="02CD").id
        # a pupil already known at school A by LAS-key only; school B holds the same keys for other pupils
        (known, created), = register.upsert_pupils(s, school_id=a, schooljaar="2025-2026", groups=groups,
                                                  pupils=[pupil(None, "k1", "Oud")], as_of=T0)  # fmt: skip
        assert created
        out = register.upsert_pupil_lists(
            s,
            [
                register.PupilList(
                    a, "2025-2026", groups,
                    [pupil("eck-1", "k1", "Nieuw", "g8b"), pupil("eck-2", "k2", "Twee"), pupil("eck-2", "k2", "Twee bis")],
                    T0 + timedelta(hours=2),
                ),
                register.PupilList(b, "2025-2026", groups, [pupil(None, "k1", "Ander kind")], T0 + timedelta(hours=2)),
                # an older list for school A arriving later in the batch changes nothing it does not own
                register.PupilList(a, "2025-2026", groups, [pupil("eck-1", None, "Te oud", "g8a")], T0 + timedelta(hours=1)),
                # the same pupils in another school year: their own membership
                register.PupilList(a, "2026-2027", [register.GroupIn("g8a", "8A", "8")], [pupil("eck-1", None, "Nieuw")], T0 + timedelta(hours=2)),
            ],
        )
    assert out[0][0] == (known, False)  # matched by LAS-key, got its ECK iD
    assert out[0][1][1] and out[0][2] == (out[0][1][0], False)  # twice in a list: one pupil, created once
    assert out[1][0][1] and out[1][0][0] != known  # another school's pupil with the same key is another pupil
    assert out[2][0] == (known, False) and out[3][0] == (known, False)  # the ECK iD now leads
    with sessions() as s:
        assert s.scalar(select(Pupil.eck_id).where(Pupil.id == known)) == "eck-1"
        assert s.scalar(select(PupilIdentity.achternaam).where(PupilIdentity.pupil_id == known)) == "Nieuw"  # not "Te oud"
        assert s.scalar(select(PupilIdentity.achternaam).where(PupilIdentity.pupil_id == out[0][1][0])) == "Twee bis"
        members = {(m.schooljaar, s.get(SchoolGroup, m.group_id).external_id) for m in
                   s.scalars(select(GroupMembership).where(GroupMembership.pupil_id == known))}  # fmt: skip
        assert members == {("2025-2026", "g8b"), ("2026-2027", "g8a")}
        assert s.scalar(select(Pupil.id).where(Pupil.school_id == b, Pupil.las_key == "k1")) == out[1][0][0]
        assert len(s.scalars(select(Pupil)).all()) == 3
    engine.dispose()


def test_loaded_objects_see_the_new_values(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as s:
        school = register.add_school(s, name="De Ster", brin="01AB").id
        (pid, _), = register.upsert_pupils(s, school_id=school, schooljaar="2025-2026", groups=[], pupils=[pupil("e", None, "Eerst")], as_of=T0)
        identity = s.get(PupilIdentity, pid)
        assert identity.achternaam == "Eerst"
        register.upsert_pupils(s, school_id=school, schooljaar="2025-2026", groups=[], pupils=[pupil("e", None, "Later")], as_of=T0 + timedelta(1))
        assert identity.achternaam == "Later"
    engine.dispose()
