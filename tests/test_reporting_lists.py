"""The lists and statistics BKD works from (issue 15 part 4) and the public statistics (part 6)
against real RabbitMQ and PostgreSQL: a generated province registered through records' own use
cases (with pangkat, jabatan, KGB, diklat and pendidikan entries), the read model caught up from
the records feed, and every report compared with figures computed here, in this file, from what
the test itself sent — never by calling the code under test. The DUK's order is checked on
crafted ties, each decided by the next criterion; every report "as of" a past moment equals what
it said at that moment; a rebuilt projection (with its versions) equals the live one."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import psycopg2
import pytest

from services.records.service import RecordsService
from services.reporting.service import EMPLOYEES, ReportingService
from shared.calendar import today_wib
from shared.errors import Forbidden
from shared.testing import wait_for
from simasn_cli.main import main
from tests.helpers import fetch, raises_code
from tests.records_helpers import ADMIN, AUDITOR, principal
from tests.test_reporting_employees import (
    FASIL_DKP,
    REGION_3507,
    call,
    caught_up,
    generate,
)

WIB = timezone(timedelta(hours=7))
TODAY = today_wib()
#: the test's own tables (not the code's): eselon order, BUP by jabatan, golongan order
ESELON_KEY = {"II.a": 4, "III.a": 3, "IV.a": 2}
GOLONGAN_ORDER = ["I/a", "I/b", "I/c", "I/d", "II/a", "II/b", "II/c", "II/d", "III/a", "III/b",
                  "III/c", "III/d", "IV/a", "IV/b", "IV/c", "IV/d", "IV/e"]
RANK = {g: n for n, g in enumerate(GOLONGAN_ORDER, start=1)}
#: (jenis, nama, eselon, BUP)
JABATAN = (("struktural", "Kepala Bidang Data", "III.a", 58),
           ("struktural", "Kepala Seksi Umum", "IV.a", 58),
           ("struktural", "Kepala Dinas", "II.a", 60),
           ("fungsional", "Guru Ahli Pertama", None, 60),
           ("fungsional", "Analis Kepegawaian Ahli Madya", None, 60),
           ("fungsional", "Analis Kepegawaian Ahli Muda", None, 58),
           ("pelaksana", "Pengadministrasi Umum", None, 58))
DIKLAT = (("Diklatpim Tingkat II", 3), ("PKA Angkatan 3", 2), ("Diklatpim Tingkat IV", 1))
DUK_OPD = "bappeda"


@dataclass
class Person:
    nip: str
    data: dict
    pangkat: list = field(default_factory=list)  # (golongan, tmt)
    jabatan: list = field(default_factory=list)  # (jenis, nama, eselon, tmt, bup)
    kgb: list = field(default_factory=list)  # tmt
    diklat: list = field(default_factory=list)  # level
    pendidikan: list = field(default_factory=list)  # education ids

    # what the lists must say, worked out here from what was sent
    def golongan(self) -> tuple[str, str]:
        if self.pangkat:
            return max(self.pangkat, key=lambda p: p[1])
        return self.data["golongan"], self.data.get("tmt_cpns")

    def current_jabatan(self):
        return max(self.jabatan, key=lambda j: j[3]) if self.jabatan else None

    def born(self) -> date:
        return date.fromisoformat(self.data["date_of_birth"])

    def bup(self) -> int:
        jabatan = self.current_jabatan()
        return jabatan[4] if jabatan else 58

    def tmt_bup(self) -> date:
        born = self.born()
        year, month = born.year + self.bup(), born.month + 1
        return date(year + (month > 12), (month - 1) % 12 + 1, 1)

    def education(self) -> int:
        return max([int(self.data["education_id"])] + [int(e) for e in self.pendidikan])

    def age(self, day: date) -> int:
        born = self.born()
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@pytest.fixture
def stack(own_database, service_config, container_factory):
    config = {**service_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.2}
    for cls in (RecordsService, ReportingService):
        container_factory(cls, config).start()
    return config


def _nip(born: date, tmt: date, gender: str, seq: int) -> str:
    return f"{born:%Y%m%d}{tmt:%Y%m}{'1' if gender == 'L' else '2'}{seq:03d}"


def tie_group() -> list[Person]:
    """Eight PNS of one OPD, each pair decided by the next DUK criterion; the order they must
    come in is the order of this list."""
    base = date(1985, 5, 5)

    def person(key, seq, *, born=base, tmt=date(2012, 3, 1), eselon="IV.a",
               tmt_jabatan="2020-01-01", diklat=None, pendidikan=None):
        nip = _nip(born, tmt, "L", seq)
        p = Person(nip, {"nip": nip, "name": f"Tie {key}", "date_of_birth": born.isoformat(),
                         "gender": "L", "status": "PNS", "education_id": "40",
                         "golongan": "III/a", "tmt_cpns": tmt.isoformat(), "instansi": "35",
                         "opd_id": DUK_OPD})
        p.pangkat.append(("III/b", "2020-04-01"))
        jenis, nama, _, bup = next(j for j in JABATAN if j[2] == eselon)
        p.jabatan.append((jenis, nama, eselon, tmt_jabatan, bup))
        if diklat:
            p.diklat.append(diklat)
        if pendidikan:
            p.pendidikan.append(pendidikan)
        return p

    return [
        person("A", 901, eselon="III.a", tmt_jabatan="2021-01-01"),  # a higher jabatan
        person("B", 902, tmt_jabatan="2019-01-01"),  # the same jabatan held longer
        person("C", 903, tmt=date(2008, 3, 1)),  # longer masa kerja
        person("D", 904, diklat=DIKLAT[0]),  # a higher latihan jabatan
        person("F", 905, diklat=DIKLAT[1], pendidikan="45"),  # higher education
        person("G", 906, diklat=DIKLAT[1], born=date(1980, 1, 1)),  # older
        person("E", 907, diklat=DIKLAT[1]),  # everything equal to H ...
        person("H", 908, diklat=DIKLAT[1]),  # ... but the NIP
    ]


def build(config, people: list[Person], rng: random.Random, extras: bool = True) -> None:
    """Register everyone through records, then their history entries (the tie group's as
    given; the others' drawn here)."""
    with call(config, ADMIN, "records") as records:
        for person in people:
            version = records.register_employee(person.data, "data awal")["version"]

            def entry(history, body, reason, version):
                return records.record_history(person.nip, {
                    "history": history, "entry": body, "expected_version": version,
                    "reason": reason})["version"]

            tmt_cpns = person.data.get("tmt_cpns")
            if extras and not person.data["name"].startswith("Tie") and tmt_cpns:
                start = date.fromisoformat(tmt_cpns)

                def later(years, start=start):  # never after the end of 2025
                    return min(start.replace(year=start.year + years), date(2025, 12, 1))

                if rng.random() < 0.5 and later(2) > start:
                    person.pangkat.append((person.data["golongan"],
                                           later(rng.randint(2, 8)).isoformat()))
                if rng.random() < 0.7 and later(1) > start:
                    jenis, nama, eselon, bup = rng.choice(JABATAN)
                    person.jabatan.append((jenis, nama, eselon,
                                           later(rng.randint(1, 6)).isoformat(), bup))
                if rng.random() < 0.5 and later(2) > start:
                    person.kgb.append(later(2 * rng.randint(1, 6)).isoformat())
                if rng.random() < 0.3:
                    person.diklat.append(rng.choice(DIKLAT))
                if rng.random() < 0.2:
                    person.pendidikan.append("45")
            for golongan, when in person.pangkat:
                version = entry("pangkat", {"golongan": golongan, "tmt": when}, "SK KP", version)
            for jenis, nama, eselon, when, _ in person.jabatan:
                body = {"jenis_jabatan": jenis, "nama_jabatan": nama, "tmt": when}
                if eselon:
                    body["eselon"] = eselon
                version = entry("jabatan", body, "SK jabatan", version)
            for when in person.kgb:
                version = entry("gaji_berkala", {"tmt": when, "gaji_pokok": 3_000_000},
                                "SK KGB", version)
            for name, _ in person.diklat:
                version = entry("diklat", {"jenis": "struktural", "nama": name,
                                           "selesai": "2019-06-30"}, "STTPL", version)
            for education_id in person.pendidikan:
                version = entry("pendidikan", {"education_id": education_id,
                                               "lulus_tanggal": "2018-08-31"}, "ijazah",
                                version)
    for person in people:  # from here on, a diklat is its level
        person.diklat[:] = [d[1] if isinstance(d, tuple) else d for d in person.diklat]


def province(config, url, count=90, seed=15) -> list[Person]:
    base = generate(count, seed)
    rng = random.Random(seed)
    people = [Person(p.nip, p.data) for p in base]
    # some close to retirement (born 1968-1970: BUP 58 falls in the next five years)
    for n, person in enumerate(p for p in people[::6] if p.data["status"] != "PPPK"):
        old = date(1968 + n % 3, 1 + n % 12, 10)
        tmt = date(1995, 3, 1)
        data = dict(person.data, date_of_birth=old.isoformat())
        if data["status"] != "PPPK":
            data["tmt_cpns"] = tmt.isoformat()
        month = f"{tmt.month:02d}" if data["status"] != "PPPK" else "21"
        nip = f"{old:%Y%m%d}{tmt.year}{month}{person.nip[14]}{person.nip[15:]}"
        data["nip"] = nip
        person.nip, person.data = nip, data
    people += tie_group()
    build(config, people, rng)
    wait_for(lambda: caught_up(url), message="the read model caught up with records")
    return people


def report(config, context, name, **params):
    """Every page of a report, concatenated (a statistic comes whole)."""
    with call(config, context) as reporting:
        first = reporting.report(name, params)
        items = first["items"]
        page = 1
        while first["has_more"]:
            page += 1
            first = reporting.report(name, {**params, "page": page})
            items += first["items"]
    return items


def active(people, pred=lambda p: True):
    return [p for p in people if p.data["status"] != "Pensiun" and pred(p)]


def test_statistics_lists_and_their_past_states_equal_what_was_sent(stack, own_database):
    people = province(stack, own_database)
    by_nip = {p.nip: p for p in people}

    # -- headcount: one dimension, a cross of two, filtered, scoped -------------------------
    def count(items, *keys):
        return {tuple(i[k] for k in keys): i["count"] for i in items}

    assert count(report(stack, ADMIN, "headcount", by="opd_id"), "opd_id") == {
        (k,): v for k, v in Counter(p.data["opd_id"] for p in people).items()}
    assert count(report(stack, ADMIN, "headcount", by="golongan", by2="gender"),
                 "golongan", "gender") == Counter((p.golongan()[0], p.data["gender"])
                                                   for p in people)

    def band(p):
        age = p.age(TODAY)
        return ("<30" if age < 30 else "30-39" if age < 40 else "40-49" if age < 50
                else "50-59" if age < 60 else "60+")

    assert count(report(stack, ADMIN, "headcount", by="age_band", instansi="35"),
                 "age_band") == Counter((band(p),) for p in people
                                        if p.data["instansi"] == "35")
    jenis = report(stack, ADMIN, "headcount", by="jenis_jabatan", status="PNS")
    assert count(jenis, "jenis_jabatan") == Counter(
        (p.current_jabatan()[0] if p.current_jabatan() else None,) for p in people
        if p.data["status"] == "PNS")
    assert count(report(stack, ADMIN, "headcount", by="education_id", gender="P"),
                 "education_id") == Counter((p.data["education_id"],) for p in people
                                            if p.data["gender"] == "P")
    assert count(report(stack, FASIL_DKP, "headcount", by="instansi"), "instansi") == {
        ("35",): sum(p.data["instansi"] == "35" and p.data["opd_id"] in ("dkp", "dinkes")
                     for p in people)}
    assert count(report(stack, REGION_3507, "headcount", by="opd_id"), "opd_id") == {
        (k,): v for k, v in Counter(p.data["opd_id"] for p in people
                                    if p.data["instansi"] == "3507").items()}
    golongan_order = [i["golongan"] for i in report(stack, ADMIN, "headcount", by="golongan")]
    assert golongan_order == sorted(golongan_order, key=RANK.get)

    # -- DUK: the crafted ties, then the whole list in the order computed here --------------
    ties = [p.nip for p in tie_group()]
    assert [i["nip"] for i in report(stack, ADMIN, "duk", opd_id=DUK_OPD, limit=3)] == ties

    def duk_key(p):  # PP 15/1979 as configured; an unknown value ranks last (NULLS LAST)
        golongan, tmt = p.golongan()
        jabatan = p.current_jabatan()
        eselon = ESELON_KEY.get(jabatan[2]) if jabatan else None
        return (-RANK[golongan], tmt or "9999", eselon is None, -(eselon or 0),
                jabatan[3] if jabatan else "9999", p.data.get("tmt_cpns") or "9999",
                not p.diklat, -max(p.diklat, default=0), -p.education(),
                p.data["date_of_birth"], p.nip)

    duk = report(stack, ADMIN, "duk")
    expected = sorted(active(people, lambda p: p.data["status"] in ("PNS", "CPNS")),
                      key=duk_key)
    assert [i["nip"] for i in duk] == [p.nip for p in expected]
    assert [i["no"] for i in duk] == list(range(1, len(expected) + 1))
    for item in duk[:10]:
        p = by_nip[item["nip"]]
        assert (item["golongan"], item["tmt_golongan"]) == p.golongan()
        assert item["latihan_jabatan"] == (max(p.diklat) if p.diklat else None)
    assert [i["nip"] for i in report(stack, FASIL_DKP, "duk")] == [
        p.nip for p in expected if p.data["opd_id"] in ("dkp", "dinkes")
        and p.data["instansi"] == "35"]

    # -- nominatif: per OPD, higher golongan first ------------------------------------------
    nominatif = report(stack, ADMIN, "nominatif", opd_id="dinkes")
    dinkes = sorted((p for p in people if p.data["opd_id"] == "dinkes"),
                    key=lambda p: (-RANK[p.golongan()[0]], p.golongan()[1] or "9999", p.nip))
    assert [i["nip"] for i in nominatif] == [p.nip for p in dinkes]
    for item in nominatif:
        p = by_nip[item["nip"]]
        jabatan = p.current_jabatan()
        assert (item["name"], item["date_of_birth"], item["golongan"], item["tmt_golongan"],
                item["jabatan"], item["tmt_cpns"]) == (
            p.data["name"], p.data["date_of_birth"], *p.golongan(),
            jabatan[1] if jabatan else None, p.data.get("tmt_cpns"))

    # -- retirement forecast: per year and OPD, and the persons -----------------------------
    until = date(TODAY.year + 5, 1, 1)
    retiring = [p for p in people if TODAY <= p.tmt_bup() < until]
    assert len(retiring) >= 3, "the province has people near BUP"
    forecast = report(stack, ADMIN, "retirement_forecast", group="opd_id")
    assert count(forecast, "year", "opd_id") == Counter(
        (p.tmt_bup().year, p.data["opd_id"]) for p in retiring)
    listed = report(stack, ADMIN, "retirement_list")
    assert [(i["nip"], i["tmt_bup"], i["bup_age"]) for i in listed] == [
        (p.nip, p.tmt_bup().isoformat(), p.bup())
        for p in sorted(retiring, key=lambda p: (p.tmt_bup(), p.nip))]
    by_jenis = report(stack, ADMIN, "retirement_forecast", group="jenis_jabatan", years=2)
    assert count(by_jenis, "year", "jenis_jabatan") == Counter(
        (p.tmt_bup().year, p.current_jabatan()[0] if p.current_jabatan() else None)
        for p in retiring if p.tmt_bup() < date(TODAY.year + 2, 1, 1))

    # -- KP due at a period, KGB due in a month ---------------------------------------------
    period = date(TODAY.year + 1, 4, 1)

    def plus_years(day: str, years: int) -> date:
        d = date.fromisoformat(day)
        try:
            return d.replace(year=d.year + years)
        except ValueError:
            return d.replace(year=d.year + years, day=28)

    kp = report(stack, ADMIN, "kp_due", period=period.isoformat())
    kp_expected = [p for p in people if p.data["status"] == "PNS" and p.golongan()[1]
                   and plus_years(p.golongan()[1], 4) <= period and p.golongan()[0] != "IV/e"
                   and p.tmt_bup() > period]
    assert sorted(i["nip"] for i in kp) == sorted(p.nip for p in kp_expected)
    assert kp_expected, "someone is due a KP"
    some = next(i for i in kp)
    assert some["next_golongan"] == GOLONGAN_ORDER[RANK[by_nip[some["nip"]].golongan()[0]]]

    def kgb_due(p) -> date | None:
        starts = [d for d in (max(p.kgb) if p.kgb else None, p.golongan()[1]) if d]
        return plus_years(max(starts), 2) if starts else None

    dues = Counter((kgb_due(p).year, kgb_due(p).month) for p in people
                   if p.data["status"] in ("PNS", "CPNS") and kgb_due(p))
    (year, month), _ = dues.most_common(1)[0]
    kgb = report(stack, ADMIN, "kgb_due", period=f"{year}-{month:02d}")
    assert sorted(i["nip"] for i in kgb) == sorted(
        p.nip for p in people if p.data["status"] in ("PNS", "CPNS") and kgb_due(p)
        and (kgb_due(p).year, kgb_due(p).month) == (year, month))
    assert all(i["due"] == kgb_due(by_nip[i["nip"]]).isoformat() for i in kgb)

    # -- as of: every report taken now equals the same report asked later "as of now" -------
    queries = [("headcount", {"by": "golongan", "by2": "jenis_jabatan"}),
               ("headcount", {"by": "age_band"}), ("duk", {}), ("nominatif", {}),
               ("retirement_list", {}), ("kp_due", {"period": period.isoformat()}),
               ("kgb_due", {"period": f"{year}-{month:02d}"})]
    before = [report(stack, ADMIN, n, **q) for n, q in queries]
    moment = datetime.now(WIB).isoformat()
    changed = people[:8]
    with call(stack, ADMIN, "records") as records:
        for p in changed:
            current = records.get_employee(p.nip, None)["version"]
            version = records.record_history(p.nip, {
                "history": "jabatan", "entry": {"jenis_jabatan": "struktural",
                                                "nama_jabatan": "Kepala Dinas",
                                                "eselon": "II.a", "tmt": "2026-01-01"},
                "expected_version": current, "reason": "pelantikan"})["version"]
            records.record_history(p.nip, {"history": "gaji_berkala", "entry": {
                "tmt": "2026-06-01", "gaji_pokok": 4_000_000}, "expected_version": version,
                "reason": "SK KGB"})
    newcomers = [Person(x.nip, x.data) for x in generate(5, seed=99)]
    build(stack, newcomers, random.Random(2), extras=False)
    wait_for(lambda: caught_up(own_database), message="caught up after the changes")
    after = [report(stack, ADMIN, n, **q) for n, q in queries]
    assert after[2] != before[2] and after[3] != before[3], "the DUK and nominatif changed"
    for (n, q), then in zip(queries, before, strict=True):
        assert report(stack, ADMIN, n, as_of=moment, **q) == then, n
    # a day before anyone was registered: nobody
    assert report(stack, ADMIN, "nominatif", as_of="2000-01-01") == []


def test_reports_refuse_the_wrong_caller_and_bad_parameters(stack, own_database):
    people = province(stack, own_database, count=10, seed=4)
    pegawai = principal(people[0].nip, ["pegawai"])
    with call(stack, pegawai) as reporting, pytest.raises(Forbidden):
        reporting.report("duk", {})
    with call(stack, AUDITOR) as reporting:
        assert reporting.report("headcount", {"by": "gender"})["items"]
        # the employee list through the same RPC: a page of it, the registry's columns
        page = reporting.report("employees", {"limit": 2, "offset": 1})
        assert len(page["items"]) == 2 and page["has_more"] and not page["page"]
        assert [i["nip"] for i in page["items"]] == sorted(p.nip for p in people)[1:3]
        with raises_code("report_unknown") as refused:
            reporting.report("gaji", {})
        assert refused.value.field == "name"
        for name, bad, where in (("headcount", {"by": "nip"}, "by"),
                                 ("headcount", {"by": "gender", "by2": "gender"}, "by2"),
                                 ("duk", {"limit": 0}, "limit"),
                                 ("duk", {"golongan": "V/z"}, "golongan"),
                                 ("nominatif", {"as_of": "kemarin"}, "as_of"),
                                 ("nominatif", {"as_of": "2999-01-01"}, "as_of"),
                                 ("kp_due", {"period": "2027-03-01"}, "period"),
                                 ("kgb_due", {"period": "2027-13"}, "period"),
                                 ("retirement_list", {"years": 50}, "years"),
                                 ("duk", {"nip_contains": "1"}, "nip_contains")):
            with raises_code("validation_failed") as refused:
                reporting.report(name, bad)
            assert refused.value.field == where, (name, bad)


def snapshot(url):
    return (fetch(url, "SELECT nip, golongan, jabatan, eselon_rank, last_kgb_tmt, diklat_level, "
                       "pendidikan_top, education_rank, bup_age, tmt_bup, field_versions::text, "
                       "stream_version FROM reporting.employees ORDER BY nip"),
            fetch(url, "SELECT nip, stream_version, valid_from, golongan, jabatan, "
                       "last_kgb_tmt, diklat_level, tmt_bup, field_versions::text "
                       "FROM reporting.employee_versions ORDER BY nip, stream_version"))


def test_a_rebuilt_projection_with_its_versions_equals_the_live_one(stack, own_database):
    people = province(stack, own_database, count=12, seed=8)
    live = snapshot(own_database)
    assert len(live[0]) == len(people) and len(live[1]) > len(people)
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE reporting.employees SET diklat_level = 9")
        cur.execute("DELETE FROM reporting.employee_versions WHERE stream_version > 2")
    conn.close()
    assert snapshot(own_database) != live
    assert main(["projections", "rebuild", EMPLOYEES, "--wait", "60", "--no-progress"]) == 0
    assert snapshot(own_database) == live


def test_public_statistics_hide_small_cells_and_what_would_give_them_away(stack,
                                                                           own_database):
    people = province(stack, own_database, count=40, seed=31)
    with call(stack, {}) as reporting:
        answer = reporting.public_statistics()
    threshold = answer["threshold"]
    assert threshold == 5
    everyone = active(people)

    def band(p):
        age = p.age(TODAY)
        return ("<30" if age < 30 else "30-39" if age < 40 else "40-49" if age < 50
                else "50-59" if age < 60 else "60+")

    truth = {"instansi": Counter(p.data["instansi"] for p in everyone),
             "golongan": Counter(p.golongan()[0] for p in everyone),
             "education_id": Counter(p.data["education_id"] for p in everyone),
             "gender": Counter(p.data["gender"] for p in everyone),
             "age_band": Counter(band(p) for p in everyone)}
    assert {t["dimension"] for t in answer["tables"]} == set(truth)
    small_seen = 0
    for table in answer["tables"]:
        real = truth[table["dimension"]]
        assert {c["value"] for c in table["cells"]} == set(real)
        hidden = [c for c in table["cells"] if c["suppressed"]]
        small_seen += sum(1 for n in real.values() if n < threshold)
        for cell in table["cells"]:
            if cell["suppressed"]:
                assert cell["count"] is None
            else:  # a shown cell is true and never small
                assert cell["count"] == real[cell["value"]] >= threshold
        # every small cell is hidden, and never alone while the total is shown
        assert all(c["suppressed"] for c in table["cells"] if real[c["value"]] < threshold)
        if table["total"] is not None:
            assert table["total"] == len(everyone)
            assert len(hidden) != 1, table
            if hidden:  # what the total leaves for the hidden cells is never one small cell
                rest = table["total"] - sum(c["count"] for c in table["cells"]
                                            if not c["suppressed"])
                assert rest == sum(real[c["value"]] for c in hidden) and len(hidden) >= 2
    assert small_seen >= 2, "the generated province has small cells to hide"
    text = str(answer)
    assert not any(p.nip in text or p.data["name"] in text for p in people)
    # computed once per PUBLIC_STATISTICS_SECONDS (300), whoever asks: a visitor's call does not
    # scan the list again
    with call(stack, {}) as reporting:
        assert reporting.public_statistics() == answer


def test_versions_folded_out_of_order_equal_the_in_order_ones(stack, own_database):
    """A live delivery can overtake the catch-up (shared/subscriptions.py): events of one
    employee then reach the projection out of order. Replayed here one by one and in small
    batches in shuffled orders, they leave the same row and the same versions (each valid from
    its event's recorded_at) as the catch-up's in-order fold."""
    from types import SimpleNamespace

    from services.reporting.usecases import projection
    from shared.db import UnitOfWork, make_engine

    people = province(stack, own_database, count=6, seed=12)
    nips = [p.nip for p in people[:6]] + [p.nip for p in people[-3:]]
    in_order = snapshot(own_database)
    rows = fetch(own_database, "SELECT position, stream_id, version, event_type, "
                               "payload::text, recorded_at::text FROM records.events WHERE "
                               "stream_id = ANY(%s) ORDER BY position",
                 ([f"employee:{n}" for n in nips],))
    import orjson

    events = [SimpleNamespace(position=r[0], stream_id=r[1], version=r[2], event_type=r[3],
                              payload=orjson.loads(r[4]), recorded_at=r[5]) for r in rows]
    assert len(events) > 3 * len(nips), "each has several events to shuffle"
    engine = make_engine(own_database, schema="reporting")
    for seed in range(3):
        conn = psycopg2.connect(own_database)
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM reporting.employees WHERE nip = ANY(%s)", (nips,))
            cur.execute("DELETE FROM reporting.employee_versions WHERE nip = ANY(%s)", (nips,))
        conn.close()
        shuffled = random.Random(seed).sample(events, len(events))
        while shuffled:
            batch, shuffled = shuffled[:seed + 1], shuffled[seed + 1:]
            with engine.begin() as conn:
                uow = UnitOfWork(conn, SimpleNamespace(schema="reporting"), {})
                projection.employee_events(uow, sorted(batch, key=lambda e: e.position))
        # every value alike (the bookkeeping of which version set what may differ: a pangkat
        # entry before the registration means the registration never set the golongan)
        rows_now, versions_now = snapshot(own_database)
        assert [r[:10] + r[11:] for r in rows_now] == [r[:10] + r[11:] for r in in_order[0]]
        assert [r[:8] for r in versions_now] == [r[:8] for r in in_order[1]], seed
    engine.dispose()


def test_two_writers_of_an_employee_not_yet_in_the_read_model_both_count(stack, own_database):
    """What CI found: the catch-up folding an employee's registration while a live delivery
    folds a later event of the same employee, whose row does not exist yet. Both read no row
    (FOR UPDATE locks nothing that is not there) and the second upsert replaced the first's
    row: the registration was lost and the employee counted under no OPD. Now the second writer
    waits for the first and folds into its row (employees and completeness alike)."""
    from types import SimpleNamespace

    import eventlet

    from services.records.events import REGISTRY
    from services.reporting.usecases import completeness, projection
    from shared.consumer import ReceivedEvent
    from shared.db import UnitOfWork, make_engine
    from shared.envelopes import public_envelope
    from shared.eventstore import EventStore

    person = next(p for p in province(stack, own_database, count=4, seed=21)
                  if p.data.get("opd_id"))
    before = snapshot(own_database)
    presence = fetch(own_database, "SELECT fields::text, slots::text FROM "
                                   "reporting.completeness WHERE nip = %s", (person.nip,))
    # as the bus and the feed carry them (a confidential field withheld)
    store = EventStore("records", REGISTRY)
    conn = psycopg2.connect(own_database)
    events = [ReceivedEvent.from_envelope(public_envelope(e, "records", REGISTRY))
              for e in store.read_stream(conn, f"employee:{person.nip}")]
    conn.close()
    assert events[0].event_type == "EmployeeRegistered" and len(events) > 1
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        for table in ("employees", "employee_versions", "completeness"):
            cur.execute(f"DELETE FROM reporting.{table} WHERE nip = %s", (person.nip,))  # noqa: S608 - fixed names
    conn.close()
    engine = make_engine(own_database, schema="reporting")
    threading = eventlet.patcher.original("threading")

    def fold(conn, batch):
        uow = UnitOfWork(conn, SimpleNamespace(schema="reporting"), {})
        projection.employee_events(uow, batch)
        completeness.presence_events(uow, batch)

    with engine.connect() as first:
        first_tx = first.begin()
        fold(first, events[:1])  # the registration, not committed yet
        second_pid = []

        def second():
            with engine.begin() as conn:
                second_pid.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
                fold(conn, events[1:])

        writer = threading.Thread(target=second)
        writer.start()
        # the second writer has read what it could and waits for the first
        wait_for(lambda: second_pid and fetch(
            own_database, "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND "
                          "wait_event_type = 'Lock'", (second_pid[0],)),
                 timeout=30, message="the second writer waits on the first")
        first_tx.commit()
        writer.join(timeout=60)
        assert not writer.is_alive()
    engine.dispose()
    after = snapshot(own_database)
    assert [r for r in after[0] if r[0] == person.nip] == \
        [r for r in before[0] if r[0] == person.nip]
    assert fetch(own_database, "SELECT opd_id FROM reporting.employees WHERE nip = %s",
                 (person.nip,)) == [(person.data["opd_id"],)]
    assert fetch(own_database, "SELECT fields::text, slots::text FROM reporting.completeness "
                               "WHERE nip = %s", (person.nip,)) == presence


def test_suppression_hides_small_cells_and_their_complement():
    """The public tables' rule on its own: small cells hidden, never one alone beside a shown
    total, everything hidden when the total itself is small."""
    from services.reporting.usecases.public import suppress

    assert suppress([10, 3, 8], 5) == ([False, True, True], False)  # 3, and 8 to cover it
    assert suppress([10, 3, 2], 5) == ([False, True, True], False)  # two small: enough
    assert suppress([12, 3], 5) == ([True, True], False)
    assert suppress([3, 1], 5) == ([True, True], True)  # a total of 4 is itself small
    assert suppress([9, 6, 7], 5) == ([False, False, False], False)
    assert suppress([20, 0, 4], 5) == ([True, False, True], False)  # a zero hides nothing


def test_the_duk_order_is_configuration(monkeypatch):
    """The criteria and their order come from reporting-lists.json; an unknown one fails by
    its key instead of ordering silently wrong."""
    from services.reporting.usecases import lists
    from shared.errors import ConfigError

    config = {"duk": {"criteria": ["usia", "pangkat"], "statuses": ["PNS"]}}
    monkeypatch.setattr(lists, "reporting_lists", lambda: config)
    assert lists.duk_order() == ("date_of_birth ASC NULLS LAST, golongan_rank DESC NULLS LAST, "
                                 "tmt_golongan ASC NULLS LAST, nip ASC")
    config["duk"]["criteria"] = ["pangkat", "kesetiaan"]
    with pytest.raises(ConfigError) as refused:
        lists.duk_order()
    assert refused.value.field == "duk.criteria"
