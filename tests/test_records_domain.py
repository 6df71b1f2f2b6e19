"""Records identity and grade rules (issue 4, validation): accepted and refused cases, each
refusal naming its field and a stable code."""

from datetime import date

import pytest

from services.records.domain import (
    FEMALE,
    MALE,
    PPPK,
    PangkatEntry,
    golongan_problems,
    nik_problems,
    nip_problems,
    pangkat_history_problems,
    parse_nip,
)

TODAY = date(2026, 11, 30)


def codes(problems):
    return sorted((p.field, p.code) for p in problems)


def test_a_nip_is_read_into_its_parts():
    parts, problems = parse_nip("199001012015032001")
    assert problems == []
    assert (parts.birth_date, parts.appointed_year, parts.appointed_month, parts.gender,
            parts.sequence) == (date(1990, 1, 1), 2015, 3, FEMALE, 1)


@pytest.mark.parametrize("nip,record,expected", [
    ("199001012015031001", {"date_of_birth": date(1990, 1, 1), "gender": MALE,
                            "tmt_cpns": date(2015, 3, 1)}, []),
    ("19900101201503100", {}, [("nip", "nip_format")]),
    ("1990010120150310a1", {}, [("nip", "nip_format")]),
    ("199002302015031001", {}, [("nip", "nip_birth_date")]),
    ("199001012015131001", {}, [("nip", "nip_tmt_month")]),
    ("199001012015033001", {}, [("nip", "nip_gender")]),
    ("199001012015031000", {}, [("nip", "nip_sequence")]),
    ("199001012027011001", {}, [("nip", "nip_tmt_future")]),
    ("199001012005011001", {}, [("nip", "nip_tmt_too_young")]),
    ("199001012015031001", {"date_of_birth": date(1990, 1, 2)},
     [("date_of_birth", "nip_mismatch_birth_date")]),
    ("199001012015031001", {"gender": FEMALE}, [("gender", "nip_mismatch_gender")]),
    ("199001012015031001", {"tmt_cpns": date(2015, 4, 1)},
     [("tmt_cpns", "nip_mismatch_tmt_cpns")]),
])
def test_nip_rules(nip, record, expected):
    assert codes(nip_problems(nip, today=TODAY, **record)) == sorted(expected)


def test_a_pppk_number_carries_a_code_not_a_month():
    assert nip_problems("199001012022211001", status=PPPK, today=TODAY) == []
    assert codes(nip_problems("199001012022031001", status=PPPK, today=TODAY)) == [
        ("nip", "nip_pppk_code")]


@pytest.mark.parametrize("nik,record,expected", [
    ("3578010101900001", {"date_of_birth": date(1990, 1, 1), "gender": MALE}, []),
    ("3578014101900001", {"date_of_birth": date(1990, 1, 1), "gender": FEMALE}, []),
    ("357801010190000", {}, [("nik", "nik_format")]),
    ("3578013501900001", {}, [("nik", "nik_birth_date")]),
    ("3578017201900001", {}, [("nik", "nik_birth_date")]),
    ("3578010113900001", {}, [("nik", "nik_birth_date")]),
    ("3578010101900000", {}, [("nik", "nik_sequence")]),
    ("3578010101900001", {"gender": FEMALE}, [("gender", "nik_mismatch_gender")]),
    ("3578014101900001", {"gender": MALE}, [("gender", "nik_mismatch_gender")]),
    ("3578010101900001", {"date_of_birth": date(1991, 1, 1)},
     [("date_of_birth", "nik_mismatch_birth_date")]),
])
def test_nik_rules(nik, record, expected):
    assert codes(nik_problems(nik, **record)) == sorted(expected)


@pytest.mark.parametrize("golongan,education,expected", [
    ("III/a", "40", []),                     # S1 may hold III/a
    ("III/x", None, [("golongan", "golongan_unknown")]),
    ("IV/a", "05", [("golongan", "golongan_above_education")]),   # SD tops out at II/a
    ("II/a", "05", []),
    ("III/a", "99", [("education_id", "education_unknown")]),
])
def test_golongan_comes_from_the_list_and_respects_the_education_ceiling(golongan, education,
                                                                         expected):
    assert codes(golongan_problems(golongan, education)) == sorted(expected)


def test_pangkat_history_dates_are_in_order_and_do_not_overlap():
    born, cpns = date(1990, 1, 1), date(2015, 3, 1)
    good = [PangkatEntry("III/a", date(2015, 3, 1)), PangkatEntry("III/b", date(2019, 4, 1)),
            PangkatEntry("III/a", date(2021, 4, 1))]  # a demotion is a lawful penalty
    assert pangkat_history_problems(good, born, cpns) == []
    bad = [PangkatEntry("III/a", date(1989, 3, 1)), PangkatEntry("III/b", date(2019, 4, 1)),
           PangkatEntry("III/c", date(2019, 4, 1)), PangkatEntry("V/a", date(2014, 1, 1))]
    assert codes(pangkat_history_problems(bad, born, cpns)) == sorted([
        ("pangkat[0].tmt", "tmt_before_birth"), ("pangkat[0].tmt", "tmt_before_cpns"),
        ("pangkat[2].tmt", "pangkat_overlap"), ("pangkat[3].golongan", "golongan_unknown"),
        ("pangkat[3].tmt", "tmt_before_cpns")])
