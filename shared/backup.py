"""Backups of a whole installation and their restore (`simasn backup`, `simasn restore`): the
database (every service's schema, one snapshot), the document store and the witness, with a
manifest that names what each log's chain head was and the hash of every file.

Consistency. Every service writes a document into the store *before* the transaction that
refers to it commits (records and the gateway put the upload, then record it; signing stores the
PDF, then marks the document signed), and objects are never changed, only added (a refused
upload nothing refers to is the one thing deleted). So the backup first takes the database's
snapshot — one exported snapshot (`pg_export_snapshot`) that the heads, the document hashes the
schemas claim and `pg_dump --snapshot` all read — and only then copies the objects: everything
the snapshot refers to was in the store before the snapshot and is still there; an object that
came later refers to nothing in the snapshot and is harmless. Witness checkpoints are named by
their position in the signing log, so only those at or below the snapshot's signing head are
taken: a later one seals events the restored database will not have.

Streaming. The dump is piped from pg_dump into the destination while it is hashed; each object
is copied chunk by chunk; the list of documents is written line by line (`documents.jsonl`).
Nothing is held in memory whole but the set of hashes.

Layout of one backup (a directory or an S3 prefix):
    manifest.json       what the backup holds (FORMAT), with the hash of every other file
    manifest.sha256     the manifest's SHA-256; manifest.hmac its HMAC-SHA256 when a key is given
    database.dump       pg_dump --format=custom of the whole database
    documents.jsonl     one line per document: sha256, size, content type, the tables claiming it
    documents/<sha256>  the documents' bytes (a name is its content's hash)
    witness/checkpoints/<position>.json  the witness's checkpoint objects
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import os
import platform
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata

import orjson
import psycopg2
from psycopg2 import sql

from shared import SERVICES
from shared.errors import NotFound, SimasnError, StoreUnavailable
from shared.objectstore import CHUNK_SIZE, ChunkReader, ObjectStore

FORMAT = "simasn-backup/1"
MANIFEST = "manifest.json"
MANIFEST_SHA256 = "manifest.sha256"
MANIFEST_HMAC = "manifest.hmac"
DATABASE = "database.dump"
DOCUMENTS = "documents.jsonl"

#: where the schemas name documents that must be in the store: (label, table, column, filter)
CLAIMS = (
    ("records.documents", "records.documents", "sha256", None),
    ("records.imports", "records.imports", "file_sha256", None),
    ("signing.documents", "signing.documents", "sha256", "sha256 IS NOT NULL"),
    ("requests.evaluations", "requests.evaluations", "pdf_sha256", "pdf_sha256 IS NOT NULL"),
    ("reporting.exports", "reporting.exports", "sha256", "status = 'ready'"),
    ("sync.snapshots", "sync.snapshots", "sha256", None),
)


class BackupInvalid(SimasnError):
    """A backup that is incomplete, altered or does not belong with this key."""

    code = "backup_invalid"
    http_status = 422
    title = "The backup does not verify"
    transient = False


class RestoreRefused(SimasnError):
    code = "restore_refused"
    http_status = 409
    title = "Restore refused"
    transient = False


# -- where a backup lives --------------------------------------------------------------------

class Location:
    """A directory or an S3 prefix holding one backup's files."""

    location: str = ""

    def write(self, name: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store `name` from a stream of chunks; returns (sha256, size) of what was written."""
        raise NotImplementedError

    def chunks(self, name: str) -> Iterator[bytes]:
        """The file's bytes in chunks; BackupInvalid naming it if the backup lacks it."""
        raise NotImplementedError

    def child(self, name: str) -> Location:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        return b"".join(self.chunks(name))

    def exists(self, name: str) -> bool:
        raise NotImplementedError


def _missing(location: str, name: str) -> BackupInvalid:
    return BackupInvalid(f"{name} is missing from the backup {location}", field=name)


class DirectoryLocation(Location):
    def __init__(self, root: str | os.PathLike):
        self.root = os.fspath(root)
        self.location = self.root

    def child(self, name: str) -> DirectoryLocation:
        return DirectoryLocation(os.path.join(self.root, name))

    def path(self, name: str) -> str:
        return os.path.join(self.root, *name.split("/"))

    def write(self, name, chunks):
        final = self.path(name)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return digest.hexdigest(), size

    def chunks(self, name):
        try:
            handle = open(self.path(name), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise _missing(self.location, name) from None
        return _file_chunks(handle)

    def exists(self, name):
        return os.path.exists(self.path(name))


def _file_chunks(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


class _HashingReader(ChunkReader):
    """A readable stream over chunks that hashes and counts what is read (what boto3 uploads)."""

    def __init__(self, chunks: Iterable[bytes]):
        super().__init__(iter(chunks))
        self.digest, self.size = hashlib.sha256(), 0

    def readinto(self, buffer) -> int:
        count = super().readinto(buffer)
        self.digest.update(memoryview(buffer)[:count])
        self.size += count
        return count


class S3Location(Location):
    def __init__(self, bucket: str, prefix: str = "", client=None, **client_kwargs):
        if client is None:
            import boto3

            client = boto3.client("s3", **client_kwargs)
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, self.prefix + name, client=self.client)

    def _error(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"backup location {self.location}: {exc}",
                                code="backup_location_unavailable")

    def write(self, name, chunks):
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        reader = _HashingReader(chunks)
        try:  # multipart in 8 MiB parts: a dump of any size, never whole in memory
            self.client.upload_fileobj(io.BufferedReader(reader, CHUNK_SIZE), self.bucket,
                                       self.prefix + name,
                                       Config=TransferConfig(multipart_chunksize=8 * CHUNK_SIZE,
                                                             max_concurrency=2))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from exc
        return reader.digest.hexdigest(), reader.size

    def chunks(self, name):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"]
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey",
                                                                  "NoSuchBucket"):
                raise _missing(self.location, name) from None
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        return self._stream(body)

    @staticmethod
    def _stream(body) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def exists(self, name):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError:
            return False
        return True


def location_at(text: str, **s3_options) -> Location:
    """`s3://bucket/prefix` (boto3's credential chain, AWS_ENDPOINT_URL, or `s3_options`) or a
    directory."""
    parts = urllib.parse.urlsplit(str(text))
    if parts.scheme == "s3":
        if len(parts.netloc) < 3:
            raise BackupInvalid(f"{text}: the bucket name needs at least 3 characters",
                                field="location")
        return S3Location(parts.netloc, parts.path, **s3_options)
    return DirectoryLocation(text)


# -- taking a backup ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """What a backup or a restore did, and what did not hold (empty: all held)."""

    location: str
    manifest: dict
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _tool_version(binary: str) -> str:
    try:
        return subprocess.run([binary, "--version"],  # noqa: S603 - the operator's pg tool, no shell
                              capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise StoreUnavailable(f"{binary} cannot be run: {exc}", code="tool_missing") from None


def _simasn_version() -> str:
    try:
        return metadata.version("simasn-jatim")
    except metadata.PackageNotFoundError:
        return "unknown"


def _in_snapshot(cur) -> dict:
    """What the manifest says about the database, read inside the exported snapshot."""
    cur.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname <> 'information_schema' ORDER BY nspname")
    schemas = [row[0] for row in cur.fetchall()]
    heads = {}
    for schema in SERVICES:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.event_log_head",))
        if not cur.fetchone()[0]:
            continue
        cur.execute(sql.SQL("SELECT last_position, last_hash, last_recorded_at::text FROM "
                            "{}.event_log_head WHERE id = 1").format(sql.Identifier(schema)))
        position, digest, at = cur.fetchone()
        heads[schema] = {"position": position, "hash": digest, "recorded_at": at}
    # the roles the dump's objects belong or are granted to: cluster-wide, not in a dump
    cur.execute(
        "SELECT r.rolname, r.rolcanlogin FROM pg_roles r WHERE NOT r.rolsuper "
        "AND r.rolname NOT LIKE 'pg\\_%%' AND ("
        " EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = ANY(%(s)s) AND (n.nspowner = "
        "  r.oid OR EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a WHERE a.grantee = r.oid)))"
        " OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "  WHERE n.nspname = ANY(%(s)s) AND (c.relowner = r.oid OR EXISTS (SELECT 1 FROM "
        "  aclexplode(c.relacl) a WHERE a.grantee = r.oid)))"
        " OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "  WHERE n.nspname = ANY(%(s)s) AND (p.proowner = r.oid OR EXISTS (SELECT 1 FROM "
        "  aclexplode(p.proacl) a WHERE a.grantee = r.oid)))) ORDER BY r.rolname",
        {"s": schemas})
    roles = [{"name": name, "login": login} for name, login in cur.fetchall()]
    return {"schemas": schemas, "heads": heads, "roles": roles}


def _claims(cur) -> dict[str, set[str]]:
    """Each document hash the snapshot's tables name, with the tables naming it."""
    claimed: dict[str, set[str]] = {}
    for label, table, column, where in CLAIMS:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        if not cur.fetchone()[0]:
            continue
        schema, name = table.split(".")
        query = sql.SQL("SELECT DISTINCT {} FROM {}.{}").format(
            sql.Identifier(column), sql.Identifier(schema), sql.Identifier(name))
        if where:
            query += sql.SQL(" WHERE " + where)
        cur.execute(query)
        for (digest,) in cur:
            claimed.setdefault(digest, set()).add(label)
    return claimed


def _dump(url: str, snapshot: str, target: Location, pg_dump: str) -> tuple[str, int]:
    """pg_dump of the whole database in the exported snapshot, streamed into the target."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([pg_dump,  # noqa: S603 - the operator's pg_dump, no shell
                                 "--format=custom", f"--snapshot={snapshot}",
                                 "--no-password", f"--dbname={url}"],
                                stdout=subprocess.PIPE, stderr=errors)
        try:
            digest, size = target.write(DATABASE, iter(lambda: proc.stdout.read(CHUNK_SIZE),
                                                       b""))
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise StoreUnavailable(f"pg_dump failed ({code}): "
                                   f"{errors.read().decode(errors='replace').strip()}",
                                   code="pg_dump_failed")
    return digest, size


def take(url: str, target: Location, documents: ObjectStore, witness=None, *,
         pg_dump: str = "pg_dump", key: bytes | None = None,
         now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> Outcome:
    """One backup into `target` (an empty location): the snapshot first, then the objects."""
    started = now()
    outcome = Outcome(target.location, {})
    tools = {"simasn": _simasn_version(), "pg_dump": _tool_version(pg_dump),
             "python": platform.python_version()}
    files: dict[str, dict] = {}
    conn = psycopg2.connect(url, application_name="simasn-backup")
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), now()::text, current_database(), "
                        "current_setting('server_version')")
            snapshot, taken_at, database, server = cur.fetchone()
            described = _in_snapshot(cur)
            claimed = _claims(cur)
        tick = _clock()
        digest, size = _dump(url, snapshot, target, pg_dump)
        outcome.seconds["database"] = tick()
        files[DATABASE] = {"sha256": digest, "size": size}
    finally:
        conn.rollback()  # the snapshot is released only once pg_dump has finished with it
        conn.close()

    tick = _clock()
    copied, total_bytes, corrupt = set(), 0, []
    with tempfile.NamedTemporaryFile("w+b", suffix=".jsonl") as listing:
        for sha in documents.hashes():
            try:
                info = documents.stat(sha)
                got, size = target.write(f"documents/{sha}", documents.open(sha))
            except NotFound:
                continue  # deleted since listed: a refused upload, referred to by nothing
            if got != sha:
                corrupt.append(sha)
                continue
            copied.add(sha)
            total_bytes += size
            listing.write(orjson.dumps({"sha256": sha, "size": size,
                                        "content_type": info.content_type,
                                        "claimed_by": sorted(claimed.get(sha, ()))}) + b"\n")
        listing.flush()
        listing.seek(0)
        digest, size = target.write(DOCUMENTS, _file_chunks(listing))
        files[DOCUMENTS] = {"sha256": digest, "size": size}
    outcome.seconds["documents"] = tick()
    missing = sorted(sha for sha in claimed if sha not in copied)
    for sha in missing:
        outcome.problems.append(f"document {sha} is named by {', '.join(sorted(claimed[sha]))} "
                                "but the document store does not hold it")
    for sha in corrupt:
        outcome.problems.append(f"document {sha} in the store no longer hashes to its name")

    tick = _clock()
    witnessed = None
    if witness is not None:
        witnessed = _copy_witness(witness, target, described["heads"])
    outcome.seconds["witness"] = tick()

    manifest = {
        "format": FORMAT,
        "created_at": taken_at,
        "started_at": started.isoformat(),
        "finished_at": now().isoformat(),
        "database": {"name": database, "server_version": server, "snapshot": snapshot,
                     "schemas": described["schemas"], "roles": described["roles"]},
        "logs": described["heads"],
        "files": files,
        "documents": {"count": len(copied), "bytes": total_bytes, "list": DOCUMENTS,
                      "claimed": len(claimed), "missing": missing, "corrupt": corrupt,
                      "claims": {label: sum(1 for v in claimed.values() if label in v)
                                 for label, *_ in CLAIMS}},
        "witness": witnessed,
        "tools": tools,
    }
    _write_manifest(target, manifest, key)
    outcome.manifest = manifest
    return outcome


def _clock() -> Callable[[], float]:
    import time

    start = time.monotonic()
    return lambda: round(time.monotonic() - start, 3)


def _copy_witness(witness, target: Location, heads: dict) -> dict:
    from shared.witness import position_of

    signing_head = heads.get("signing", {}).get("position", 0)
    kept, later = [], 0
    for name in witness.names():
        position = position_of(name)
        if position is None:
            continue
        if position > signing_head:
            later += 1  # seals events after the snapshot: not in this backup
            continue
        data = witness.get(name).data
        digest, size = target.write(f"witness/{name}", [data])
        kept.append({"name": name, "position": position, "sha256": digest, "size": size})
    return {"location": witness.location, "checkpoints": kept, "after_snapshot": later}


def _manifest_bytes(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _write_manifest(target: Location, manifest: dict, key: bytes | None) -> None:
    data = _manifest_bytes(manifest)
    target.write(MANIFEST, [data])
    target.write(MANIFEST_SHA256, [f"{hashlib.sha256(data).hexdigest()}  {MANIFEST}\n".encode()])
    if key is not None:
        target.write(MANIFEST_HMAC, [hmac.new(key, data, hashlib.sha256).hexdigest().encode()])


# -- checking and restoring ----------------------------------------------------------------------

def read_manifest(source: Location, key: bytes | None = None) -> dict:
    """The manifest, refused if its hash (and, with `key`, its HMAC) does not match."""
    data = source.read(MANIFEST)
    stated = source.read(MANIFEST_SHA256).decode("ascii", "replace").split()
    if not stated or stated[0] != hashlib.sha256(data).hexdigest():
        raise BackupInvalid(f"{MANIFEST} does not match {MANIFEST_SHA256}: the manifest was "
                            "altered", field=MANIFEST)
    if key is not None:
        if not source.exists(MANIFEST_HMAC):
            raise BackupInvalid(f"the backup is not signed ({MANIFEST_HMAC} missing) but a key "
                                "was given", field=MANIFEST_HMAC)
        mac = source.read(MANIFEST_HMAC).decode("ascii", "replace").strip()
        if not hmac.compare_digest(mac, hmac.new(key, data, hashlib.sha256).hexdigest()):
            raise BackupInvalid(f"{MANIFEST_HMAC} does not match: the manifest was altered or "
                                "signed with another key", field=MANIFEST_HMAC)
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BackupInvalid(f"{MANIFEST} is not JSON: {exc}", field=MANIFEST) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupInvalid(f"{MANIFEST} is not a {FORMAT} manifest", field=MANIFEST)
    return manifest


def _hash_of(chunks: Iterable[bytes], sink=None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest(), size


def _documents(source: Location) -> Iterator[dict]:
    rest = b""
    for chunk in source.chunks(DOCUMENTS):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line:
                yield orjson.loads(line)
    if rest.strip():
        yield orjson.loads(rest)


def check(source: Location, manifest: dict, dump_to=None) -> list[str]:
    """Every file of the backup against the manifest; the problems found (empty: it holds).
    `dump_to`, a writable binary file, receives the database dump as it is checked."""
    problems = []

    def expect(name: str, stated: dict, got: tuple[str, int]) -> None:
        if got != (stated.get("sha256"), stated.get("size")):
            problems.append(f"{name} does not match the manifest (sha256 {got[0]}, "
                            f"{got[1]} bytes; stated {stated.get('sha256')}, "
                            f"{stated.get('size')} bytes): altered or truncated")

    files = manifest.get("files") or {}
    for name in (DATABASE, DOCUMENTS):
        if name not in files:
            problems.append(f"the manifest names no {name}")
            continue
        try:
            expect(name, files[name], _hash_of(source.chunks(name),
                                               dump_to if name == DATABASE else None))
        except BackupInvalid as exc:
            problems.append(exc.message)
    if problems:
        return problems
    count = 0
    for entry in _documents(source):
        count += 1
        name = f"documents/{entry['sha256']}"
        try:
            expect(name, entry, _hash_of(source.chunks(name)))
        except BackupInvalid as exc:
            problems.append(exc.message)
    if count != manifest["documents"]["count"]:
        problems.append(f"{DOCUMENTS} lists {count} documents, the manifest "
                        f"{manifest['documents']['count']}")
    for entry in (manifest.get("witness") or {}).get("checkpoints", []):
        name = f"witness/{entry['name']}"
        try:
            expect(name, entry, _hash_of(source.chunks(name)))
        except BackupInvalid as exc:
            problems.append(exc.message)
    return problems


def _target_state(url: str) -> list[str]:
    """The non-system schemas already in the target database that hold anything."""
    from shared.migrations import ensure_database

    ensure_database(url)
    conn = psycopg2.connect(url, application_name="simasn-restore")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n.nspname FROM pg_namespace n WHERE n.nspname NOT LIKE "
                        "'pg\\_%' AND n.nspname <> 'information_schema' AND (n.nspname <> "
                        "'public' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = "
                        "n.oid)) ORDER BY 1")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _prepare_target(url: str, manifest: dict, force: bool) -> None:
    from shared.migrations import ensure_role

    present = _target_state(url)
    if present and not force:
        raise RestoreRefused(f"the target database is not empty (schemas: {', '.join(present)}); "
                             "restore into a new database, or give --force to drop them",
                             field="database_url")
    conn = psycopg2.connect(url, application_name="simasn-restore")
    try:
        with conn, conn.cursor() as cur:
            for schema in present:
                cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            if "public" in present:
                cur.execute("CREATE SCHEMA public")
            for role in manifest["database"].get("roles", []):
                ensure_role(cur, role["name"], login=bool(role.get("login")))
    finally:
        conn.close()


def _pg_restore(url: str, dump_path: str, pg_restore: str) -> None:
    done = subprocess.run([pg_restore,  # noqa: S603 - the operator's pg_restore, no shell
                           "--exit-on-error", "--single-transaction",
                           "--no-password", f"--dbname={url}", dump_path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise StoreUnavailable(f"pg_restore failed ({done.returncode}): {done.stderr.strip()}",
                               code="pg_restore_failed")


def heads_of(url: str, schemas: Iterable[str]) -> dict:
    conn = psycopg2.connect(url, application_name="simasn-restore")
    try:
        found = {}
        with conn.cursor() as cur:
            for schema in schemas:
                cur.execute(sql.SQL("SELECT last_position, last_hash, last_recorded_at::text "
                                    "FROM {}.event_log_head WHERE id = 1").format(
                                        sql.Identifier(schema)))
                position, digest, at = cur.fetchone()
                found[schema] = {"position": position, "hash": digest, "recorded_at": at}
        return found
    finally:
        conn.close()


def restore(source: Location, url: str, documents: ObjectStore, witness=None, *,
            force: bool = False, key: bytes | None = None, pg_restore: str = "pg_restore",
            work_dir: str | None = None, skip_witness: bool = False) -> Outcome:
    """Check the whole backup, then restore database, documents and witness, then compare
    every log's head (and its recomputed chain) with the manifest."""
    from shared import audit

    manifest = read_manifest(source, key)
    outcome = Outcome(source.location, manifest)
    _tool_version(pg_restore)
    scratch = tempfile.mkdtemp(prefix="simasn-restore-", dir=work_dir)
    try:
        dump_path = os.path.join(scratch, DATABASE)
        tick = _clock()
        with open(dump_path, "wb") as dump:
            problems = check(source, manifest, dump_to=dump)
        outcome.seconds["check"] = tick()
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more"
                                                if len(problems) > 10 else "")
            raise BackupInvalid(f"the backup {source.location} does not verify, nothing was "
                                f"restored: {shown}", field="from", details=problems)
        if manifest["witness"] and witness is None and not skip_witness:
            raise RestoreRefused("the backup holds witness checkpoints: give a new witness "
                                 "location to restore them into (--witness), or "
                                 "--skip-witness", field="witness")
        tick = _clock()
        _prepare_target(url, manifest, force)
        _pg_restore(url, dump_path, pg_restore)
        outcome.seconds["database"] = tick()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    tick = _clock()
    for entry in _documents(source):
        sha = entry["sha256"]
        if documents.exists(sha):
            continue
        reader = io.BufferedReader(ChunkReader(source.chunks(f"documents/{sha}")), CHUNK_SIZE)
        documents.put(reader, entry.get("content_type") or "application/octet-stream",
                      expected_sha256=sha)
    outcome.seconds["documents"] = tick()

    tick = _clock()
    if manifest["witness"] and witness is not None:
        last = None
        for entry in manifest["witness"]["checkpoints"]:
            last = source.read(f"witness/{entry['name']}")
            witness.put(entry["name"], last)
        if last is not None:
            witness.set_latest(last)
    outcome.seconds["witness"] = tick()

    tick = _clock()
    now = heads_of(url, manifest["logs"])
    conn = psycopg2.connect(url, application_name="simasn-restore")
    try:
        for schema, stated in manifest["logs"].items():
            if now[schema]["position"] != stated["position"] or \
                    now[schema]["hash"] != stated["hash"]:
                outcome.problems.append(f"{schema}: head {now[schema]['position']} "
                                        f"{now[schema]['hash'][:16]}… is not the manifest's "
                                        f"{stated['position']} {stated['hash'][:16]}…")
                continue
            walked = audit.verify_log(conn, schema, progress=False)
            if not walked.ok:
                outcome.problems.append(f"{schema}: the chain does not verify at position "
                                        f"{walked.position}: {walked.problem}")
    finally:
        conn.close()
    outcome.seconds["verify"] = tick()
    outcome.manifest = {**manifest, "restored_heads": now}
    return outcome
