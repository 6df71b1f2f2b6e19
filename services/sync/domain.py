"""The rules of the sync protocol, in plain Python: which regions exist, how a request is signed
and checked, when a timestamp is too old, which sequences are missing, and what a refusal by
records means (quarantine or try again). docs/design/sync.md explains the protocol."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from functools import cache

from shared.reference import domain_data

#: the headers a region signs a request with (docs/design/sync.md)
H_REGION = "X-Simasn-Region"
H_KEY_ID = "X-Simasn-Key-Id"
H_TIMESTAMP = "X-Simasn-Timestamp"
H_BATCH_ID = "X-Simasn-Batch-Id"
H_SIGNATURE = "X-Simasn-Signature"
SIGNED_HEADERS = (H_REGION, H_KEY_ID, H_TIMESTAMP, H_BATCH_ID, H_SIGNATURE)
#: a snapshot upload signs this digest of its body instead of the body (too big to hold)
H_CONTENT_SHA256 = "X-Simasn-Content-SHA256"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
#: a snapshot id: a UUID, in its own namespace (the snapshots table), taken once for ever
SNAPSHOT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: the change kinds records applies for a region (records.apply_region_change)
KINDS = ("employee_registered", "data_pokok_changed", "history_recorded")
#: a batch id: what a region's client makes up, e.g. a UUID
BATCH_ID = re.compile(r"^[A-Za-z0-9._:-]{8,80}$")
#: at most this many keys of one region verify at once (the overlap of a rotation)
MAX_ACTIVE_KEYS = 3

#: refusals of records that no retry can fix: the event is quarantined with the reasons
QUARANTINE_STATUSES = frozenset({400, 403, 404, 409, 422})

#: an inbound event's states: waiting (to be applied, or for a gap), applied, quarantined,
#: skipped (an administrator's decision); applied and skipped are final
WAITING, APPLIED, QUARANTINED, SKIPPED = "waiting", "applied", "quarantined", "skipped"
FINAL = frozenset({APPLIED, SKIPPED})


@cache
def regions() -> dict[str, str]:
    """BPS code ("3501".."3579") -> full name of the 38 kabupaten/kota of Jawa Timur."""
    return {row["kode_bps_nik"]: row["nama_lengkap"]
            for row in domain_data()["kab_kota_jatim"]}


def signature_base(timestamp: str, batch_id: str, body: bytes) -> bytes:
    """What the signature covers: timestamp, a newline, the batch id, a newline, the raw body
    exactly as sent. For a signed read (GET) the second line is the method and path, e.g.
    `GET /api/sync/3507/status`, and the body is empty."""
    return timestamp.encode() + b"\n" + batch_id.encode() + b"\n" + body


def sign(secret: str, timestamp: str, batch_id: str, body: bytes) -> str:
    """HMAC-SHA256 of the signature base under the region key's secret, lowercase hex."""
    return hmac.new(secret.encode(), signature_base(timestamp, batch_id, body),
                    hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: str, batch_id: str, body: bytes,
                      signature: str) -> bool:
    """Constant-time comparison: how much of a guess was right never shows in the timing."""
    return hmac.compare_digest(sign(secret, timestamp, batch_id, body).encode(),
                               signature.strip().lower().encode())


def parse_timestamp(text: str) -> int | None:
    """Unix seconds as a decimal integer, or None."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 12:
        return None
    return int(text)


def within_window(timestamp: int, now: float, window_seconds: int) -> bool:
    """A request is taken only while its timestamp is within `window_seconds` of our clock,
    either side: a captured request cannot be played again later."""
    return abs(now - timestamp) <= window_seconds


def advance(through: int, sequences: Iterable[int]) -> int:
    """The highest sequence s such that 1..s are all in hand, given everything in hand above
    `through` (`sequences`)."""
    present = set(sequences)
    while through + 1 in present:
        through += 1
    return through


def missing_ranges(through: int, held: Iterable[int]) -> list[list[int]]:
    """The gaps below the highest held sequence, as [first, last] ranges: what the region
    must send again. `through`: everything up to it is in hand; `held`: sequences above it."""
    gaps = []
    expected = through + 1
    for sequence in sorted(set(held)):
        if sequence > expected:
            gaps.append([expected, sequence - 1])
        expected = max(expected, sequence + 1)
    return gaps


def quarantines(status: int | None, transient: bool) -> bool:
    """A refusal by records that no retry can fix (invalid data, another instansi's employee,
    no such employee, a conflicting state) quarantines the event; anything else (records down,
    a timeout, an internal error) is tried again later and never quarantined."""
    return status in QUARANTINE_STATUSES and not transient


def retry_delay(attempts: int, base_seconds: float, cap_seconds: float) -> float:
    """Seconds before the next try after `attempts` transient failures: doubling, capped."""
    return min(cap_seconds, base_seconds * (2 ** max(0, min(attempts - 1, 20))))
