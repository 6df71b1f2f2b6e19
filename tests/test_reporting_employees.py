"""The reporting service's employee list (issue 15 parts 1-2) against real RabbitMQ and
PostgreSQL: a generated province registered and changed through records' own use cases, the
read model caught up from the records feed, every search equal to the same filter computed here
from what the test itself sent; scoping per role; confidential fields never listed; a rebuilt
read model equal to the live one; a stalled one reported by health."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records import domain as records_domain
from services.records.service import RecordsService
from services.reporting import domain
from services.reporting.service import EMPLOYEES, ReportingService
from shared.calendar import today_wib
from shared.errors import Forbidden
from shared.subscriptions import lock_key
from shared.testing import wait_for
from simasn_cli.main import main
from tests.helpers import fetch, raises_code, signed
from tests.records_helpers import ADMIN, AUDITOR, principal

OPDS = ("dinkes", "dindik", "dkp")
REGIONS = {"3507": "Dinas Kesehatan Kabupaten Malang", "3578": "Dinas Pendidikan Kota Surabaya"}
FIRST = ("Siti", "Budi", "Agus", "Dewi", "Rina", "Joko", "Sri", "Wahyu")
LAST = ("Rahayu", "Santoso", "Wibowo", "Lestari", "Pratama", "Hidayat")
JABATAN = (("fungsional", "Analis Kepegawaian"), ("pelaksana", "Pengadministrasi Umum"),
           ("struktural", "Kepala Seksi Data"))
#: what the list shows, compared field by field with what the test expects
SHOWN = ("name", "instansi", "opd_id", "opd_name", "status", "gender", "date_of_birth",
         "education_id", "golongan", "tmt_golongan", "jabatan", "jenis_jabatan", "tmt_cpns")
FASIL_DKP = principal("fas.dkp", ["fasilitator"], ["dkp", "dinkes"])
REGION_3507 = principal("kabkota-3507", ["machine"])


@dataclass
class Person:
    nip: str
    data: dict
    pangkat: list = field(default_factory=list)  # (golongan, tmt)
    jabatan: list = field(default_factory=list)  # (jenis, nama, tmt)

    def expected(self) -> dict:
        """What the list must say of this employee, derived here from what was sent."""
        out = {k: self.data.get(k) for k in SHOWN}
        out["tmt_golongan"] = self.data.get("tmt_cpns")
        if self.pangkat:
            out["golongan"], out["tmt_golongan"] = max(self.pangkat, key=lambda p: p[1])
        out["jabatan"] = out["jenis_jabatan"] = None
        if self.jabatan:
            jenis, nama, _ = max(self.jabatan, key=lambda j: j[2])
            out["jabatan"], out["jenis_jabatan"] = nama, jenis
        return out


def _golongan_within(education: str, rng: random.Random) -> str:
    ranks = domain.golongan_ranks()
    allowed = [g for g in ranks if not records_domain.golongan_problems(g, education)]
    return rng.choice(sorted(allowed, key=ranks.get)[:8])


def generate(count: int, seed: int = 15) -> list[Person]:
    """`count` employees across three provincial OPDs and two kabupaten/kota, with NIPs that
    agree with their birth date, TMT and gender (records checks them)."""
    rng = random.Random(seed)
    people = []
    for n in range(count):
        born = date(rng.randint(1966, 2000), rng.randint(1, 12), rng.randint(1, 28))
        gender = rng.choice("LP")
        status = rng.choice(("PNS", "PNS", "PNS", "CPNS", "PPPK"))
        tmt = date(max(born.year + 19, 2000) + rng.randint(0, 5), rng.randint(1, 12), 1)
        month = f"{tmt.month:02d}" if status != "PPPK" else "21"
        nip = f"{born:%Y%m%d}{tmt.year}{month}{'1' if gender == 'L' else '2'}{n + 1:03d}"
        education = rng.choice(("15", "30", "40", "40", "45"))
        data = {"nip": nip, "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n}",
                "date_of_birth": born.isoformat(), "gender": gender, "status": status,
                "education_id": education, "golongan": _golongan_within(education, rng),
                # a health note on every one: confidential, never in a list
                "catatan_kesehatan": "alergi"}
        if status != "PPPK":
            data["tmt_cpns"] = tmt.isoformat()
        where = n % 5
        if where < 3:
            data.update(instansi="35", opd_id=OPDS[where])
        else:
            code = sorted(REGIONS)[where - 3]
            data.update(instansi=code, opd_id=f"{code}.unit-{n % 2}", opd_name=REGIONS[code])
        people.append(Person(nip, data))
    return people


@pytest.fixture
def stack(own_database, service_config, container_factory):
    config = {**service_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.2, "PROJECTION_WATCH_SECONDS": 0.2,
              "PROJECTION_STALL_SECONDS": 1.0}
    for cls in (RecordsService, ReportingService):
        container_factory(cls, config).start()
    return config


def call(config, context, service="reporting"):
    return ServiceRpcProxy(service, config, context_data=signed(context, config))


def build_province(config, people: list[Person], rng: random.Random) -> None:
    """Register everyone, then pangkat and jabatan entries and applied proposals for some."""
    with call(config, ADMIN, "records") as records:
        for person in people:
            version = records.register_employee(person.data, "data awal")["version"]
            if rng.random() < 0.4 and person.data.get("tmt_cpns"):
                tmt = date.fromisoformat(person.data["tmt_cpns"])
                for step in range(rng.randint(1, 2)):
                    golongan = _golongan_within(person.data["education_id"], rng)
                    when = tmt.replace(year=tmt.year + 2 * (step + 1)).isoformat()
                    version = records.record_history(person.nip, {
                        "history": "pangkat", "entry": {"golongan": golongan, "tmt": when},
                        "expected_version": version, "reason": "SK KP"})["version"]
                    person.pangkat.append((golongan, when))
            if rng.random() < 0.5:
                for step in range(rng.randint(1, 2)):
                    jenis, nama = rng.choice(JABATAN)
                    when = f"{2019 + 2 * step}-0{step + 1}-01"
                    version = records.record_history(person.nip, {
                        "history": "jabatan", "entry": {"jenis_jabatan": jenis,
                                                        "nama_jabatan": nama, "tmt": when},
                        "expected_version": version, "reason": "SK jabatan"})["version"]
                    person.jabatan.append((jenis, nama, when))
    for person in people[::7]:  # the pegawai's own proposal, applied by BKD
        new_name = person.data["name"] + " Rahayu"
        with call(config, principal(person.nip, ["pegawai"]), "records") as records:
            proposed = records.propose_change(person.nip, {"changes": {"name": new_name}})
        with call(config, ADMIN, "records") as records:
            records.decide_change(person.nip, {"change_id": proposed["change_id"], "apply": True,
                                               "reason": "sesuai KTP",
                                               "expected_version": proposed["version"]})
        person.data["name"] = new_name


def caught_up(url) -> bool:
    head = fetch(url, "SELECT last_position FROM records.event_log_head")[0][0]
    rows = fetch(url, "SELECT position FROM reporting.subscriptions WHERE name = %s AND "
                      "source = 'records'", (EMPLOYEES,))
    return bool(rows) and rows[0][0] >= head


def find_all(config, context, **query) -> list[dict]:
    """Every page of a search, concatenated."""
    items, offset = [], 0
    with call(config, context) as reporting:
        while True:
            page = reporting.find_employees({**query, "limit": 7, "offset": offset})
            items += page["items"]
            if not page["has_more"]:
                return items
            offset += 7


def age(person: Person) -> int:
    return domain.age_on(date.fromisoformat(person.data["date_of_birth"]), today_wib())


def test_searches_equal_the_filters_computed_here_for_every_role(stack, own_database):
    people = generate(45)
    build_province(stack, people, random.Random(7))
    wait_for(lambda: caught_up(own_database), message="the list caught up with records")
    by_nip = {p.nip: p for p in people}

    everyone = find_all(stack, ADMIN)
    assert [i["nip"] for i in everyone] == sorted(by_nip)
    for item in everyone:  # every field as the events say, nothing confidential
        assert {k: item[k] for k in SHOWN} == by_nip[item["nip"]].expected(), item["nip"]
        assert not set(item) & {"catatan_kesehatan", "nik", "address", "phone", "email"}
        assert item["age"] == age(by_nip[item["nip"]])
    columns = {r[0] for r in fetch(own_database, "SELECT column_name FROM "
                                   "information_schema.columns WHERE table_schema = "
                                   "'reporting' AND table_name = 'employees'")}
    assert "catatan_kesehatan" not in columns
    assert not fetch(own_database, "SELECT 1 FROM reporting.employees WHERE field_versions ? "
                                   "'catatan_kesehatan'")

    def nips(context, **query):
        return [i["nip"] for i in find_all(stack, context, **query)]

    def expect(pred):
        return sorted(p.nip for p in people if pred(p))

    some = people[4]
    assert nips(ADMIN, name="RAHAYU") == expect(lambda p: "rahayu" in p.data["name"].lower())
    assert nips(ADMIN, nip=some.nip) == [some.nip]
    assert nips(ADMIN, nip=some.nip[:6]) == expect(lambda p: p.nip.startswith(some.nip[:6]))
    assert nips(ADMIN, instansi="3507") == expect(lambda p: p.data["instansi"] == "3507")
    assert nips(ADMIN, opd_id="dinkes") == expect(lambda p: p.data["opd_id"] == "dinkes")
    golongan = some.expected()["golongan"]
    assert nips(ADMIN, golongan=golongan) == expect(lambda p: p.expected()["golongan"] ==
                                                    golongan)
    assert nips(ADMIN, jabatan="analis") == expect(lambda p: "analis" in (
        p.expected()["jabatan"] or "").lower())
    assert nips(ADMIN, jenis_jabatan="struktural") == expect(
        lambda p: p.expected()["jenis_jabatan"] == "struktural")
    assert nips(ADMIN, status="CPNS") == expect(lambda p: p.data["status"] == "CPNS")
    assert nips(ADMIN, gender="P", age_band="40-49") == expect(
        lambda p: p.data["gender"] == "P" and 40 <= age(p) <= 49)
    assert nips(ADMIN, age_min=30, age_max=35) == expect(lambda p: 30 <= age(p) <= 35)
    assert nips(ADMIN, education_id="40", instansi="35") == expect(
        lambda p: p.data["education_id"] == "40" and p.data["instansi"] == "35")
    assert nips(ADMIN, name="zzzz") == []

    # orders: pages of 7 put together are the whole list in the order computed here
    assert nips(ADMIN, sort="-date_of_birth") == [p.nip for p in sorted(
        people, key=lambda p: (p.data["date_of_birth"], p.nip), reverse=True)]
    ranks = domain.golongan_ranks()
    assert nips(ADMIN, sort="golongan") == [p.nip for p in sorted(
        people, key=lambda p: (ranks[p.expected()["golongan"]], p.nip))]
    assert nips(ADMIN, sort="name") == [p.nip for p in sorted(
        people, key=lambda p: (p.data["name"].lower(), p.nip))]

    # who sees whom
    assert nips(AUDITOR) == sorted(by_nip)
    assert nips(FASIL_DKP) == expect(lambda p: p.data["instansi"] == "35"
                                     and p.data["opd_id"] in ("dkp", "dinkes"))
    assert nips(FASIL_DKP, opd_id="dindik") == [], "another OPD: nothing, not an error"
    assert nips(REGION_3507) == expect(lambda p: p.data["instansi"] == "3507")
    assert nips(REGION_3507, instansi="3578") == []
    for nobody in (principal(some.nip, ["pegawai"]), principal("kabkota-35", ["machine"]),
                   principal("bpjs-sby", ["machine"])):
        with call(stack, nobody) as reporting, pytest.raises(Forbidden):
            reporting.find_employees({})

    # a bad query is refused naming its field
    with call(stack, ADMIN) as reporting:
        for bad, name in (({"sort": "gaji"}, "sort"), ({"limit": 101}, "limit"),
                          ({"golongan": "V/z"}, "golongan"), ({"offset": 10001}, "offset"),
                          ({"name": "ab"}, "name"), ({"age_band": "30-39", "age_min": 30},
                                                     "age_band")):
            with raises_code("validation_failed") as refused:
                reporting.find_employees(bad)
            assert refused.value.field == name
        page = reporting.find_employees({"limit": 3})
    head = fetch(own_database, "SELECT last_position FROM records.event_log_head")[0][0]
    assert page["position"] == head and page["has_more"] and len(page["items"]) == 3


def snapshot(url) -> list[tuple]:
    return fetch(url, "SELECT nip, name, instansi, opd_id, opd_name, status, retired, gender, "
                      "date_of_birth, education_id, golongan, golongan_rank, tmt_golongan, "
                      "jabatan, jenis_jabatan, tmt_jabatan, tmt_cpns, field_versions::text, "
                      "stream_version, position FROM reporting.employees ORDER BY nip")


def test_a_rebuilt_list_equals_the_live_one_and_status_shows_no_lag(stack, own_database,
                                                                    capsys):
    people = generate(20, seed=3)
    build_province(stack, people, random.Random(3))
    wait_for(lambda: caught_up(own_database), message="the list caught up with records")
    live = snapshot(own_database)
    assert len(live) == 20
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:  # a read model gone wrong
        cur.execute("UPDATE reporting.employees SET golongan = 'I/a', name = 'salah'")
        cur.execute("DELETE FROM reporting.employees WHERE nip = %s", (people[0].nip,))
    conn.close()
    assert snapshot(own_database) != live
    assert main(["projections", "rebuild", EMPLOYEES, "--wait", "60", "--no-progress"]) == 0
    rebuilt = snapshot(own_database)
    # rebuilt from the feed in log order: the same rows (positions and versions included)
    assert rebuilt == live
    capsys.readouterr()
    assert main(["projections", "status", "--json"]) == 0
    rows = {(r["consumer"], r["source"]): r for r in json.loads(capsys.readouterr().out)}
    status = rows[(EMPLOYEES, "records")]
    assert status["lag"] == 0 and status["rebuildable"] is True and status["stalled"] is False


def test_a_restarted_service_resumes_from_its_position(own_database, service_config,
                                                      container_factory):
    """Stopped and started again, the list goes on from where it was: the rows it had are not
    applied again (their `updated_at` stays), the events written meanwhile are."""
    config = {**service_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.2}
    container_factory(RecordsService, config).start()
    reporting = container_factory(ReportingService, config)
    reporting.start()
    people = generate(6, seed=21)
    build_province(config, people[:3], random.Random(4))
    wait_for(lambda: caught_up(own_database), message="caught up")
    before = fetch(own_database, "SELECT nip, updated_at FROM reporting.employees ORDER BY 1")
    reporting.stop()
    build_province(config, people[3:], random.Random(5))
    container_factory(ReportingService, config).start()
    wait_for(lambda: caught_up(own_database), message="caught up after the restart")
    after = dict(fetch(own_database, "SELECT nip, updated_at FROM reporting.employees"))
    assert sorted(after) == sorted(p.nip for p in people)
    assert all(after[nip] == stamp for nip, stamp in before), "nothing applied twice"


def test_a_stalled_list_is_reported_by_health_until_it_moves(stack, own_database, capsys):
    people = generate(3, seed=9)
    build_province(stack, people[:1], random.Random(1))
    wait_for(lambda: caught_up(own_database), message="caught up")

    def health():
        with call(stack, ADMIN) as reporting:
            return reporting.health()

    wait_for(lambda: health()["projections"], message="the watch has looked")
    answer = health()
    assert answer["status"] == "ok"
    # the list's own subscription (monev's read models are watched beside it)
    (seen,) = [p for p in answer["projections"] if p["name"] == EMPLOYEES]
    assert (seen["name"], seen["source"], seen["stalled"]) == (EMPLOYEES, "records", False)

    # the catch-up cannot run (its lock held elsewhere) and no live event arrives (no relay)
    blocker = psycopg2.connect(own_database)
    blocker.autocommit = True
    with blocker.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtext(%s))",
                    (lock_key("reporting", EMPLOYEES, "records"),))
    try:
        build_province(stack, people[1:], random.Random(2))
        stalled = wait_for(lambda: (lambda h: h if h["status"] == "degraded" else None)(
            health()), message="health reports the stall")
        (seen,) = [p for p in stalled["projections"] if p["name"] == EMPLOYEES]
        assert seen["stalled"] and seen["lag"] > 0 and seen["behind_seconds"] >= 1.0
        capsys.readouterr()
        assert main(["projections", "status", "--json", "--stall-seconds", "1"]) == 0
        out = capsys.readouterr()
        rows = {(r["consumer"], r["source"]): r for r in json.loads(out.out)}
        assert rows[(EMPLOYEES, "records")]["stalled"] is True
        assert f"{EMPLOYEES} is stalled" in out.err
    finally:
        with blocker.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))",
                        (lock_key("reporting", EMPLOYEES, "records"),))
        blocker.close()
    wait_for(lambda: caught_up(own_database), message="it moves again")
    wait_for(lambda: health()["status"] == "ok", message="the alarm ends")
    assert sorted(i["nip"] for i in find_all(stack, ADMIN)) == sorted(p.nip for p in people)


def test_events_folded_in_any_order_give_the_same_row():
    """A live delivery does not wait for a catch-up running elsewhere, so one employee's events
    can be applied out of order: each field keeps the newest version's value, the golongan and
    jabatan in force are the entries with the latest TMT."""
    events = [
        ("EmployeeRegistered", 1, {"nip": "1" * 18, "name": "Siti", "golongan": "III/a",
                                   "tmt_cpns": "2015-03-01", "opd_id": "dkp", "status": "CPNS",
                                   "instansi": "35"}),
        ("HistoryEntryRecorded", 2, {"history": "pangkat", "entry_id": "a",
                                     "entry": {"golongan": "III/b", "tmt": "2019-04-01"}}),
        ("DataPokokChanged", 3, {"changes": {"name": "Siti Rahayu", "golongan": "II/a"}}),
        ("HistoryEntryRecorded", 4, {"history": "jabatan", "entry_id": "b", "entry": {
            "jenis_jabatan": "fungsional", "nama_jabatan": "Analis", "tmt": "2020-01-01"}}),
        ("LayananOutcomeApplied", 5, {"changes": {"status": "PNS", "golongan": "III/c"},
                                      "entries": [{"history": "pangkat", "entry_id": "c",
                                                   "entry": {"golongan": "III/c",
                                                             "tmt": "2023-04-01"}}]}),
        ("HistoryEntryRecorded", 6, {"history": "pangkat", "entry_id": "d",
                                     "entry": {"golongan": "III/a", "tmt": "2016-01-01"}}),
        ("HistoryEntryRecorded", 7, {"entry_id": "e", "withheld": True}),
        ("DataPokokChanged", 8, {"changes": {"name": "Siti R."}}),
    ]
    rows = []
    for seed in range(30):
        shuffled = random.Random(seed).sample(events, len(events))
        row = domain.EmployeeRow.empty("1" * 18)
        for event_type, version, payload in shuffled:
            row.apply(event_type, version, payload)
        rows.append(({k: row.values.get(k) for k in domain.COLUMNS}, row.stream_version))
    assert all(r == rows[0] for r in rows)
    values, version = rows[0]
    assert (values["name"], values["status"], values["golongan"], values["tmt_golongan"],
            values["jabatan"], version) == ("Siti R.", "PNS", "III/c", "2023-04-01", "Analis", 8)
