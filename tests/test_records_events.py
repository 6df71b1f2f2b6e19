"""What the records log puts on the bus: every change reaches consumers through the outbox relay,
but confidential parts (hukuman disiplin, health notes, and the reasons given for them) never
leave the log; consumers act for every role, the confidential view is for administrators only."""

import itertools

import pytest
from nameko.events import SERVICE_POOL, event_handler
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from shared.testing import wait_for
from tests.helpers import RelayThread, signed
from tests.records_helpers import ADMIN, new_person

RECEIVED: list[dict] = []
_NAMES = itertools.count()


def make_listener():
    class RecordsListener:
        name = f"records_listener_{next(_NAMES)}"

        @event_handler("records", "EmployeeRegistered", handler_type=SERVICE_POOL)
        def registered(self, envelope):
            RECEIVED.append(envelope)

        @event_handler("records", "HistoryEntryRecorded", handler_type=SERVICE_POOL)
        def entry(self, envelope):
            RECEIVED.append(envelope)

        @event_handler("records", "DataPokokChanged", handler_type=SERVICE_POOL)
        def changed(self, envelope):
            RECEIVED.append(envelope)

    return RecordsListener


@pytest.fixture
def records(container_factory, service_config):
    container_factory(RecordsService, service_config).start()
    return lambda context: ServiceRpcProxy("records", service_config,
                                           context_data=signed(context, service_config))


def test_confidential_parts_never_reach_consumers(records, container_factory, service_config,
                                                  database_url):
    RECEIVED.clear()
    container_factory(make_listener(), service_config).start()
    nip, person = new_person()
    with records(ADMIN) as svc:
        record = svc.register_employee(person, "impor awal")
        record = svc.record_history(nip, {
            "history": "hukuman_disiplin", "entry": {"kode": "R2", "mulai": "2024-02-01",
                                                     "alasan": "mangkir 5 hari"},
            "expected_version": record["version"], "reason": "SK teguran tertulis"})
        svc.record_history(nip, {
            "history": "kinerja", "entry": {"tahun": 2024, "predikat": "Baik"},
            "expected_version": record["version"], "reason": "SKP 2024"})
        full = svc.get_employee(nip)
    assert full["catatan_kesehatan"] == "alergi penisilin"  # the log keeps everything

    mine = lambda: [e for e in RECEIVED if e["stream_id"] == f"employee:{nip}"]  # noqa: E731
    with RelayThread(database_url, "records", "records", service_config["AMQP_URI"],
                     name="redaction-test"):
        wait_for(lambda: len(mine()) == 3, message="three events of the employee")
    registered, penalty, kinerja = sorted(mine(), key=lambda e: e["version"])

    assert registered["redacted"] is True
    assert "catatan_kesehatan" not in registered["payload"]
    assert registered["payload"]["name"] == person["name"]
    assert penalty["redacted"] is True
    assert penalty["payload"] == {"entry_id": penalty["payload"]["entry_id"], "withheld": True}
    assert "reason" not in penalty["metadata"]
    assert kinerja["redacted"] is False and kinerja["payload"]["entry"]["predikat"] == "Baik"
    assert kinerja["metadata"]["reason"] == "SKP 2024"
    text = repr(mine())
    for secret in ("alergi", "R2", "mangkir", "teguran"):
        assert secret not in text


def test_every_event_that_can_carry_confidential_data_has_its_parts_withheld():
    from services.records.events import REGISTRY

    health = {"catatan_kesehatan": "hipertensi", "address": "Jl. Baru"}
    changed, withheld = REGISTRY.public_payload("DataPokokChanged",
                                                {"changes": health, "documents": []})
    assert withheld and changed["changes"] == {"address": "Jl. Baru"}
    proposed, withheld = REGISTRY.public_payload(
        "ChangeProposed", {"change_id": "c1", "changes": health, "documents": []})
    assert withheld and proposed["changes"] == {"address": "Jl. Baru"}
    plain = {"change_id": "c1", "changes": {"address": "Jl. Baru"}, "documents": []}
    assert REGISTRY.public_payload("ChangeProposed", plain) == (plain, False)
    assert REGISTRY.public_payload("ChangeApplied", {"change_id": "c1", "reason": "ok"})[1] is False


def test_decisions_on_health_notes_confidential_slots_and_file_names_stay_off_the_bus():
    from services.records.events import REGISTRY

    decided = {"change_id": "c1", "reason": "surat dokter: asma", "confidential": True}
    public, withheld = REGISTRY.public_payload("ChangeApplied", decided)
    assert withheld and "reason" not in public and public["change_id"] == "c1"
    ordinary = {"change_id": "c2", "reason": "sesuai KTP"}
    assert REGISTRY.public_payload("ChangeRejected", ordinary) == (ordinary, False)
    slot = {"slot": "sk_hukuman_disiplin", "sha256": "ab" * 32, "content_type":
            "application/pdf", "size": 10, "pages": 1}
    assert REGISTRY.public_payload("DocumentAttached", slot) == ({"withheld": True}, True)
    ktp = {**slot, "slot": "ktp"}
    assert REGISTRY.public_payload("DocumentAttached", ktp) == (ktp, False)
    uploaded = {"sha256": "ab" * 32, "kind": "pdf", "size": 10, "pages": 1,
                "file_name": "SK hukdis Budi.pdf"}
    public, withheld = REGISTRY.public_payload("DocumentUploaded", uploaded)
    assert withheld and "file_name" not in public
