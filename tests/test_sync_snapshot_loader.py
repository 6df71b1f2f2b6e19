"""Issue 14 part 4: the snapshot loader, at the use-case level against a real database and a real
object store (no services): a loader that dies mid-file leaves its committed chunks, and the
replica that takes the lease over resumes after them — every line once; rows are checked by the
row contract and the NIP rules."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet

from services.sync.dependencies import build_settings
from services.sync.events import REGISTRY
from services.sync.usecases import snapshots
from shared.config import with_user
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore
from shared.objectstore import FileSystemStore
from tests.identity_helpers import employee_for, unique_nip

SEAL = Fernet.generate_key().decode()


class Died(Exception):
    """The loader's process going away mid-file."""


class DyingStore(FileSystemStore):
    """The object store, whose stream breaks after `chunks` chunks (a loader killed mid-read)."""

    def __init__(self, root, chunks: int):
        super().__init__(root, chunk_size=256)
        self.chunks = chunks

    def open(self, sha256):
        for number, chunk in enumerate(super().open(sha256)):
            if number == self.chunks:
                raise Died()
            yield chunk


@pytest.fixture
def sync_db(own_database):
    engine = make_engine(with_user(own_database, "simasn_sync"), schema="sync", pool_size=2)
    db = ServiceDatabase(engine, EventStore("sync", REGISTRY),
                         {"actor_id": "service:sync", "actor_roles": ["system"]})
    with db.transaction() as uow:
        uow.execute("INSERT INTO regions (code, name) VALUES ('3507', 'Kabupaten Malang')")
    yield db
    engine.dispose()


def settings(runner: str, lease: int = 2):
    return build_settings({"SYNC_KEY_SEAL_KEY": SEAL, "SYNC_SNAPSHOT_CHUNK_ROWS": 10,
                           "SYNC_SNAPSHOT_LEASE_SECONDS": lease}, runner)


def received(db, store, body: bytes) -> str:
    stored = store.put(body, "text/csv")
    snapshot_id = str(uuid.uuid4())
    with db.transaction() as uow:
        uow.execute("INSERT INTO snapshots (snapshot_id, region, format, sha256, size_bytes, "
                    "key_id, status) VALUES (CAST(:s AS uuid), '3507', 'csv', :h, :n, 'k', "
                    "'received')", {"s": snapshot_id, "h": stored.sha256, "n": stored.size})
    return snapshot_id


def rows(db, snapshot_id: str) -> list:
    with db.transaction() as uow:
        return uow.execute("SELECT line, nip, problems IS NOT NULL FROM snapshot_rows WHERE "
                           "snapshot_id = CAST(:s AS uuid) ORDER BY line",
                           {"s": snapshot_id}).all()


def test_a_loader_that_dies_mid_file_is_resumed_after_its_last_chunk(sync_db, tmp_path):
    nips = [unique_nip() for _ in range(95)]
    lines = ["nip,nama,tanggal_lahir,jenis_kelamin,status"]
    for nip in nips:
        e = employee_for(nip)
        lines.append(f"{nip},{e['name']},{e['date_of_birth']},{e['gender']},PNS")
    lines.append("12345,Bukan NIP,1990-01-01,L,PNS")
    body = ("\n".join(lines) + "\n").encode()
    snapshot_id = received(sync_db, FileSystemStore(tmp_path), body)

    with pytest.raises(Died):  # the first replica reads a few chunks, commits, and dies
        snapshots.load_next(sync_db, DyingStore(tmp_path, 12), settings("sync-a"))
    partial = rows(sync_db, snapshot_id)
    assert partial and len(partial) % 10 == 0 and len(partial) < 96
    assert [r[0] for r in partial] == list(range(2, 2 + len(partial)))

    # the lease is still the dead one's: another replica waits it out, then resumes
    assert snapshots.load_next(sync_db, FileSystemStore(tmp_path), settings("sync-b")) is None
    with sync_db.transaction() as uow:
        uow.execute("UPDATE snapshots SET lease_until = now() - interval '1 second'")
    assert snapshots.load_next(sync_db, FileSystemStore(tmp_path),
                               settings("sync-b")) == snapshot_id
    loaded = rows(sync_db, snapshot_id)
    assert [r[0] for r in loaded] == list(range(2, 98))  # every line once
    assert [r[1] for r in loaded] == [*nips, "12345"]
    assert [r[2] for r in loaded] == [False] * 95 + [True]
    with sync_db.transaction() as uow:
        status, total, invalid = uow.execute(
            "SELECT status, rows_total, rows_invalid FROM snapshots").one()
        events = [e.event_type for e in uow.read_stream("region:3507")]
    assert (status, total, invalid) == ("loaded", 96, 1)
    assert events == ["SnapshotLoaded"]


def test_each_rows_problems_name_the_field_and_the_nip_rule():
    nip = unique_nip()
    e = employee_for(nip)
    ok = {"nip": nip, "name": "A", "date_of_birth": e["date_of_birth"],
          "gender": e["gender"], "status": "PNS"}
    assert snapshots.checked(ok) == (nip, {k: v for k, v in ok.items() if k != "nip"}, [])
    other = "P" if e["gender"] == "L" else "L"
    _, _, problems = snapshots.checked({**ok, "gender": other, "tanggal": "x",
                                        "date_of_birth": "kemarin"})
    assert {(p["field"], p["code"]) for p in problems} == {
        ("tanggal", "unknown_field"), ("date_of_birth", "invalid"),
        ("gender", "nip_mismatch_gender")}
    assert snapshots.checked({"__invalid__": "baris bukan objek JSON"})[2][0]["code"] == \
        "json_invalid"
