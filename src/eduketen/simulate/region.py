"""A synthetic region: schools, their LAS suppliers, a test supplier, mandates, pupils, and the
Doorstroomtoets messages a LAS would send. Deterministic for a given seed; no real person in it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.orm import Session

from eduketen.core.identifiers import school_oin
from eduketen.doorstroomtoets import service as dt_service
from eduketen.doorstroomtoets.schemas import SERVICE, versions
from eduketen.register import service as reg

FIRST_NAMES = [
    "Daan", "Sem", "Noah", "Lucas", "Finn", "Levi", "Mila", "Emma", "Julia", "Tess", "Sophie", "Zoë",
    "Anaïs", "Chloë", "Noël", "Joëlle", "Ömer", "Çağan", "Maël", "Aïsha", "Fenna", "Sára", "Bjørn", "Saša",
    "Lotte", "Yara", "Mohammed", "Amira", "Thijs", "Ilse", "Jasper", "Nadia", "Ruben", "Liv", "Håkon",
]
LAST_NAMES = [
    ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("", "Bakker"), ("van", "Dijk"), ("", "Visser"),
    ("", "Smit"), ("", "Meijer"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("van der", "Meer"),
    ("", "Yılmaz"), ("", "Özdemir"), ("", "Çelik"), ("", "Nguyễn"), ("", "Şahin"), ("d'", "Hondt"), ("", "Müller-Lüdenscheidt"),
    ("van 't", "Hof"), ("", "Brontë"), ("", "El Amrani"), ("ten", "Brinke"), ("", "Kovačević"), ("", "Ĳzerman"),
]
PLACES = ["Zwolle", "Deventer", "Kampen", "Almelo", "Hengelo", "Enschede", "Apeldoorn", "Meppel", "Hardenberg", "Ommen"]
SCHOOL_WORDS = ["De Regenboog", "Het Kompas", "De Wegwijzer", "De Zonnebloem", "Het Palet", "De Springplank", "De Ster", "Het Anker"]
LAS_NAMES = ["ParnasSys-achtig LAS", "Esis-achtig LAS", "Eduscope LAS", "Klasbord Admin"]
TESTS = [("ROUTE_8", "Route 8"), ("ICE", "IEP Doorstroomtoets"), ("DIA", "Dia doorstroomtoets"), ("AMN", "AMN Doorstroomtoets")]

ADVIEZEN = ["VMBO_BB", "VMBO_KB", "VMBO_GL/TL", "VMBO_GL/TL_TM_HAVO", "HAVO", "HAVO_TM_VWO", "VWO", "PRAKTIJKONDERWIJS", "VSO"]


@dataclass
class SupplierSpec:
    name: str
    oin: str
    system: str
    kind: str


@dataclass
class PupilSpec:
    eck_id: str | None
    las_key: str
    roepnaam: str
    voorvoegsel: str
    achternaam: str
    voorletters: str
    geboortedatum: str
    geslacht: int
    groep: str
    jaargroep: str
    advies: str

    def refs(self) -> list[dict]:
        refs = []
        if self.eck_id:
            refs.append({"label": "ECK-iD", "onderwijsdeelnemerID": self.eck_id})
        refs.append({"label": "LAS-key", "onderwijsdeelnemerID": self.las_key})
        return refs


@dataclass
class SchoolSpec:
    name: str
    brin: str
    routing: str
    las: SupplierSpec
    pupils: list[PupilSpec] = field(default_factory=list)

    @property
    def oin(self) -> str:
        return school_oin(self.brin)


@dataclass
class Region:
    toetsaanbieder: SupplierSpec
    las_suppliers: list[SupplierSpec]
    schools: list[SchoolSpec]


def supplier_oin(n: int) -> str:
    """A supplier OIN in the KvK-derived range (prefix 00000003)."""
    return f"00000003{n:012d}"


def _brins(count: int, rng: random.Random) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pool = [f"{d:02d}{a}{b}" for d in range(100) for a in letters for b in letters]
    return rng.sample(pool, count)


def _pupils(rng: random.Random, count: int, brin: str) -> list[PupilSpec]:
    groups = [f"grp-{brin.lower()}-8a", f"grp-{brin.lower()}-8b"] if count > 20 else [f"grp-{brin.lower()}-8a"]
    pupils = []
    for i in range(count):
        voorvoegsel, achternaam = rng.choice(LAST_NAMES)
        roepnaam = rng.choice(FIRST_NAMES)
        second = rng.choice(FIRST_NAMES)
        eck = None
        if rng.random() < 0.85:
            eck = f"https://ketenid.nl/201703/{rng.getrandbits(512):0128x}"
        born = date(2014, 10, 1) + timedelta(days=rng.randrange(365))
        pupils.append(
            PupilSpec(
                eck_id=eck,
                las_key=f"ll-{brin.lower()}-{i:04d}-{rng.randrange(16**6):06x}",
                roepnaam=roepnaam,
                voorvoegsel=voorvoegsel,
                achternaam=achternaam,
                voorletters=(roepnaam[0] + second[0]).upper(),
                geboortedatum=born.isoformat(),
                geslacht=rng.choice([1, 2, 9]),
                groep=groups[i % len(groups)],
                jaargroep="8",
                advies=rng.choice(ADVIEZEN),
            )
        )
    return pupils


def generate_region(n_schools: int = 40, pupils_per_school: int = 30, *, seed: int = 2026, n_las: int = 4) -> Region:
    rng = random.Random(seed)
    toets = SupplierSpec("Toetsaanbieder Noord (demo)", supplier_oin(1000), "Doorstroomtoets-systeem", "toetssysteem")
    las = [SupplierSpec(LAS_NAMES[i % len(LAS_NAMES)] + ("" if i < len(LAS_NAMES) else f" {i}"), supplier_oin(2000 + i), "LAS", "las") for i in range(n_las)]
    schools = []
    for i, brin in enumerate(_brins(n_schools, rng)):
        name = f"{rng.choice(SCHOOL_WORDS)} {rng.choice(PLACES)}"
        if i >= len(SCHOOL_WORDS) * len(PLACES) // 4:
            name = f"{name} {i}"
        routing = f"00000007000{brin}00{rng.randrange(100, 1000):03d}"
        schools.append(SchoolSpec(name, brin, routing, las[i % len(las)], _pupils(rng, pupils_per_school, brin)))
    return Region(toets, las, schools)


# -- into the register ---------------------------------------------------------------------------


def seed_services(session: Session) -> None:
    service = reg.ensure_service(session, SERVICE, "Logistiek proces Doorstroomtoets po")
    from eduketen.register import repository as repo

    for spec in versions().values():
        if repo.service_version(session, service.id, spec.version) is None:
            reg.add_service_version(
                session,
                service=service,
                version=spec.version,
                namespace=spec.namespace,
                schooljaar=spec.schooljaren[-1],
                status="in-force" if spec.official else "draft",
            )


def open_windows(session: Session, *, today: date | None = None) -> None:
    """Open registration and advice for every served school year around ``today`` (demo/tests)."""
    today = today or date.today()
    for spec in versions().values():
        for year in spec.schooljaren:
            for soort in ("registratie", "schooladvies"):
                dt_service.set_window(
                    session, schooljaar=year, soort=soort, opens=today - timedelta(days=60), closes=today + timedelta(days=120)
                )


def install_region(session: Session, region: Region, *, mandate_start: date | None = None, mandate_end: date | None = None) -> None:
    """Write the region into the register: suppliers, systems, schools, administrations, and
    mandates of every school to its LAS and to the test supplier for every Doorstroomtoets version."""
    from eduketen.register import repository as repo

    seed_services(session)
    start = mandate_start or (date.today() - timedelta(days=30))
    systems = {}
    for spec in [region.toetsaanbieder, *region.las_suppliers]:
        supplier = repo.supplier_by_oin(session, spec.oin) or reg.add_supplier(session, name=spec.name, oin=spec.oin)
        systems[spec.oin] = repo.system_by_name(session, supplier.id, spec.system) or reg.add_system(
            session, supplier=supplier, name=spec.system, kind=spec.kind
        )
    service = repo.service_by_name(session, SERVICE)
    service_versions = repo.service_versions(session, service.id)
    present = repo.existing_brins(session, [s.brin for s in region.schools])
    reg.add_schools(
        session,
        [
            reg.NewSchool(
                name=s.name, brin=s.brin, routing=s.routing, system_id=systems[s.las.oin].id, administratienr="01",
                mandates=[(systems[oin].id, sv.id, start, mandate_end) for sv in service_versions for oin in (s.las.oin, region.toetsaanbieder.oin)],
            )
            for s in region.schools
            if s.brin not in present
        ],
    )  # fmt: skip


# -- messages ------------------------------------------------------------------------------------------


def _envelope(spec_key: str, profiel: str, schooljaar: str, school: SchoolSpec) -> dict:
    return {
        "datumtijd": "2026-10-01T09:00:00Z",
        "auteur": f"{school.las.name} (synthetisch)",
        "versie": versions()[spec_key].versie,
        "profiel": profiel,
        "schooljaar": schooljaar,
        "deelnemersgroep": {
            "instellingscode": school.brin,
            "vestigingscode": "00",
            "onderwijsaanbiedercode": "100A" + school.brin[:2] + "1",
            "onderwijslocatiecode": "100X" + school.brin[:2] + "1",
            "administratienr": "01",
        },
    }


def deelnemerslijst(school: SchoolSpec, spec_key: str = "v1.1", schooljaar: str | None = None, pupils: list[PupilSpec] | None = None) -> dict:
    spec = versions()[spec_key]
    year = schooljaar or spec.schooljaren[-1]
    chosen = school.pupils if pupils is None else pupils
    message = _envelope(spec_key, "Toetsdeelnemers", year, school)
    message["groepen"] = [
        {"label": "Stamgroep", "id": g, "omschrijving": g.rsplit("-", 1)[1].upper(), "niveau": {"label": "Jaargroep", "niveau": "8"}}
        for g in dict.fromkeys(p.groep for p in chosen)
    ]
    message["deelnemers"] = []
    for p in chosen:
        entry = {
            "label": "Leerling",
            "deelnemerref": p.refs(),
            "achternaam": p.achternaam,
            "roepnaam": p.roepnaam,
            "groep": p.groep,
            "niveau": {"label": "Jaargroep", "niveau": p.jaargroep},
            "extensie": {"label": "Demografisch", "voorletters": p.voorletters, "geboortedatum": p.geboortedatum},
        }
        if p.voorvoegsel:
            entry["voorvoegsel"] = p.voorvoegsel
        if spec.exchanges_geslacht:  # from 2026-2027 a LAS never sends geslacht
            entry["extensie"]["geslacht"] = p.geslacht
        message["deelnemers"].append(entry)
    return message


def schooladviezenlijst(school: SchoolSpec, spec_key: str = "v1.1", schooljaar: str | None = None, pupils: list[PupilSpec] | None = None) -> dict:
    spec = versions()[spec_key]
    year = schooljaar or spec.schooljaren[-1]
    chosen = school.pupils if pupils is None else pupils
    message = _envelope(spec_key, "Schooladviezen", year, school)
    message["voorlopigSchooladviezen"] = [{"deelnemerref": p.refs(), "advies": p.advies} for p in chosen]
    return message
