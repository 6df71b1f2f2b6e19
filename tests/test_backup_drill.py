"""The restore drill (issue 18 part 2): data made by the real services — employees, uploaded
documents, requests approved and signed, a checkpoint sealed and copied to the witness — backed
up with `simasn backup`, restored with `simasn restore` into a fresh database, document store and
witness; then every log's chain head is the same, every document is there with the same bytes,
every table is the same and stays the same after its read models are rebuilt from zero, and
`simasn audit verify` holds against the restored witness. And the refusals: a tampered backup
file, an altered manifest, a missing document, a target that is not empty."""

import hashlib
import json
import os
from pathlib import Path

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from psycopg2 import sql

from services.records.service import RecordsService
from services.reporting.service import ReportingService
from services.requests.service import RequestsService
from services.signing.service import SigningService
from services.verification.service import VerificationService
from shared import SERVICES
from shared.backup import heads_of
from shared.objectstore import FileSystemStore, S3Store
from shared.testing import (
    create_test_database,
    drop_test_database,
    unpatched_ssl_context,
    wait_for,
)
from shared.witness import DirectoryWitness
from simasn_cli.main import main
from tests.conftest import ADMIN_URL
from tests.helpers import RelayThread, signed
from tests.records_helpers import ADMIN
from tests.test_audit_cli import append_history
from tests.test_objectstore_contract import S3_CREDENTIALS, s3_endpoint  # noqa: F401 - fixture
from tests.test_signing_service import approved_request, registered, request_of

pytestmark = pytest.mark.timeout(300)

#: rebuilt by `simasn projections rebuild` on the restored database, with their services running
REBUILT = ("verification.queue", "reporting.employees", "reporting.completeness")
#: what a rebuild writes anew by nature, left out of the comparison after it: when a row or a
#: marker was written (not what it says), and the inbox's cursor (a sequence: rows replayed get
#: the next numbers)
REBUILD_TIME = {("subscriptions", "updated_at"), ("consumed", "consumed_at"),
                ("verification.queue_items", "updated_at"), ("reporting.employees", "updated_at"),
                ("reporting.completeness", "updated_at"), ("verification.inbox", "seq")}
#: tables no log feeds, written by the running services' timers: the projections' health and
#: the day's completeness snapshot (refreshed while the day lasts)
NOT_FROM_EVENTS = {"reporting.projection_watch", "reporting.completeness_daily"}


@pytest.fixture
def restored_database():
    url = create_test_database(ADMIN_URL, prefix="simasn_restored")
    yield url
    drop_test_database(url)


def tables(url) -> dict[str, list[str]]:
    """Every table of the services' schemas with its columns."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_schema || '.' || table_name, array_agg(column_name::text "
                        "ORDER BY ordinal_position) FROM information_schema.columns "
                        "WHERE table_schema = ANY(%s) AND table_name IN (SELECT table_name "
                        "FROM information_schema.tables t WHERE t.table_schema = "
                        "columns.table_schema AND t.table_type = 'BASE TABLE') GROUP BY 1",
                        (list(SERVICES),))
            return dict(cur.fetchall())
    finally:
        conn.close()


def contents(url, skip_rebuild_times=False) -> dict[str, list]:
    """Every row of every table, ordered, as text (what a comparison needs)."""
    conn = psycopg2.connect(url)
    found = {}
    try:
        with conn.cursor() as cur:
            for table, columns in sorted(tables(url).items()):
                name = table.split(".")[1]
                if skip_rebuild_times and table in NOT_FROM_EVENTS:
                    continue
                kept = [c for c in columns if not (skip_rebuild_times and (
                    (name, c) in REBUILD_TIME or (table, c) in REBUILD_TIME))]
                listed = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c))
                                            for c in kept)
                cur.execute(sql.SQL("SELECT {} FROM {}.{} ORDER BY {}").format(
                    listed, *map(sql.Identifier, table.split(".")),
                    sql.SQL(", ").join(sql.SQL(str(n + 1)) for n in range(len(kept)))))
                found[table] = cur.fetchall()
    finally:
        conn.close()
    return found


def differences(restored: dict, original: dict) -> dict:
    """Per table that differs: a few rows only the restored one has, and only the original."""
    found = {}
    for table in sorted(set(restored) | set(original)):
        mine, theirs = restored.get(table, []), original.get(table, [])
        if mine != theirs:
            found[table] = ([r for r in mine if r not in theirs][:3],
                            [r for r in theirs if r not in mine][:3])
    return found


def backup_dir(root: Path) -> str:
    (made,) = [p for p in root.iterdir() if p.name.startswith("simasn-")]
    return str(made)


@pytest.mark.timeout(600)  # five services, two signed PDFs, three rebuilds: ~3.5 min at load 25
def test_the_drill_restores_identical_logs_documents_read_models_and_witness(
        own_database, service_config, container_factory, restored_database, keystore_dir,
        tmp_path, capsys, monkeypatch):
    documents, witness = tmp_path / "documents", tmp_path / "witness"
    config = {**service_config, "DATABASE_URL": own_database,
              "DOCUMENT_ROOT": str(documents), "SIGNING_WITNESS": str(witness),
              "SIGNING_CHECKPOINT_SECONDS": 3600, "SUBSCRIPTION_SWEEP_SECONDS": 0.2}
    running = [container_factory(cls, config) for cls in
               (RecordsService, RequestsService, SigningService, VerificationService,
                ReportingService)]
    for container in running:
        container.start()
    relays = [RelayThread(own_database, source, source, config["AMQP_URI"], name="drill")
              for source in ("requests", "signing")]
    for relay in relays:
        relay.__enter__()

    def call(context, service="signing"):
        return ServiceRpcProxy(service, config, context_data=signed(context, config))

    store = FileSystemStore(documents)
    done = []
    for _ in range(2):  # two employees, each with a request approved and signed
        nip = registered(call)
        done.append((nip, approved_request(call, store, nip)["request_id"]))
    for nip, rid in done:
        wait_for(lambda n=nip, r=rid: request_of(call, n, r)["state"] == "completed",
                 timeout=90, message="signed and completed")
    with call(ADMIN) as signing:
        sealed = signing.sign_checkpoint()
    wait_for(lambda: sealed["position"] in DirectoryWitness(witness).positions(),
             message="the checkpoint copied to the witness")
    wait_for(lambda: _caught_up(own_database), timeout=60,
             message="the read models caught up with every log")
    for relay in relays:
        relay.__exit__(None, None, None)
    for container in running:  # the restored database's services take the same vhost
        container.stop()

    capsys.readouterr()
    assert main(["backup", "--to", str(tmp_path / "backups"), "--document-store",
                 str(documents), "--witness", str(witness)]) == 0
    out = capsys.readouterr().out
    source = backup_dir(tmp_path / "backups")
    manifest = json.loads(Path(source, "manifest.json").read_text())
    assert manifest["logs"] == heads_of(own_database, SERVICES)
    assert manifest["logs"]["signing"]["position"] >= sealed["position"]
    claims = manifest["documents"]["claims"]
    assert claims["records.documents"] == 2 and claims["signing.documents"] == 2, claims
    assert manifest["documents"]["missing"] == []
    witnessed = DirectoryWitness(witness).positions()
    assert [c["position"] for c in manifest["witness"]["checkpoints"]] == witnessed
    assert witnessed[-1] == sealed["position"]
    assert f"backup: {source}" in out

    restored_docs, restored_witness = tmp_path / "restored-documents", tmp_path / "restored-w"
    assert main(["restore", "--from", source, "--database-url", restored_database,
                 "--document-store", str(restored_docs),
                 "--witness", str(restored_witness)]) == 0
    out = capsys.readouterr().out
    assert "every chain head equals the manifest" in out

    # identical chain heads per log
    assert heads_of(restored_database, SERVICES) == heads_of(own_database, SERVICES)
    # every document the original store holds, with the same bytes, and every one claimed
    original, copy = FileSystemStore(documents), FileSystemStore(restored_docs)
    held = sorted(original.hashes())
    assert held and sorted(copy.hashes()) == held
    for sha in held:
        data = copy.read(sha)
        assert hashlib.sha256(data).hexdigest() == sha and data == original.read(sha)
        assert copy.stat(sha).content_type == original.stat(sha).content_type
    assert _claimed(restored_database) <= set(held)
    # every table the same, before any rebuild
    before = contents(own_database)
    assert contents(restored_database) == before

    # the read models rebuilt from zero on the restored database are the same again
    restored_config = {**config, "DATABASE_URL": restored_database,
                       "DOCUMENT_ROOT": str(restored_docs),
                       "SIGNING_WITNESS": str(restored_witness)}
    # signing too: the inbox (verification.queue) reads the signed documents it tells about
    for cls in (RecordsService, RequestsService, SigningService, VerificationService,
                ReportingService):
        container_factory(cls, restored_config).start()
    monkeypatch.setenv("SIMASN_DATABASE_URL", restored_database)
    conn = psycopg2.connect(restored_database)
    with conn, conn.cursor() as cur:  # a read model gone wrong, so the rebuild must act
        cur.execute("DELETE FROM verification.queue_items")
        cur.execute("DELETE FROM reporting.employees")
    conn.close()
    assert contents(restored_database) != before
    for name in REBUILT:
        assert main(["projections", "rebuild", name, "--wait", "90", "--no-progress"]) == 0
    diff = differences(contents(restored_database, skip_rebuild_times=True),
                       contents(own_database, skip_rebuild_times=True))
    assert diff == {}

    # the restored logs hold against the restored witness
    capsys.readouterr()
    assert main(["audit", "verify", "--trust-roots", str(keystore_dir / "root-ca.pem"),
                 "--witness", str(restored_witness)]) == 0
    out = capsys.readouterr().out
    count = len(witnessed)
    assert f"records: witness: matches the witness: {count} checkpoint(s)" in out
    assert f"witness {restored_witness}: {count} checkpoint(s), {count} trusted" in out


def _caught_up(url) -> bool:
    """Every subscription of the rebuilt read models at its source's head."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            behind = []
            for schema in ("verification", "reporting"):
                cur.execute(sql.SQL("SELECT name, source, position FROM {}.subscriptions")
                            .format(sql.Identifier(schema)))
                for name, source, position in cur.fetchall():
                    cur.execute(sql.SQL("SELECT last_position FROM {}.event_log_head").format(
                        sql.Identifier(source)))
                    if name in REBUILT and position < cur.fetchone()[0]:
                        behind.append(name)
            cur.execute("SELECT count(*) FROM reporting.subscriptions WHERE name = ANY(%s)",
                        (list(REBUILT),))
            return not behind and cur.fetchone()[0] > 0
    finally:
        conn.close()


def _claimed(url) -> set[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT sha256 FROM records.documents UNION SELECT sha256 FROM "
                        "signing.documents WHERE sha256 IS NOT NULL")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


# -- refusals, on a smaller data set (no services) -----------------------------------------------

def seed_small(url, documents: FileSystemStore) -> list[str]:
    """A few events and two documents the records schema names (as an upload would leave)."""
    append_history(url, count=4)
    conn = psycopg2.connect(url)
    hashes = []
    with conn, conn.cursor() as cur:
        for n in range(2):
            stored = documents.put(f"dokumen {n}".encode() * 1000, "application/pdf")
            hashes.append(stored.sha256)
            cur.execute("INSERT INTO records.documents (sha256, kind, content_type, size, pages, "
                        "uploaded_by) VALUES (%s, 'pdf', 'application/pdf', %s, 1, 'fas.dkp')",
                        (stored.sha256, stored.size))
    conn.close()
    return hashes


@pytest.fixture
def small_backup(own_database, tmp_path, capsys):
    documents = FileSystemStore(tmp_path / "documents")
    hashes = seed_small(own_database, documents)
    assert main(["backup", "--to", str(tmp_path / "backups"), "--document-store",
                 str(tmp_path / "documents")]) == 0
    capsys.readouterr()
    return Path(backup_dir(tmp_path / "backups")), hashes


def restore_into(url, source, tmp_path, *extra):
    return main(["restore", "--from", str(source), "--database-url", url,
                 "--document-store", str(tmp_path / "restored-documents"), *extra])


def test_a_tampered_dump_is_refused_before_anything_is_restored(
        small_backup, restored_database, tmp_path, capsys):
    source, _ = small_backup
    dump = source / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    assert restore_into(restored_database, source, tmp_path) == 1
    err = capsys.readouterr().err
    assert "does not verify, nothing was restored: database.dump does not match the manifest" \
        in err
    conn = psycopg2.connect(restored_database)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = ANY(%s)",
                    (list(SERVICES),))
        assert cur.fetchone()[0] == 0
    conn.close()
    assert not (tmp_path / "restored-documents").exists()
    assert main(["restore", "--from", str(source), "--database-url", restored_database,
                 "--check-only"]) == 2


def test_an_altered_manifest_is_refused_and_with_a_key_even_a_rehashed_one(
        own_database, restored_database, tmp_path, capsys):
    seed_small(own_database, FileSystemStore(tmp_path / "documents"))
    key = tmp_path / "backup.key"
    key.write_text("k" * 32)
    assert main(["backup", "--to", str(tmp_path / "b"), "--document-store",
                 str(tmp_path / "documents"), "--key-file", str(key)]) == 0
    source = Path(backup_dir(tmp_path / "b"))
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["logs"]["records"]["position"] = 3  # pretend the log was shorter
    forged = json.dumps(manifest).encode()
    (source / "manifest.json").write_bytes(forged)
    capsys.readouterr()
    assert restore_into(restored_database, source, tmp_path) == 1
    assert "manifest.json does not match manifest.sha256" in capsys.readouterr().err
    (source / "manifest.sha256").write_text(
        f"{hashlib.sha256(forged).hexdigest()}  manifest.json\n")
    assert restore_into(restored_database, source, tmp_path, "--key-file", str(key)) == 1
    assert "manifest.hmac does not match" in capsys.readouterr().err


def test_a_document_missing_from_the_backup_or_from_the_store_is_reported(
        small_backup, own_database, restored_database, tmp_path, capsys):
    source, hashes = small_backup
    os.unlink(source / "documents" / hashes[0])
    assert restore_into(restored_database, source, tmp_path) == 1
    assert f"documents/{hashes[0]} is missing from the backup" in capsys.readouterr().err

    # a document the database names but the store lost: the backup says which and exits 2
    store = FileSystemStore(tmp_path / "documents")
    store.delete(hashes[1])
    assert main(["backup", "--to", str(tmp_path / "again"), "--document-store",
                 str(tmp_path / "documents")]) == 2
    err = capsys.readouterr().err
    assert (f"PROBLEM: document {hashes[1]} is named by records.documents but the document "
            "store does not hold it") in err
    manifest = json.loads(Path(backup_dir(tmp_path / "again"), "manifest.json").read_text())
    assert manifest["documents"]["missing"] == [hashes[1]]


def test_a_target_that_is_not_empty_is_refused_unless_forced(
        small_backup, own_database, restored_database, tmp_path, capsys):
    source, _ = small_backup
    assert restore_into(restored_database, source, tmp_path) == 0
    append_history(restored_database, stream="199202022016032002", count=2)  # life went on
    capsys.readouterr()
    assert restore_into(restored_database, source, tmp_path) == 1
    assert "the target database is not empty" in capsys.readouterr().err
    assert restore_into(restored_database, source, tmp_path, "--force") == 0
    assert heads_of(restored_database, SERVICES) == heads_of(own_database, SERVICES)


def test_backup_to_s3_with_the_documents_in_s3_restores_into_a_directory(
        own_database, restored_database, tmp_path, capsys, monkeypatch, s3_endpoint):  # noqa: F811
    import boto3

    for name, value in (("AWS_ENDPOINT_URL", s3_endpoint),
                        ("AWS_ACCESS_KEY_ID", S3_CREDENTIALS["aws_access_key_id"]),
                        ("AWS_SECRET_ACCESS_KEY", S3_CREDENTIALS["aws_secret_access_key"]),
                        ("AWS_DEFAULT_REGION", S3_CREDENTIALS["region_name"]),
                        ("SIMASN_S3_ENDPOINT_URL", s3_endpoint)):
        monkeypatch.setenv(name, value)
    with unpatched_ssl_context():
        client = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
        client.create_bucket(Bucket="simasn-backups")
        documents = S3Store("simasn-docs", client=client)
        hashes = seed_small(own_database, documents)
        assert main(["backup", "--to", "s3://simasn-backups/backups/",
                     "--document-store", "s3://simasn-docs"]) == 0
        out = capsys.readouterr().out
        source = out.split("backup: ")[-1].strip()
        assert source.startswith("s3://simasn-backups/backups/simasn-")
        keys = {item["Key"] for item in client.list_objects_v2(
            Bucket="simasn-backups", Prefix="backups/")["Contents"]}
        assert {f"{source[len('s3://simasn-backups/'):]}{name}" for name in (
            "manifest.json", "manifest.sha256", "database.dump", "documents.jsonl",
            f"documents/{hashes[0]}")} <= keys
        assert restore_into(restored_database, source, tmp_path) == 0
    assert heads_of(restored_database, SERVICES) == heads_of(own_database, SERVICES)
    restored = FileSystemStore(tmp_path / "restored-documents")
    assert sorted(restored.hashes()) == sorted(hashes)
    with unpatched_ssl_context():
        assert all(restored.read(h) == documents.read(h) for h in hashes)
