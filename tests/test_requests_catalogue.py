"""The catalogue of the 18 layanan (issue 5), table-driven: for every layanan an eligible and an
ineligible employee, the explanation naming the rule and the date it will hold, and the
required-document check (a missing mandatory document is listed)."""

import copy
from datetime import date

import pytest

from services.requests import domain
from services.requests.usecases import catalogue

TODAY = date(2026, 11, 30)
CATALOGUE = {entry["kode"]: entry for entry in catalogue.seed()}


def base_record(**changes) -> dict:
    """A PNS born 1980, CPNS March 2005, III/c since April 2021, S-1, married, SKP Baik."""
    record = {
        "nip": "198001012005031001", "name": "Budi Santoso", "status": "PNS",
        "date_of_birth": "1980-01-01", "gender": "L", "tmt_cpns": "2005-03-01",
        "golongan": "III/a", "education_id": "40", "opd_id": "dinkes",
        "histories": {
            "pangkat": [{"golongan": "III/a", "tmt": "2005-03-01"},
                        {"golongan": "III/b", "tmt": "2013-04-01"},
                        {"golongan": "III/c", "tmt": "2021-04-01"}],
            "jabatan": [{"jenis_jabatan": "pelaksana", "nama_jabatan": "Pengadministrasi Umum",
                         "tmt": "2005-03-01"}],
            "pendidikan": [{"education_id": "40", "lulus_tanggal": "2003-08-30"}],
            "keluarga": [{"hubungan": "istri", "nama": "Sri"}],
            "diklat": [{"jenis": "latsar", "nama": "Latsar", "selesai": "2005-10-01"}],
            "penghargaan": [],
            "hukuman_disiplin": [],
            "kinerja": [{"tahun": 2024, "predikat": "Baik"}, {"tahun": 2025, "predikat": "Baik"}],
            "gaji_berkala": [{"tmt": "2025-03-01", "gaji_pokok": 4_000_000}],
        },
    }
    record.update({k: v for k, v in changes.items() if k != "histories"})
    for name, entries in changes.get("histories", {}).items():
        record["histories"][name] = entries
    return record


def with_jabatan(jenis, nama="Jabatan", eselon=None, tmt="2020-01-02"):
    entry = {"jenis_jabatan": jenis, "nama_jabatan": nama, "tmt": tmt}
    if eselon:
        entry["eselon"] = eselon
    return {"jabatan": [entry]}


# layanan -> (eligible record, ineligible record, failing rule, words in its message,
#             eligible_from or None)
CASES = {
    "KARIS_KARSU": (base_record(), base_record(histories={"keluarga": []}),
                    "married", "belum tercatat menikah", None),
    "TASPEN": (base_record(), base_record(status="PPPK"), "status_in", "PPPK", None),
    "SATYALANCANA": (
        base_record(histories={"penghargaan": [{"nama": "Satyalancana Karya Satya X Tahun"}]}),
        base_record(histories={"hukuman_disiplin": [{"kode": "S2", "mulai": "2019-01-02"}]}),
        "no_penalty", "pernah dijatuhi", None),
    "KARTU_KESEHATAN": (base_record(status="PPPK"), base_record(status="honorer"),
                        "status_in", "honorer", None),
    "UJIAN_DINAS": (
        base_record(histories={"pangkat": [{"golongan": "III/d", "tmt": "2022-04-01"}]}),
        base_record(histories={"pangkat": [{"golongan": "III/d", "tmt": "2025-04-01"}]}),
        "years_in_rank", "pada 2027-04-01", date(2027, 4, 1)),
    "UPKP": (
        base_record(education_id="20", histories={
            "pangkat": [{"golongan": "II/a", "tmt": "2020-01-01"}],
            "pendidikan": [{"education_id": "40", "lulus_tanggal": "2024-08-01"}]}),
        base_record(), "education_above_rank", "tidak perlu penyesuaian", None),
    "KENAIKAN_PANGKAT": (
        base_record(histories={"pangkat": [{"golongan": "III/c", "tmt": "2022-12-01"}]}),
        base_record(histories={"pangkat": [{"golongan": "III/c", "tmt": "2024-04-01"}]}),
        "years_in_rank", "pada 2028-04-01", date(2028, 4, 1)),
    "MUTASI": (
        base_record(),
        base_record(histories={"hukuman_disiplin": [
            {"kode": "S1", "mulai": "2026-09-01", "akhir": "2027-03-01"}]}),
        "no_running_penalty", "sampai 2027-03-01", date(2027, 3, 2)),
    "KARPEG": (base_record(), base_record(status="CPNS"), "status_in", "CPNS", None),
    "KGB": (
        base_record(histories={"gaji_berkala": [{"tmt": "2025-01-01", "gaji_pokok": 1}]}),
        base_record(), "kgb_due", "2027-03-01", date(2027, 1, 1)),
    "PENSIUN": (
        base_record(date_of_birth="1968-12-10"),
        base_record(), "bup", "TMT pensiun 2038-02-01", date(2036, 11, 1)),
    "CPNS_PNS": (
        base_record(status="CPNS", tmt_cpns="2025-03-01"),
        base_record(status="CPNS", tmt_cpns="2026-03-01"),
        "probation", "2027-03-01", date(2027, 3, 1)),
    "IZIN_BELAJAR": (
        base_record(),
        base_record(histories={"kinerja": [{"tahun": 2025, "predikat": "Kurang"}]}),
        "skp_min", "di bawah Baik", date(2027, 1, 1)),
    "UJIAN_KP_PEMBINA": (
        base_record(histories={"pangkat": [{"golongan": "III/d", "tmt": "2022-04-01"}],
                               "pendidikan": [{"education_id": "45",
                                               "lulus_tanggal": "2015-01-01"}]}),
        base_record(histories={"pangkat": [{"golongan": "III/d", "tmt": "2022-04-01"}]}),
        "education_min", "belum terpenuhi", None),
    "IZIN_CERAI": (base_record(), base_record(histories={"keluarga": []}), "married",
                   "belum tercatat menikah", None),
    "HUKDIS": (base_record(), base_record(status="PPPK"), "status_in", "PPPK", None),
    "DUPAK_PAK": (
        base_record(histories=with_jabatan("fungsional", "Pranata Komputer Ahli Muda")),
        base_record(), "jabatan", "untuk jabatan fungsional", None),
    "PINDAH_JAB_PELAKSANA": (
        base_record(), base_record(histories=with_jabatan("struktural", "Kasi", "IV.a")),
        "jabatan", "untuk jabatan pelaksana", None),
}


def test_the_catalogue_has_all_18_layanan_each_publishable():
    assert len(CATALOGUE) == 18 and set(CASES) == set(CATALOGUE)
    assert set(catalogue.RULE_PARAMS) == set(domain.RULES)
    for entry in CATALOGUE.values():
        assert catalogue.entry_problems(entry) == []
        assert entry["dasar_hukum"] and entry["sop"]["versi"] >= 1


@pytest.mark.parametrize("kode", sorted(CASES))
def test_an_eligible_and_an_ineligible_employee(kode):
    eligible, ineligible, rule, words, when = CASES[kode]
    entry = CATALOGUE[kode]
    yes = domain.evaluate(entry, eligible, TODAY)
    assert yes.eligible, yes.as_dict()
    no = domain.evaluate(entry, ineligible, TODAY)
    assert not no.eligible
    failing = [c for c in no.checks if not c.ok]
    assert [c.rule for c in failing] == [rule], no.as_dict()
    assert words in failing[0].message
    assert no.eligible_from == when
    assert no.as_dict()["checks"][0]["message"]  # every rule explains itself, passing or not


@pytest.mark.parametrize("kode", sorted(CASES))
def test_a_missing_mandatory_document_is_listed(kode):
    entry = CATALOGUE[kode]
    record = CASES[kode][0]
    options = {name: values[0] for name, values in entry.get("options", {}).items()}
    required = domain.check_documents(entry, record, options, {}).required
    assert required, "every layanan needs documents"
    complete = {doc["code"]: "a" * 64 for doc in required}
    assert domain.check_documents(entry, record, options, complete).missing == []
    dropped = next(doc for doc in required if doc["mandatory"])
    partial = {k: v for k, v in complete.items() if k != dropped["code"]}
    assert [d["code"] for d in domain.check_documents(entry, record, options, partial).missing
            ] == [dropped["code"]]


def test_conditional_documents_follow_the_options_and_the_record():
    kp = CATALOGUE["KENAIKAN_PANGKAT"]
    record = base_record()
    regular = {d["code"] for d in domain.check_documents(kp, record, {"jenis_kp": "reguler"},
                                                         {}).required}
    structural = {d["code"] for d in domain.check_documents(
        kp, record, {"jenis_kp": "struktural"}, {}).required}
    assert structural - regular == {"sk_jabatan_pelantikan"}
    first = base_record(histories={"pangkat": [{"golongan": "III/a", "tmt": "2020-03-01"}]})
    assert "sk_cpns_spmt_pns" in {d["code"] for d in domain.check_documents(
        kp, first, {"jenis_kp": "reguler"}, {}).required}
    karis = CATALOGUE["KARIS_KARSU"]
    lost = domain.check_documents(karis, record, {"alasan": "hilang"}, {})
    assert "surat_kehilangan" in {d["code"] for d in lost.required}
    assert "surat_kehilangan" not in {d["code"] for d in domain.check_documents(
        karis, record, {"alasan": "baru"}, {}).required}


def test_kenaikan_pangkat_only_in_the_six_periods_and_within_the_education_ceiling():
    assert domain.next_kp_period(date(2026, 11, 30)) == date(2026, 12, 1)
    assert domain.next_kp_period(date(2026, 12, 2)) == date(2027, 2, 1)
    kp = CATALOGUE["KENAIKAN_PANGKAT"]
    # four years in rank are reached on 2026-11-15: counted at the 1 December period
    almost = base_record(histories={"pangkat": [{"golongan": "III/c", "tmt": "2022-11-15"}]})
    assert domain.evaluate(kp, almost, TODAY).eligible
    ceiling = base_record(education_id="15", histories={
        "pangkat": [{"golongan": "III/b", "tmt": "2018-04-01"}], "pendidikan": []})
    result = domain.evaluate(kp, ceiling, TODAY)
    (failing,) = [c for c in result.checks if not c.ok]
    assert failing.rule == "education_ceiling" and "III/b" in failing.message


def test_satyalancana_goes_to_the_next_milestone_once_one_is_given():
    entry = CATALOGUE["SATYALANCANA"]
    given = base_record(histories={"penghargaan": [
        {"nama": "Satyalancana Karya Satya X Tahun"},
        {"nama": "Satyalancana Karya Satya XX Tahun"}]})
    result = domain.evaluate(entry, given, TODAY)
    (failing,) = [c for c in result.checks if not c.ok]
    assert failing.rule == "service_milestone" and result.eligible_from == date(2035, 3, 1)


def test_bup_follows_the_position():
    assert domain.bup_age(base_record(histories=with_jabatan("struktural", "Kepala Dinas",
                                                             "II.a")))[0] == 60
    assert domain.bup_age(base_record(histories=with_jabatan("fungsional",
                                                             "Dokter Ahli Utama")))[0] == 65
    assert domain.bup_age(base_record(histories=with_jabatan("fungsional", "Guru Ahli Muda")))[
        0] == 60
    assert domain.tmt_pensiun(base_record(date_of_birth="1968-05-20")) == date(2026, 6, 1)


def test_a_broken_catalogue_entry_is_refused_with_every_problem():
    entry = copy.deepcopy(CATALOGUE["KGB"])
    entry["sop"] = {"nomor": ""}
    entry["eligibility"].append({"rule": "kgb_due"})
    entry["eligibility"].append({"rule": "moon_phase"})
    entry["documents"].append(dict(entry["documents"][0]))
    problems = catalogue.entry_problems(entry)
    assert any("SOP" in p for p in problems)
    assert any("kgb_due perlu years" in p for p in problems)
    assert any("moon_phase" in p for p in problems)
    assert any("ganda" in p for p in problems)
