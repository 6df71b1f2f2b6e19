"""Uploads are parsed off the records service's event loop, with limits (issue 12, defect 9): a
decompression bomb is refused while the service keeps answering other RPCs, and an upload
that is refused leaves nothing in the document store (filesystem and S3) unless the same bytes
are held for something else."""

import functools
import io
import uuid
from dataclasses import dataclass

import eventlet
import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from PIL import Image, ImageDraw

from services.records.documents import DocumentPolicy
from services.records.sandbox import ParseFailed, ParseSandbox, SandboxLimits
from services.records.service import RecordsService
from shared.errors import SimasnError
from shared.objectstore import FileSystemStore, S3Store
from shared.testing import unpatched_ssl_context
from tests.document_samples import _jpeg, _scanned_page, pdf_bomb, pdf_with_text
from tests.helpers import signed
from tests.records_helpers import FASIL, new_person
from tests.test_objectstore_contract import _s3_client, s3_endpoint  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(180)

bomb = functools.lru_cache(maxsize=1)(pdf_bomb)


@pytest.fixture
def records(container_factory, service_config):
    """The records service with one employee of FASIL's OPD; (call, store, nip)."""
    container_factory(RecordsService, service_config).start()
    nip, person = new_person()

    def call(context=FASIL):
        return ServiceRpcProxy("records", service_config,
                               context_data=signed(context, service_config))

    person.pop("catatan_kesehatan")  # administrators only
    with call() as svc:
        svc.register_employee(person, "data awal")
    return call, FileSystemStore(service_config["DOCUMENT_ROOT"]), nip


def test_a_pdf_decompression_bomb_is_refused_while_records_keeps_answering(records,
                                                                          database_url):
    call, store, nip = records
    stored = store.put(bomb(400), "application/pdf")  # ~2 MB that decode to 400 MB
    assert stored.size < 4 << 20
    order = []

    def upload():
        try:
            uploader.upload_document(stored.sha256, "bom.pdf", nip, stored.created)
        except SimasnError as exc:
            order.append("bomb")
            return exc
        order.append("bomb accepted")
        return None

    with call() as uploader, call() as prober:
        prober.health()  # both connections are up before the bomb goes
        pending = eventlet.spawn(upload)
        while not pending.dead:  # health, one after the other, until the bomb is answered
            assert prober.health()["status"] == "ok"
            order.append("health")
        refused = pending.wait()

    assert refused is not None, order
    assert (refused.code, refused.field, refused.details["reason"]) == (
        "document_rejected", "file", "pdf_too_complex")
    # the service answered other calls while the bomb was being parsed, instead of after it
    assert order.index("bomb") >= 3, order
    assert not store.exists(stored.sha256), "a refused upload leaves nothing in the store"
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_type, payload, metadata->>'actor_id' FROM records.events "
                        "WHERE stream_id = %s", (f"document:{stored.sha256}",))
            assert cur.fetchall() == [("DocumentUploadRefused", {
                "sha256": stored.sha256, "reason": "pdf_too_complex", "discarded": True,
                "nip": nip}, FASIL["actor_id"])]
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["filesystem", "s3"])
def test_a_refused_upload_leaves_no_object_in_the_store(container_factory, service_config,
                                                        request, kind):
    config = dict(service_config)
    if kind == "s3":
        config.update({"DOCUMENT_STORE": "s3", "S3_ENDPOINT_URL": request.getfixturevalue(
                           "s3_endpoint"), "DOCUMENT_BUCKET": f"simasn-{uuid.uuid4().hex[:10]}",
                       "S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": "test",
                       "S3_SECRET_ACCESS_KEY": "test"})
        store = S3Store(config["DOCUMENT_BUCKET"], client=_s3_client(config["S3_ENDPOINT_URL"]))
    else:
        store = FileSystemStore(config["DOCUMENT_ROOT"])
    with unpatched_ssl_context():
        container_factory(RecordsService, config).start()
    nip, person = new_person()
    person.pop("catatan_kesehatan")  # administrators only
    with ServiceRpcProxy("records", config, context_data=signed(FASIL, config)) as records:
        records.register_employee(person, "data awal")

        def refused(data: bytes, owner=nip) -> tuple[str, str]:
            stored = store.put(data, "application/pdf")
            assert stored.created
            with pytest.raises(SimasnError) as err:
                records.upload_document(stored.sha256, "berkas.pdf", owner, stored.created)
            return stored.sha256, err.value.code

        unreadable, code = refused(b"%PDF-1.7\nbukan pdf sungguhan\n%%EOF\n")
        assert code == "document_rejected" and not store.exists(unreadable)
        program, code = refused(b"MZ\x90\x00" + b"\x00" * 4000)
        assert code == "document_rejected" and not store.exists(program)
        elsewhere, code = refused(pdf_with_text(marker=f"lain-{nip}"), owner="1" * 18)
        assert code == "not_found" and not store.exists(elsewhere)

        # bytes the store held before this upload (another upload's, a signed letter, an
        # import file) stay, refused or not
        held = store.put(b"MZ" + b"\x01" * 4000, "application/octet-stream")
        again = store.put(b"MZ" + b"\x01" * 4000, "application/pdf")
        assert not again.created
        with pytest.raises(SimasnError):
            records.upload_document(again.sha256, "program.pdf", nip, again.created)
        assert store.exists(held.sha256)
        # a checked document someone owns is never taken away by another's refused upload
        good = store.put(pdf_with_text(marker=f"milik-{nip}"), "application/pdf")
        assert records.upload_document(good.sha256, "sk.pdf", nip, good.created)["nip"] == nip
        with pytest.raises(SimasnError) as err:
            records.upload_document(good.sha256, "sk.pdf", "1" * 18, True)
        assert err.value.code == "not_found" and store.exists(good.sha256)


# -- the sandbox on its own ------------------------------------------------------------------

def _busy_hub_ticks(work) -> tuple[object, int]:
    """Run `work` in a greenthread and count how often the hub let another greenthread run
    meanwhile (zero if `work` held the hub to itself)."""
    ticks = 0
    pending = eventlet.spawn(work)
    while not pending.dead:
        eventlet.sleep(0)
        ticks += 1
    try:
        return pending.wait(), ticks
    except Exception as exc:  # noqa: BLE001 - returned for the test to judge
        return exc, ticks


def test_the_sandbox_parses_in_another_process_and_reuses_its_worker():
    sandbox = ParseSandbox(SandboxLimits(workers=1))
    try:
        data = pdf_with_text(marker="sandbox")
        info, ticks = _busy_hub_ticks(lambda: sandbox.inspect(data, "sk.pdf", DocumentPolicy()))
        assert (info.kind, info.pages, info.size) == ("pdf", 1, len(data))
        assert ticks > 0, "the event loop ran while the worker parsed"
        worker = sandbox._idle[0]
        scan = sandbox.inspect(_jpeg(_scanned_page()), "ktp.jpg", DocumentPolicy())
        assert scan.kind == "jpeg" and sandbox._idle == [worker]
        with pytest.raises(SimasnError) as err:
            sandbox.inspect(b"MZ\x90\x00", "program.pdf", DocumentPolicy())
        assert err.value.details == {"reason": "executable", "declared_name": "program.pdf",
                                     "detected": "exe"}
        assert sandbox._idle == [worker], "a rejection keeps the worker"
    finally:
        sandbox.close()


def test_a_parse_over_its_memory_limit_is_refused_and_its_worker_replaced():
    page = Image.new("RGB", (6000, 6000), "white")  # 36 Mpx: ~110 MB once decoded
    ImageDraw.Draw(page).line((0, 0, 6000, 6000), fill="black", width=40)
    big = io.BytesIO()
    page.save(big, "PNG")
    sandbox = ParseSandbox(SandboxLimits(memory_bytes=96 << 20, workers=1))
    try:
        with pytest.raises(SimasnError) as err:
            sandbox.inspect(big.getvalue(), "pindai.png", DocumentPolicy())
        assert (err.value.code, err.value.field) == ("document_rejected", "file")
        assert err.value.details["reason"] == "too_complex"
        assert err.value.details["limit"] == "memory"
        assert sandbox._idle == []
        assert sandbox.inspect(pdf_with_text(marker="sesudah"), None, DocumentPolicy()).pages == 1
    finally:
        sandbox.close()


def test_a_parse_over_its_time_limit_is_killed_and_refused():
    sandbox = ParseSandbox(SandboxLimits(timeout_s=0.05, workers=1))
    try:
        with pytest.raises(SimasnError) as err:
            sandbox.inspect(bomb(400), "bom.pdf", DocumentPolicy(
                max_pdf_stream_bytes=1 << 40, max_pdf_decoded_bytes=1 << 40))
        assert err.value.details["reason"] == "too_complex"
        assert err.value.details["limit"] == "time"
        assert sandbox._idle == []
    finally:
        sandbox.close()


@dataclass(frozen=True)
class NewerPolicy(DocumentPolicy):
    unknown_to_the_worker: int = 1


def test_a_worker_that_fails_for_no_reason_of_the_upload_is_a_bug():
    sandbox = ParseSandbox(SandboxLimits(workers=1))
    try:
        with pytest.raises(ParseFailed):
            sandbox.inspect(pdf_with_text(), "sk.pdf", NewerPolicy())
        assert sandbox._idle == []
    finally:
        sandbox.close()
