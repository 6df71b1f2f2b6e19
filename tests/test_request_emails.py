"""Request notifications by email (issue 5): identity owns the addresses; each step is mailed
once — queued from the event exactly once, delivered at most once — into the outbox file (the
default transport; an SMTP relay when SMTP_HOST is set)."""

import json
import uuid

import psycopg2
from nameko.standalone.rpc import ServiceRpcProxy

from services.identity.service import IdentityService
from services.records.service import RecordsService
from services.requests.service import RequestsService
from shared.objectstore import FileSystemStore
from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.helpers import RelayThread
from tests.identity_helpers import People, employee_for
from tests.records_helpers import ADMIN, FASIL, principal
from tests.test_verification_queue import KK


def mails_to(config, address):
    try:
        with open(config["NOTIFICATION_OUTBOX"], encoding="utf-8") as fh:
            return [m for m in map(json.loads, fh) if m["to"] == address
                    and m["kind"] == "request_notification"]
    except FileNotFoundError:
        return []


def test_each_step_is_mailed_once(container_factory, identity_config, database_url):
    containers = {}
    for service in (IdentityService, RecordsService, RequestsService):
        containers[service] = container_factory(service, identity_config)
        containers[service].start()
    people = People(identity_config)
    try:
        nip = people.pegawai("dkp")
    finally:
        people.close()
    address = f"{nip}@mail.test"
    person = {**employee_for(nip, "dkp")}
    person.pop("reason")

    def call(context, service):
        return ServiceRpcProxy(service, identity_config, context_data=context)

    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
        sha = records.upload_document(FileSystemStore(identity_config["DOCUMENT_ROOT"]).put(
            pdf_with_text(marker=nip)).sha256, "kk.pdf")["sha256"]
    pegawai = principal(nip, ["pegawai"])
    with RelayThread(database_url, "requests", "requests", identity_config["AMQP_URI"],
                     name=f"mail-{uuid.uuid4().hex[:6]}"):
        with call(pegawai, "requests") as requests:
            made = requests.create_request({"layanan": "KARTU_KESEHATAN", "nip": nip,
                                            "options": {"tanggungan": "sendiri"},
                                            "documents": {c: sha for c in KK}})
            submitted = requests.submit_request(made["request_id"],
                                                {"expected_version": made["version"]})
        with call(FASIL, "requests") as requests:
            claimed = requests.start_verification(made["request_id"],
                                                  {"expected_version": submitted["version"]})
            requests.return_request(made["request_id"], {
                "expected_version": claimed["version"], "documents": {"kk": "KK buram"}})
        wait_for(lambda: len(mails_to(identity_config, address)) == 3, timeout=30,
                 message="three mails")
    # each event type has its own queue, so steps taken within milliseconds may be mailed in
    # another order; each is mailed, once
    subjects = sorted(m["subject"] for m in mails_to(identity_config, address))
    assert subjects == ["SIMASN Jatim: Usulan dikembalikan untuk perbaikan",
                        "SIMASN Jatim: Usulan diterima",
                        "SIMASN Jatim: Usulan sedang diverifikasi"]
    assert all(made["request_id"] in m["body"] for m in mails_to(identity_config, address))

    # the same events published again: nobody is mailed twice
    with RelayThread(database_url, "requests", "requests", identity_config["AMQP_URI"],
                     name=f"again-{uuid.uuid4().hex[:6]}"):
        with call(pegawai, "requests") as requests:
            marker = requests.create_request({"layanan": "KARTU_KESEHATAN", "nip": nip,
                                              "options": {"tanggungan": "sendiri"},
                                              "documents": {c: sha for c in KK}})
            requests.submit_request(marker["request_id"],
                                    {"expected_version": marker["version"]})
        wait_for(lambda: len(mails_to(identity_config, address)) == 4, timeout=30,
                 message="the marker's mail")
    containers[IdentityService].stop()  # drains duplicates still in flight
    assert len(mails_to(identity_config, address)) == 4
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, count(*) FROM identity.email_outbox WHERE recipient = %s "
                        "GROUP BY status", (address,))
            assert cur.fetchall() == [("sent", 4)]
    finally:
        conn.close()
