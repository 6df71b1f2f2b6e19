"""The signing work list (issue 6): which documents the timer tries again and when, and that a
document is produced by one runner at a time, a slow runner is never replaced and a dead one at
once (issue 18: a session lock, shared/claims.py) — against the real signing schema."""

import uuid

import pytest

from services.signing.events import REGISTRY
from services.signing.exceptions import NoSigningKey
from services.signing.usecases import issuing
from shared.claims import ClaimLocks
from shared.config import with_user
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore
from shared.testing import wait_for

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
        return issuing.due(uow, limit=500)


class Runner:
    """What `claim` needs of the service's SigningWork: one process's claims (its own
    database session, as a replica has) and a name per attempt."""

    def __init__(self, db, name):
        self.locks = ClaimLocks(db.engine, "signing.document")
        self.name, self.attempts = name, 0

    def attempt(self) -> str:
        self.attempts += 1
        return f"{self.name}:{self.attempts}"


@pytest.fixture
def runners(db):
    made = []

    def make(name):
        made.append(Runner(db, name))
        return made[-1]
    yield make
    for runner in made:
        runner.locks.close()


def claim(db, document_id, runner):
    with db.transaction() as uow:
        return issuing.claim(uow, runner, document_id)


def test_one_runner_at_a_time_a_slow_one_kept_and_a_dead_one_taken_over(db, runners):
    a, b = runners("signing-a"), runners("signing-b")
    document_id = new_document(db)
    first = claim(db, document_id, a)
    assert first is not None and first["runner"] == "signing-a:1"
    assert claim(db, document_id, a) is None  # same process, other worker: no
    assert claim(db, document_id, b) is None  # another replica: no
    age(db, document_id, 10 ** 6)  # however long the live runner takes
    assert claim(db, document_id, b) is None
    # the runner's process dies: its database session ends, and the claim with it
    pid = a.locks._connection().driver_connection.info.backend_pid
    with db.transaction() as uow:
        uow.execute("SELECT pg_terminate_backend(:p)", {"p": pid})
    wait_for(lambda: claim(db, document_id, b), timeout=10, message="the claim taken over")
    with db.transaction() as uow:
        row = uow.execute("SELECT number, runner FROM documents WHERE document_id = :id",
                          {"id": document_id}).one()
    assert row.number == first["number"] and row.runner.startswith("signing-b:")
    b.locks.release(document_id)
    assert claim(db, document_id, runners("signing-a-restarted")) is not None


def test_a_finished_document_is_not_claimed_again(db, runners):
    a = runners("signing-a")
    document_id = new_document(db)
    assert claim(db, document_id, a) is not None
    with db.transaction() as uow:
        uow.execute("UPDATE documents SET status = 'signed' WHERE document_id = :id",
                    {"id": document_id})
    a.locks.release(document_id)
    assert claim(db, document_id, a) is None and not a.locks.holds(document_id)


def test_failed_documents_back_off_and_give_up_after_five_attempts(db, runners):
    document_id = new_document(db)
    row = claim(db, document_id, runners("signing-a"))
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


def test_a_document_waiting_for_a_key_is_tried_again_without_counting_attempts(db, runners):
    document_id = new_document(db)
    row = claim(db, document_id, runners("signing-a"))
    with db.transaction() as uow:
        issuing.record_failure(uow, document_id, row["runner"],
                               NoSigningKey("belum ada sertifikat", field="signer"))
        document = issuing.get(uow, document_id)
    assert document["status"] == "waiting_key" and document["attempts"] == 0
    assert document_id in due(db)
