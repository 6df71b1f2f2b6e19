"""A layanan is not granted twice by mistake (issue 13): one open request per employee and
layanan, and a second grant only where the layanan's repeat rule allows it — a replacement card
with a loss report, the next KGB period. Rules as data (unit), then over real RPC (records +
requests, PostgreSQL, RabbitMQ): the five KARIS/KARSU in a row that a new user once received,
racing drafts, withdrawn and rejected requests, the KGB periods, and the migration that fills the
grants from the log."""

import itertools
import uuid
from datetime import date

import eventlet
import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.requests import domain
from services.requests.service import RequestsService
from services.requests.usecases import catalogue
from shared.calendar import today_wib
from shared.errors import SimasnError
from shared.migrations import migrate
from shared.objectstore import FileSystemStore
from shared.testing import create_test_database, drop_test_database
from tests.document_samples import pdf_with_text
from tests.helpers import raises_code, signed
from tests.records_helpers import ADMIN, FASIL, principal

SYSTEM = principal("system:signing", ["system"])
OTHER_ADMIN = principal("admin2.bkd", ["administrator"])
_SEQ = itertools.count(1)
OK = {"original": True, "legible": True, "matches_record": True}


# -- the rules as data ------------------------------------------------------------------------

def test_every_layanan_says_whether_and_when_it_is_granted_again():
    entries = {e["kode"]: e for e in catalogue.seed()}
    assert len(entries) == 18 and all("repeat" in e for e in entries.values())
    rules = {kode: e["repeat"]["rule"] for kode, e in entries.items()}
    assert {k for k, r in rules.items() if r == "once"} >= {
        "KARIS_KARSU", "KARPEG", "TASPEN", "KARTU_KESEHATAN", "PENSIUN", "CPNS_PNS"}
    assert entries["KGB"]["repeat"] == {**entries["KGB"]["repeat"], "rule": "interval",
                                        "years": 2}
    assert rules["KENAIKAN_PANGKAT"] == "interval"
    karis = entries["KARIS_KARSU"]
    # a replacement the rule names must be one the entry offers (checked when published)
    broken = {**karis, "repeat": {"rule": "once",
                                  "replacement": {"option": "alasan", "values": ["dicuri"]}}}
    assert any("dicuri" in p for p in catalogue.entry_problems(broken))
    assert catalogue.entry_problems({**karis, "repeat": {"rule": "twice"}})
    assert catalogue.entry_problems({**karis, "repeat": {"rule": "interval"}})
    no_doc = {**karis, "repeat": {"rule": "once", "replacement": {"document": "ktp"}}}
    assert any("ktp" in p for p in catalogue.entry_problems(no_doc))
    # an entry published before entries had a rule takes the shipped one
    assert catalogue.repeat_rule({k: v for k, v in karis.items() if k != "repeat"}) == \
        karis["repeat"]


def test_once_allows_only_a_stated_replacement():
    spec = {"rule": "once", "replacement": {"option": "alasan", "values": ["rusak", "hilang"]}}
    first = domain.Grant("r-1", date(2026, 3, 2), date(2026, 3, 2), {"alasan": "baru"})
    today = date(2026, 6, 1)
    assert domain.repeat_check(spec, "Karis", [], {"alasan": "baru"}, {}, None, today).ok
    again = domain.repeat_check(spec, "Karis", [first], {"alasan": "baru"}, {}, None, today)
    assert not again.ok and again.rule == domain.NOT_GRANTED_BEFORE
    assert again.request_id == "r-1" and "2026-03-02" in again.message
    assert "hilang" in again.message and again.eligible_from is None
    assert domain.repeat_check(spec, "Karis", [first], {"alasan": "hilang"}, {}, None,
                               today).ok
    by_document = {"rule": "once", "replacement": {"document": "surat_kehilangan"}}
    assert not domain.repeat_check(by_document, "Kartu", [first], {}, {}, None, today).ok
    assert domain.repeat_check(by_document, "Kartu", [first], {},
                               {"surat_kehilangan": "ab" * 32}, None, today).ok
    assert not domain.repeat_check({"rule": "once"}, "Pensiun", [first], {"alasan": "hilang"},
                                   {}, None, today).ok
    assert domain.repeat_check({"rule": "unlimited"}, "Mutasi", [first], {}, {}, None,
                               today) is None


def test_a_periodic_layanan_waits_for_its_next_period():
    spec = {"rule": "interval", "years": 2, "lead_months": 2}
    last = domain.Grant("kgb-1", date(2024, 3, 20), date(2024, 4, 1), {})
    early = domain.repeat_check(spec, "KGB", [last], {}, {}, date(2026, 4, 1), date(2026, 1, 31))
    assert not early.ok and early.rule == domain.GRANT_PERIOD
    assert early.eligible_from == date(2026, 2, 1) and early.request_id == "kgb-1"
    assert domain.repeat_check(spec, "KGB", [last], {}, {}, date(2026, 4, 1),
                               date(2026, 2, 1)).ok
    # the record has not caught up: this request would take the granted period's TMT again
    stale = domain.repeat_check(spec, "KGB", [last], {}, {}, date(2024, 4, 1), date(2026, 5, 1))
    assert not stale.ok and stale.eligible_from is None and "2024-04-01" in stale.message


# -- over real RPC ----------------------------------------------------------------------------

@pytest.fixture
def stack(container_factory, service_config):
    return _stack(container_factory, service_config)[:2]


def _stack(container_factory, config):
    containers = [container_factory(service, config) for service in (RecordsService,
                                                                     RequestsService)]
    for container in containers:
        container.start()
    store = FileSystemStore(config["DOCUMENT_ROOT"])

    def call(context, service="requests"):
        return ServiceRpcProxy(service, config, context_data=signed(context, config))

    return call, store, containers


def first_of_month(years_ago: int) -> date:
    today = today_wib()
    return date(today.year - years_ago, today.month, 1)


def employee(call, last_kgb: date | None = None) -> str:
    """A married PNS of OPD dkp (III/a since 2005), good SKP the last two years, with a last
    KGB when given."""
    nip = f"197905052005031{next(_SEQ):03d}"
    with call(ADMIN, "records") as records:
        record = records.register_employee({
            "nip": nip, "name": "Agus Wibowo", "date_of_birth": "1979-05-05", "gender": "L",
            "status": "PNS", "tmt_cpns": "2005-03-01", "opd_id": "dkp", "golongan": "III/a",
            "education_id": "40", "marital_status": "Kawin"}, "data awal")
        entries = [("kinerja", {"tahun": today_wib().year - n, "predikat": "Baik"})
                   for n in (1, 2)]
        if last_kgb:
            entries.append(("gaji_berkala", {"tmt": last_kgb.isoformat(),
                                             "gaji_pokok": 4_000_000}))
        for history, entry in entries:
            record = records.record_history(nip, {
                "history": history, "entry": entry, "expected_version": record["version"],
                "reason": "data awal"})
    return nip


def record_kgb(call, nip: str, tmt: str) -> None:
    """The granted KGB entered in the record (what records does with a completed KGB)."""
    with call(ADMIN, "records") as records:
        version = records.get_employee(nip)["version"]
        records.record_history(nip, {
            "history": "gaji_berkala", "entry": {"tmt": tmt, "gaji_pokok": 4_100_000},
            "expected_version": version, "reason": "SK KGB"})


def upload(call, store, nip: str, code: str) -> str:
    stored = store.put(pdf_with_text(marker=f"{code}-{nip}-{uuid.uuid4().hex[:6]}"))
    with call(FASIL, "records") as records:
        return records.upload_document(stored.sha256, f"{code}.pdf", nip)["sha256"]


def submitted(call, store, who, draft: dict) -> dict:
    """Submit `draft` with every document it still misses (uploaded for its employee)."""
    rid, nip = draft["request_id"], draft["nip"]
    with call(who) as svc:
        try:
            return svc.submit_request(rid, {"expected_version": draft["version"]})
        except SimasnError as exc:
            assert exc.code == "documents_missing", exc
            missing = exc.details["missing"]
        docs = {code: upload(call, store, nip, code) for code in missing}
        changed = svc.change_request_documents(rid, {"documents": docs,
                                                     "expected_version": draft["version"]})
        return svc.submit_request(rid, {"expected_version": changed["version"]})


#: the decree's outcome an approval of a card layanan carries (docs/design/layanan-outcomes.md)
CARD = {"nomor_kartu": "0001234567890"}


def kgb_decree(tmt: date) -> dict:
    """The outcome of a KGB decree for the period from `tmt`."""
    return {"tmt": tmt.isoformat(), "gaji_pokok": 4_150_000}


def decided(call, request: dict, approve: bool, outcome: dict | None = None) -> dict:
    """Verified and decided by people who did not prepare it (four eyes); an approval carries
    the decree's outcome."""
    rid = request["request_id"]
    verifier = ADMIN if FASIL["actor_id"] in request["prepared_by"] else FASIL
    with call(verifier) as svc:
        claimed = svc.start_verification(rid, {"expected_version": request["version"]})
        verified = svc.verify_request(rid, {
            "expected_version": claimed["version"],
            "checks": {code: OK for code in claimed["documents"]}})
    with call(OTHER_ADMIN) as admin:
        return admin.decide_request(rid, {"expected_version": verified["version"],
                                          "approve": approve, "reason": "diputus",
                                          "outcome": (outcome or CARD) if approve else {}})


def granted(call, store, who, nip: str, layanan: str, options: dict | None = None,
            outcome: dict | None = None) -> dict:
    """A request of `layanan` drafted by `who`, submitted, verified, approved and signed."""
    with call(who) as svc:
        draft = svc.create_request({"layanan": layanan, "nip": nip, "options": options or {}})
    approved = decided(call, submitted(call, store, who, draft), approve=True, outcome=outcome)
    with call(SYSTEM) as signing:
        done = signing.complete_request(approved["request_id"], {
            "expected_version": approved["version"], "output_sha256": uuid.uuid4().hex * 2})
    assert done["state"] == "completed", done
    return done


def test_five_karis_in_a_row_end_with_the_first_and_a_replacement_needs_its_loss_report(
        stack, database_url):
    """Tried as a new user would: the pegawai asks for KARIS five times; the first is granted,
    the other four are refused naming it (also when the fasilitator drafts on their behalf),
    and the eligibility answer says so before anyone drafts. A lost card is replaced, with the
    police's loss report."""
    call, store = stack
    nip = employee(call)
    pegawai = principal(nip, ["pegawai"])
    baru = {"alasan": "baru"}
    first = granted(call, store, pegawai, nip, "KARIS_KARSU", baru)
    for attempt in range(4):
        who = pegawai if attempt % 2 == 0 else FASIL
        with call(who) as svc, raises_code("layanan_already_granted") as refused:
            svc.create_request({"layanan": "KARIS_KARSU", "nip": nip, "options": baru})
        assert refused.value.http_status == 409
        assert refused.value.details["request_id"] == first["request_id"]
        assert first["request_id"] in refused.value.message
        assert "hilang" in refused.value.message  # how to ask for a replacement
    with call(pegawai) as svc:
        answer = svc.eligibility("KARIS_KARSU", nip)
    (line,) = [c for c in answer["checks"] if c["rule"] == "not_granted_before"]
    assert not answer["eligible"] and not line["ok"]
    assert line["request_id"] == first["request_id"]

    # the card is lost: a replacement, which cannot be submitted without the loss report
    with call(pegawai) as svc:
        replacement = svc.create_request({"layanan": "KARIS_KARSU", "nip": nip,
                                          "options": {"alasan": "hilang"}})
        with raises_code("documents_missing") as missing:
            svc.submit_request(replacement["request_id"],
                               {"expected_version": replacement["version"]})
    assert "surat_kehilangan" in missing.value.details["missing"]
    assert submitted(call, store, pegawai, replacement)["state"] == "submitted"
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:  # one grant, and no refused draft left a trace
            cur.execute("SELECT request_id::text FROM requests.grants WHERE nip = %s", (nip,))
            assert cur.fetchall() == [(first["request_id"],)]
            cur.execute("SELECT count(*) FROM requests.requests WHERE nip = %s", (nip,))
            assert cur.fetchone()[0] == 2
    finally:
        conn.close()


def test_a_replacement_health_card_needs_the_loss_report_attached(stack):
    call, store = stack
    nip = employee(call)
    first = granted(call, store, FASIL, nip, "KARTU_KESEHATAN", {"tanggungan": "sendiri"})
    with call(FASIL) as fasilitator:
        with raises_code("layanan_already_granted") as refused:
            fasilitator.create_request({"layanan": "KARTU_KESEHATAN", "nip": nip,
                                        "options": {"tanggungan": "sendiri"}})
        assert refused.value.details["request_id"] == first["request_id"]
        again = fasilitator.create_request({
            "layanan": "KARTU_KESEHATAN", "nip": nip, "options": {"tanggungan": "sendiri"},
            "documents": {"surat_kehilangan": upload(call, store, nip, "surat_kehilangan")}})
    assert again["state"] == "draft"


def test_one_open_request_per_employee_and_layanan_until_it_is_withdrawn_or_rejected(stack):
    call, store = stack
    nip = employee(call, last_kgb=first_of_month(2))
    pegawai = principal(nip, ["pegawai"])
    with call(pegawai) as svc:
        first = svc.create_request({"layanan": "KGB", "nip": nip})
        with raises_code("request_already_open") as refused:
            svc.create_request({"layanan": "KGB", "nip": nip})
        assert refused.value.http_status == 409
        assert refused.value.details["request_id"] == first["request_id"]
        answer = svc.eligibility("KGB", nip)
        # another layanan is another slot
        assert svc.create_request({"layanan": "KARIS_KARSU", "nip": nip,
                                   "options": {"alasan": "baru"}})["state"] == "draft"
    (line,) = [c for c in answer["checks"] if c["rule"] == "no_open_request"]
    assert not line["ok"] and line["request_id"] == first["request_id"]
    with call(FASIL) as fasilitator, raises_code("request_already_open"):  # on their behalf
        fasilitator.create_request({"layanan": "KGB", "nip": nip})

    with call(pegawai) as svc:
        svc.withdraw_request(first["request_id"], {"expected_version": first["version"],
                                                   "reason": "salah unggah"})
        assert svc.eligibility("KGB", nip)["eligible"]
        second = svc.create_request({"layanan": "KGB", "nip": nip})
    rejected = decided(call, submitted(call, store, pegawai, second), approve=False)
    assert rejected["state"] == "rejected"
    with call(FASIL) as fasilitator:
        third = fasilitator.create_request({"layanan": "KGB", "nip": nip})
    assert third["on_behalf"] and third["request_id"] not in (first["request_id"],
                                                              second["request_id"])


def test_drafts_racing_for_one_employee_and_layanan_make_one_request(stack, database_url):
    call, _ = stack
    nip = employee(call, last_kgb=first_of_month(2))
    pegawai = principal(nip, ["pegawai"])

    def draft(who, key):
        with call(who) as svc:
            try:
                return svc.create_request({"layanan": "KGB", "nip": nip,
                                           "idempotency_key": key})["request_id"]
            except SimasnError as exc:
                return exc

    racers = [eventlet.spawn(draft, who, f"balapan-{n}-{uuid.uuid4().hex[:8]}")
              for n, who in enumerate([pegawai, FASIL, pegawai, FASIL, pegawai])]
    outcomes = [t.wait() for t in racers]
    made = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if not isinstance(o, str)]
    assert len(made) == 1, outcomes
    assert [e.code for e in refused] == ["request_already_open"] * 4
    assert all(e.details["request_id"] == made[0] for e in refused)
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM requests.requests WHERE nip = %s", (nip,))
            assert cur.fetchone()[0] == 1
            cur.execute("SELECT count(*) FROM requests.events WHERE event_type = "
                        "'RequestDrafted' AND payload->>'nip' = %s", (nip,))
            assert cur.fetchone()[0] == 1, "a refused draft leaves nothing in the log"
    finally:
        conn.close()


def test_kgb_is_granted_again_only_for_the_next_period(stack):
    call, store = stack
    # last KGB six years ago: the one due four years ago is granted
    nip = employee(call, last_kgb=first_of_month(6))
    pegawai = principal(nip, ["pegawai"])
    first = granted(call, store, pegawai, nip, "KGB", outcome=kgb_decree(first_of_month(4)))
    period = first_of_month(4).isoformat()
    with call(pegawai) as svc:
        # the record does not hold that KGB yet: this request would take its period again
        with raises_code("grant_period_not_reached") as same_period:
            svc.create_request({"layanan": "KGB", "nip": nip})
        assert same_period.value.details["request_id"] == first["request_id"]
        assert same_period.value.details["eligible_from"] is None
        assert period in same_period.value.message
    record_kgb(call, nip, period)
    # the next period: two years later
    second = granted(call, store, pegawai, nip, "KGB", outcome=kgb_decree(first_of_month(2)))
    assert second["request_id"] != first["request_id"]

    # a KGB granted for this month's period: the next one opens two years on, less 2 months
    recent = employee(call, last_kgb=first_of_month(2))
    mine = principal(recent, ["pegawai"])
    kgb = granted(call, store, mine, recent, "KGB", outcome=kgb_decree(first_of_month(0)))
    record_kgb(call, recent, first_of_month(0).isoformat())
    with call(mine) as svc:
        with raises_code("grant_period_not_reached") as early:
            svc.create_request({"layanan": "KGB", "nip": recent})
        answer = svc.eligibility("KGB", recent)
    opens = domain.add_months(domain.add_years(first_of_month(0), 2), -2).isoformat()
    assert early.value.http_status == 422
    assert early.value.details == {"request_id": kgb["request_id"], "eligible_from": opens}
    (line,) = [c for c in answer["checks"] if c["rule"] == "grant_period"]
    assert line["eligible_from"] == opens and answer["eligible_from"] == opens


def test_the_migration_fills_the_grants_from_the_log(container_factory, service_config):
    """A deployment from before the grants table: its completed requests become grants (with
    the TMT their submission took) and requests open twice keep going, the earliest holding
    the slot."""
    from tests.conftest import ADMIN_URL

    url = create_test_database(ADMIN_URL)
    try:
        migrate(url)
        call, store, containers = _stack(container_factory,
                                         {**service_config, "DATABASE_URL": url})
        nip = employee(call, last_kgb=first_of_month(2))
        done = granted(call, store, principal(nip, ["pegawai"]), nip, "KGB",
                       outcome=kgb_decree(first_of_month(0)))
        with call(FASIL) as fasilitator:
            still_open = fasilitator.create_request({"layanan": "KARPEG", "nip": nip,
                                                     "options": {"alasan": "baru"}})
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT request_id::text, nip, layanan, tmt, granted_at "
                        "FROM requests.grants")
            before = cur.fetchall()
            assert [r[:3] for r in before] == [(done["request_id"], nip, "KGB")]
            assert before[0][3] == first_of_month(0)  # the TMT of the period granted
            # as it was before migration 002, with a second KARPEG an older release let in
            cur.execute("DROP TABLE requests.grants; DROP INDEX requests.requests_one_open; "
                        "ALTER TABLE requests.requests DROP COLUMN legacy_duplicate; "
                        "DELETE FROM requests.schema_migrations WHERE name = '002_grants'")
            duplicate = str(uuid.uuid4())
            cur.execute("INSERT INTO requests.requests (request_id, layanan, catalogue_version, "
                        "nip, opd_id, state, version, drafted_by, created_at) VALUES "
                        "(%s, 'KARPEG', 1, %s, 'dkp', 'draft', 1, %s, now() + interval '1s')",
                        (duplicate, nip, nip))
        assert migrate(url) == ["requests/002_grants"]
        with conn.cursor() as cur:
            cur.execute("SELECT request_id::text, nip, layanan, tmt, granted_at "
                        "FROM requests.grants")
            assert cur.fetchall() == before
            cur.execute("SELECT request_id::text, legacy_duplicate FROM requests.requests "
                        "WHERE layanan = 'KARPEG' ORDER BY created_at")
            assert cur.fetchall() == [(still_open["request_id"], False), (duplicate, True)]
        conn.close()
        with call(principal(nip, ["pegawai"])) as svc:
            with raises_code("grant_period_not_reached"):
                svc.create_request({"layanan": "KGB", "nip": nip})
            with raises_code("request_already_open") as karpeg:
                svc.create_request({"layanan": "KARPEG", "nip": nip,
                                    "options": {"alasan": "baru"}})
        assert karpeg.value.details["request_id"] == still_open["request_id"]
    finally:
        for container in locals().get("containers", []):
            container.stop()  # before their database goes
        drop_test_database(url)
