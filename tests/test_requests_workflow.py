"""A layanan request through its workflow over real RPC (records + requests, PostgreSQL,
RabbitMQ): submitted only when eligible and complete, returned once and fixed, verified,
approved by someone else, completed; every step on the timeline with its actor; illegal steps,
other OPDs, four-eyes breaches, duplicate submissions and switched-off layanan refused."""

import itertools
import uuid
from datetime import UTC, datetime

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.requests.events import REGISTRY as REQUESTS_EVENTS
from services.requests.exceptions import (
    TransitionRefused,
)
from services.requests.service import RequestsService
from services.requests.usecases import workflow
from shared.auth import Principal
from shared.calendar import today_wib
from shared.config import validate_config
from shared.context import IDEMPOTENCY_KEY
from shared.db import ServiceDatabase, make_engine
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.eventstore import EventStore
from shared.objectstore import FileSystemStore
from tests.document_samples import pdf_with_text
from tests.helpers import raises_code, signed
from tests.records_helpers import ADMIN, FASIL, OTHER_FASIL, principal

SYSTEM = principal("system:signing", ["system"])
OTHER_ADMIN = principal("admin2.bkd", ["administrator"])
_SEQ = itertools.count(1)


@pytest.fixture
def stack(container_factory, service_config):
    for service in (RecordsService, RequestsService):
        container_factory(service, service_config).start()
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])

    def call(context, service="requests"):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    return call, store


def employee(call, nip: str | None = None, **changes):
    """A PNS of OPD dkp, III/c since 2021, last KGB in 2024: due for KGB now. Another module
    using it passes NIPs of its own: it imports this module under another name
    (tests.test_requests_workflow), with a counter of its own."""
    nip = nip or f"198001012005031{next(_SEQ):03d}"
    person = {"nip": nip, "name": "Budi Santoso", "date_of_birth": "1980-01-01", "gender": "L",
              "status": "PNS", "tmt_cpns": "2005-03-01", "opd_id": "dkp", "golongan": "III/a",
              "education_id": "40", **changes}
    with call(ADMIN, "records") as records:
        record = records.register_employee(person, "data awal")
        record = records.record_history(nip, {
            "history": "pangkat", "entry": {"golongan": "III/c", "tmt": "2021-04-01"},
            "expected_version": record["version"], "reason": "SK KP"})
        record = records.record_history(nip, {
            "history": "gaji_berkala", "entry": {"tmt": "2024-04-01", "gaji_pokok": 4_000_000},
            "expected_version": record["version"], "reason": "SK KGB"})
        for year in (2024, 2025):
            record = records.record_history(nip, {
                "history": "kinerja", "entry": {"tahun": year, "predikat": "Baik"},
                "expected_version": record["version"], "reason": "SKP"})
    return nip


def upload(call, store, marker, nip):
    """A document the OPD's fasilitator uploads for employee `nip`."""
    stored = store.put(pdf_with_text(marker=marker))
    with call(FASIL, "records") as records:
        return records.upload_document(stored.sha256, f"{marker}.pdf", nip)["sha256"]


def test_a_gaji_berkala_request_from_draft_to_completed(stack):
    call, store = stack
    nip = employee(call)
    pegawai = principal(nip, ["pegawai"], ())
    pegawai["opd_id"] = "dkp"
    with call(pegawai) as svc:
        assert len(svc.list_layanan()) == 18
        eligibility = svc.eligibility("KGB", nip)
        assert eligibility["eligible"], eligibility
        key = uuid.uuid4().hex
        draft = svc.create_request({"layanan": "KGB", "nip": nip, "idempotency_key": key})
        again = svc.create_request({"layanan": "KGB", "nip": nip, "idempotency_key": key})
        assert again["request_id"] == draft["request_id"], "one request per idempotency key"
        rid = draft["request_id"]
        with raises_code("documents_missing") as missing:
            svc.submit_request(rid, {"expected_version": draft["version"]})
        assert set(missing.value.details["missing"]) == {"surat_pengantar",
                                                         "sk_pangkat_terakhir",
                                                         "sk_kgb_terakhir", "skp_1_tahun"}
        with pytest.raises(ValidationFailed) as unchecked:  # never uploaded through the checks
            svc.change_request_documents(rid, {"documents": {"surat_pengantar": "ab" * 32},
                                               "expected_version": draft["version"]})
        assert unchecked.value.code == "document_not_owned"
        assert unchecked.value.field == "documents.surat_pengantar"
        docs = {code: upload(call, store, f"{code}-{nip}", nip)
                for code in missing.value.details["missing"]}
        changed = svc.change_request_documents(rid, {"documents": docs,
                                                     "expected_version": draft["version"]})
        submitted = svc.submit_request(rid, {"expected_version": changed["version"]})
        assert submitted["state"] == "submitted"
    with call(OTHER_FASIL) as other:
        with pytest.raises(NotFound):
            other.get_request(rid)
        with pytest.raises(NotFound):
            other.start_verification(rid, {"expected_version": submitted["version"]})
    with call(FASIL) as fasilitator:
        claimed = fasilitator.start_verification(rid, {"expected_version": submitted["version"]})
        returned = fasilitator.return_request(rid, {
            "expected_version": claimed["version"],
            "documents": {"skp_1_tahun": "SKP 2025 belum ditandatangani atasan"}})
        assert returned["state"] == "returned" and returned["returns"][0] == {
            "skp_1_tahun": "SKP 2025 belum ditandatangani atasan"}
    with call(pegawai) as svc:
        fixed = svc.change_request_documents(rid, {
            "documents": {"skp_1_tahun": upload(call, store, f"skp-signed-{nip}", nip)},
            "expected_version": returned["version"]})
        resubmitted = svc.submit_request(rid, {"expected_version": fixed["version"]})
    with call(FASIL) as fasilitator:
        claimed = fasilitator.start_verification(rid, {
            "expected_version": resubmitted["version"]})
        verdict = {"original": True, "legible": True, "matches_record": True}
        verified = fasilitator.verify_request(rid, {
            "expected_version": claimed["version"],
            "checks": {code: verdict for code in docs}})
        assert verified["state"] == "under_approval"
        with pytest.raises(Forbidden):  # a fasilitator does not approve
            fasilitator.decide_request(rid, {"expected_version": verified["version"],
                                             "approve": True, "reason": "lengkap"})
    with call(ADMIN) as admin:
        approved = admin.decide_request(rid, {"expected_version": verified["version"],
                                              "approve": True, "reason": "memenuhi syarat",
                                              "outcome": {"tmt": "2026-04-01",
                                                          "gaji_pokok": 4_150_000}})
        assert approved["state"] == "signing"
    with call(SYSTEM) as signing:
        done = signing.complete_request(rid, {"expected_version": approved["version"],
                                              "output_sha256": "cd" * 32})
        assert done["state"] == "completed"
    with call(ADMIN) as admin:  # the yearly evaluation counts it from the log
        report = {r["layanan"]: r for r in admin.evaluation_report(datetime.now(UTC).year)}
    kgb = report["KGB"]
    assert kgb["volume"] >= 1 and kgb["approved"] >= 1 and kgb["return_rate"] > 0
    assert "skp_1_tahun" in {d["document"] for d in kgb["most_rejected_documents"]}
    with call(pegawai) as svc:
        with pytest.raises(Forbidden):
            svc.evaluation_report(2026)
        steps = svc.request_timeline(rid)
    assert [(s["event"], s["actor_id"]) for s in steps] == [
        ("RequestDrafted", nip), ("RequestDocumentsChanged", nip), ("RequestSubmitted", nip),
        ("VerificationStarted", FASIL["actor_id"]), ("RequestReturned", FASIL["actor_id"]),
        ("RequestDocumentsChanged", nip), ("RequestSubmitted", nip),
        ("VerificationStarted", FASIL["actor_id"]), ("RequestVerified", FASIL["actor_id"]),
        ("RequestApproved", ADMIN["actor_id"]), ("SigningStarted", ADMIN["actor_id"]),
        ("RequestCompleted", SYSTEM["actor_id"])]


def test_steps_out_of_order_four_eyes_and_eligibility_are_refused(stack):
    call, store = stack
    nip = employee(call)
    with call(FASIL) as fasilitator:  # on the employee's behalf
        draft = fasilitator.create_request({"layanan": "KGB", "nip": nip})
        assert draft["on_behalf"] is True
        with raises_code("transition_refused") as refused:
            fasilitator.verify_request(draft["request_id"], {
                "expected_version": draft["version"], "checks": {"x": {
                    "original": True, "legible": True, "matches_record": True}}})
        assert "RequestSubmitted" in refused.value.details["allowed"]
        docs = {code: upload(call, store, f"{code}-{nip}-b", nip) for code in (
            "surat_pengantar", "sk_pangkat_terakhir", "sk_kgb_terakhir", "skp_1_tahun")}
        changed = fasilitator.change_request_documents(draft["request_id"], {
            "documents": docs, "expected_version": draft["version"]})
        submitted = fasilitator.submit_request(draft["request_id"],
                                               {"expected_version": changed["version"]})
        with pytest.raises(Forbidden):  # who submitted it does not verify it
            fasilitator.start_verification(draft["request_id"],
                                           {"expected_version": submitted["version"]})
    with call(ADMIN) as admin:
        claimed = admin.start_verification(draft["request_id"],
                                           {"expected_version": submitted["version"]})
        verified = admin.verify_request(draft["request_id"], {
            "expected_version": claimed["version"], "checks": {code: {
                "original": True, "legible": True, "matches_record": True} for code in docs}})
        with pytest.raises(Forbidden):  # who verified it does not also decide it
            admin.decide_request(draft["request_id"], {"expected_version": verified["version"],
                                                       "approve": False, "reason": "uji"})
    with call(OTHER_ADMIN) as admin:
        rejected = admin.decide_request(draft["request_id"], {
            "expected_version": verified["version"], "approve": False,
            "reason": "SK KGB terakhir belum berlaku"})
        assert rejected["state"] == "rejected"
        with raises_code("transition_refused"):
            admin.decide_request(draft["request_id"], {"expected_version": rejected["version"],
                                                       "approve": True, "reason": "ulang"})

    junior = employee(call, education_id="45")
    with call(ADMIN, "records") as records:
        record = records.get_employee(junior)
        records.record_history(junior, {
            "history": "pangkat", "entry": {"golongan": "III/d", "tmt": "2025-10-01"},
            "expected_version": record["version"], "reason": "SK KP"})
    with call(FASIL) as fasilitator:
        kp = fasilitator.create_request({"layanan": "KENAIKAN_PANGKAT", "nip": junior,
                                         "options": {"jenis_kp": "reguler"}})
        with raises_code("not_eligible") as not_yet:
            fasilitator.submit_request(kp["request_id"], {"expected_version": kp["version"]})
        assert not_yet.value.details["eligible_from"] == "2029-10-01"
        assert "golongan III/d pada 2029-10-01" in not_yet.value.message
        with pytest.raises(ValidationFailed):
            fasilitator.create_request({"layanan": "KENAIKAN_PANGKAT", "nip": junior,
                                        "options": {"jenis_kp": "istimewa"}})
        with pytest.raises(Forbidden):  # hukuman disiplin is proposed by BKD only
            fasilitator.create_request({"layanan": "HUKDIS", "nip": junior})


def test_a_switched_off_layanan_takes_no_new_requests_and_a_change_needs_a_new_sop(stack):
    call, store = stack
    nip = employee(call)
    with call(FASIL) as fasilitator:
        running = fasilitator.create_request({"layanan": "KARPEG", "nip": nip,
                                              "options": {"alasan": "baru"}})
    with call(ADMIN) as admin:
        with pytest.raises(Forbidden):
            with call(FASIL) as fasilitator:
                fasilitator.deactivate_layanan("KARPEG", {
                    "decree_number": "800/1/BKD/2026", "decree_date": "2026-11-01",
                    "reason": "Kartu ASN Virtual"})
        off = admin.deactivate_layanan("KARPEG", {
            "decree_number": "800/1/BKD/2026", "decree_date": "2026-11-01",
            "reason": "digantikan Kartu ASN Virtual"})
        assert off["active"] is False and off["decree_number"] == "800/1/BKD/2026"
        with pytest.raises(ValidationFailed) as no_sop:
            admin.change_layanan("KGB", {"changes": {"sla_hari_kerja": 3},
                                         "sop": {"nomor": "SOP/BKD/10/2026", "versi": 1},
                                         "approval": {"reference": "BA/SIMASN/7/2026"},
                                         "reason": "dipercepat"})
        assert no_sop.value.field == "sop.versi"
        changed = admin.change_layanan("KGB", {
            "changes": {"sla_hari_kerja": 3}, "sop": {"nomor": "SOP/BKD/10/2026-R1", "versi": 2},
            "approval": {"reference": "BA/SIMASN/7/2026"}, "reason": "dipercepat"})
        assert changed["version"] == 2 and changed["sla_hari_kerja"] == 3
    with call(FASIL) as fasilitator:
        with raises_code("layanan_inactive"):
            fasilitator.create_request({"layanan": "KARPEG", "nip": nip})
        # the request already running goes on under the entry it was made with
        docs = {code: upload(call, store, f"{code}-{nip}-karpeg", nip) for code in (
            "surat_pengantar", "sk_cpns", "sk_pns", "sttpl", "pas_foto")}
        changed = fasilitator.change_request_documents(running["request_id"], {
            "documents": docs, "expected_version": running["version"]})
        submitted = fasilitator.submit_request(running["request_id"],
                                               {"expected_version": changed["version"]})
        assert submitted["state"] == "submitted" and submitted["catalogue_version"] == 1


def test_a_catalogue_change_of_the_wrong_shape_is_refused_naming_the_field(stack):
    """A change is typed field by field: a malformed entry is refused before anything is
    published (a rule that is not an object crashed the entry check: 500), so the published
    entry keeps the shape its readers and the API document rely on."""
    call, _ = stack
    change = {"sop": {"nomor": "SOP/BKD/11/2026-R1", "versi": 2},
              "approval": {"reference": "BA/SIMASN/8/2026"}, "reason": "uji bentuk"}
    when_half = {"code": "kk", "nama": "Kartu keluarga", "mandatory": False,
                 "when": {"option": "alasan"}}
    with call(ADMIN) as admin:
        for changes, field in [({"eligibility": [1]}, "changes.eligibility.0"),
                               ({"sla_hari_kerja": "tiga"}, "changes.sla_hari_kerja"),
                               ({"documents": [when_half]}, "changes.documents.0.when"),
                               ({"kode": "LAIN"}, "changes.kode")]:
            with raises_code("validation_failed") as refused:
                admin.change_layanan("KARIS_KARSU", {**change, "changes": changes})
            assert refused.value.field == field, refused.value
        assert admin.get_layanan("KARIS_KARSU")["version"] == 1


def test_a_draft_that_loses_the_race_for_its_body_key_answers_the_winners_request(
        stack, service_config, database_url):
    """One body key under two header keys at once, the second draft held at the log until the
    first commits: it finds the employee's one open request of the layanan taken, goes back to
    its savepoint and answers the first one's request in its own transaction (the use case
    `workflow.create`); the log holds one RequestDrafted."""
    import eventlet
    import psycopg2

    call, _ = stack
    nip = employee(call)
    with call(ADMIN, "records") as records:
        record = records.record_for_rules(nip)
    pegawai = Principal(nip, frozenset({"pegawai"}), frozenset())
    data = {"layanan": "KGB", "nip": nip, "idempotency_key": uuid.uuid4().hex}
    engine = make_engine(validate_config(service_config).service_database_url("requests"),
                         schema="requests", pool_size=2)

    def database(header_key):
        return ServiceDatabase(engine, EventStore("requests", REQUESTS_EVENTS),
                               {"actor_id": nip, "actor_role": "pegawai",
                                IDEMPOTENCY_KEY: header_key})

    def second():
        with database(uuid.uuid4().hex).transaction() as uow:
            return workflow.create(uow, pegawai, data, record, today_wib(), data)

    watcher = psycopg2.connect(database_url)
    watcher.autocommit = True
    try:
        with database(uuid.uuid4().hex).transaction() as uow:
            first = workflow.create(uow, pegawai, data, record, today_wib(), data)
            loser = eventlet.spawn(second)
            deadline = eventlet.hubs.get_hub().clock() + 30
            with watcher.cursor() as cur:
                while True:  # the second draft waits for the log this transaction holds
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND wait_event_type = 'Lock'")
                    if cur.fetchone()[0]:
                        break
                    assert eventlet.hubs.get_hub().clock() < deadline, "never waited"
                    eventlet.sleep(0.01)  # yield to the second draft, polling the wait
        assert loser.wait()["request_id"] == first["request_id"]
        with watcher.cursor() as cur:
            cur.execute("SELECT count(*) FROM requests.events WHERE event_type = "
                        "'RequestDrafted' AND payload->>'nip' = %s", (nip,))
            assert cur.fetchone()[0] == 1
    finally:
        watcher.close()
        engine.dispose()


def test_the_same_submission_at_once_makes_one_request_and_one_verifier_gets_it(stack):
    import eventlet

    from shared.errors import ConcurrencyError, Conflict

    call, store = stack
    nip = employee(call)
    pegawai = principal(nip, ["pegawai"])
    key = uuid.uuid4().hex

    def create():
        with call(pegawai) as svc:
            return svc.create_request({"layanan": "KGB", "nip": nip, "idempotency_key": key})

    made = [t.wait() for t in [eventlet.spawn(create) for _ in range(4)]]
    assert len({m["request_id"] for m in made}) == 1, "one request for one key"
    rid, version = made[0]["request_id"], made[0]["version"]
    docs = {code: upload(call, store, f"{code}-{nip}-c", nip) for code in (
        "surat_pengantar", "sk_pangkat_terakhir", "sk_kgb_terakhir", "skp_1_tahun")}
    with call(pegawai) as svc:
        version = svc.change_request_documents(rid, {"documents": docs,
                                                     "expected_version": version})["version"]
        version = svc.submit_request(rid, {"expected_version": version})["version"]

    def claim(who):
        with call(who) as svc:
            try:
                return svc.start_verification(rid, {"expected_version": version})["state"]
            except Conflict as exc:
                # the loser read the old version (conflict) or already the new state (refused)
                return exc.code

    outcomes = [t.wait() for t in [eventlet.spawn(claim, FASIL), eventlet.spawn(claim, ADMIN)]]
    assert outcomes.count("under_verification") == 1
    assert sum(o in (ConcurrencyError.code, TransitionRefused.code) for o in outcomes) == 1


def test_who_prepared_a_request_never_verifies_it_and_verdicts_cover_every_document(stack):
    call, store = stack
    nip = employee(call)
    pegawai = principal(nip, ["pegawai"])
    with call(pegawai) as svc:
        draft = svc.create_request({"layanan": "KGB", "nip": nip})
    codes = ("surat_pengantar", "sk_pangkat_terakhir", "sk_kgb_terakhir", "skp_1_tahun")
    docs = {code: upload(call, store, f"{code}-{nip}-p", nip) for code in codes}
    with call(FASIL) as fasilitator:  # the fasilitator supplies the documents...
        changed = fasilitator.change_request_documents(draft["request_id"], {
            "documents": docs, "expected_version": draft["version"]})
    with call(pegawai) as svc:
        submitted = svc.submit_request(draft["request_id"],
                                       {"expected_version": changed["version"]})
    with call(FASIL) as fasilitator:  # ...so another verifier must check them
        with pytest.raises(Forbidden):
            fasilitator.start_verification(draft["request_id"],
                                           {"expected_version": submitted["version"]})
    with call(ADMIN) as admin:
        claimed = admin.start_verification(draft["request_id"],
                                           {"expected_version": submitted["version"]})
        ok = {"original": True, "legible": True, "matches_record": True}
        with pytest.raises(ValidationFailed) as partial:
            admin.verify_request(draft["request_id"], {
                "expected_version": claimed["version"], "checks": {codes[0]: ok}})
        assert set(partial.value.details["missing"]) == set(codes[1:])
        with pytest.raises(ValidationFailed) as fake:
            admin.verify_request(draft["request_id"], {
                "expected_version": claimed["version"],
                "checks": {**{c: ok for c in codes}, codes[1]: {**ok, "original": False}}})
        assert fake.value.details["failing"] == [codes[1]]


def test_a_layanan_only_bkd_submits_is_kept_from_the_employee_and_the_opd(stack, database_url):
    call, store = stack
    nip = employee(call)
    with call(FASIL) as fasilitator:
        with pytest.raises(ValidationFailed) as no_option:  # options are not optional
            fasilitator.create_request({"layanan": "TASPEN", "nip": nip})
        assert no_option.value.field == "options.alasan"
    codes = ("surat_panggilan", "bap", "laporan_pemeriksaan", "sk_cpns",
             "sk_pangkat_terakhir", "sk_jabatan_terakhir")
    docs = {code: upload(call, store, f"{code}-{nip}-h", nip) for code in codes}
    with call(ADMIN) as admin:
        hukdis = admin.create_request({"layanan": "HUKDIS", "nip": nip, "documents": docs,
                                       "options": {"pelanggaran": "lainnya"}})
    with call(principal(nip, ["pegawai"])) as own:
        with pytest.raises(Forbidden):
            own.submit_request(hukdis["request_id"], {"expected_version": hukdis["version"]})
        with pytest.raises(Forbidden):
            own.withdraw_request(hukdis["request_id"], {"expected_version": hukdis["version"],
                                                       "reason": "tidak setuju"})
    with call(ADMIN) as admin:
        submitted = admin.submit_request(hukdis["request_id"],
                                         {"expected_version": hukdis["version"]})
    with call(FASIL) as fasilitator:  # the OPD does not even see a disciplinary procedure
        with pytest.raises(NotFound):
            fasilitator.start_verification(hukdis["request_id"],
                                           {"expected_version": submitted["version"]})
        with pytest.raises(NotFound):
            fasilitator.request_timeline(hukdis["request_id"])
    with call(principal(nip, ["pegawai"])) as own:  # the employee concerned does
        assert own.get_request(hukdis["request_id"])["layanan"] == "HUKDIS"
    with call(OTHER_ADMIN) as other:
        assert other.start_verification(hukdis["request_id"], {
            "expected_version": submitted["version"]})["state"] == "under_verification"
    import psycopg2

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT bool_and((payload->>'confidential')::boolean), count(*) FROM "
                        "requests.events WHERE stream_id = %s",
                        (f"request:{hukdis['request_id']}",))
            assert cur.fetchone() == (True, 3), "every event marked: withheld from the bus"
    finally:
        conn.close()


def test_a_running_penalty_is_not_revealed_to_a_fasilitator(stack):
    call, _ = stack
    nip = employee(call)
    with call(ADMIN, "records") as records:
        record = records.get_employee(nip)
        records.record_history(nip, {
            "history": "hukuman_disiplin", "entry": {"kode": "S1", "mulai": "2026-09-01",
                                                     "akhir": "2027-03-01"},
            "expected_version": record["version"], "reason": "SK hukdis"})
    with call(FASIL) as fasilitator:
        answer = fasilitator.eligibility("KGB", nip)
        draft = fasilitator.create_request({"layanan": "KGB", "nip": nip})
        with raises_code("not_eligible") as refused:  # submitting says no more than that
            fasilitator.submit_request(draft["request_id"],
                                       {"expected_version": draft["version"]})
        assert "rincian di BKD" in refused.value.message and "2027" not in refused.value.message
        assert refused.value.details["eligible_from"] is None
    (hidden,) = [c for c in answer["checks"] if c["rule"] == "no_running_penalty"]
    assert hidden["message"] == "syarat disiplin belum terpenuhi (rincian di BKD)"
    assert hidden["eligible_from"] is None and answer["eligible_from"] is None
    with call(principal(nip, ["pegawai"])) as own:
        mine = own.eligibility("KGB", nip)
    (shown,) = [c for c in mine["checks"] if c["rule"] == "no_running_penalty"]
    assert shown["eligible_from"] == "2027-03-02"
    # the fasilitator's draft is still open: no second KGB request until it is done, so
    # waiting alone does not make the employee eligible
    (running,) = [c for c in mine["checks"] if c["rule"] == "no_open_request"]
    assert not running["ok"] and running["request_id"] == draft["request_id"]
    assert mine["eligible_from"] is None


def test_a_disciplinary_procedure_never_reaches_the_bus():
    from services.requests.events import REGISTRY

    returned = {"documents": {"bap": "BAP belum ditandatangani"}, "nip": "1" * 18,
                "confidential": True}
    assert REGISTRY.public_payload("RequestReturned", returned) == (
        {"confidential": True, "withheld": True}, True)
    ordinary = {"documents": {"kk": "buram"}, "nip": "1" * 18}
    assert REGISTRY.public_payload("RequestReturned", ordinary) == (ordinary, False)
    # consumers take a withheld event without failing: nobody is told of it
    from shared.notifications import NOTIFIED_EVENTS, notification_for

    withheld = REGISTRY.public_payload("RequestReturned", returned)[0]
    assert all(notification_for(kind, withheld) is None for kind in NOTIFIED_EVENTS)
