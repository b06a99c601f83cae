"""Identifiers of the Dutch education chain, with validation that says what is wrong.

- OIN: 20 positions (PKIoverheid certificate subject.serialNumber).
- School OIN: ``00000007000`` + BRIN4 + ``00000``.
- Routeringskenmerk / edu-from / edu-to: exactly 20 letters or digits. The official OpenAPI
  pattern ``(\\d|\\D){20}`` is unanchored and would match any string holding 20 characters; we
  enforce the description's rule ("20 karakters, alleen cijfers en letters") anchored.
- BRIN4 (RIO instellingserkenning): 2 digits + 2 letters, e.g. ``99XX``.
"""

from __future__ import annotations

import os
import random
import re
import uuid

SCHOOL_OIN_PREFIX = "00000007000"
SCHOOL_OIN_SUFFIX = "00000"

_EDU_ID = re.compile(r"[0-9A-Za-z]{20}")
_OIN = re.compile(r"[0-9A-Z]{20}")
_BRIN = re.compile(r"[0-9]{2}[A-Z]{2}")
_VESTIGING = re.compile(r"[0-9]{2}")
_ONDERWIJSAANBIEDER = re.compile(r"[0-9]{3}A[0-9]{3}")
_ONDERWIJSLOCATIE = re.compile(r"[0-9]{3}X[0-9]{3}")
_ADMINISTRATIENR = re.compile(r"[0-9]{2}")
_SCHOOLJAAR = re.compile(r"([0-9]{4})-([0-9]{4})")


class IdentifierError(ValueError):
    """A malformed identifier; the message says what was expected."""


def edu_id_problem(value: str | None, name: str) -> str | None:
    """Why ``value`` is not a valid edu-to/edu-from value, or None when it is."""
    if value is None or value == "":
        return f"{name} ontbreekt; verwacht 20 cijfers of letters."
    if len(value) != 20:
        return f"{name} heeft {len(value)} tekens; verwacht precies 20 cijfers of letters."
    if not _EDU_ID.fullmatch(value):
        return f"{name} bevat andere tekens dan cijfers en letters; verwacht precies 20 cijfers of letters."
    return None


def validate_oin(value: str) -> str:
    value = value.strip()
    if len(value) != 20:
        raise IdentifierError(f"OIN must be 20 positions, got {len(value)}: {value!r}")
    if not _OIN.fullmatch(value):
        raise IdentifierError(f"OIN may hold only digits and capital letters: {value!r}")
    return value


def validate_brin(value: str) -> str:
    value = value.strip()
    # ASCII first: str.upper() turns e.g. "ß" into "SS", which would make "11ß" the BRIN 11SS.
    if not value.isascii() or not _BRIN.fullmatch(value.upper()):
        raise IdentifierError(f"BRIN (instellingscode) must be 2 digits and 2 letters, e.g. 99XX: {value!r}")
    return value.upper()


def validate_routeringskenmerk(value: str) -> str:
    problem = edu_id_problem(value, "routeringskenmerk")
    if problem:
        raise IdentifierError(problem)
    return value


def validate_vestigingscode(value: str) -> str:
    if not _VESTIGING.fullmatch(value):
        raise IdentifierError(f"vestigingscode must be 2 digits, e.g. 00: {value!r}")
    return value


def school_oin(brin: str) -> str:
    """The school OIN derived from its BRIN: ``00000007000`` + BRIN + ``00000``."""
    return SCHOOL_OIN_PREFIX + validate_brin(brin) + SCHOOL_OIN_SUFFIX


def brin_from_school_oin(oin: str) -> str | None:
    if len(oin) == 20 and oin.startswith(SCHOOL_OIN_PREFIX) and oin.endswith(SCHOOL_OIN_SUFFIX):
        brin = oin[11:15]
        if _BRIN.fullmatch(brin):
            return brin
    return None


def parse_schooljaar(value: str) -> tuple[int, int] | None:
    """``2025-2026`` -> (2025, 2026); None when not of the form EEJJ-EEJJ with consecutive years."""
    match = _SCHOOLJAAR.fullmatch(value or "")
    if not match:
        return None
    first, second = int(match.group(1)), int(match.group(2))
    if second != first + 1:
        return None
    return first, second


def deelnemersgroep_problems(groep: dict) -> list[tuple[str, str]]:
    """Format checks that the official spec states only in prose (Deelnemersgroep)."""
    checks = (
        ("instellingscode", _BRIN, "4 tekens: 2 cijfers en 2 letters, bijvoorbeeld 99XX"),
        ("vestigingscode", _VESTIGING, "2 cijfers, bijvoorbeeld 00"),
        ("onderwijsaanbiedercode", _ONDERWIJSAANBIEDER, "7 tekens: 3 cijfers, letter A, 3 cijfers"),
        ("onderwijslocatiecode", _ONDERWIJSLOCATIE, "7 tekens: 3 cijfers, letter X, 3 cijfers"),
        ("administratienr", _ADMINISTRATIENR, "2 cijfers"),
    )
    problems = []
    for field, pattern, expected in checks:
        value = groep.get(field)
        if isinstance(value, str) and not pattern.fullmatch(value):
            problems.append((f"deelnemersgroep/{field}", f"verwacht {expected}"))
    return problems


def deelnemersgroep_fine(instellingscode: str, vestigingscode: str, onderwijsaanbiedercode: str, onderwijslocatiecode: str, administratienr: str) -> bool:
    """True when ``deelnemersgroep_problems`` finds nothing in a Deelnemersgroep with these codes."""
    return bool(
        _BRIN.fullmatch(instellingscode)
        and _VESTIGING.fullmatch(vestigingscode)
        and _ONDERWIJSAANBIEDER.fullmatch(onderwijsaanbiedercode)
        and _ONDERWIJSLOCATIE.fullmatch(onderwijslocatiecode)
        and _ADMINISTRATIENR.fullmatch(administratienr)
    )


_id_random = random.Random(int.from_bytes(os.urandom(32), "big"))  # seeded once per process


def new_uuid4() -> uuid.UUID:
    """A random version-4 UUID for ids that are no secret (inbox messages, request ids). It comes
    from a generator seeded once per process rather than a system call per id: in a request
    handler, each system call hands the interpreter lock to another thread (the inbox writer),
    which costs far more than the call itself."""
    return uuid.UUID(int=_id_random.getrandbits(128), version=4)
