"""Monitoring and evaluation (issue 15 part 3) against real RabbitMQ and PostgreSQL: a generated
province registered, documented and changed through records' own use cases, fasilitators made
through identity's; the completeness read model caught up from the records feed, the
fasilitators' OPDs from identity's. Every figure is compared with one computed here from what
the test itself sent, by rules written out here from the catalogue (not by calling the code
under test); scoping per role; confidential documents never seen; the daily trend; a rebuilt
read model equal to the live one."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.identity.service import IdentityService
from services.records.service import RecordsService
from services.reporting import monev
from services.reporting.service import ASSIGNMENTS, COMPLETENESS, ReportingService
from services.reporting.usecases import reports
from shared.calendar import WIB, today_wib
from shared.errors import Forbidden
from shared.objectstore import FileSystemStore
from shared.reference import document_slots
from shared.testing import wait_for
from simasn_cli.main import main
from tests.document_samples import pdf_with_text
from tests.helpers import fetch, raises_code, signed
from tests.identity_helpers import People
from tests.records_helpers import ADMIN, AUDITOR, principal

REFERENCE = Path(__file__).resolve().parent.parent / "shared" / "reference"
OPDS = ("dinkes", "dindik", "dkp")
REGIONS = {"3507": "Dinas Kesehatan Kabupaten Malang", "3578": "Dinas Pendidikan Kota Surabaya"}
OPTIONAL = ("birth_place", "religion", "marital_status", "address", "email", "phone", "unit")
REGION_3507 = principal("kabkota-3507", ["machine"])


@dataclass
class Person:
    nip: str
    data: dict
    slots: set = field(default_factory=set)

    def filled(self) -> set:
        return {k for k, v in self.data.items() if v not in (None, "") and k != "nip"}


def _months_later(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    while True:
        try:
            return date(year, month, day.day)
        except ValueError:
            day = day.replace(day=day.day - 1)


def expected_of(person: Person, today: date) -> dict:
    """What monev must say of this person, from the configuration files read here: the base
    set for their status, and the record documents of the layanan they will soon need
    (PENSIUN: BUP at 58 within 15 months; KP: 4 years in rank within 6 months; CPNS_PNS;
    KGB), confidential slots never."""
    config = json.loads((REFERENCE / "completeness.json").read_text())
    catalogue = {e["kode"]: e for e in json.loads(
        (REFERENCE / "layanan.json").read_text())["layanan"]}
    confidential = {s["code"] for s in json.loads(
        (REFERENCE / "document-slots.json").read_text())["slots"] if s["confidential"]}
    status = person.data["status"]
    fields = config["base"]["all"]["fields"] + config["base"][status]["fields"]
    documents = config["base"]["all"]["documents"] + config["base"][status]["documents"]
    born = date.fromisoformat(person.data["date_of_birth"])
    layanan = []
    bup = _months_later(date(born.year + 58, born.month, 1), 1)
    if status == "PNS" and bup <= _months_later(today, 15):
        layanan.append("PENSIUN")
    tmt = date.fromisoformat(person.data["tmt_cpns"]) if person.data.get("tmt_cpns") else None
    if status == "PNS" and tmt and _months_later(tmt, 48) <= _months_later(today, 6):
        layanan.append("KENAIKAN_PANGKAT")
    if status == "CPNS":
        layanan.append("CPNS_PNS")
    if status in ("PNS", "CPNS"):
        layanan.append("KGB")
    for kode in layanan:
        for doc in catalogue[kode]["documents"]:
            slot = config["layanan_documents"].get(doc["code"])
            if doc.get("mandatory") and slot and slot not in confidential:
                documents.append(slot)
    fields, documents = list(dict.fromkeys(fields)), list(dict.fromkeys(documents))
    missing_fields = [f for f in fields if f not in person.filled()]
    missing_documents = [d for d in documents if d not in person.slots]
    required = len(fields) + len(documents)
    present = required - len(missing_fields) - len(missing_documents)
    return {"layanan": layanan, "missing_fields": missing_fields,
            "missing_documents": missing_documents, "required": required, "present": present,
            "complete": present == required}


def _nik(born: date, gender: str, n: int) -> str:
    day = born.day + (40 if gender == "P" else 0)
    return f"357801{day:02d}{born:%m}{born.year % 100:02d}{n + 1:04d}"


def generate(count: int, seed: int) -> list[Person]:
    """`count` employees across three provincial OPDs and two kabupaten/kota: some near their
    BUP, some CPNS, PPPK; optional fields filled at random, every sixth one fully."""
    rng = random.Random(seed)
    today = today_wib()
    people = []
    for n in range(count):
        if n % 4 == 0:  # within 15 months of 58
            born = date(today.year - 58 + rng.choice((0, 1)), rng.randint(1, 12),
                        rng.randint(1, 28))
        else:
            born = date(rng.randint(1970, 2000), rng.randint(1, 12), rng.randint(1, 28))
        gender = rng.choice("LP")
        status = rng.choice(("PNS", "PNS", "PNS", "CPNS", "PPPK"))
        tmt = date(max(born.year + 20, 2000) + rng.randint(0, 5), rng.randint(1, 12), 1)
        if status == "CPNS":
            tmt = date(today.year - 1, rng.randint(1, 12), 1)
        month = f"{tmt.month:02d}" if status != "PPPK" else "21"
        nip = f"{born:%Y%m%d}{tmt.year}{month}{'1' if gender == 'L' else '2'}{n + 1:03d}"
        data = {"nip": nip, "name": f"Pegawai {n}", "date_of_birth": born.isoformat(),
                "gender": gender, "status": status, "education_id": "40",
                "catatan_kesehatan": "alergi"}
        if status != "PPPK":
            data.update(tmt_cpns=tmt.isoformat(), golongan="III/a")
        if status == "PNS":
            data["tmt_pns"] = tmt.replace(year=tmt.year + 1).isoformat()
        full = n % 6 == 1
        if full or rng.random() < 0.6:
            data["nik"] = _nik(born, gender, n)
        for name in OPTIONAL:
            if full or rng.random() < 0.6:
                data[name] = {"email": f"p{n}@mail.test", "phone": "081234567"}.get(
                    name, f"isi {name}")
        where = n % 5
        if where < 3:
            data.update(instansi="35", opd_id=OPDS[where])
        else:
            code = sorted(REGIONS)[where - 3]
            data.update(instansi=code, opd_id=f"{code}.unit-{n % 2}", opd_name=REGIONS[code])
        people.append(Person(nip, data))
    return people


@pytest.fixture
def stack(own_database, identity_config, container_factory):
    config = {**identity_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.2, "PROJECTION_WATCH_SECONDS": 5,
              "MONEV_SNAPSHOT_SECONDS": 0.3}
    for cls in (IdentityService, RecordsService, ReportingService):
        container_factory(cls, config).start()
    people = People(config)
    yield config, people
    people.close()


def call(config, context, service="reporting"):
    return ServiceRpcProxy(service, config, context_data=signed(context, config))


def build_province(config, people: list[Person], rng: random.Random) -> None:
    """Register everyone; one uploaded PDF each (most of them) attached to some slots (all the
    required ones for the full ones); a confidential slot for some; the pegawai's own address
    proposal applied by BKD for some who had none."""
    today = today_wib()
    store = FileSystemStore(config["DOCUMENT_ROOT"])
    public = [s for s, v in document_slots().items() if not v["confidential"]]
    with call(config, ADMIN, "records") as records:
        for n, person in enumerate(people):
            version = records.register_employee(person.data, "data awal")["version"]
            if n % 7 == 3:
                continue  # no document at all
            stored = store.put(pdf_with_text(marker=person.nip))
            sha = records.upload_document(stored.sha256, "dok.pdf", person.nip)["sha256"]
            wanted = rng.sample(public, rng.randint(1, 6))
            if n % 6 == 1:
                wanted = list(set(wanted) | set(expected_of(person, today)["missing_documents"]))
            if n % 5 == 2:
                wanted.append("surat_keterangan_sehat")  # confidential: never reported
            for slot in wanted:
                version = records.attach_document(person.nip, {
                    "slot": slot, "sha256": sha, "expected_version": version,
                    "reason": "unggah dokumen"})["version"]
                if slot in public:
                    person.slots.add(slot)
    for person in people[::4]:
        if person.data.get("address"):
            continue
        with call(config, principal(person.nip, ["pegawai"]), "records") as records:
            proposed = records.propose_change(person.nip, {"changes": {"address": "Jl. Baru 1"}})
        with call(config, ADMIN, "records") as records:
            records.decide_change(person.nip, {"change_id": proposed["change_id"], "apply": True,
                                               "reason": "sesuai KTP",
                                               "expected_version": proposed["version"]})
        person.data["address"] = "Jl. Baru 1"


def caught_up(url, name, source="records", log="records") -> bool:
    head = fetch(url, f"SELECT last_position FROM {log}.event_log_head")[0][0]
    rows = fetch(url, "SELECT position FROM reporting.subscriptions WHERE name = %s AND "
                      "source = %s", (name, source))
    return bool(rows) and rows[0][0] >= head


def _figures(items: list[dict]) -> dict:
    required = sum(i["required"] for i in items)
    present = sum(i["present"] for i in items)
    complete = sum(i["complete"] for i in items)
    return {"employees": len(items), "complete": complete,
            "complete_percent": round(100.0 * complete / len(items), 2),
            "required": required, "present": present,
            "percent": round(100.0 * present / required, 2)}


def rollup(config, context, **query) -> list[dict]:
    with call(config, context) as reporting:
        return reporting.monev_completeness(query)["items"]


def missing_all(config, context, **query) -> list[dict]:
    items, offset = [], 0
    with call(config, context) as reporting:
        while True:
            page = reporting.monev_missing({**query, "limit": 9, "offset": offset})
            items += page["items"]
            if not page["has_more"]:
                return items
            offset += 9


def test_completeness_rollups_missing_lists_trend_and_rebuild(stack, own_database):
    config, accounts = stack
    people = generate(30, seed=15)
    build_province(config, people, random.Random(5))
    fas_a = accounts.staff(["fasilitator"], ["dinkes", "dkp"])
    fas_b = accounts.staff(["fasilitator"], ["dindik"])
    with call(config, ADMIN, "identity") as identity:  # B takes dkp too (OpdScopeChanged)
        identity.set_opd_scope(fas_b, {"opd_scope": ["dindik", "dkp"], "reason": "mutasi tugas"})
    wait_for(lambda: caught_up(own_database, COMPLETENESS), message="completeness caught up")
    wait_for(lambda: caught_up(own_database, "reporting.employees"), message="list caught up")
    wait_for(lambda: caught_up(own_database, ASSIGNMENTS, "identity", "identity"),
             message="assignments caught up")
    today = today_wib()
    expected = {p.nip: {**expected_of(p, today), "person": p} for p in people}
    assert any(e["complete"] for e in expected.values()), "the province has complete ones"
    assert any("PENSIUN" in e["layanan"] for e in expected.values())
    assert any("CPNS_PNS" in e["layanan"] for e in expected.values())

    # nothing confidential kept: no health note, no confidential slot
    assert not fetch(own_database, "SELECT 1 FROM reporting.completeness WHERE fields ? "
                                   "'catatan_kesehatan' OR slots ? 'surat_keterangan_sehat'")

    # per OPD, per instansi, per fasilitator: equal to the sums computed here
    by_opd: dict[tuple, list] = {}
    by_instansi: dict[str, list] = {}
    for e in expected.values():
        data = e["person"].data
        by_opd.setdefault((data["instansi"], data["opd_id"]), []).append(e)
        by_instansi.setdefault(data["instansi"], []).append(e)
    got = {(r["instansi"], r["opd_id"]): r for r in rollup(config, ADMIN, group="opd")}
    assert sorted(got) == sorted(by_opd)
    for key, items in by_opd.items():
        assert {k: got[key][k] for k in _figures(items)} == _figures(items), key
    assert got[("35", "dinkes")]["opd_name"] == "Dinas Kesehatan"
    got = {r["instansi"]: r for r in rollup(config, AUDITOR, group="instansi")}
    assert sorted(got) == sorted(by_instansi)
    for code, items in by_instansi.items():
        assert {k: got[code][k] for k in _figures(items)} == _figures(items), code
    fasil = {r["account_id"]: r for r in rollup(config, ADMIN, group="fasilitator")}
    assert sorted(fasil) == sorted([fas_a, fas_b])
    for account, opds in ((fas_a, ("dinkes", "dkp")), (fas_b, ("dindik", "dkp"))):
        items = [e for (inst, opd), es in by_opd.items() if inst == "35" and opd in opds
                 for e in es]
        assert {k: fasil[account][k] for k in _figures(items)} == _figures(items), account
        assert fasil[account]["opd_ids"] == ", ".join(sorted(opds))

    # who sees which rollup
    fas_a_ctx = principal(fas_a, ["fasilitator"], ["dinkes", "dkp"])
    assert sorted((r["instansi"], r["opd_id"]) for r in rollup(config, fas_a_ctx)) == [
        ("35", "dinkes"), ("35", "dkp")]
    assert [r["account_id"] for r in rollup(config, fas_a_ctx, group="fasilitator")] == [fas_a]
    assert {r["instansi"] for r in rollup(config, REGION_3507)} == {"3507"}
    assert rollup(config, REGION_3507, group="fasilitator") == []
    pegawai = principal(people[0].nip, ["pegawai"])
    with call(config, pegawai) as reporting, pytest.raises(Forbidden):
        reporting.monev_completeness({})

    # each employee's missing list, in (instansi, OPD, NIP) order
    def order(p):
        return (p.data["instansi"], p.data["opd_id"], p.nip)

    incomplete = sorted((e["person"] for e in expected.values() if not e["complete"]), key=order)
    listed = missing_all(config, ADMIN)
    assert [i["nip"] for i in listed] == [p.nip for p in incomplete]
    for item in listed:
        e = expected[item["nip"]]
        assert [f["field"] for f in item["missing_fields"]] == e["missing_fields"]
        assert [d["slot"] for d in item["missing_documents"]] == e["missing_documents"]
        assert item["layanan"] == e["layanan"] and item["percent"] == round(
            100.0 * e["present"] / e["required"], 2)
        assert "surat_keterangan_sehat" not in json.dumps(item)
    everyone = missing_all(config, AUDITOR, incomplete_only=False)
    assert len(everyone) == len(people)
    pensiun = missing_all(config, ADMIN, layanan="PENSIUN", incomplete_only=False)
    assert [i["nip"] for i in pensiun] == [p.nip for p in sorted(
        (e["person"] for e in expected.values() if "PENSIUN" in e["layanan"]), key=order)]
    assert {i["opd_id"] for i in missing_all(config, fas_a_ctx, incomplete_only=False)} == {
        "dinkes", "dkp"}
    assert missing_all(config, fas_a_ctx, opd_id="dindik") == []
    assert {i["instansi"] for i in missing_all(config, REGION_3507, incomplete_only=False)} == {
        "3507"}
    # the registered report streams the same rows (what exports and charts read)
    with call(config, ADMIN) as reporting:
        one = reporting.monev_employee(people[0].nip)
    assert one["missing_documents"] == [{"slot": s, "name": document_slots()[s]["nama"]}
                                        for s in expected[people[0].nip]["missing_documents"]]
    with call(config, pegawai) as reporting:
        assert reporting.monev_employee(people[0].nip)["nip"] == people[0].nip
        with pytest.raises(Forbidden):
            reporting.monev_employee(people[1].nip)
        with pytest.raises(Forbidden):
            reporting.monev_missing({})
    dindik_person = next(p for p in people if p.data["opd_id"] == "dindik")
    with call(config, fas_a_ctx) as reporting, raises_code("not_found"):
        reporting.monev_employee(dindik_person.nip)
    with call(config, ADMIN) as reporting:
        for bad, name in (({"group": "golongan"}, "group"), ({"opd_id": "X Y"}, "opd_id"),
                          ({"instansi": "9999"}, "instansi")):
            with raises_code("validation_failed") as refused:
                reporting.monev_completeness(bad)
            assert refused.value.field == name
        with raises_code("validation_failed") as refused:
            reporting.monev_missing({"layanan": "GAJI"})
        assert refused.value.field == "layanan"
        with raises_code("not_found") as refused:  # a path naming nobody, as every NIP path
            reporting.monev_employee("123")
        assert refused.value.field == "nip"
    assert {"monev_completeness", "monev_missing", "monev_completeness_trend",
            "monev_workload"} <= set(reports.REPORTS)
    assert reports.REPORTS["monev_missing"].personal
    assert not reports.REPORTS["monev_completeness_trend"].personal

    # the trend: the timer's snapshot of today equals the rollup; once per OPD and day
    def todays():
        return {(r[0], r[1]): r[2:] for r in fetch(
            own_database, "SELECT instansi, opd_id, employees, complete, required, present, "
                          "percent::float FROM reporting.completeness_daily WHERE day = %s",
            (today,))}

    want = {key: (f["employees"], f["complete"], f["required"], f["present"], f["percent"])
            for key, f in ((k, _figures(v)) for k, v in by_opd.items())}
    wait_for(lambda: todays() == want, message="today's snapshot equals the rollup")
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:  # what earlier days' timers left
        for back in (1, 2, 40):
            cur.execute("INSERT INTO reporting.completeness_daily (day, instansi, opd_id, "
                        "employees, complete, required, present, percent) VALUES "
                        "(%s, '35', 'dinkes', 5, 1, 100, %s, %s)",
                        (today - timedelta(days=back), 50 + back, 50 + back))
    conn.close()
    wait_for(lambda: fetch(own_database, "SELECT count(*) FROM reporting.completeness_daily")[
        0][0] == len(want) + 3 and todays() == want, message="the timer runs on, idempotent")
    with call(config, fas_a_ctx) as reporting:
        trend = reporting.monev_trend({"from": (today - timedelta(days=5)).isoformat(),
                                       "opd_id": "dinkes"})["items"]
    assert [(t["day"], t["percent"]) for t in trend] == [
        ((today - timedelta(days=2)).isoformat(), 52.0),
        ((today - timedelta(days=1)).isoformat(), 51.0),
        (today.isoformat(), want[("35", "dinkes")][4])]
    with call(config, fas_a_ctx) as reporting:
        assert {t["opd_id"] for t in reporting.monev_trend({})["items"]} == {"dinkes", "dkp"}
        with raises_code("validation_failed") as refused:
            reporting.monev_trend({"from": "2026-02-01", "to": "2026-01-01"})
        assert refused.value.field == "from"
    with call(config, REGION_3507) as reporting:
        assert {t["instansi"] for t in reporting.monev_trend({})["items"]} == {"3507"}

    # a rebuild gives the same read models
    def presence():
        return fetch(own_database, "SELECT nip, fields::text, slots::text, stream_version, "
                                   "position FROM reporting.completeness ORDER BY nip")

    def assigned():
        return fetch(own_database, "SELECT account_id, display_name, opd_scope, active FROM "
                                   "reporting.fasilitators ORDER BY account_id")

    live, live_assigned = presence(), assigned()
    assert len(live) == len(people) and len(live_assigned) == 2
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE reporting.completeness SET slots = '{}'")
        cur.execute("DELETE FROM reporting.fasilitators")
    conn.close()
    assert main(["projections", "rebuild", COMPLETENESS, "--wait", "60", "--no-progress"]) == 0
    assert main(["projections", "rebuild", ASSIGNMENTS, "--wait", "60", "--no-progress"]) == 0
    assert presence() == live and assigned() == live_assigned


def test_presence_folded_in_any_order_gives_the_same_row():
    events = [
        ("EmployeeRegistered", 1, {"nip": "1" * 18, "name": "Siti", "address": "",
                                   "phone": "0812"}),
        ("DataPokokChanged", 2, {"changes": {"address": "Jl. A"}}),
        ("DocumentAttached", 3, {"slot": "ktp", "sha256": "a" * 64}),
        ("DataPokokChanged", 4, {"changes": {"phone": None}}),
        ("DocumentAttached", 5, {"withheld": True}),
        ("DocumentAttached", 6, {"slot": "ktp", "sha256": "b" * 64}),
    ]
    rows = []
    for seed in range(20):
        row = monev.Presence("1" * 18)
        for event_type, version, payload in random.Random(seed).sample(events, len(events)):
            row.apply(event_type, version, payload)
        rows.append((row.filled_fields(), row.slots, row.stream_version))
    assert all(r == rows[0] for r in rows)
    assert rows[0] == ({"name", "address"}, {"ktp": 3}, 6)


def test_assignments_folded_in_any_order():
    steps = [(1, "AccountRegistered", {"display_name": "A", "roles": ["fasilitator"],
                                       "opd_scope": ["dinkes"]}),
             (2, "RoleGranted", {"role": "auditor", "opd_scope": ["dkp"]}),
             (3, "OpdScopeChanged", {"opd_scope": ["dindik"]}),
             (4, "AccountDisabled", {}), (5, "AccountEnabled", {}),
             (6, "RoleRevoked", {"role": "fasilitator"}),
             (7, "RoleGranted", {"role": "fasilitator", "opd_scope": ["bkd"]})]
    for seed in range(10):
        shuffled = random.Random(seed).sample(steps, len(steps))
        assert monev.fold_assignment(shuffled) == {"display_name": "A", "fasilitator": True,
                                                   "opd_scope": ["bkd"], "active": True}
        assert monev.fold_assignment(shuffled[:0] + sorted(shuffled)[:3])["opd_scope"] == [
            "dindik"]


# -- verification workload and SLA per OPD ---------------------------------------------------

KGB_DOCS = ("surat_pengantar", "sk_pangkat_terakhir", "sk_kgb_terakhir", "skp_1_tahun")
OTHER_ADMIN = principal("admin2.bkd", ["administrator"])
FASIL_DKP = principal("fas.dkp", ["fasilitator"], ["dkp"])


def _kgb_employee(config, n: int, opd: str) -> str:
    """A PNS due for KGB (as tests/test_requests_workflow.py makes one)."""
    nip = f"198001012005031{n:03d}"
    with call(config, ADMIN, "records") as records:
        record = records.register_employee({
            "nip": nip, "name": f"Budi {n}", "date_of_birth": "1980-01-01", "gender": "L",
            "status": "PNS", "tmt_cpns": "2005-03-01", "opd_id": opd, "golongan": "III/a",
            "education_id": "40"}, "data awal")
        for history, entry in (("pangkat", {"golongan": "III/c", "tmt": "2021-04-01"}),
                               ("gaji_berkala", {"tmt": "2024-04-01", "gaji_pokok": 4_000_000}),
                               ("kinerja", {"tahun": 2024, "predikat": "Baik"}),
                               ("kinerja", {"tahun": 2025, "predikat": "Baik"})):
            record = records.record_history(nip, {"history": history, "entry": entry,
                                                  "expected_version": record["version"],
                                                  "reason": "riwayat"})
    return nip


def _request_in(config, n: int, opd: str, state: str) -> str:
    """A KGB request of a new employee of `opd`, taken to `state`."""
    nip = _kgb_employee(config, n, opd)
    store = FileSystemStore(config["DOCUMENT_ROOT"])
    with call(config, ADMIN, "records") as records:
        docs = {code: records.upload_document(store.put(pdf_with_text(
            marker=f"{code}-{nip}")).sha256, f"{code}.pdf", nip)["sha256"] for code in KGB_DOCS}
    pegawai = {**principal(nip, ["pegawai"]), "opd_id": opd}
    with call(config, pegawai, "requests") as svc:
        draft = svc.create_request({"layanan": "KGB", "nip": nip})
        changed = svc.change_request_documents(draft["request_id"], {
            "documents": docs, "expected_version": draft["version"]})
        rid, version = draft["request_id"], svc.submit_request(
            draft["request_id"], {"expected_version": changed["version"]})["version"]
        if state == "withdrawn":
            svc.withdraw_request(rid, {"expected_version": version, "reason": "tidak jadi"})
    if state in ("submitted", "withdrawn"):
        return rid
    with call(config, ADMIN, "requests") as admin:
        version = admin.start_verification(rid, {"expected_version": version})["version"]
        if state == "under_verification":
            return rid
        if state == "returned":
            admin.return_request(rid, {"expected_version": version,
                                       "documents": {"skp_1_tahun": "belum ditandatangani"}})
            return rid
        verdict = {"original": True, "legible": True, "matches_record": True}
        version = admin.verify_request(rid, {"expected_version": version, "checks": {
            code: verdict for code in KGB_DOCS}})["version"]
    if state == "rejected":
        with call(config, OTHER_ADMIN, "requests") as admin:
            admin.decide_request(rid, {"expected_version": version, "approve": False,
                                       "reason": "belum memenuhi syarat"})
    return rid


def _working_days(start: date, end: date, holidays: set) -> int:
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        days += day.weekday() < 5 and day not in holidays
    return days


@pytest.fixture
def workload_stack(own_database, service_config, container_factory):
    from services.requests.service import RequestsService

    config = {**service_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.2, "PROJECTION_WATCH_SECONDS": 5,
              "MONEV_SNAPSHOT_SECONDS": 3600}
    for cls in (RecordsService, RequestsService, ReportingService):
        container_factory(cls, config).start()
    return config


def test_workload_and_sla_per_opd_from_the_requests_log(workload_stack, own_database):
    from services.reporting.service import WORKLOAD
    from services.reporting.usecases import workload
    from shared.auth import Principal
    from shared.config import validate_config
    from shared.db import ServiceDatabase, make_engine
    from shared.eventstore import EventStore

    config = workload_stack
    plan = [("dkp", "submitted"), ("dkp", "submitted"), ("dkp", "under_approval"),
            ("dkp", "rejected"), ("dkp", "returned"), ("dinkes", "under_verification"),
            ("dinkes", "rejected"), ("dinkes", "withdrawn")]
    made = {_request_in(config, n + 1, opd, state): (opd, state)
            for n, (opd, state) in enumerate(plan)}
    wait_for(lambda: caught_up(own_database, WORKLOAD, "requests", "requests"),
             message="workload caught up")

    # now: every open request is 0 days old; counts per OPD and stage, scoped
    with call(config, ADMIN) as reporting:
        now = {r["opd_id"]: r for r in reporting.monev_workload({})["items"]}
    assert sorted(now) == ["dinkes", "dkp"]
    assert (now["dkp"]["open"], now["dkp"]["waiting_verification"],
            now["dkp"]["waiting_approval"], now["dkp"]["decided"]) == (3, 2, 1, 1)
    assert (now["dinkes"]["open"], now["dinkes"]["in_verification"],
            now["dinkes"]["decided"]) == (1, 1, 1)
    with call(config, FASIL_DKP) as reporting:
        assert [r["opd_id"] for r in reporting.monev_workload({})["items"]] == ["dkp"]
        assert reporting.monev_workload({"opd_id": "dinkes"})["items"] == []
    with call(config, principal("198001012005031001", ["pegawai"])) as reporting:
        with pytest.raises(Forbidden):
            reporting.monev_workload({})

    # 30 days on, some working days holidays: figures computed here from the requests log
    steps = fetch(own_database, "SELECT stream_id, event_type, recorded_at FROM requests."
                                "events WHERE stream_type = 'Request' ORDER BY position")
    first_day = {}
    for stream_id, _, recorded_at in steps:
        first_day.setdefault(stream_id.split(":", 1)[1], recorded_at.astimezone(WIB).date())
    start = min(first_day.values())
    later = start + timedelta(days=30)
    holidays = {start + timedelta(days=d) for d in (1, 2, 3, 8, 9)
                if (start + timedelta(days=d)).weekday() < 5}
    age = _working_days(start, later, holidays)
    assert age > 5, "beyond the KGB SLA of 5 working days"
    expected = {}
    for opd in ("dinkes", "dkp"):
        mine = [state for rid, (o, state) in made.items() if o == opd]
        open_ = [s for s in mine if s in ("submitted", "under_verification", "under_approval")]
        decided = [s for s in mine if s == "rejected"]
        expected[opd] = {"open": len(open_), "oldest_days": age if open_ else None,
                         "open_over_sla": len(open_), "decided": len(decided),
                         "decided_over_sla": 0, "sla_met_percent": 100.0,
                         "median_verification_days": 0.0, "median_approval_days": 0.0}
    engine = make_engine(validate_config(config).service_database_url("reporting"),
                         schema="reporting", pool_size=1)
    from services.reporting.events import REGISTRY as REPORTING_EVENTS
    db = ServiceDatabase(engine, EventStore("reporting", REPORTING_EVENTS), {})
    admin = Principal("admin.bkd", frozenset({"administrator"}), frozenset())
    with db.transaction() as uow:
        rows = list(workload.rows(uow, admin, {"year": start.year}, today=later,
                                  holidays=frozenset(holidays)))
    keys = [c.key for c in workload.COLUMNS]
    got = {r[0]: dict(zip(keys, r, strict=True)) for r in rows}
    for opd, want in expected.items():
        assert {k: got[opd][k] for k in want} == want, opd
    engine.dispose()

    # a rebuild gives the same steps
    def snapshot():
        return (fetch(own_database, "SELECT * FROM reporting.workload_requests ORDER BY 1"),
                fetch(own_database, "SELECT * FROM reporting.workload_steps ORDER BY 1, 2"))

    live = snapshot()
    assert len(live[0]) == len(plan)
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM reporting.workload_steps")
    conn.close()
    assert main(["projections", "rebuild", WORKLOAD, "--wait", "60", "--no-progress"]) == 0
    assert snapshot() == live


def test_a_request_summary_counts_working_days_per_clock():
    monday = date(2026, 3, 2)
    holidays = frozenset({date(2026, 3, 4)})
    steps = [(3, "RequestSubmitted", monday),
             (4, "VerificationStarted", monday + timedelta(days=1)),
             (5, "RequestReturned", monday + timedelta(days=3)),   # Thu: back to the employee
             (6, "RequestSubmitted", monday + timedelta(days=7)),  # next Mon
             (7, "VerificationStarted", monday + timedelta(days=8)),
             (8, "RequestVerified", monday + timedelta(days=9)),
             (9, "RequestApproved", monday + timedelta(days=14))]
    summary = monev.request_summary(list(reversed(steps)), date(2026, 6, 1), holidays)
    # verification: Mon->Tue 1, Tue->Thu 1 (Wed a holiday), Mon->Tue 1, Tue->Wed 1 = 4;
    # approval: Wed 11th -> Mon 16th = 3 (Thu, Fri, Mon)
    assert (summary["verification_days"], summary["approval_days"], summary["bkd_days"],
            summary["stage"], summary["decided"]) == (4, 3, 7, "approved", steps[-1][2])
    waiting = monev.request_summary(steps[:2], monday + timedelta(days=7), holidays)
    assert (waiting["stage"], waiting["bkd_days"]) == ("under_verification", 4)


# -- the yearly layanan evaluation, recorded and signed -----------------------------------------

def _pdf_text(pdf: bytes) -> str:
    from pyhanko.pdf_utils.reader import PdfFileReader

    kids = PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]
    streams = "".join(kids[i]["/Contents"].data.decode("latin-1") for i in range(len(kids)))
    # the drawn strings, line after line (a wrapped paragraph reads as one)
    return " ".join(re.findall(r"\((.*?)\) Tj", streams))


@pytest.fixture
def evaluation_stack(own_database, service_config, container_factory):
    from services.requests.service import RequestsService
    from services.signing.service import SigningService

    config = {**service_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.5}
    for cls in (RecordsService, RequestsService, SigningService):
        container_factory(cls, config).start()
    return config


def test_the_yearly_evaluation_is_recorded_once_signed_and_corrected_with_a_reason(
        evaluation_stack, own_database, keystore_dir):
    from services.signing import pdfsign
    from services.signing.keystore import Keystore
    from shared.canonical import dumps

    config = evaluation_stack
    for n, state in enumerate(("rejected", "submitted", "returned"), start=40):
        _request_in(config, n, "dkp", state)
    year = today_wib().year
    with call(config, ADMIN, "requests") as requests:
        live = requests.evaluation_report(year)
        first = requests.record_evaluation(year, {"signer": "admin.bkd",
                                                  "notes": "rapat evaluasi 5 Desember"})
    assert (first["year"], first["revision"], first["status"], first["correction"]) == (
        year, 1, "signed", False)
    # the figures the log said, floats kept as their decimal text (the hash chain takes none)
    def exact(value):
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, dict):
            return {k: exact(v) for k, v in value.items()}
        return [exact(v) for v in value] if isinstance(value, list) else value

    assert first["figures"] == exact(live) and live[0]["layanan"] == "KGB"
    assert live[0]["volume"] == 3 and live[0]["rejected"] == 1
    assert first["figures_sha256"] == hashlib.sha256(dumps(exact(live)).encode()).hexdigest()
    assert first["document_url"] == f"/api/signed-documents/{first['document_id']}/pdf"
    (recorded,) = [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in fetch(
        own_database, "SELECT payload FROM requests.events WHERE event_type = "
                      "'LayananEvaluationRecorded'")]
    assert recorded["figures"] == first["figures"] and recorded["signer"] == "admin.bkd"
    signed_events = fetch(own_database, "SELECT payload->>'document_id' FROM requests.events "
                                        "WHERE event_type = 'LayananEvaluationSigned'")
    assert signed_events == [(first["document_id"],)]

    # the signed PDF: valid against our root, saying what was recorded
    pdf = FileSystemStore(config["DOCUMENT_ROOT"]).read(first["pdf_sha256"])
    verdict = pdfsign.verify(pdf, Keystore(keystore_dir).trust_roots)
    assert verdict.valid, verdict
    text = _pdf_text(pdf)
    for expected in ("LAPORAN EVALUASI TAHUNAN LAYANAN KEPEGAWAIAN", first["number"], "KGB",
                     first["figures_sha256"], str(year)):
        assert expected in text, expected

    with call(config, ADMIN, "requests") as requests:
        with raises_code("evaluation_recorded") as twice:  # 409: once a year
            requests.record_evaluation(year, {"signer": "admin.bkd"})
        assert twice.value.field == "year"
        with raises_code("validation_failed") as bare:
            requests.record_evaluation(year, {"signer": "admin.bkd", "correction": True})
        assert bare.value.field == "reason"
        with raises_code("evaluation_recorded") as nothing:
            requests.record_evaluation(year - 1, {"signer": "admin.bkd", "correction": True,
                                                  "reason": "tidak ada yang diralat"})
        assert nothing.value.field == "correction"
        with raises_code("validation_failed") as refused:  # no certificate: refused, logged
            requests.record_evaluation(year, {"signer": "tanpa.sertifikat",
                                              "correction": True, "reason": "uji penanda"})
        assert refused.value.field == "signer"
        assert requests.recorded_evaluation(year)["revision"] == 1
        _request_in(config, 50, "dinkes", "submitted")
        corrected = requests.record_evaluation(year, {
            "signer": "admin.bkd", "correction": True,
            "reason": "usulan dinkes tercatat sesudah rapat"})
    assert (corrected["revision"], corrected["status"], corrected["correction"]) == (
        3, "signed", True)
    assert corrected["document_id"] != first["document_id"]
    assert corrected["figures"][0]["volume"] == 4
    assert [(r["revision"], r["status"]) for r in corrected["revisions"]] == [
        (1, "signed"), (2, "refused"), (3, "signed")]
    assert fetch(own_database, "SELECT count(*) FROM requests.events WHERE event_type = "
                               "'LayananEvaluationRefused'")[0][0] == 1
    corrected_pdf = FileSystemStore(config["DOCUMENT_ROOT"]).read(corrected["pdf_sha256"])
    assert pdfsign.verify(corrected_pdf, Keystore(keystore_dir).trust_roots).valid
    assert "usulan dinkes tercatat sesudah rapat" in _pdf_text(corrected_pdf)

    with call(config, AUDITOR, "requests") as requests:
        assert requests.recorded_evaluation(year)["document_id"] == corrected["document_id"]
        with pytest.raises(Forbidden):
            requests.record_evaluation(year, {"signer": "admin.bkd"})
        with raises_code("not_found"):
            requests.recorded_evaluation(year - 1)
        with raises_code("not_found"):
            requests.recorded_evaluation(1999)
    with call(config, FASIL_DKP, "requests") as requests, pytest.raises(Forbidden):
        requests.recorded_evaluation(year)


def test_the_requirement_configuration_is_checked_and_never_names_a_confidential_slot(
        monkeypatch):
    from shared.errors import ConfigError
    from shared.reference import completeness_config

    rules = monev.rules()
    assert "surat_keterangan_sehat" not in rules.layanan_slots["CPNS_PNS"]
    assert rules.layanan_slots["CPNS_PNS"] == ("sk_cpns", "spmt", "ijazah_terakhir")
    good = json.loads(json.dumps(completeness_config()))
    for change, field_name in (
            (lambda c: c["base"]["all"]["documents"].append("sk_hukuman_disiplin"),
             "completeness.base"),
            (lambda c: c["base"]["PNS"]["documents"].append("sk_tidak_ada"), "completeness.base"),
            (lambda c: c["upcoming"].update(GAJI={"rule": "status", "statuses": ["PNS"]}),
             "completeness.upcoming"),
            (lambda c: c["upcoming"]["KGB"].update(rule="tiap_hari"), "completeness.upcoming")):
        bad = json.loads(json.dumps(good))
        change(bad)
        monkeypatch.setattr(monev, "completeness_config", lambda bad=bad: bad)
        with pytest.raises(ConfigError) as refused:
            monev.rules.__wrapped__()
        assert refused.value.field == field_name
