"""A realistic change-and-release picture for the demo and the browser test: the Doorstroomtoets
calendar (1.0.1 the previous version, 1.1.0 in force, 2026-2027 the draft with its announced
changes), a chain-test period under way with pairings in every state, the next period opening
within two weeks (so its reminders go out), and a few desk tickets taken from the chain's own
meeting notes (OSR test environment, unknown pupils, the reminder wish)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from eduketen.keurmerk import repository as keurmerk_repo
from eduketen.keurmerk import service as keurmerk
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.simulate.region import Region, supplier_oin

SERVICE = "doorstroomtoets"
SECOND_TEST_SUPPLIER = ("Toetsbureau Zuid (demo)", supplier_oin(1001), "Zuid-toets")
ACTOR = "platformbeheer (demo)"


def _second_test_system(session: Session):
    name, oin, system = SECOND_TEST_SUPPLIER
    supplier = register_repo.supplier_by_oin(session, oin) or register.add_supplier(session, name=name, oin=oin)
    return register_repo.system_by_name(session, supplier.id, system) or register.add_system(session, supplier=supplier, name=system, kind="toetssysteem")


def seed(session: Session, region: Region, *, today: date) -> dict:
    """Idempotent: a database that has chain-test periods already is left as it is."""
    if keurmerk_repo.test_periods(session):
        return {"seeded": False}
    v101, v110, draft = (keurmerk.version_of(session, SERVICE, v) for v in ("1.0.1", "1.1.0", "2026-2027"))
    # history of the versions registered before the calendar existed, then 1.0.1 steps down
    keurmerk.plan_release(session, v101, dates={"draft": date(2023, 5, 15), "in-force": date(2023, 8, 1)},
                          announcement="Eerste versie van de uitwisseling van deelnemers en schooladviezen.")  # fmt: skip
    keurmerk.plan_release(session, v110, dates={"draft": date(2025, 5, 20), "in-force": date(2025, 8, 1)},
                          announcement="Nieuwe OSR-namespace; voorlopig schooladvies via het LAS.")  # fmt: skip
    if v101.status == "in-force":
        keurmerk.transition_version(session, v101, status="previous", on=min(today, date(2025, 8, 1)), today=today, actor=ACTOR,
                                    note="1.1.0 is in gebruik voor schooljaar 2025-2026")  # fmt: skip
    keurmerk.plan_release(
        session, draft, dates={"draft": min(today, date(2026, 6, 15)), "in-force": today + timedelta(days=45)},
        announcement="Geslacht wordt niet meer uitgewisseld (besluit 8 januari 2026). Adviezen van onbekende leerlingen: "
        "202 zonder terugkoppeling, bekende leerlingen worden verwerkt.",
    )

    toets_a = register_repo.system_by_name(session, register_repo.supplier_by_oin(session, region.toetsaanbieder.oin).id, region.toetsaanbieder.system)
    toets_b = _second_test_system(session)
    las = [register_repo.system_by_name(session, register_repo.supplier_by_oin(session, s.oin).id, s.system) for s in region.las_suppliers]

    running = keurmerk.add_period(session, v110, name="Ketentest terugweg 2025-2026", opens=today - timedelta(days=20), closes=today + timedelta(days=25))
    states = [("testing", "passed"), ("testing",), ("failed",), (), ("testing", "failed", "testing", "passed"), ("testing",), ("failed",), ()]
    for i, (system, partner) in enumerate((s, t) for s in las for t in (toets_a, toets_b)):
        pairing = keurmerk.add_pairing(session, running, system, partner)
        for status in states[i % len(states)]:
            keurmerk.set_pairing_status(session, pairing.id, status=status, note="resultaten kwamen niet aan" if status == "failed" else None)
    upcoming = keurmerk.add_period(session, draft, name="Ketentest heenweg 2026-2027", opens=today + timedelta(days=10), closes=today + timedelta(days=52))
    for system in las:
        for partner in (toets_a, toets_b):
            keurmerk.add_pairing(session, upcoming, system, partner)

    def supplier(oin):
        return register_repo.supplier_by_oin(session, oin)

    osr = keurmerk.submit_ticket(session, kind="incident", sv=v110, supplier=supplier(region.toetsaanbieder.oin),
                                 title="OSR-q: verkeerd mandaat voor de testschool",
                                 description="In de testomgeving staat het mandaat van de testschool bij de verkeerde toetsaanbieder; ketentesten lopen vast.",
                                 actor=f"leverancier {region.toetsaanbieder.oin}")  # fmt: skip
    keurmerk.transition_ticket(session, osr, status="in-behandeling", actor=ACTOR, note="Doorgezet naar het OSR-team")
    rfc = keurmerk.submit_ticket(session, kind="wijzigingsverzoek", sv=v110, supplier=supplier(region.las_suppliers[0].oin),
                                 title="Adviezen van onbekende leerlingen: altijd 202",
                                 description="Leg in de specificaties vast dat een bericht dat aan de specificaties voldoet 202 krijgt, ook met onbekende leerlingen.",
                                 actor=f"leverancier {region.las_suppliers[0].oin}")  # fmt: skip
    keurmerk.transition_ticket(session, rfc, status="in-behandeling", actor=ACTOR, note="Besproken in het voortgangsoverleg van 8 januari 2026")
    keurmerk.transition_ticket(session, rfc, status="ingepland", actor=ACTOR, note="Aangenomen; in de concept-specificaties 2026-2027",
                               planned_version=draft.version)  # fmt: skip
    reminder = keurmerk.submit_ticket(session, kind="wijzigingsverzoek", sv=v110, supplier=supplier(SECOND_TEST_SUPPLIER[1]),
                                      title="Herinnering twee weken voor een testperiode",
                                      description="Stuur iedereen twee weken voor aanvang van een testperiode een herinnering om de tests in te plannen.",
                                      actor=f"leverancier {SECOND_TEST_SUPPLIER[1]}")  # fmt: skip
    for status in ("in-behandeling", "opgelost"):
        keurmerk.transition_ticket(session, reminder, status=status, actor=ACTOR, note="Het platform stuurt de herinneringen nu zelf" if status == "opgelost" else None)
    keurmerk.submit_ticket(session, kind="klacht", sv=v110, supplier=supplier(region.las_suppliers[-1].oin),
                           title="Late ketentests van een ketenpartner",
                           description="Een partner gaf pas na de afgesproken planning aan te kunnen testen; daardoor kwam een fout laat aan het licht.",
                           actor=f"leverancier {region.las_suppliers[-1].oin}")  # fmt: skip
    sent = keurmerk.send_reminders(session, today)
    return {"seeded": True, "running_period": running.id, "upcoming_period": upcoming.id, "reminders": len(sent), "tickets": 4}
