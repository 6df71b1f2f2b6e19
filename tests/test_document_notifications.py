"""The employee told of their output documents (issue 20 part 4): signed, replaced by a
corrected one, revoked — in the in-app inbox (verification) and by email (identity), from the
signing service's events through its outbox relay, each once even when the events are
published again; a confidential document is told in the inbox only."""

import uuid

from nameko.standalone.rpc import ServiceRpcProxy

from services.identity.service import IdentityService
from services.records.service import RecordsService
from services.signing.service import SigningService
from services.verification.service import VerificationService
from shared.testing import wait_for
from tests.helpers import RelayThread, signed
from tests.identity_helpers import People, employee_for
from tests.records_helpers import ADMIN, principal
from tests.test_request_emails import mails_to

SYSTEM = principal("service:uji", ["system"])


def test_signed_replaced_and_revoked_reach_the_inbox_and_the_mail_once(
        container_factory, identity_config, database_url):
    for service in (IdentityService, RecordsService, SigningService, VerificationService):
        container_factory(service, identity_config).start()
    people = People(identity_config)
    try:
        nip = people.pegawai("dkp")
    finally:
        people.close()
    person = employee_for(nip, "dkp")
    person.pop("reason")

    def call(context, service):
        return ServiceRpcProxy(service, identity_config,
                               context_data=signed(context, identity_config))

    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")

    def inbox():
        with call(principal(nip, ["pegawai"]), "verification") as verification:
            return [n for n in verification.inbox() if n["event"].startswith("Document")]

    def issue(confidential=False):
        with call(SYSTEM, "signing") as signing:
            return signing.issue_document({
                "subject": f"case:{uuid.uuid4()}", "document_key": "KARPEG",
                "signer": ADMIN["actor_id"], "nip": nip, "confidential": confidential})

    address = f"{nip}@mail.test"
    with RelayThread(database_url, "signing", "signing", identity_config["AMQP_URI"],
                     name=f"docs-{uuid.uuid4().hex[:6]}"):
        first = issue()
        assert first["status"] == "signed" and first["opd_id"] == "dkp"
        with call(ADMIN, "signing") as signing:
            second = signing.reissue_document(first["document_id"],
                                              {"reason": "koreksi tanggal lahir"})
            signing.revoke_document(second["document_id"],
                                    {"reason": "keputusan dibatalkan", "decree": "800/1/2026"})
        wait_for(lambda: len(inbox()) == 4, timeout=60, message="four notifications")
        wait_for(lambda: len(mails_to(identity_config, address)) == 4, timeout=60,
                 message="four mails")

    told = {(n["event"], n["request_id"]) for n in inbox()}
    assert told == {("DocumentSigned", first["document_id"]),
                    ("DocumentSuperseded", first["document_id"]),
                    ("DocumentSigned", second["document_id"]),
                    ("DocumentRevoked", second["document_id"])}
    revoked = next(n for n in inbox() if n["event"] == "DocumentRevoked")
    assert second["number"] in revoked["body"] and "keputusan dibatalkan" in revoked["body"]
    subjects = sorted(m["subject"] for m in mails_to(identity_config, address))
    assert subjects == ["SIMASN Jatim: Dokumen dicabut", "SIMASN Jatim: Dokumen diganti",
                        "SIMASN Jatim: Dokumen ditandatangani",
                        "SIMASN Jatim: Dokumen ditandatangani"]

    # every signing event published again (a relay from position 0), then a confidential
    # document as the marker: nobody is told twice, and the confidential one is not mailed
    with RelayThread(database_url, "signing", "signing", identity_config["AMQP_URI"],
                     name=f"again-{uuid.uuid4().hex[:6]}"):
        secret = issue(confidential=True)
        wait_for(lambda: len(inbox()) == 5, timeout=60, message="the marker's notification")
    assert {(n["event"], n["request_id"]) for n in inbox()} == told | {
        ("DocumentSigned", secret["document_id"])}
    assert len(mails_to(identity_config, address)) == 4
