"""Signed checkpoints of every service's log: the heads (last position and chain hash, plus the
RFC 6962 Merkle root over the chain hashes) signed with the service's seal, so an auditor can
later prove a log was not rewritten after a checkpoint (`simasn audit verify`) and that one event
is in a signed log (`simasn audit prove`). Plain functions; the service decides when.

A checkpoint is the CheckpointSigned event (services/signing/events.py) in the signing log,
stream `checkpoints`. Its `cms` is a detached CMS SignedData over `canonical(heads)`, whose
signed signing-time attribute is `signed_at` (seconds, UTC). pyHanko's synchronous calls run
their own event loop: inside a Nameko service call `sign` and `verify_signature` through
`eventlet.tpool.execute`, as pdfsign is. `heads` uses the database and stays on the hub."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from asn1crypto import cms
from psycopg2 import sql
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.signers.pdf_cms import CMSSignedAttributes
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import (
    async_validate_detached_cms,
    extract_self_reported_ts,
    extract_signer_info,
)
from pyhanko_certvalidator import ValidationContext

from shared.canonical import SQL_TIMESTAMP_FORMAT, dumps
from shared.errors import ConfigError
from shared.eventstore import NewEvent
from shared.logging import get_logger
from shared.merkle import Frontier

STREAM_OWNER = "signing"  # the log that holds the checkpoints
STREAM_ID = "checkpoints"
STREAM_TYPE = "Checkpoint"
EVENT_TYPE = "CheckpointSigned"
DIGEST = "sha256"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

log = get_logger(__name__)
# pyHanko logs every failed path search with a traceback; the reason we return says enough
logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)


class MerkleCache:
    """The Merkle frontier of each log as of the last checkpoint (in memory, per process): the
    next checkpoint hashes only the events appended since, so a checkpoint a minute costs what
    that minute wrote, not the whole log. Used only while the event at the cached size still
    has the hash it had: a log rewritten under it is hashed again from the start (and logged)."""

    def __init__(self):
        self._entries: dict[str, tuple[int, str, Frontier]] = {}

    def get(self, schema: str) -> tuple[int, str, Frontier] | None:
        return self._entries.get(schema)

    def put(self, schema: str, size: int, last_hash: str, frontier: Frontier) -> None:
        self._entries[schema] = (size, last_hash, frontier.copy())

    def forget(self, schema: str) -> None:
        self._entries.pop(schema, None)


def heads(conn, schemas: Iterable[str], merkle: bool = True,
          cache: MerkleCache | None = None) -> dict:
    """{schema: {position, hash, recorded_at, size, merkle_root}} of each log, read with `conn`
    (a DB-API connection in a transaction, e.g. `uow.dbapi`, as the role `simasn_signing`).

    `recorded_at` is the head's time as the log writes it (microseconds, UTC) or None for an
    empty log. `size` and `merkle_root` (RFC 6962, see shared/merkle.py) cover events
    1..position: reading every chain hash of the log (or, with a `cache`, those appended since
    the last call), which is why `merkle=False` exists. A log whose events do not match its head
    (a hole, a changed last hash) is still signed by its head but without a root; `audit verify`
    reports the break."""
    result = {}
    for schema in schemas:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"{schema!r} is not a service schema name")
        ident = sql.Identifier(schema)
        with conn.cursor() as cur:
            cur.execute(sql.SQL(
                "SELECT last_position, last_hash, "
                "to_char(last_recorded_at AT TIME ZONE 'UTC', " + SQL_TIMESTAMP_FORMAT + ") "
                "FROM {}.event_log_head WHERE id = 1").format(ident))
            position, digest, recorded_at = cur.fetchone()
        head = {"position": position, "hash": digest, "recorded_at": recorded_at}
        if merkle:
            root, problem = _merkle_root(conn, ident, position, digest, cache, schema)
            if problem:
                log.warning("checkpoint_without_merkle_root", schema=schema, problem=problem)
            else:
                head["size"] = position
                head["merkle_root"] = root
        result[schema] = head
    return result


def hash_at(conn, schema: str, position: int) -> str | None:
    """The chain hash the log holds at `position` now (None: no such event), to tell whether
    the event a checkpoint ended at is still the one it signed."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"{schema!r} is not a service schema name")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT hash FROM {}.events WHERE position = %s").format(
            sql.Identifier(schema)), (position,))
        row = cur.fetchone()
    return row[0] if row else None


def _cached_start(conn, ident, position: int, cache: MerkleCache | None,
                  schema: str) -> tuple[Frontier, str | None]:
    """The frontier to go on from and the hash it ends at: the cached one if the log still
    holds it, else an empty one."""
    entry = cache.get(schema) if cache is not None else None
    if entry is None:
        return Frontier(), None
    size, last_hash, frontier = entry
    if size == 0:
        return frontier.copy(), None
    if size <= position:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT hash FROM {}.events WHERE position = %s").format(ident),
                        (size,))
            row = cur.fetchone()
        if row is not None and row[0] == last_hash:
            return frontier.copy(), last_hash
    log.error("checkpoint_log_rewritten", schema=schema, position=size,
              problem="the event the last checkpoint ended at changed or is gone")
    cache.forget(schema)
    return Frontier(), None


def _merkle_root(conn, ident, position: int, head_hash: str, cache: MerkleCache | None = None,
                 schema: str = "") -> tuple[str | None, str | None]:
    """The root over events 1..position, streamed (the log may be large). Rows up to the head
    read a moment ago are committed and never change, so a later snapshot sees the same ones."""
    frontier, last = _cached_start(conn, ident, position, cache, schema)
    with conn.cursor(name="checkpoint_merkle") as cur:
        cur.itersize = 20000
        cur.execute(sql.SQL("SELECT position, hash FROM {}.events WHERE position > %s AND "
                            "position <= %s ORDER BY position").format(ident),
                    (frontier.size, position))
        for row_position, digest in cur:
            if row_position != frontier.size + 1:
                return None, f"position {frontier.size + 1} is missing"
            frontier.append(digest)
            last = digest
    if frontier.size != position:
        return None, f"the head says {position} but the events end at {frontier.size}"
    if position and last != head_hash:
        return None, "the last event's hash is not the head's"
    if cache is not None:
        cache.put(schema, position, head_hash, frontier)
    return frontier.root(), None


def canonical(heads: dict) -> bytes:
    """The bytes a checkpoint signs: the heads as JSON with sorted keys and no spacing (the
    encoding the log's content hash uses), so they survive a round trip through jsonb."""
    return dumps(heads).encode("utf-8")


def _utc_seconds(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("signed_at needs a time zone")
    # the CMS signing-time attribute carries whole seconds
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def format_signed_at(moment: dt.datetime) -> str:
    return _utc_seconds(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def grew(last: dict | None, current: dict) -> bool:
    """Whether any log grew since the checkpoint `last` ({"position", "payload"} of the latest
    CheckpointSigned, None if there is none) by `current` heads (`heads(..., merkle=False)`).
    The signing log counts from the checkpoint's own event: it holds every checkpoint, so
    counting that one would make each checkpoint call for the next."""
    if last is None:
        return any(head["position"] > 0 for head in current.values())
    sealed = last["payload"].get("heads") or {}
    for schema, head in current.items():
        base = (last["position"] if schema == STREAM_OWNER
                else (sealed.get(schema) or {}).get("position") or 0)
        if head["position"] > base:
            return True
    return False


def sign(signer, heads: dict, signed_at: dt.datetime, trigger: str = "on_demand",
         timestamper=None) -> dict:
    """The CheckpointSigned payload: a detached CMS SignedData over `canonical(heads)` made by
    `signer` (a pyHanko Signer, e.g. `keystore.signer("seal")`), with `signed_at` (to the
    second) as its signed signing-time. `trigger` is "timer" or "on_demand". With a
    `timestamper` (the TSA of SIGNING_TSA_URL) the signature carries an RFC 3161 time stamp
    token: a time the seal's holder alone cannot choose (network: run it in an OS thread)."""
    moment = _utc_seconds(signed_at)
    content = canonical(heads)
    signed = asyncio.run(signer.async_sign_general_data(
        content, DIGEST, detached=True, timestamper=timestamper,
        signed_attr_settings=CMSSignedAttributes(signing_time=moment)))
    return {
        "heads": heads,
        "signed_at": format_signed_at(moment),
        "cms": base64.b64encode(signed.dump()).decode("ascii"),
        "certificate_serial": str(signer.signing_cert.serial_number),
        "trigger": trigger,
    }


def record(uow, payload: dict, reason: str | None = None) -> int:
    """Append the checkpoint to the signing log (stream `checkpoints`, any version: each
    checkpoint is a fact of its own); returns its position there."""
    (position,) = uow.append(STREAM_ID, STREAM_TYPE, None, [NewEvent(EVENT_TYPE, payload)],
                             reason=reason or f"checkpoint ({payload.get('trigger')})")
    return position


def load_trust_roots(paths: Iterable[str | Path]) -> list:
    """Certificates (PEM or DER files) a checkpoint's seal must chain to."""
    roots = []
    for path in paths:
        try:
            roots.extend(load_certs_from_pemder([str(path)]))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"trust root {path} is not readable as a certificate: {exc}",
                              field="trust_roots") from None
    if not roots:
        raise ConfigError("no trust root certificates given", field="trust_roots")
    return roots


def _parse_signed_at(text) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else None


def verify_signature(payload: dict, trust_roots) -> tuple[bool, str]:
    """Whether the checkpoint's CMS is a valid signature over `canonical(payload["heads"])`,
    made at `signed_at` by a certificate that chains to one of `trust_roots` and was in force
    then (no fetching: offline). Returns (ok, reason)."""
    try:
        content = canonical(payload["heads"])
        info = cms.ContentInfo.load(base64.b64decode(payload["cms"], validate=True))
        if info["content_type"].native != "signed_data":
            return False, "the signature is not a CMS SignedData"
        signed_data = info["content"]
        claimed = _parse_signed_at(payload["signed_at"])
        reported = extract_self_reported_ts(extract_signer_info(signed_data))
    except (KeyError, TypeError, ValueError, binascii.Error, SignatureValidationError) as exc:
        return False, f"the checkpoint cannot be read: {type(exc).__name__}: {str(exc)[:200]}"
    if reported is None:
        return False, "the signature carries no signing time"
    if claimed is None or claimed != reported:
        return False, (f"signed_at {payload.get('signed_at')} is not the signed time "
                       f"{reported.isoformat()}")
    context = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False,
                                moment=reported)
    try:
        status = asyncio.run(async_validate_detached_cms(
            content, signed_data, signer_validation_context=context))
    except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
        return False, f"the signature cannot be checked: {str(exc)[:200]}"
    if not (status.intact and status.valid):
        return False, "the signature does not match the signed heads (changed after signing)"
    if not status.trusted:
        indic = getattr(status.trust_problem_indic, "name", None) or "untrusted"
        return False, f"the sealing certificate is not trusted at the signing time ({indic})"
    serial = str(status.signing_cert.serial_number)
    if serial != str(payload.get("certificate_serial")):
        return False, (f"certificate_serial {payload.get('certificate_serial')} is not the "
                       f"signer's ({serial})")
    stamp = status.timestamp_validity
    if stamp is None:
        return True, "signature valid"
    if not (stamp.intact and stamp.valid and stamp.trusted):
        return False, "the TSA time stamp on the signature does not hold"
    stamped = stamp.timestamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return True, f"signature valid, time-stamped by the TSA at {stamped}"
