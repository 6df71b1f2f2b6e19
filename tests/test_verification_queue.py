"""Verification queues (issue 5) built from the requests and records events through the real
outbox relays and RabbitMQ: per OPD for fasilitators, decisions for administrators, oldest
first with their SLA state; two verifiers claiming one item — one gets it."""

import uuid
from datetime import date

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.requests.service import RequestsService
from services.verification import domain
from services.verification.service import VerificationService
from shared.errors import Conflict, Forbidden, NotFound
from shared.objectstore import FileSystemStore
from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.helpers import RelayThread, signed
from tests.records_helpers import ADMIN, FASIL, OTHER_FASIL, new_person, principal

SECOND_FASIL = principal("fas2.dkp", ["fasilitator"], ["dkp"])
CONTAINERS: dict = {}
KK = ("sk_terakhir", "daftar_gaji", "kk", "ktp", "pas_foto")


def test_working_days_and_sla_state():
    friday = date(2026, 11, 27)
    assert domain.add_working_days(friday, 1) == date(2026, 11, 30)  # the Monday after
    assert domain.working_days_between(friday, date(2026, 12, 2)) == 3
    holiday = frozenset({date(2026, 11, 30)})
    assert domain.add_working_days(friday, 1, holiday) == date(2026, 12, 1)
    state = domain.sla_state(friday, 2, date(2026, 12, 2))
    assert state == {"working_days": 3, "due": "2026-12-01", "breached": True}
    assert domain.sla_state(friday, None, date(2026, 12, 2))["breached"] is False


@pytest.fixture
def stack(container_factory, service_config, database_url):
    for service in (RecordsService, RequestsService, VerificationService):
        container = container_factory(service, service_config)
        container.start()
    CONTAINERS["verification"] = container  # the last one started
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])
    name = f"queue-{uuid.uuid4().hex[:8]}"
    relays = [RelayThread(database_url, source, source, service_config["AMQP_URI"], name=name)
              for source in ("records", "requests")]
    for relay in relays:
        relay.__enter__()

    def call(context, service):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    yield call, store
    for relay in relays:
        relay.__exit__(None, None, None)


def submitted_request(call, store, nip):
    pegawai = principal(nip, ["pegawai"])
    with call(FASIL, "records") as records:
        sha = records.upload_document(store.put(pdf_with_text(marker=nip)).sha256, "kk.pdf",
                                      nip)["sha256"]
    with call(pegawai, "requests") as requests:
        made = requests.create_request({"layanan": "KARTU_KESEHATAN", "nip": nip,
                                        "options": {"tanggungan": "sendiri"},
                                        "documents": {c: sha for c in KK}})
        return requests.submit_request(made["request_id"],
                                       {"expected_version": made["version"]})


def queue_of(call, who):
    with call(who, "verification") as verification:
        return verification.queue()


def test_queues_per_opd_oldest_first_with_sla_and_one_claim_wins(stack):
    call, store = stack
    nips = []
    for _ in range(2):
        nip, person = new_person()
        person.pop("catatan_kesehatan")
        with call(ADMIN, "records") as records:
            records.register_employee(person, "data awal")
        nips.append(nip)
    first = submitted_request(call, store, nips[0])
    second = submitted_request(call, store, nips[1])
    with call(principal(nips[0], ["pegawai"]), "records") as records:
        proposal = records.propose_change(nips[0], {"changes": {"address": "Jl. Baru 5"}})

    ids = {f"request:{first['request_id']}", f"request:{second['request_id']}",
           f"change:{nips[0]}:{proposal['change_id']}"}
    wait_for(lambda: ids <= {i["item_id"] for i in queue_of(call, FASIL)}, timeout=30,
             message="the three items reach the dkp queue")
    mine = [i for i in queue_of(call, FASIL) if i["item_id"] in ids]
    assert [i["item_id"] for i in mine][:2] == [f"request:{first['request_id']}",
                                                f"request:{second['request_id']}"]
    request_item = mine[0]
    assert request_item["layanan"] == "KARTU_KESEHATAN" and request_item["opd_id"] == "dkp"
    assert request_item["sla"]["due"] and request_item["sla"]["breached"] is False
    assert not ids & {i["item_id"] for i in queue_of(call, OTHER_FASIL)}
    with call(OTHER_FASIL, "verification") as other:
        with pytest.raises(NotFound):
            other.queue("dkp")
        with pytest.raises(NotFound):
            other.claim(request_item["item_id"])
    with call(principal(nips[0], ["pegawai"]), "verification") as pegawai:
        with pytest.raises(NotFound):
            pegawai.queue()

    # two verifiers reach for the same proposal at the same moment: one gets it
    change = f"change:{nips[0]}:{proposal['change_id']}"

    def claim(who):
        with call(who, "verification") as verification:
            try:
                return verification.claim(change)["claimed_by"]
            except Conflict as exc:
                return exc

    outcomes = [t.wait() for t in [eventlet.spawn(claim, FASIL),
                                   eventlet.spawn(claim, SECOND_FASIL)]]
    winners = [o for o in outcomes if isinstance(o, str)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].details["claimed_by"] == winners[0]

    # the request moves on: verified -> it leaves the fasilitator queue for the administrators'
    with call(FASIL, "requests") as requests:
        claimed = requests.start_verification(first["request_id"],
                                              {"expected_version": first["version"]})
        verdict = {"original": True, "legible": True, "matches_record": True}
        requests.verify_request(first["request_id"], {
            "expected_version": claimed["version"], "checks": {c: verdict for c in KK}})
    item = f"request:{first['request_id']}"
    wait_for(lambda: any(i["item_id"] == item and i["stage"] == "under_approval"
                         for i in queue_of(call, ADMIN)), timeout=30,
             message="the verified request waits for an administrator")
    assert item not in {i["item_id"] for i in queue_of(call, FASIL)}
    with call(SECOND_FASIL, "verification") as verification:
        with pytest.raises(Forbidden):  # a decision waits for BKD, not for a fasilitator
            verification.claim(item)
    # the decided proposal leaves the queue
    with call(SECOND_FASIL if winners[0] == SECOND_FASIL["actor_id"] else FASIL,
              "records") as records:
        current = records.get_employee(nips[0])
        records.decide_change(nips[0], {"change_id": proposal["change_id"], "apply": True,
                                        "reason": "sesuai KTP",
                                        "expected_version": current["version"]})
    wait_for(lambda: change not in {i["item_id"] for i in queue_of(call, FASIL)}, timeout=30,
             message="the decided proposal leaves the queue")


def test_events_handled_out_of_order_never_move_an_item_backwards(database_url):
    from sqlalchemy import create_engine, text

    from services.verification.service import UPSERT
    from shared.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(database_url))
    item = f"request:{uuid.uuid4()}"
    base = {"item": item, "kind": "request", "layanan": None, "sla": None,
            "confidential": False}
    with engine.begin() as conn:
        conn.execute(text("SET search_path TO verification"))
        # VerificationStarted (version 4) arrives before RequestSubmitted (version 3)
        conn.execute(text(UPSERT), {**base, "version": 4, "stage": "under_verification",
                                    "opd": None, "nip": None,
                                    "since": "2026-11-30T08:00:00Z"})
        conn.execute(text(UPSERT), {**base, "version": 3, "stage": "submitted", "opd": "dkp",
                                    "nip": "198001012005031001", "layanan": "KGB", "sla": 5,
                                    "since": "2026-11-30T07:00:00Z"})
        row = conn.execute(text("SELECT stage, opd_id, layanan, stream_version FROM "
                                "queue_items WHERE item_id = :i"), {"i": item}).one()
    engine.dispose()
    assert tuple(row) == ("under_verification", "dkp", "KGB", 4)


def test_the_employee_is_told_of_each_step_once(stack, database_url, service_config):
    call, store = stack
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    pegawai = principal(nip, ["pegawai"])
    request = submitted_request(call, store, nip)
    with call(FASIL, "requests") as requests:
        claimed = requests.start_verification(request["request_id"],
                                              {"expected_version": request["version"]})
        requests.return_request(request["request_id"], {
            "expected_version": claimed["version"], "documents": {"kk": "KK buram"}})

    def inbox():
        with call(pegawai, "verification") as verification:
            return verification.inbox()

    wait_for(lambda: len(inbox()) == 3, timeout=30, message="three notifications")
    titles = [n["title"] for n in sorted(inbox(), key=lambda n: n["created_at"])]
    assert titles == ["Usulan diterima", "Usulan sedang diverifikasi",
                      "Usulan dikembalikan untuk perbaikan"]
    returned = next(n for n in inbox() if n["event"] == "RequestReturned")
    assert "kk: KK buram" in returned["body"]
    with call(FASIL, "verification") as other:  # someone else's inbox is not theirs to read
        assert other.inbox() == []
        with pytest.raises(NotFound):
            other.mark_read(returned["notification_id"])
    with call(pegawai, "verification") as verification:
        verification.mark_read(returned["notification_id"])
        assert [n["title"] for n in verification.inbox(True)] == [
            "Usulan sedang diverifikasi", "Usulan diterima"]

    # every event published again (a relay that lost its checkpoint): nobody is told twice
    with RelayThread(database_url, "requests", "requests", service_config["AMQP_URI"],
                     name=f"again-{uuid.uuid4().hex[:6]}"):
        marker = submitted_request(call, store, nip)  # published after the duplicates
        wait_for(lambda: len(inbox()) == 4, timeout=30, message="the marker's notification")
    CONTAINERS["verification"].stop()  # drains whatever is still in flight
    assert len(inbox_rows(database_url, nip)) == 4
    assert marker["request_id"] in {r[0] for r in inbox_rows(database_url, nip)}


def inbox_rows(database_url, nip):
    import psycopg2

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT request_id FROM verification.inbox WHERE recipient = %s",
                        (nip,))
            return cur.fetchall()
    finally:
        conn.close()


def test_holidays_come_from_config_and_a_bad_one_is_named():
    from shared.calendar import holidays_from
    from shared.errors import ConfigError

    assert holidays_from({"HOLIDAYS": "2026-12-25, 2026-12-26"}) == frozenset(
        {date(2026, 12, 25), date(2026, 12, 26)})
    assert holidays_from({"HOLIDAYS": ""}) == frozenset() == holidays_from({})
    with pytest.raises(ConfigError) as bad:
        holidays_from({"HOLIDAYS": "2026-12-25,25/12/2026"})
    assert bad.value.field == "HOLIDAYS" and "25/12/2026" in bad.value.message
    # Christmas on a Friday: the SLA clock skips it
    state = domain.sla_state(date(2026, 12, 24), 1, date(2026, 12, 28),
                             holidays_from({"HOLIDAYS": "2026-12-25"}))
    assert state["due"] == "2026-12-28" and state["working_days"] == 1


def test_a_disciplinary_procedure_waits_in_the_administrators_queue_only(stack):
    """HUKDIS events reach verification withheld (no OPD, no NIP): the item still shows for
    administrators, marked confidential, and in no OPD's queue."""
    call, store = stack
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
        docs = {code: records.upload_document(store.put(pdf_with_text(
            marker=f"{code}-{nip}")).sha256, f"{code}.pdf", nip)["sha256"]
            for code in ("surat_panggilan", "bap", "laporan_pemeriksaan", "sk_cpns",
                         "sk_pangkat_terakhir", "sk_jabatan_terakhir")}
    with call(ADMIN, "requests") as requests:
        hukdis = requests.create_request({"layanan": "HUKDIS", "nip": nip, "documents": docs,
                                          "options": {"pelanggaran": "lainnya"}})
        requests.submit_request(hukdis["request_id"], {"expected_version": hukdis["version"]})
    item = f"request:{hukdis['request_id']}"

    def waiting():
        return [i for i in queue_of(call, ADMIN) if i["item_id"] == item]

    wait_for(waiting, timeout=30, message="the HUKDIS request waits for BKD")
    (shown,) = waiting()
    assert shown["confidential"] is True and shown["nip"] is None and shown["opd_id"] is None
    assert shown["stage"] == "submitted"
    assert item not in {i["item_id"] for i in queue_of(call, FASIL)}
    assert item not in {i["item_id"] for i in queue_of(call, OTHER_FASIL)}
    with call(ADMIN, "verification") as verification:
        assert verification.claim(item)["claimed_by"] == ADMIN["actor_id"]
    with call(FASIL, "verification") as fasilitator:
        with pytest.raises(NotFound):
            fasilitator.claim(item)
