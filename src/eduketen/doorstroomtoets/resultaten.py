"""Import of Doorstroomtoets results at the test supplier, and the wire ``Leerlingresultaat``.

The test supplier's own test system delivers one result per pupil in a CSV or JSON file; both
layouts and every validation rule are in ``docs/formats/resultaten-import.md``. ``parse``
checks each row against the official specification (the waardelijsten ``Toetssoort_enum``,
``Onderdeelcode_enum``, ``Domeincode_enum`` and ``Subdomeincode_enum`` are read from the vendored
OpenAPI files, not copied here) and against the rules below, and returns the accepted rows as
normalized :class:`ResultRow` objects plus, for every rejected row, where it is, which field and
why, in plain words. A file that is not CSV or JSON, or misses columns, gets one file-level error.

``to_leerlingresultaat`` turns an accepted row into the wire message for a spec version;
``result_inputs`` hands the rows to :func:`eduketen.doorstroomtoets.service.store_results`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eduketen.core.identifiers import IdentifierError, brin_from_school_oin, parse_schooljaar, school_oin, validate_brin
from eduketen.doorstroomtoets.schemas import version_for_schooljaar, versions

PROFIEL = "Leerlingtoetsresultaat"
AUTEUR = "eduketen toetsaanbieder"

# Versie of the set of scores and results (LeerlingResultatenScores.versie).
RESULTAATVERSIES = ("Definitief", "Voorlopig")

# Referentieniveaus. The spec (Resultaatsoort_enum) gives them for Rekenen and Taal (Lezen and
# Taalverzorging). Rekenen: fundamenteel niveau 1F, streefniveau 1S. Taal: 1F, streefniveau 2F.
# "Niet gehaald" is written L1F on the wire (as in the spec's example); "<1F" is accepted too.
NIET_GEHAALD = "L1F"
REFERENTIENIVEAU_ALIASES = {"1F": "1F", "2F": "2F", "1S": "1S", "L1F": NIET_GEHAALD, "<1F": NIET_GEHAALD}
REFERENTIENIVEAUS_PER_ONDERDEEL = {
    "REKENEN": (NIET_GEHAALD, "1F", "1S"),
    "LEZEN": (NIET_GEHAALD, "1F", "2F"),
    "TAALVERZORGING": (NIET_GEHAALD, "1F", "2F"),
}

# Where each domain and subdomain hangs in the test (Onderdeel > Domein > Subdomein). The spec
# names them "Nederlandse taal - Lezen", "Lezen - Begrijpend lezen", ...; Zelfconcept and
# Werkhouding have no prefix and are placed under 8003 Functioneren (our reading).
PARENT = {
    "LEZEN": "NEDERLANDSE_TAAL", "TAALVERZORGING": "NEDERLANDSE_TAAL", "8052": "NEDERLANDSE_TAAL",
    "8053": "NEDERLANDSE_TAAL", "8054": "NEDERLANDSE_TAAL", "8055": "NEDERLANDSE_TAAL",
    "8060": "REKENEN", "8061": "REKENEN", "8062": "REKENEN", "8063": "REKENEN", "8064": "REKENEN", "8065": "REKENEN",
    "8080": "8003", "8081": "8003",
    "9000": "TAALVERZORGING", "9001": "TAALVERZORGING", "9003": "TAALVERZORGING",
    "9010": "LEZEN", "9011": "LEZEN", "9012": "LEZEN", "9013": "LEZEN", "9014": "LEZEN",
}  # fmt: skip

SOORTEN = ("detailscore", "aantal_goed", "aantal_opgaven", "referentieniveau", "percentielscore")

# CSV: fixed columns, and per part "<soort>:<code>", e.g. detailscore:REKENEN.
CSV_COLUMNS = (
    "brin", "school_oin", "eck_id", "las_key", "schooljaar", "toets", "toets_naam", "toets_versie", "afnamedatum",
    "versie", "toetsscore", "aantal_goed", "aantal_opgaven", "percentielscore", "toetsadvies",
)  # fmt: skip
JSON_FIELDS = (*CSV_COLUMNS, "onderdelen")
JSON_PART_FIELDS = ("code", *SOORTEN)

MAX_ECK_ID = 300
MAX_LAS_KEY = 256
MAX_TEXT = 100


# -- the official waardelijsten ----------------------------------------------------------------------------------

_LI = re.compile(r"<li>\s*`([^`]+)`\s*-\s*(.*?)\s*</li>", re.S)


@dataclass(frozen=True)
class Waardelijst:
    name: str
    codes: tuple[str, ...]
    names: dict[str, str]  # code -> the spec's own description, e.g. ICE -> IEP Doorstroomtoets


@functools.cache
def waardelijst(enum: str, spec_key: str = "v1.1") -> Waardelijst:
    """An enum of the spec with the names its description gives each code."""
    schema = versions()[spec_key].document["components"]["schemas"][enum]
    names = {code: " ".join(text.split()) for code, text in _LI.findall(schema.get("description", ""))}
    codes = tuple(str(c) for c in schema["enum"])
    return Waardelijst(enum, codes, {c: names.get(c, c) for c in codes})


@functools.cache
def part_levels(spec_key: str = "v1.1") -> dict[str, str]:
    """Every part code -> Onderdeel, Domein or Subdomein."""
    levels: dict[str, str] = {}
    for enum, level in (("Onderdeelcode_enum", "Onderdeel"), ("Domeincode_enum", "Domein"), ("Subdomeincode_enum", "Subdomein")):
        for code in waardelijst(enum, spec_key).codes:
            levels[code] = level
    return levels


def part_name(code: str, spec_key: str = "v1.1") -> str:
    """Short Dutch name of a part: REKENEN -> Rekenen, LEZEN -> Lezen, 9010 -> Begrijpend lezen."""
    for enum in ("Onderdeelcode_enum", "Domeincode_enum", "Subdomeincode_enum"):
        names = waardelijst(enum, spec_key).names
        if code in names:
            return names[code].rsplit(" - ", 1)[-1].strip()
    return code


def toets_name(toets_id: str, spec_key: str = "v1.1") -> str:
    return waardelijst("Toetssoort_enum", spec_key).names.get(toets_id, toets_id)


@functools.cache
def _code_lookup(spec_key: str) -> dict[str, str]:
    """Accepted spellings of part codes: the code itself in any case."""
    return {code.upper(): code for code in part_levels(spec_key)}


# -- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartResult:
    code: str  # a value of Onderdeelcode_enum, Domeincode_enum or Subdomeincode_enum
    niveau: str  # Onderdeel, Domein or Subdomein
    detailscore: str | None = None
    aantal_goed: int | None = None
    aantal_opgaven: int | None = None
    referentieniveau: str | None = None  # 1F, 2F, 1S or L1F
    percentielscore: str | None = None

    @property
    def naam(self) -> str:
        return part_name(self.code)


@dataclass(frozen=True)
class ResultRow:
    """One pupil's accepted result, normalized."""

    where: str  # "regel 3" or "resultaten[2]"
    brin: str
    school_oin: str
    eck_id: str | None
    las_key: str | None
    schooljaar: str
    toets_id: str  # Toetssoort_enum
    toets_naam: str
    toets_versie: str | None
    afnamedatum: date
    afnametijdstip: str  # ISO 8601 in UTC, T00:00:00Z when only a date was given
    versie: str  # Definitief or Voorlopig
    toetsscore: str
    toetsadvies: str
    aantal_goed: int | None = None
    aantal_opgaven: int | None = None
    percentielscore: str | None = None
    onderdelen: tuple[PartResult, ...] = ()

    @property
    def pupil_ref(self) -> str:
        return f"ECK-iD {self.eck_id}" if self.eck_id else f"LAS-key {self.las_key}"

    @property
    def resultaat_id(self) -> str:
        """Stable per pupil, test and school year: a re-import of the same result is the same message."""
        key = "\x1f".join((self.brin, self.eck_id or "", self.las_key or "", self.schooljaar, self.toets_id))
        return "resultatenscores-" + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


@dataclass
class RejectedRow:
    where: str  # "regel 5" (CSV, counting the header as line 1) or "resultaten[3]" (JSON)
    problems: list[Problem]
    line: int | None = None
    index: int | None = None
    pupil: str | None = None  # which pupil, when it could be read

    def text(self) -> str:
        who = f" ({self.pupil})" if self.pupil else ""
        return f"{self.where}{who}: " + "; ".join(f"{p.field}: {p.reason}" for p in self.problems)


@dataclass
class ImportResult:
    format: str | None = None  # csv or json
    accepted: list[ResultRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    file_error: str | None = None  # the whole file could not be read; nothing accepted

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.rejected

    def report(self) -> list[str]:
        """Lines for a person: the file-level error, or the count and each rejected row."""
        if self.file_error:
            return [f"bestand geweigerd: {self.file_error}"]
        n = len(self.accepted)
        lines = [f"{n} {'resultaat' if n == 1 else 'resultaten'} geaccepteerd, {len(self.rejected)} geweigerd"]
        lines += [r.text() for r in self.rejected]
        return lines


class _FileError(Exception):
    pass


# -- reading files ------------------------------------------------------------------------------------------------


def import_file(path: str | Path) -> ImportResult:
    path = Path(path)
    return parse(path.read_bytes(), filename=path.name)


def parse(data: bytes | str, *, fmt: str | None = None, filename: str | None = None) -> ImportResult:
    """Read a results file. ``fmt`` is ``csv`` or ``json``; otherwise taken from the file name's
    extension, otherwise from the content (JSON starts with ``[`` or ``{``)."""
    try:
        text = _decode(data)
        fmt = _detect(text, fmt, filename)
        result = ImportResult(format=fmt)
        rows = _csv_rows(text) if fmt == "csv" else _json_rows(text)
    except _FileError as exc:
        return ImportResult(format=fmt, file_error=str(exc))
    seen: dict[tuple, str] = {}
    for where, line, index, fields, parts, problems in rows:
        row, problems = _validate(where, fields, parts, problems)
        pupil = _who(fields)
        if row is not None:
            duplicate = [seen[k] for k in _pupil_keys(row) if k in seen]
            if duplicate:
                problems.append(Problem("leerling", f"dezelfde leerling staat al in {duplicate[0]}; elke leerling één keer per bestand"))
                row = None
        if row is None:
            result.rejected.append(RejectedRow(where, problems, line=line, index=index, pupil=pupil))
            continue
        for key in _pupil_keys(row):
            seen[key] = where
        result.accepted.append(row)
    if not result.accepted and not result.rejected:
        result.file_error = "het bestand bevat geen resultaten (alleen een kopregel of een lege lijst)"
    return result


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _FileError(f"het bestand is geen UTF-8-tekst (byte {exc.start}); sla het op als CSV (UTF-8) of JSON") from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise _FileError("het bestand is leeg")
    if "\x00" in text:
        raise _FileError("het bestand bevat binaire gegevens; verwacht CSV (UTF-8) of JSON")
    return text


def _detect(text: str, fmt: str | None, filename: str | None) -> str:
    if fmt is None and filename:
        suffix = Path(filename).suffix.lower()
        fmt = {".csv": "csv", ".txt": "csv", ".json": "json"}.get(suffix)
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if fmt not in ("csv", "json"):
        raise _FileError(f"onbekend bestandsformaat {fmt!r}; verwacht csv of json")
    return fmt


def _csv_rows(text: str):
    first = text.splitlines()[0] if text.splitlines() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    if text.lstrip()[:1] in ("[", "{"):
        raise _FileError("dit lijkt JSON, geen CSV; gebruik de extensie .json")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise _FileError(f"geen leesbare CSV-kopregel ({exc})") from None
    known = [h for h in header if h in CSV_COLUMNS or (":" in h and h.split(":", 1)[0] in SOORTEN)]
    if len(header) < 2 or not known:
        raise _FileError(
            "de eerste regel is geen CSV-kopregel van deze indeling (kolomnamen gescheiden door komma's of "
            f"puntkomma's); verwacht onder meer {', '.join(_REQUIRED_COLUMNS_TEXT)}"
        )
    _check_header(header)
    rows = []
    number = 1
    try:
        for values in reader:
            number = reader.line_num
            if not any(v.strip() for v in values):
                continue  # empty line
            where = f"regel {number}"
            problems: list[Problem] = []
            if len(values) != len(header):
                problems.append(Problem("regel", f"{len(values)} velden waar de kopregel {len(header)} kolommen heeft"))
                rows.append((where, number, None, {}, [], problems))
                continue
            fields: dict[str, Any] = {}
            by_code: dict[str, dict[str, Any]] = {}
            for name, value in zip(header, values, strict=True):
                value = value.strip()
                if ":" in name:
                    soort, code = name.split(":", 1)
                    if value != "":
                        by_code.setdefault(code, {})[soort] = value
                elif value != "":
                    fields[name] = value
            parts = [(code, values_, lambda soort, code=code: f"{soort}:{code}") for code, values_ in by_code.items()]
            rows.append((where, number, None, fields, parts, problems))
    except csv.Error as exc:
        raise _FileError(f"CSV kan niet gelezen worden vanaf regel {reader.line_num}: {exc}") from None
    return rows


_REQUIRED_COLUMNS_TEXT = ("brin of school_oin", "eck_id of las_key", "schooljaar", "toets", "afnamedatum", "toetsscore", "toetsadvies")


def _check_header(header: list[str]) -> None:
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise _FileError(f"kolom(men) {', '.join(duplicates)} komen meer dan eens voor in de kopregel")
    unknown = []
    codes = _code_lookup("v1.1")
    for name in header:
        if ":" in name:
            soort, code = name.split(":", 1)
            if soort not in SOORTEN:
                unknown.append(f"{name} (soort {soort!r} bestaat niet; wel {', '.join(SOORTEN)})")
            elif code.upper() not in codes:
                unknown.append(f"{name} (onderdeel {code!r} staat niet in Onderdeelcode_enum, Domeincode_enum of Subdomeincode_enum)")
        elif name not in CSV_COLUMNS:
            unknown.append(name)
    if unknown:
        raise _FileError(f"onbekende kolom(men): {'; '.join(unknown)}. Zie docs/formats/resultaten-import.md")
    missing = []
    if "brin" not in header and "school_oin" not in header:
        missing.append("brin of school_oin")
    if "eck_id" not in header and "las_key" not in header:
        missing.append("eck_id of las_key")
    missing += [c for c in ("schooljaar", "toets", "afnamedatum", "toetsscore", "toetsadvies") if c not in header]
    if missing:
        raise _FileError(f"het bestand mist de kolom(men) {', '.join(missing)}; gevonden: {', '.join(header)}")
    lowered = {}
    for name in header:
        if ":" in name:
            soort, code = name.split(":", 1)
            key = (soort, code.upper())
            if key in lowered:
                raise _FileError(f"kolommen {lowered[key]} en {name} gaan over hetzelfde onderdeel")
            lowered[key] = name


def _json_rows(text: str):
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _FileError(f"geen geldige JSON: {exc.msg} op regel {exc.lineno}, kolom {exc.colno}") from None
    if isinstance(document, dict):
        if "resultaten" not in document:
            found = ", ".join(map(str, document)) or "niets"
            raise _FileError(f'een JSON-object moet een lijst "resultaten" hebben; gevonden: {found}')
        extra = sorted(set(document) - {"resultaten"})
        if extra:
            raise _FileError(f'onbekende velden naast "resultaten": {", ".join(extra)}')
        items = document["resultaten"]
        prefix = "resultaten"
    else:
        items = document
        prefix = ""
    if not isinstance(items, list):
        raise _FileError('verwacht een lijst resultaten (een JSON-array, of een object met "resultaten": [...])')
    rows = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]"
        problems: list[Problem] = []
        if not isinstance(item, dict):
            problems.append(Problem(where, "een resultaat moet een JSON-object zijn"))
            rows.append((where, None, index, {}, [], problems))
            continue
        fields: dict[str, Any] = {}
        for key, value in item.items():
            if key not in JSON_FIELDS:
                problems.append(Problem(key, f"onbekend veld; toegestaan: {', '.join(JSON_FIELDS)}"))
            elif key != "onderdelen" and value is not None and value != "":
                fields[key] = value
        parts = []
        onderdelen = item.get("onderdelen")
        if onderdelen is not None and not isinstance(onderdelen, list):
            problems.append(Problem("onderdelen", "moet een lijst zijn"))
        for i, part in enumerate(onderdelen or []):
            name = f"onderdelen[{i}]"
            if not isinstance(part, dict):
                problems.append(Problem(name, "een onderdeel moet een JSON-object zijn"))
                continue
            unknown = [k for k in part if k not in JSON_PART_FIELDS]
            for key in unknown:
                problems.append(Problem(f"{name}.{key}", f"onbekend veld; toegestaan: {', '.join(JSON_PART_FIELDS)}"))
            code = part.get("code")
            if not isinstance(code, str) or not code.strip():
                problems.append(Problem(f"{name}.code", "verplicht: de code van het onderdeel, bijvoorbeeld REKENEN of LEZEN"))
                continue
            values = {k: v for k, v in part.items() if k in SOORTEN and v is not None and v != ""}
            parts.append((code.strip(), values, lambda soort, name=name: f"{name}.{soort}"))
        rows.append((where, None, index, fields, parts, problems))
    return rows


# -- validating one pupil's result --------------------------------------------------------------------------------


def _who(fields: dict[str, Any]) -> str | None:
    for key, label in (("eck_id", "ECK-iD"), ("las_key", "LAS-key")):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return f"{label} {value.strip()}"
    return None


def _pupil_keys(row: ResultRow) -> list[tuple]:
    keys = []
    if row.eck_id:
        keys.append((row.brin, row.schooljaar, "eck", row.eck_id))
    if row.las_key:
        keys.append((row.brin, row.schooljaar, "las", row.las_key))
    return keys


def _text(fields, name, problems, *, required=False, limit=MAX_TEXT, what=None) -> str | None:
    value = fields.get(name)
    if value is None:
        if required:
            problems.append(Problem(name, f"verplicht{': ' + what if what else ''}"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(name, "moet tekst zijn"))
        return None
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if not value:
        if required:
            problems.append(Problem(name, f"verplicht{': ' + what if what else ''}"))
        return None
    if len(value) > limit:
        problems.append(Problem(name, f"is {len(value)} tekens; hoogstens {limit}"))
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        problems.append(Problem(name, "bevat stuurtekens"))
        return None
    return value


def _number(value: Any, name: str, problems: list[Problem], *, integer=False, low=None, high=None) -> Decimal | None:
    if isinstance(value, bool):
        problems.append(Problem(name, f"moet een {'geheel ' if integer else ''}getal zijn, geen {value!r}"))
        return None
    if isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", ".") if value.count(",") == 1 and "." not in value else value.strip()
    else:
        problems.append(Problem(name, "moet een getal zijn"))
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        problems.append(Problem(name, f"{value!r} is geen getal"))
        return None
    if not number.is_finite():
        problems.append(Problem(name, f"{value!r} is geen getal"))
        return None
    if integer and number != number.to_integral_value():
        problems.append(Problem(name, f"{value!r} moet een geheel getal zijn"))
        return None
    if low is not None and number < low:
        problems.append(Problem(name, f"{value!r} is kleiner dan {low}"))
        return None
    if high is not None and number > high:
        problems.append(Problem(name, f"{value!r} is groter dan {high}"))
        return None
    return number


def _number_text(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _afname(value: Any, problems: list[Problem]) -> tuple[date, str] | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem("afnamedatum", "verplicht: JJJJ-MM-DD of datum en tijd volgens ISO 8601"))
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return day, f"{day.isoformat()}T00:00:00Z"
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        problems.append(Problem("afnamedatum", f"{value!r} is geen datum; verwacht JJJJ-MM-DD, bijvoorbeeld 2026-04-15"))
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # no offset given: taken as UTC
    moment = moment.astimezone(UTC)
    return moment.date(), moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _validate(where, fields, parts, problems) -> tuple[ResultRow | None, list[Problem]]:
    problems = list(problems)
    # the school
    brin = None
    raw_brin = _text(fields, "brin", problems, limit=4 + 10)
    raw_oin = _text(fields, "school_oin", problems, limit=40)
    if raw_brin:
        try:
            brin = validate_brin(raw_brin)
        except IdentifierError:
            problems.append(Problem("brin", f"{raw_brin!r} is geen BRIN; verwacht 2 cijfers en 2 letters, bijvoorbeeld 11BB"))
    if raw_oin:
        from_oin = brin_from_school_oin(raw_oin.upper())
        if from_oin is None:
            problems.append(Problem("school_oin", f"{raw_oin!r} is geen school-OIN; verwacht 00000007000 + BRIN + 00000"))
        elif brin and from_oin != brin:
            problems.append(Problem("school_oin", f"hoort bij BRIN {from_oin}, niet bij de opgegeven BRIN {brin}"))
        else:
            brin = from_oin
    if not raw_brin and not raw_oin:
        problems.append(Problem("brin", "verplicht: BRIN of school_oin van de school"))
    # the pupil
    eck_id = _text(fields, "eck_id", problems, limit=MAX_ECK_ID)
    las_key = _text(fields, "las_key", problems, limit=MAX_LAS_KEY)
    if not eck_id and not las_key and not any(p.field in ("eck_id", "las_key") for p in problems):
        problems.append(Problem("eck_id", "verplicht: ECK-iD en/of LAS-key van de leerling"))
    # school year and the test
    schooljaar = _text(fields, "schooljaar", problems, required=True, limit=9, what="bijvoorbeeld 2025-2026")
    spec_key = "v1.1"
    if schooljaar:
        if parse_schooljaar(schooljaar) is None:
            problems.append(
                Problem(
                    "schooljaar", f"{schooljaar!r} is geen schooljaar; verwacht EEJJ-EEJJ met opeenvolgende jaren, bijvoorbeeld 2025-2026"
                )
            )
            schooljaar = None
        else:
            spec = version_for_schooljaar(schooljaar)
            if spec is None:
                known = ", ".join(j for v in versions().values() for j in v.schooljaren)
                problems.append(Problem("schooljaar", f"voor {schooljaar} is geen versie van de afspraak bekend; wel voor {known}"))
                schooljaar = None
            else:
                spec_key = spec.key
    toets_id = _text(fields, "toets", problems, required=True, what=f"één van {', '.join(waardelijst('Toetssoort_enum').codes)}")
    toetsen = waardelijst("Toetssoort_enum", spec_key)
    if toets_id:
        match = {c.upper(): c for c in toetsen.codes}.get(toets_id.upper())
        if match is None:
            problems.append(Problem("toets", f"{toets_id!r} staat niet in de waardelijst Toetssoort_enum ({', '.join(toetsen.codes)})"))
        toets_id = match
    toets_naam = _text(fields, "toets_naam", problems) or (toetsen.names.get(toets_id) if toets_id else None)
    toets_versie = _text(fields, "toets_versie", problems)
    afname = _afname(fields.get("afnamedatum"), problems)
    if afname and schooljaar:
        first, second = parse_schooljaar(schooljaar)
        if not (date(first, 8, 1) <= afname[0] <= date(second, 7, 31)):
            problems.append(
                Problem(
                    "afnamedatum", f"{afname[0].isoformat()} valt niet in schooljaar {schooljaar} (1 augustus {first} t/m 31 juli {second})"
                )
            )
    versie_raw = _text(fields, "versie", problems)
    versie = "Definitief"
    if versie_raw:
        versie = {v.lower(): v for v in RESULTAATVERSIES}.get(versie_raw.lower())
        if versie is None:
            problems.append(Problem("versie", f"{versie_raw!r} is geen resultaatversie; verwacht {' of '.join(RESULTAATVERSIES)}"))
    # scores and results for the whole test
    toetsscore = None
    if "toetsscore" not in fields:
        problems.append(Problem("toetsscore", "verplicht: de toetsscore (totaal van de hele toets)"))
    else:
        number = _number(fields["toetsscore"], "toetsscore", problems, low=0)
        toetsscore = _number_text(number) if number is not None else None
    goed = _count(fields, "aantal_goed", "aantal_goed", problems)
    opgaven = _count(fields, "aantal_opgaven", "aantal_opgaven", problems)
    if goed is not None and opgaven is not None and goed > opgaven:
        problems.append(Problem("aantal_goed", f"{goed} goed is meer dan de {opgaven} opgaven"))
    percentiel = None
    if "percentielscore" in fields:
        number = _number(fields["percentielscore"], "percentielscore", problems, low=0, high=100)
        percentiel = _number_text(number) if number is not None else None
    advies = _text(fields, "toetsadvies", problems, required=True, limit=64, what="het toetsadvies, bijvoorbeeld havo/vwo")
    # the parts
    onderdelen = _parts(parts, spec_key, problems)
    if problems:
        return None, problems
    row = ResultRow(
        where=where, brin=brin, school_oin=school_oin(brin), eck_id=eck_id, las_key=las_key, schooljaar=schooljaar,
        toets_id=toets_id, toets_naam=toets_naam, toets_versie=toets_versie, afnamedatum=afname[0], afnametijdstip=afname[1],
        versie=versie, toetsscore=toetsscore, toetsadvies=advies, aantal_goed=goed, aantal_opgaven=opgaven,
        percentielscore=percentiel, onderdelen=tuple(onderdelen),
    )  # fmt: skip
    return row, problems


def _count(values: dict, key: str, name: str, problems: list[Problem]) -> int | None:
    if key not in values:
        return None
    number = _number(values[key], name, problems, integer=True, low=0)
    return int(number) if number is not None else None


def _parts(parts, spec_key: str, problems: list[Problem]) -> list[PartResult]:
    lookup = _code_lookup(spec_key)
    levels = part_levels(spec_key)
    found: dict[str, PartResult] = {}
    for raw_code, values, name in parts:
        code = lookup.get(raw_code.upper())
        if code is None:
            problems.append(Problem(name("code"), f"{raw_code!r} staat niet in Onderdeelcode_enum, Domeincode_enum of Subdomeincode_enum"))
            continue
        if code in found:
            problems.append(Problem(name("code"), f"onderdeel {code} staat meer dan eens in dit resultaat"))
            continue
        before = len(problems)
        detail = None
        if "detailscore" in values:
            number = _number(values["detailscore"], name("detailscore"), problems, low=0)
            detail = _number_text(number) if number is not None else None
        goed = _count(values, "aantal_goed", name("aantal_goed"), problems)
        opgaven = _count(values, "aantal_opgaven", name("aantal_opgaven"), problems)
        if goed is not None and opgaven is not None and goed > opgaven:
            problems.append(Problem(name("aantal_goed"), f"{goed} goed is meer dan de {opgaven} opgaven"))
        percentiel = None
        if "percentielscore" in values:
            number = _number(values["percentielscore"], name("percentielscore"), problems, low=0, high=100)
            percentiel = _number_text(number) if number is not None else None
        niveau = None
        if "referentieniveau" in values:
            niveau = _referentieniveau(code, values["referentieniveau"], name("referentieniveau"), problems)
        if len(problems) == before:
            found[code] = PartResult(code, levels[code], detail, goed, opgaven, niveau, percentiel)
    return list(found.values())


def _referentieniveau(code: str, value: Any, name: str, problems: list[Problem]) -> str | None:
    allowed = REFERENTIENIVEAUS_PER_ONDERDEEL.get(code)
    if allowed is None:
        problems.append(
            Problem(
                name,
                f"referentieniveaus bestaan alleen voor rekenen (REKENEN), lezen (LEZEN) en taalverzorging (TAALVERZORGING), niet voor {code}",
            )
        )
        return None
    if not isinstance(value, str):
        problems.append(Problem(name, f"moet tekst zijn, bijvoorbeeld {allowed[1]}"))
        return None
    niveau = REFERENTIENIVEAU_ALIASES.get(value.strip().upper())
    if niveau is None:
        problems.append(Problem(name, f"{value!r} is geen referentieniveau; verwacht 1F, 2F, 1S, L1F of <1F"))
        return None
    if niveau not in allowed:
        problems.append(
            Problem(
                name,
                f"{niveau} is geen uitslag van de doorstroomtoets voor {part_name(code).lower()}; daar gelden {', '.join(allowed)} (L1F of <1F = 1F niet gehaald)",
            )
        )
        return None
    return niveau


# -- the wire message ---------------------------------------------------------------------------------------------


def _toetsonderdelen(codes: list[str], spec_key: str) -> list[dict]:
    """The test's parts as the tree Onderdeel > Domein > Subdomein, in the order of the enums."""
    levels = part_levels(spec_key)
    needed: set[str] = set()
    for code in codes:
        while code is not None:
            needed.add(code)
            code = PARENT.get(code)
    order = {code: i for i, code in enumerate(levels)}

    def node(code: str) -> dict:
        item = {"label": levels[code], "id": code, "omschrijving": part_name(code, spec_key)}
        children = sorted((c for c in needed if PARENT.get(c) == code), key=order.__getitem__)
        if children:
            item["toetsonderdelen"] = [node(c) for c in children]
        return item

    return [node(c) for c in sorted((c for c in needed if c not in PARENT), key=order.__getitem__)]


def to_leerlingresultaat(
    row: ResultRow, spec_key: str, rapport_url: str | None, *, datumtijd: datetime | None = None, auteur: str = AUTEUR
) -> dict:
    """The wire ``Leerlingresultaat`` of one accepted row for a spec version (v1.0, v1.1, 2026-2027)."""
    spec = versions()[spec_key]
    if row.schooljaar not in spec.schooljaren:
        raise ValueError(
            f"schooljaar {row.schooljaar} hoort niet bij versie {spec_key} ({', '.join(spec.schooljaren)}); "
            "zie schemas.version_for_schooljaar"
        )
    refs = []
    if row.eck_id:
        refs.append({"label": "ECK-iD", "onderwijsdeelnemerID": row.eck_id})
    if row.las_key:
        refs.append({"label": "LAS-key", "onderwijsdeelnemerID": row.las_key})
    scores = [{"label": "Toetsscore", "id": "score-toetsscore", "waarde": row.toetsscore}]
    if row.aantal_goed is not None:
        scores.append({"label": "Aantal goed", "id": "score-aantal-goed", "waarde": str(row.aantal_goed)})
    if row.aantal_opgaven is not None:
        scores.append({"label": "Aantal opgaven", "id": "score-aantal-opgaven", "waarde": str(row.aantal_opgaven)})
    resultaten = [{"label": "Toetsadvies", "waarde": row.toetsadvies}]
    if row.percentielscore is not None:
        resultaten.append({"label": "Percentielscore", "waarde": row.percentielscore})
    for part in row.onderdelen:
        for label, value in (("Detailscore", part.detailscore), ("Aantal goed", part.aantal_goed), ("Aantal opgaven", part.aantal_opgaven)):
            if value is not None:
                slug = label.lower().replace(" ", "-")
                scores.append({"label": label, "id": f"score-{part.code.lower()}-{slug}", "toetseenheid": part.code, "waarde": str(value)})
        if part.referentieniveau is not None:
            resultaten.append({"label": "Referentieniveau", "toetseenheid": part.code, "waarde": part.referentieniveau})
        if part.percentielscore is not None:
            resultaten.append({"label": "Percentielscore", "toetseenheid": part.code, "waarde": part.percentielscore})
    resultaten_blok: dict[str, Any] = {"resultaten": resultaten}
    if rapport_url:
        resultaten_blok = {"aanvullendeinfo": rapport_url, "resultaten": resultaten}
    toets: dict[str, Any] = {"label": "Doorstroomtoets", "id": row.toets_id, "naam": row.toets_naam}
    if row.toets_versie:
        toets["versie"] = row.toets_versie
    onderdelen = _toetsonderdelen([p.code for p in row.onderdelen], spec_key)
    if onderdelen:
        toets["toetsonderdelen"] = onderdelen
    moment = (datumtijd or datetime.now(UTC)).astimezone(UTC)
    return {
        "datumtijd": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "auteur": auteur,
        "versie": spec.versie,
        "profiel": PROFIEL,
        "schooljaar": row.schooljaar,
        "resultatenscores": {
            "id": row.resultaat_id,
            "deelnemerref": refs,
            "versie": row.versie,
            "toetsdefinitie": row.toets_id,
            "afnamecontext": {
                "afname": {"id": f"afname-{row.toets_id.lower()}-{row.afnamedatum.isoformat()}", "afnametijdstip": row.afnametijdstip}
            },
            "scores": {"id": f"scores-{row.resultaat_id.removeprefix('resultatenscores-')}", "scores": scores},
            "resultaten": resultaten_blok,
        },
        "toets": toets,
    }


def result_inputs(result: ImportResult) -> list:
    """The accepted rows as input for ``service.store_results`` (which picks the spec version of
    each row's school year and the report URL)."""
    from eduketen.doorstroomtoets.service import ResultInput

    return [
        ResultInput(
            line=row.where,
            school=row.brin,
            eck_id=row.eck_id,
            las_key=row.las_key,
            schooljaar=row.schooljaar,
            build=functools.partial(_build, row),
        )  # fmt: skip
        for row in result.accepted
    ]


def _build(row: ResultRow, spec_key: str, rapport_url: str | None) -> dict:
    return to_leerlingresultaat(row, spec_key, rapport_url)


__all__ = [
    "ImportResult", "PartResult", "Problem", "RejectedRow", "ResultRow", "import_file", "parse", "part_name",
    "result_inputs", "to_leerlingresultaat", "toets_name", "waardelijst",
]  # fmt: skip
