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
from tests.helpers import RelayThread, signed
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
        return ServiceRpcProxy(service, identity_config,
                               context_data=signed(context, identity_config))

    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
        sha = records.upload_document(FileSystemStore(identity_config["DOCUMENT_ROOT"]).put(
            pdf_with_text(marker=nip)).sha256, "kk.pdf", nip)["sha256"]
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
            returned = requests.return_request(made["request_id"], {
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
        with call(pegawai, "requests") as requests:  # a new step (one request open at a time)
            requests.submit_request(made["request_id"],
                                    {"expected_version": returned["version"]})
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


class FlakyRelay:
    def __init__(self, failures: int):
        self.failures, self.sent = failures, []

    def send(self, to, subject, body, kind):
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("relay down")
        self.sent.append((to, subject))


def test_a_refused_mail_is_tried_again_later_and_given_up_after_five_tries(database_url):
    from services.identity.events import REGISTRY
    from services.identity.usecases import emails
    from shared.db import ServiceDatabase, make_engine
    from shared.eventstore import EventStore

    engine = make_engine(database_url, schema="identity", pool_size=1)
    db = ServiceDatabase(engine, EventStore("identity", REGISTRY), {})
    keys = [f"test:{uuid.uuid4()}" for _ in range(2)]

    def status(key):
        with db.transaction() as uow:
            return tuple(uow.execute("SELECT status, attempts FROM email_outbox WHERE "
                                     "source_key = :k", {"k": key}).one())

    def due_now():
        with db.transaction() as uow:
            uow.execute("UPDATE email_outbox SET next_attempt_at = now() - interval '1 second' "
                        "WHERE source_key = ANY(:k)", {"k": keys})

    try:
        with db.transaction() as uow:
            for key in keys:
                uow.execute("INSERT INTO email_outbox (source_key, recipient, subject, body) "
                            "VALUES (:k, 'x@mail.test', 'SIMASN Jatim: uji', 'isi')", {"k": key})
        relay = FlakyRelay(failures=2)  # both refused once, then the relay is back
        emails.deliver(db, relay)
        assert status(keys[0]) == ("failed", 1) and relay.sent == []
        emails.deliver(db, relay)  # not due yet: nothing is tried
        assert status(keys[0]) == ("failed", 1)
        due_now()
        emails.deliver(db, relay)
        assert [status(k) for k in keys] == [("sent", 2), ("sent", 2)]
        assert len(relay.sent) == 2

        with db.transaction() as uow:  # a relay that never comes back: five tries, no more
            uow.execute("UPDATE email_outbox SET status = 'pending', attempts = 0 "
                        "WHERE source_key = :k", {"k": keys[0]})
        down = FlakyRelay(failures=100)
        for _ in range(7):
            due_now()
            emails.deliver(db, down)
        assert status(keys[0]) == ("failed", emails.MAX_ATTEMPTS)
        assert down.failures == 100 - emails.MAX_ATTEMPTS
    finally:
        engine.dispose()


def test_identity_mails_on_every_notified_event():
    """The mail handlers are declared one per event, by name: none of NOTIFIED_EVENTS (the
    requests' steps) and DOCUMENT_EVENTS (a document signed, revoked or replaced: issue 20) is
    missing, none mails on an event the employee is not told about, and each consumer is named
    as the service attribute that declares it (its queue and position are named after it)."""
    from shared.notifications import DOCUMENT_EVENTS, NOTIFIED_EVENTS

    handlers = {name: entry for name, entry in vars(IdentityService).items()
                if getattr(entry, "subscribes", None)
                and entry.subscribes[0] == "identity.notifications"}
    assert {entry.subscribes[1:3] for entry in handlers.values()} == {
        ("requests", event_type) for event_type in NOTIFIED_EVENTS} | {
        ("signing", event_type) for event_type in DOCUMENT_EVENTS}
    assert all(entry.__name__ == name for name, entry in handlers.items())
