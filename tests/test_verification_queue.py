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
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
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
        CONTAINERS[container.service_name] = container
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])
    name = f"queue-{uuid.uuid4().hex[:8]}"
    relays = [RelayThread(database_url, source, source, service_config["AMQP_URI"], name=name)
              for source in ("records", "requests", "verification")]
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

    from services.verification.usecases.queues import UPSERT
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
        returned_request = requests.return_request(request["request_id"], {
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
        # a new step, published after the duplicates (the request resubmitted: one request of
        # a layanan is open at a time)
        with call(pegawai, "requests") as requests:
            requests.submit_request(request["request_id"],
                                    {"expected_version": returned_request["version"]})
        wait_for(lambda: len(inbox()) == 4, timeout=30, message="the marker's notification")
        assert [n["title"] for n in inbox()].count("Usulan diterima") == 2
    CONTAINERS["verification"].stop()  # drains whatever is still in flight
    assert len(inbox_rows(database_url, nip)) == 4


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


def log_rows(database_url, schema, stream_id):
    """(event_type, payload, metadata) of one stream of a service's log, in order."""
    import psycopg2

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT event_type, payload, metadata FROM {schema}.events WHERE "  # noqa: S608 - schema is ours
                        "stream_id = %s ORDER BY version", (stream_id,))
            return cur.fetchall()
    finally:
        conn.close()


def lapse_claim(database_url, item_id):
    """The claim was taken more than CLAIM_MINUTES ago (the clock moved on)."""
    import psycopg2

    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE verification.queue_items SET claimed_at = claimed_at - "
                        "interval '2 hours' WHERE item_id = %s", (item_id,))
    finally:
        conn.close()


def test_a_claim_is_an_event_and_a_line_in_the_request_timeline(stack, database_url,
                                                                 service_config):
    """Claiming, renewing and taking over a lapsed claim each append VerificationItemClaimed
    (who, the previous claimant) to verification's log in the claim's transaction; requests
    consumes it once and the request's timeline shows a line for each."""
    call, store = stack
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    request = submitted_request(call, store, nip)
    item = f"request:{request['request_id']}"
    wait_for(lambda: item in {i["item_id"] for i in queue_of(call, FASIL)}, timeout=30,
             message="the request reaches the dkp queue")

    with call(FASIL, "verification") as verification:
        verification.claim(item)
        verification.claim(item)  # the same verifier again: the claim is renewed
    with call(SECOND_FASIL, "verification") as verification:
        with pytest.raises(Conflict):
            verification.claim(item)  # held: refused, and nothing is logged
    lapse_claim(database_url, item)
    with call(SECOND_FASIL, "verification") as verification:
        verification.claim(item)  # taken over

    claims = log_rows(database_url, "verification", f"queue-item:{item}")
    assert [row[0] for row in claims] == ["VerificationItemClaimed"] * 3
    payloads = [row[1] for row in claims]
    assert [(p["claimed_by"], p["previous_claimant"], p["lapsed"]) for p in payloads] == [
        (FASIL["actor_id"], None, False), (FASIL["actor_id"], FASIL["actor_id"], False),
        (SECOND_FASIL["actor_id"], FASIL["actor_id"], True)]
    assert all(p["item_id"] == item and p["kind"] == "request"
               and p["request_id"] == request["request_id"] for p in payloads)
    assert payloads[2]["previous_claimed_at"]
    assert [row[2]["actor_id"] for row in claims] == [
        FASIL["actor_id"], FASIL["actor_id"], SECOND_FASIL["actor_id"]]
    assert [i for i in queue_of(call, FASIL) if i["item_id"] == item][0][
        "claimed_by"] == SECOND_FASIL["actor_id"]

    pegawai = principal(nip, ["pegawai"])

    def claim_lines():
        with call(pegawai, "requests") as requests:
            return [line for line in requests.request_timeline(request["request_id"])
                    if line["event"] == "RequestClaimed"]

    wait_for(lambda: len(claim_lines()) == 3, timeout=30,
             message="the three claims on the request's timeline")
    with call(pegawai, "requests") as requests:
        timeline = requests.request_timeline(request["request_id"])
    assert [line["event"] for line in timeline] == [
        "RequestDrafted", "RequestSubmitted", "RequestClaimed", "RequestClaimed",
        "RequestClaimed"]
    lines = timeline[2:]
    assert [(line["actor_id"], line["actor_role"]) for line in lines] == [
        (FASIL["actor_id"], "fasilitator"), (FASIL["actor_id"], "fasilitator"),
        (SECOND_FASIL["actor_id"], "fasilitator")]
    assert all(line["version"] is None for line in lines)  # not a step of the request itself
    # each line at the time verification recorded the claim (requests may consume them in
    # any order: its handler runs up to ten at once)
    assert [line["recorded_at"] for line in lines] == sorted(
        row[1]["claimed_at"] for row in log_rows(database_url, "requests",
                                                 f"request-claims:{request['request_id']}"))
    assert "diambil alih dari " + FASIL["actor_id"] in lines[2]["reason"]

    # the claim does not move the request's version: a verifier who read it before claiming
    # starts it with the version read
    with call(SECOND_FASIL, "requests") as requests:
        started = requests.start_verification(request["request_id"],
                                              {"expected_version": request["version"]})
    assert started["version"] == request["version"] + 1
    wait_for(lambda: [(i["stage"], i["claimed_by"]) for i in queue_of(call, FASIL)
                      if i["item_id"] == item] == [("under_verification", None)], timeout=30,
             message="the request moved on: its claim is cleared")

    # every verification event published again: the timeline still has one line per claim
    with RelayThread(database_url, "verification", "verification",
                     service_config["AMQP_URI"], name=f"again-{uuid.uuid4().hex[:6]}"):
        with call(ADMIN, "verification") as verification:
            verification.claim(item)  # published after the duplicates
        wait_for(lambda: len(claim_lines()) == 4, timeout=30,
                 message="the administrator's claim on the timeline")
    CONTAINERS["requests"].stop()  # drains whatever is still in flight
    rows = log_rows(database_url, "requests", f"request-claims:{request['request_id']}")
    assert sorted(row[1]["claimed_by"] for row in rows) == sorted([
        FASIL["actor_id"], FASIL["actor_id"], SECOND_FASIL["actor_id"], ADMIN["actor_id"]])


def test_claiming_a_record_change_is_logged_too(stack, database_url):
    call, _ = stack
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    with call(principal(nip, ["pegawai"]), "records") as records:
        proposal = records.propose_change(nip, {"changes": {"address": "Jl. Baru 7"}})
    item = f"change:{nip}:{proposal['change_id']}"
    wait_for(lambda: item in {i["item_id"] for i in queue_of(call, FASIL)}, timeout=30,
             message="the proposal reaches the dkp queue")
    with call(FASIL, "verification") as verification:
        verification.claim(item)
    (claimed,) = log_rows(database_url, "verification", f"queue-item:{item}")
    assert claimed[0] == "VerificationItemClaimed"
    assert claimed[1]["kind"] == "record_change" and claimed[1]["request_id"] is None
    assert claimed[1]["claimed_by"] == FASIL["actor_id"]


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


def test_a_disciplinary_procedure_waits_in_the_administrators_queue_only(stack, database_url):
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
    # the claim reaches the request's timeline, and is withheld from the bus there too
    claims = f"request-claims:{hukdis['request_id']}"
    wait_for(lambda: log_rows(database_url, "requests", claims), timeout=30,
             message="requests records the claim")
    (claimed,) = log_rows(database_url, "requests", claims)
    assert claimed[1]["confidential"] is True
    with call(FASIL, "verification") as fasilitator:
        with pytest.raises(NotFound):
            fasilitator.claim(item)


def test_the_inbox_is_polled_by_cursor_with_its_unread_count(stack):
    """What the web application polls (issue 16): notifications written after a cursor, the
    unread count, and the next cursor; nothing new, nothing answered but the count."""
    call, store = stack
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    pegawai = principal(nip, ["pegawai"])

    def updates(**query):
        with call(pegawai, "verification") as verification:
            return verification.inbox_updates(query)

    empty = updates()
    assert empty == {"items": [], "unread": 0, "has_more": False, "cursor": "0"}
    request = submitted_request(call, store, nip)
    wait_for(lambda: updates()["unread"] == 1, timeout=30, message="told of the submission")
    first = updates()
    assert [n["event"] for n in first["items"]] == ["RequestSubmitted"]
    assert updates(after=first["cursor"]) == {"items": [], "unread": 1, "has_more": False,
                                              "cursor": first["cursor"]}
    with call(FASIL, "requests") as requests:
        claimed = requests.start_verification(request["request_id"],
                                              {"expected_version": request["version"]})
        requests.return_request(request["request_id"], {
            "expected_version": claimed["version"], "documents": {"kk": "KK buram"}})
    wait_for(lambda: updates()["unread"] == 3, timeout=30, message="three notifications")
    newer = updates(after=first["cursor"])
    assert [n["event"] for n in newer["items"]] == ["VerificationStarted", "RequestReturned"]
    assert int(newer["cursor"]) > int(first["cursor"])
    page = updates(after=first["cursor"], limit=1)
    assert page["has_more"] and [n["event"] for n in page["items"]] == ["VerificationStarted"]
    with call(pegawai, "verification") as verification:
        verification.mark_read(newer["items"][-1]["notification_id"])
    assert updates(after=newer["cursor"])["unread"] == 2
    with call(FASIL, "verification") as other:  # someone else's inbox: nothing of it
        assert other.inbox_updates({})["items"] == []
        with pytest.raises(ValidationFailed):
            other.inbox_updates({"after": "x"})
