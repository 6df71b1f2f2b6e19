"""A region's full snapshot of its employees: taken in (signed over the digest of its body, the
signature checked before a byte of the body is read), loaded row by row into snapshot_rows by a
worker, and read back.

- `permit`: the gateway asks before reading the body. The signature base is timestamp, snapshot
  id (header X-Simasn-Batch-Id, a UUID), and the hex SHA-256 the region declares in
  X-Simasn-Content-SHA256: a body whose digest differs is refused as it streams in, so the
  signature covers the bytes without anyone holding them in memory.
- `receive`: the body is in the object store (the gateway checked its digest and size); the
  snapshot is recorded (SnapshotReceived) once per snapshot id, for ever.
- `load_next`: the loader (a timer, one replica at a time per snapshot by a lease on its row)
  reads the stored object as a stream, checks each row (the snapshot row contract, the NIP
  rules of shared/nip.py) and COPYs rows in chunks into snapshot_rows with their problems; each
  chunk commits with the lease renewed, so a loader that dies is resumed after its last chunk
  by whichever replica takes the lease next. Memory holds one chunk."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from functools import lru_cache

import orjson
from marshmallow import ValidationError

from services.sync import domain
from services.sync.exceptions import (
    RegionUnknown,
    SignatureMissing,
    SnapshotDigestMismatch,
    SnapshotInvalid,
    SnapshotReplayed,
    SnapshotTooLarge,
    SnapshotUnknown,
)
from services.sync.usecases import STREAM_TYPE, copy_in, iso, stream
from services.sync.usecases.receiving import _header, authenticate
from shared.contracts import records as record_contract
from shared.contracts import sync as c
from shared.eventstore import ANY_VERSION, NewEvent
from shared.logging import get_logger
from shared.nip import nip_problems
from shared.objectstore import ChunkReader

log = get_logger(__name__)


# -- taking a snapshot in ------------------------------------------------------------------------

def _declared(request: dict) -> tuple[str, str]:
    headers = request["headers"]
    snapshot_id = _header(headers, domain.H_BATCH_ID).strip().lower()
    digest = _header(headers, domain.H_CONTENT_SHA256).strip().lower()
    if not digest:
        raise SignatureMissing(f"header {domain.H_CONTENT_SHA256} wajib",
                               field=domain.H_CONTENT_SHA256)
    return snapshot_id, digest


def _authenticated(uow, settings, region: str, request: dict, queued: bool = False):
    snapshot_id, digest = _declared(request)
    key_id = authenticate(uow, settings, region, request, body=digest.encode(), queued=queued)
    if not domain.SNAPSHOT_ID.match(snapshot_id):
        raise SnapshotInvalid(f"{domain.H_BATCH_ID} snapshot harus UUID",
                              field=domain.H_BATCH_ID)
    if not domain.SHA256_HEX.match(digest):
        raise SnapshotInvalid(f"{domain.H_CONTENT_SHA256}: 64 digit heksadesimal SHA-256",
                              field=domain.H_CONTENT_SHA256)
    return key_id, snapshot_id, digest


def _format(request: dict) -> str:
    media = (request.get("content_type") or "").split(";")[0].strip().lower()
    if media not in c.SNAPSHOT_TYPES:
        raise SnapshotInvalid(f"kirim snapshot sebagai {', '.join(c.SNAPSHOT_TYPES)}",
                              field="Content-Type")
    return c.SNAPSHOT_TYPES[media]


def _taken(uow, snapshot_id: str) -> bool:
    return uow.execute("SELECT 1 FROM snapshots WHERE snapshot_id = CAST(:s AS uuid)",
                       {"s": snapshot_id}).first() is not None


def permit(uow, settings, region: str, request: dict) -> dict:
    """Before the body is read: the signature, the window, the snapshot id still free and the
    declared size; the answer says how many bytes the gateway may take and the format its
    media type names ("" for none: the gateway refuses it, 415)."""
    _key_id, snapshot_id, _digest = _authenticated(uow, settings, region, request)
    if _taken(uow, snapshot_id):
        raise SnapshotReplayed("id snapshot ini sudah pernah dipakai; unggah dengan id baru",
                               field=domain.H_BATCH_ID)
    media = (request.get("content_type") or "").split(";")[0].strip().lower()
    declared = request.get("content_length")
    if declared is not None and declared > settings.max_snapshot_bytes:
        raise SnapshotTooLarge(f"snapshot maksimal {settings.max_snapshot_bytes} byte",
                               field="body")
    return {"snapshot_id": snapshot_id, "format": c.SNAPSHOT_TYPES.get(media, ""),
            "max_bytes": settings.max_snapshot_bytes}


def receive(uow, settings, region: str, request: dict, upload: dict) -> dict:
    """Record a snapshot the gateway streamed into the object store. The signature is checked
    again (the timestamp only against the future: a long upload outlives the window; a replay is
    refused by the snapshot id, taken for ever)."""
    key_id, snapshot_id, digest = _authenticated(uow, settings, region, request, queued=True)
    if upload["sha256"] != digest:
        raise SnapshotDigestMismatch("isi snapshot tidak sama dengan "
                                     f"{domain.H_CONTENT_SHA256}", field="body")
    if upload["size"] > settings.max_snapshot_bytes:
        raise SnapshotTooLarge(f"snapshot maksimal {settings.max_snapshot_bytes} byte",
                               field="body")
    fmt = _format(request)
    taken = uow.execute(
        "INSERT INTO snapshots (snapshot_id, region, format, sha256, size_bytes, key_id, "
        "status, content_type) VALUES (CAST(:s AS uuid), :r, :f, :h, :n, :k, 'received', :t) "
        "ON CONFLICT DO NOTHING RETURNING snapshot_id",
        {"s": snapshot_id, "r": region, "f": fmt, "h": digest, "n": upload["size"],
         "k": key_id, "t": request.get("content_type")}).first()
    if taken is None:
        raise SnapshotReplayed("id snapshot ini sudah pernah dipakai; unggah dengan id baru",
                               field=domain.H_BATCH_ID)
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SnapshotReceived", {
        "region": region, "snapshot_id": snapshot_id, "key_id": key_id, "format": fmt,
        "sha256": digest, "size_bytes": upload["size"]})], reason=f"snapshot {snapshot_id}")
    return get(uow, region, snapshot_id)


# -- reads ---------------------------------------------------------------------------------------

_COLUMNS = ("snapshot_id::text AS snapshot_id, region, format, sha256, size_bytes, key_id, "
            "received_at, status, rows_total, rows_invalid, loaded_at, error")


def _view(row) -> dict:
    return {**dict(row), "received_at": iso(row["received_at"]),
            "loaded_at": iso(row["loaded_at"])}


def get(uow, region: str, snapshot_id: str) -> dict:
    if not domain.SNAPSHOT_ID.match(str(snapshot_id).lower()):
        raise SnapshotUnknown("snapshot tidak ditemukan", field="snapshot_id")
    row = uow.execute(f"SELECT {_COLUMNS} FROM snapshots WHERE snapshot_id = CAST(:s AS uuid) "  # noqa: S608 - constant columns
                      "AND region = :r", {"s": str(snapshot_id).lower(), "r": region}
                      ).mappings().first()
    if row is None:
        raise SnapshotUnknown("snapshot tidak ditemukan", field="snapshot_id")
    return _view(row)


def signed_get(uow, settings, region: str, snapshot_id: str, request: dict) -> dict:
    authenticate(uow, settings, region, request)
    return get(uow, region, snapshot_id)


def listing(uow, actor, region: str, limit: int = 100) -> list[dict]:
    """The region's last `limit` snapshots, newest first (administrators, auditors)."""
    actor.require("administrator", "auditor")
    known(uow, region)
    return [_view(row) for row in uow.execute(
        f"SELECT {_COLUMNS} FROM snapshots WHERE region = :r ORDER BY received_at DESC "  # noqa: S608 - constant columns
        "LIMIT :n", {"r": str(region)[:8], "n": limit}).mappings()]


def known(uow, region: str) -> None:
    """RegionUnknown (404) unless `region` is onboarded."""
    if uow.execute("SELECT 1 FROM regions WHERE code = :r", {"r": str(region)[:8]}
                   ).first() is None:
        raise RegionUnknown("daerah belum terdaftar", field="region")


# -- reading a file ----------------------------------------------------------------------------

class SnapshotUnreadable(Exception):
    """The file is not what it claims: the snapshot fails with this code and reason."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _text(chunks: Iterator[bytes]):
    return io.TextIOWrapper(io.BufferedReader(ChunkReader(chunks), 1 << 16),
                            encoding="utf-8-sig", newline="")


def _check_columns(columns: list[str], raw: list) -> None:
    unknown = [str(raw[i]) for i, name in enumerate(columns) if name and
               name not in c.SNAPSHOT_COLUMNS]
    if unknown:
        raise SnapshotUnreadable("unknown_columns",
                                 f"kolom tidak dikenal: {', '.join(unknown[:10])}")
    duplicated = sorted({name for name in columns if name and columns.count(name) > 1})
    if duplicated:
        raise SnapshotUnreadable("duplicate_columns", f"kolom ganda: {', '.join(duplicated)}")
    missing = sorted(set(c.SNAPSHOT_REQUIRED) - set(columns))
    if missing:
        raise SnapshotUnreadable("missing_columns",
                                 f"kolom wajib tidak ada: {', '.join(missing)}")


def csv_rows(chunks: Iterator[bytes], columns_seen: set) -> Iterator[tuple[int, dict]]:
    """(line, {field: text}) of every non-empty row, the header first checked; empty cells
    are left out (no value)."""
    text = _text(chunks)
    try:
        first = text.readline()
        if "\x00" in first:
            raise SnapshotUnreadable("not_csv", "berkas bukan CSV (berisi byte biner)")
        delimiter = ";" if first.count(";") > first.count(",") else ","
        raw = next(csv.reader([first], delimiter=delimiter), [])
        columns = [record_contract.import_column(name) for name in raw]
        _check_columns(columns, raw)
        columns_seen.update(name for name in columns if name)
        for line, values in enumerate(csv.reader(text, delimiter=delimiter), start=2):
            row = {name: value.strip() for name, value in zip(columns, values, strict=False)
                   if name and value.strip()}
            if row:
                yield line, row
    except UnicodeDecodeError:
        raise SnapshotUnreadable("not_utf8", "berkas CSV harus UTF-8") from None
    except csv.Error as exc:
        raise SnapshotUnreadable("not_csv", f"berkas bukan CSV yang sah ({exc})") from None


def jsonl_rows(chunks: Iterator[bytes], columns_seen: set) -> Iterator[tuple[int, dict]]:
    """(line, {field: value}) of every non-empty line; a first line that is not a JSON object
    fails the file, a later one is a row with a problem."""
    text = _text(chunks)
    first = True
    try:
        for line, raw in enumerate(text, start=1):
            if not raw.strip():
                continue
            try:
                document = orjson.loads(raw)
            except orjson.JSONDecodeError:
                document = None
            if not isinstance(document, dict):
                if first:
                    raise SnapshotUnreadable("not_jsonl", "berkas bukan JSON lines (baris "
                                             "pertama bukan objek JSON)")
                yield line, {"__invalid__": "baris bukan objek JSON"}
                continue
            first = False
            row = {}
            for key, value in document.items():
                name = record_contract.import_column(key)
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                row[name] = value.strip() if isinstance(value, str) else value
            columns_seen.update(name for name in row if name in c.SNAPSHOT_COLUMNS)
            yield line, row
    except UnicodeDecodeError:
        raise SnapshotUnreadable("not_utf8", "berkas JSON lines harus UTF-8") from None
    if first:
        raise SnapshotUnreadable("empty", "berkas tidak berisi satu baris pun")


def _problem(field: str, code: str, message: str) -> dict:
    return {"field": field, "code": code, "message": message}


@lru_cache(maxsize=64)
def _row_schema(columns: frozenset) -> c.SnapshotRow:
    """The row contract over the columns a row has and the required ones: marshmallow visits
    every declared field of a schema for every row, present or not (twice the work for a
    typical snapshot's dozen columns of two dozen)."""
    return c.SnapshotRow(only=sorted(columns | set(c.SNAPSHOT_REQUIRED)))


def checked(row: dict) -> tuple[str, dict, list[dict]]:
    """(nip, the row's values as sent, its problems): the row contract's field rules (the NIP's
    own left to the NIP rules), unknown keys, and the NIP's structure and agreement with the
    row's birth date, gender and TMT CPNS (shared/nip.py)."""
    if "__invalid__" in row:
        return "", {}, [_problem("line", "json_invalid", row["__invalid__"])]
    nip = str(row.get("nip", "")).strip()
    data = {k: v for k, v in row.items() if k != "nip"}
    problems = [_problem(k, "unknown_field", f"kolom {k} tidak dikenal")
                for k in sorted(row) if k not in c.SNAPSHOT_COLUMNS]
    known = {k: (str(v) if k in ("nip", "nik") and isinstance(v, int) else v)
             for k, v in row.items() if k in c.SNAPSHOT_COLUMNS}
    try:
        loaded = _row_schema(frozenset(known)).load(known)
    except ValidationError as exc:
        loaded = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        problems += [_problem(k, "invalid", "; ".join(map(str, v)) if isinstance(v, list)
                              else str(v)) for k, v in sorted(exc.messages.items())
                     if k != "nip"]
    born = loaded.get("date_of_birth")
    tmt = loaded.get("tmt_cpns")
    problems += [p.as_dict() for p in nip_problems(
        nip, date_of_birth=born if isinstance(born, date) else None,
        gender=loaded.get("gender"), tmt_cpns=tmt if isinstance(tmt, date) else None,
        status=loaded.get("status") or "PNS")]
    return nip, data, problems


# -- the loader ----------------------------------------------------------------------------------

def _take(db, settings) -> dict | None:
    """The oldest snapshot waiting to be loaded whose lease is free, now this runner's."""
    with db.transaction() as uow:
        row = uow.execute(
            "UPDATE snapshots SET status = 'loading', runner = :me, "
            "lease_until = now() + make_interval(secs => :l) WHERE snapshot_id = ("
            "SELECT snapshot_id FROM snapshots WHERE status IN ('received', 'loading') AND "
            "(lease_until IS NULL OR lease_until < now() OR runner = :me) "
            "ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "RETURNING snapshot_id::text AS snapshot_id, region, format, sha256",
            {"me": settings.runner, "l": settings.snapshot_lease_seconds}).mappings().first()
        return dict(row) if row else None


def _renew(uow, settings, snapshot_id: str) -> bool:
    return uow.execute(
        "UPDATE snapshots SET lease_until = now() + make_interval(secs => :l) WHERE "
        "snapshot_id = CAST(:s AS uuid) AND runner = :me AND status = 'loading' "
        "RETURNING snapshot_id", {"l": settings.snapshot_lease_seconds, "s": snapshot_id,
                                  "me": settings.runner}).first() is not None


def _copy_field(value: str | None) -> str:
    if value is None:
        return "\\N"
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _copy_chunk(uow, settings, snapshot_id: str, chunk: list) -> bool:
    """COPY one chunk of rows and renew the lease, in one transaction; False: the lease was lost
    (another replica took the snapshot over), nothing written."""
    if not _renew(uow, settings, snapshot_id):
        return False
    buffer = io.StringIO()
    for line, nip, data, problems in chunk:
        buffer.write(f"{snapshot_id}\t{line}\t{_copy_field(nip[:64])}\t"
                     f"{_copy_field(orjson.dumps(data).decode())}\t"
                     f"{_copy_field(orjson.dumps(problems).decode() if problems else None)}\n")
    buffer.seek(0)
    copy_in(uow, "COPY snapshot_rows (snapshot_id, line, nip, data, problems) FROM STDIN",
            buffer)
    return True


def load_next(db, store, settings) -> str | None:
    """Load one snapshot waiting (or resume one whose loader died); its id, or None."""
    taken = _take(db, settings)
    if taken is None:
        return None
    snapshot_id, region = taken["snapshot_id"], taken["region"]
    with db.transaction() as uow:
        done = uow.execute("SELECT coalesce(max(line), 0) FROM snapshot_rows WHERE "
                           "snapshot_id = CAST(:s AS uuid)", {"s": snapshot_id}).scalar_one()
    columns: set = set()
    reader = csv_rows if taken["format"] == "csv" else jsonl_rows
    chunk: list = []
    try:
        for line, row in reader(store.open(taken["sha256"]), columns):
            if line <= done:
                continue  # committed before a crash: parsed again only to find our place
            nip, data, problems = checked(row)
            chunk.append((line, nip, _json_ready(data), problems))
            if len(chunk) >= settings.snapshot_chunk_rows:
                with db.transaction() as uow:
                    if not _copy_chunk(uow, settings, snapshot_id, chunk):
                        return None
                chunk = []
        with db.transaction(reason=f"snapshot {snapshot_id} dimuat") as uow:
            if chunk and not _copy_chunk(uow, settings, snapshot_id, chunk):
                return None
            _finish(uow, settings, region, snapshot_id, sorted(columns))
    except SnapshotUnreadable as exc:
        _fail(db, settings, region, snapshot_id, exc.code, exc.reason)
    return snapshot_id


def _json_ready(data: dict) -> dict:
    return {k: (v if isinstance(v, str | int | float | bool) else str(v))
            for k, v in data.items()}


def _finish(uow, settings, region: str, snapshot_id: str, columns: list[str]) -> None:
    rows, invalid = uow.execute(
        "SELECT count(*), count(*) FILTER (WHERE problems IS NOT NULL) FROM snapshot_rows "
        "WHERE snapshot_id = CAST(:s AS uuid)", {"s": snapshot_id}).one()
    if rows == 0:
        raise SnapshotUnreadable("empty", "berkas tidak berisi satu baris pun")
    updated = uow.execute(
        "UPDATE snapshots SET status = 'loaded', rows_total = :n, rows_invalid = :i, "
        "loaded_at = now(), columns = :c, runner = NULL, lease_until = NULL WHERE "
        "snapshot_id = CAST(:s AS uuid) AND runner = :me AND status = 'loading' "
        "RETURNING snapshot_id", {"n": rows, "i": invalid, "c": columns, "s": snapshot_id,
                                  "me": settings.runner}).first()
    if updated is None:
        return
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SnapshotLoaded", {
        "region": region, "snapshot_id": snapshot_id, "rows": rows, "invalid": invalid,
        "columns": columns})])
    log.info("snapshot_loaded", region=region, snapshot_id=snapshot_id, rows=rows,
             invalid=invalid)


def _fail(db, settings, region: str, snapshot_id: str, code: str, reason: str) -> None:
    """The file cannot be read as a snapshot: its rows go, the snapshot says why."""
    with db.transaction(reason=f"snapshot {snapshot_id} gagal") as uow:
        updated = uow.execute(
            "UPDATE snapshots SET status = 'failed', error = CAST(:e AS jsonb), runner = NULL, "
            "lease_until = NULL WHERE snapshot_id = CAST(:s AS uuid) AND runner = :me AND "
            "status = 'loading' RETURNING snapshot_id",
            {"e": orjson.dumps({"code": code, "message": reason}).decode(), "s": snapshot_id,
             "me": settings.runner}).first()
        if updated is None:
            return
        uow.execute("DELETE FROM snapshot_rows WHERE snapshot_id = CAST(:s AS uuid)",
                    {"s": snapshot_id})
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SnapshotFailed", {
            "region": region, "snapshot_id": snapshot_id, "code": code, "reason": reason})])
    log.warning("snapshot_failed", region=region, snapshot_id=snapshot_id, code=code)

