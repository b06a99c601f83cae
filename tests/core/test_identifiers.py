"""Identifiers of the education chain: what is accepted, what is refused, and that every refusal
says what was expected."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduketen.core.identifiers import (
    IdentifierError,
    brin_from_school_oin,
    deelnemersgroep_problems,
    edu_id_problem,
    parse_schooljaar,
    school_oin,
    validate_brin,
    validate_oin,
    validate_routeringskenmerk,
    validate_vestigingscode,
)

ALNUM = string.ascii_letters + string.digits
brins = st.builds(
    lambda digits, letters: digits + letters,
    st.text(string.digits, min_size=2, max_size=2),
    st.text(string.ascii_uppercase, min_size=2, max_size=2),
)
edu_ids = st.text(ALNUM, min_size=20, max_size=20)


# -- OIN ----------------------------------------------------------------------------------------


def test_oin_of_20_positions_is_accepted():
    assert validate_oin("00000003000000002000") == "00000003000000002000"
    assert validate_oin("0000000700011BB00000") == "0000000700011BB00000"
    assert validate_oin("  00000003000000002000 ") == "00000003000000002000"  # pasted with spaces


@pytest.mark.parametrize("value", ["0000000300000000200", "000000030000000020001", "", "123"])
def test_oin_of_another_length_is_refused_with_the_length(value):
    with pytest.raises(IdentifierError) as caught:
        validate_oin(value)
    message = str(caught.value)
    assert "OIN" in message and "20 positions" in message
    assert f"got {len(value)}" in message


@pytest.mark.parametrize("value", ["0000000300000000200!", "0000000700011bb00000", "0000000700011BB000 0", "0000000700011ÉB00000"])
def test_oin_with_other_characters_is_refused(value):
    with pytest.raises(IdentifierError) as caught:
        validate_oin(value)
    assert "digits and capital letters" in str(caught.value)


def test_identifier_error_is_a_value_error():
    assert issubclass(IdentifierError, ValueError)


# -- school OIN from BRIN -------------------------------------------------------------------------


def test_school_oin_is_prefix_brin_suffix():
    assert school_oin("11BB") == "0000000700011BB00000"
    assert school_oin("99XX") == "0000000700099XX00000"
    assert len(school_oin("11BB")) == 20


def test_school_oin_normalises_the_brin():
    assert school_oin(" 11bb ") == "0000000700011BB00000"


def test_school_oin_of_a_bad_brin_is_refused():
    with pytest.raises(IdentifierError) as caught:
        school_oin("1BBB")
    assert "BRIN" in str(caught.value) and "2 digits and 2 letters" in str(caught.value)


@given(brins)
def test_any_valid_brin_gives_an_oin_that_round_trips(brin):
    oin = school_oin(brin)
    assert len(oin) == 20
    assert validate_oin(oin) == oin
    assert oin.startswith("00000007000") and oin.endswith("00000")
    assert brin_from_school_oin(oin) == brin


@pytest.mark.parametrize(
    "oin",
    [
        "00000003000000002000",  # a supplier, not a school
        "0000000700011BB0000",  # 19 positions
        "0000000700011B100000",  # BRIN part is not 2 digits + 2 letters
        "0000000800011BB00000",  # other prefix
        "0000000700011BB00001",  # other suffix
    ],
)
def test_brin_from_a_non_school_oin_is_none(oin):
    assert brin_from_school_oin(oin) is None


# -- BRIN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,expected", [("11BB", "11BB"), ("99xx", "99XX"), (" 07AZ ", "07AZ")])
def test_brin_accepted_and_normalised(value, expected):
    assert validate_brin(value) == expected


@pytest.mark.parametrize("value", ["", "1BB", "11BBB", "BB11", "1B1B", "11B1", "11B!", "١١BB", "11ÄB"])
def test_bad_brin_is_refused_with_an_example(value):
    with pytest.raises(IdentifierError) as caught:
        validate_brin(value)
    message = str(caught.value)
    assert "BRIN" in message and "2 digits and 2 letters" in message and "99XX" in message


@pytest.mark.parametrize("value", ["11ß", "11ﬀ", "11ıb"])
def test_letters_that_uppercase_to_two_ascii_letters_are_no_brin(value):
    # "11ß".upper() == "11SS": such input must not silently become another school's BRIN
    with pytest.raises(IdentifierError):
        validate_brin(value)
    with pytest.raises(IdentifierError):
        school_oin(value)


@given(
    st.one_of(st.text(max_size=8), st.text(st.sampled_from("0129ABXYabxyßﬀıİ !-"), max_size=6)).filter(
        lambda s: not re.fullmatch(r"[0-9]{2}[A-Za-z]{2}", s.strip())
    )
)
def test_anything_but_two_digits_two_letters_is_no_brin(value):
    with pytest.raises(IdentifierError):
        validate_brin(value)


# -- vestigingscode ------------------------------------------------------------------------------


def test_vestigingscode():
    assert validate_vestigingscode("00") == "00"
    for bad in ("0", "000", "0A", ""):
        with pytest.raises(IdentifierError) as caught:
            validate_vestigingscode(bad)
        assert "2 digits" in str(caught.value)


# -- routeringskenmerk / edu-to / edu-from --------------------------------------------------------


def test_twenty_letters_or_digits_are_a_routeringskenmerk():
    assert validate_routeringskenmerk("0000000700011BB00123") == "0000000700011BB00123"
    assert validate_routeringskenmerk("abcdefghijABCDEFGHIJ") == "abcdefghijABCDEFGHIJ"


def test_21_characters_are_refused_although_the_official_pattern_matches():
    value = "0000000700011BB001234"
    assert re.search(r"(\d|\D){20}", value)  # the unanchored official pattern would let it through
    with pytest.raises(IdentifierError) as caught:
        validate_routeringskenmerk(value)
    assert "21 tekens" in str(caught.value) and "precies 20" in str(caught.value)


def test_19_characters_are_refused():
    with pytest.raises(IdentifierError) as caught:
        validate_routeringskenmerk("0000000700011BB0012")
    assert "19 tekens" in str(caught.value) and "precies 20" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["0000000700011BB0012!", "0000000700011BB 0123", "0000000700011BB-0123", "0000000700011BB0012é", "0000000700011BB0012\n"],
)
def test_non_alphanumeric_characters_are_refused(value):
    with pytest.raises(IdentifierError) as caught:
        validate_routeringskenmerk(value)
    assert "cijfers en letters" in str(caught.value)


@pytest.mark.parametrize("value", [None, ""])
def test_missing_edu_id_says_it_is_missing(value):
    problem = edu_id_problem(value, "edu-from")
    assert problem is not None and "edu-from" in problem and "ontbreekt" in problem


def test_edu_id_problem_names_the_parameter():
    assert edu_id_problem("kort", "edu-to").startswith("edu-to heeft 4 tekens")
    assert edu_id_problem("0000000700011BB00123", "edu-to") is None


@given(edu_ids)
def test_any_20_alnum_string_is_accepted(value):
    assert edu_id_problem(value, "edu-to") is None
    assert validate_routeringskenmerk(value) == value


@given(edu_ids, st.integers(0, 19), st.characters().filter(lambda c: c not in ALNUM))
def test_any_string_with_a_non_alnum_character_is_refused(value, position, bad):
    spoiled = value[:position] + bad + value[position + 1 :]
    assert len(spoiled) == 20
    problem = edu_id_problem(spoiled, "edu-from")
    assert problem is not None and "cijfers en letters" in problem
    with pytest.raises(IdentifierError):
        validate_routeringskenmerk(spoiled)


@given(st.text(ALNUM).filter(lambda s: len(s) != 20))
def test_any_alnum_string_of_another_length_is_refused(value):
    problem = edu_id_problem(value, "edu-from")
    assert problem is not None and "20" in problem


# -- schooljaar ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value,expected", [("2025-2026", (2025, 2026)), ("1999-2000", (1999, 2000))])
def test_schooljaar_parsed(value, expected):
    assert parse_schooljaar(value) == expected


@pytest.mark.parametrize("value", ["2025-2027", "2026-2025", "2025/2026", "2025-26", "25-26", " 2025-2026", "2025-2026 ", "", None, "2025-2025"])
def test_bad_schooljaar_is_none(value):
    assert parse_schooljaar(value) is None


@given(st.integers(1000, 9998))
def test_consecutive_years_are_a_schooljaar(year):
    assert parse_schooljaar(f"{year}-{year + 1}") == (year, year + 1)


# -- deelnemersgroep ------------------------------------------------------------------------------

GOOD_GROEP = {
    "instellingscode": "11BB",
    "vestigingscode": "00",
    "onderwijsaanbiedercode": "100A111",
    "onderwijslocatiecode": "100X111",
    "administratienr": "01",
}


def test_good_deelnemersgroep_has_no_problems():
    assert deelnemersgroep_problems(GOOD_GROEP) == []
    assert deelnemersgroep_problems({}) == []  # absent fields are the schema's concern


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("instellingscode", "11B", "2 cijfers en 2 letters"),
        ("instellingscode", "11bb", "2 cijfers en 2 letters"),  # the message carries it as is
        ("vestigingscode", "0", "2 cijfers"),
        ("onderwijsaanbiedercode", "100X111", "letter A"),
        ("onderwijslocatiecode", "100A111", "letter X"),
        ("administratienr", "1", "2 cijfers"),
    ],
)
def test_each_deelnemersgroep_format_problem_names_field_and_expectation(field, value, words):
    problems = deelnemersgroep_problems({**GOOD_GROEP, field: value})
    assert len(problems) == 1
    where, expected = problems[0]
    assert where == f"deelnemersgroep/{field}"
    assert expected.startswith("verwacht") and words in expected


def test_all_deelnemersgroep_problems_are_reported_at_once():
    bad = {"instellingscode": "X", "vestigingscode": "X", "onderwijsaanbiedercode": "X", "onderwijslocatiecode": "X", "administratienr": "X"}
    assert [p[0] for p in deelnemersgroep_problems(bad)] == [f"deelnemersgroep/{f}" for f in bad]
