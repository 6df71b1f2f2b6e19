"""The signing work list (issue 6): which documents the timer tries again and when, and that a
document is produced by one runner at a time — against the real signing schema."""

import uuid

import pytest

from services.signing.events import REGISTRY
from services.signing.exceptions import NoSigningKey
from services.signing.usecases import issuing
from shared.config import with_user
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def db(database_url):
    engine = make_engine(with_user(database_url, "simasn_signing"), schema="signing")
    yield ServiceDatabase(engine, EventStore("signing", REGISTRY),
                          {"actor_id": "service:signing", "actor_role": "system"})
    engine.dispose()


def new_document(db) -> str:
    with db.transaction() as uow:
        document_id, _ = issuing.enqueue(uow, issuing.Order(
            subject=f"case:{uuid.uuid4()}", document_key="KARIS_KARSU", signer="admin.bkd",
            values={}, as_of="2026-11-30T03:00:00+00:00"))
    return document_id


def age(db, document_id: str, seconds: int, **columns) -> None:
    """Move the document's clock back, as if time had passed."""
    sets = ", ".join(f"{k} = :{k}" for k in columns)
    with db.transaction() as uow:
        uow.execute(f"UPDATE documents SET updated_at = now() - make_interval(secs => :s), "
                    f"heartbeat_at = now() - make_interval(secs => :s){', ' + sets if sets else ''}"
                    " WHERE document_id = :id", {"s": seconds, "id": document_id, **columns})


def due(db) -> list[str]:
    with db.transaction() as uow:
        return issuing.due(uow, stale_seconds=120, limit=500)


def claim(db, document_id, runner):
    with db.transaction() as uow:
        return issuing.claim(uow, document_id, runner, stale_seconds=120)


def test_one_runner_at_a_time_and_a_silent_one_is_taken_over(db):
    document_id = new_document(db)
    first = claim(db, document_id, "signing-a:1")
    assert first is not None and first["runner"] == "signing-a:1"
    assert claim(db, document_id, "signing-a:2") is None  # same process, other worker: no
    assert claim(db, document_id, "signing-b:1") is None  # another replica: no
    assert document_id not in due(db)  # its runner is alive
    age(db, document_id, 121)  # the runner went silent (crash, redeploy)
    assert document_id in due(db)
    taken = claim(db, document_id, "signing-b:2")
    assert taken is not None and taken["number"] == first["number"]  # same number, reused


def test_failed_documents_back_off_and_give_up_after_five_attempts(db):
    document_id = new_document(db)
    row = claim(db, document_id, "signing-a:1")
    with db.transaction() as uow:
        issuing.record_failure(uow, document_id, row["runner"], RuntimeError("TSA timeout"))
    assert document_id not in due(db)  # the first retry waits 30 s
    age(db, document_id, 31)
    assert document_id in due(db)
    age(db, document_id, 31, attempts=2)
    assert document_id not in due(db)  # the third attempt waits 2 minutes
    age(db, document_id, 121, attempts=2)
    assert document_id in due(db)
    age(db, document_id, 10 ** 6, attempts=5)
    assert document_id not in due(db)  # given up: an administrator retries it by hand
    with db.transaction() as uow:
        document = issuing.get(uow, document_id)
    assert document["status"] == "failed" and "TSA timeout" in document["last_error"]


def test_a_document_waiting_for_a_key_is_tried_again_without_counting_attempts(db):
    document_id = new_document(db)
    row = claim(db, document_id, "signing-a:1")
    with db.transaction() as uow:
        issuing.record_failure(uow, document_id, row["runner"],
                               NoSigningKey("belum ada sertifikat", field="signer"))
        document = issuing.get(uow, document_id)
    assert document["status"] == "waiting_key" and document["attempts"] == 0
    assert document_id in due(db)
