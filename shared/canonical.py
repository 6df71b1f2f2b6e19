"""The canonical encoding the audit chain hashes. Append and `audit verify` share it.

Two levels, both SHA-256:
- the *content hash* covers what the writer decided: event id, stream id and type, event type,
  schema version, payload and metadata, as one JSON array with sorted object keys and no
  insignificant whitespace (orjson). The writer computes it before taking the log's lock.
- the *chain hash* covers what the log decided plus the content hash and the previous event's
  chain hash: `prev_hash|position|version|recorded_at|content_hash`. PostgreSQL computes it
  inside `append_events` while it holds the lock (one round trip), and `audit verify`
  recomputes both levels here.
Floats are refused in payloads: jsonb normalises numbers (1e16 comes back as
10000000000000000), which would break the content hash on read-back — use integers or strings.
Integers must fit in 64 bits, and strings may not hold NUL (jsonb refuses it)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

GENESIS_HASH = "0" * 64
_SORTED = orjson.OPT_SORT_KEYS


def format_timestamp(ts: datetime) -> str:
    """Microsecond UTC text; identical to the SQL `to_char` the log uses."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SQL_TIMESTAMP_FORMAT = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
SQL_TIMESTAMP_TEXT = f"to_char(recorded_at AT TIME ZONE 'UTC', {SQL_TIMESTAMP_FORMAT})"


def content_hash(event_id: str, stream_id: str, stream_type: str, event_type: str,
                 schema_version: int, payload: dict, metadata: dict) -> str:
    body = orjson.dumps(
        [event_id, stream_id, stream_type, event_type, schema_version, payload, metadata],
        option=_SORTED,
    )
    return hashlib.sha256(body).hexdigest()


def encode(value) -> bytes:
    """The canonical JSON bytes of `value` (sorted keys, no insignificant whitespace)."""
    return orjson.dumps(value, option=_SORTED)


def content_hash_encoded(event_id: str, stream_id: str, stream_type: str, event_type: str,
                         schema_version: int, payload: bytes, metadata: bytes) -> str:
    """`content_hash` for a payload and metadata already `encode`d: the same bytes are hashed
    (orjson copies a Fragment verbatim), so a writer encodes each payload once."""
    return hashlib.sha256(orjson.dumps(
        [event_id, stream_id, stream_type, event_type, schema_version,
         orjson.Fragment(payload), orjson.Fragment(metadata)])).hexdigest()


def chain_hash(prev_hash: str, position: int, version: int, recorded_at: str,
               content: str) -> str:
    return hashlib.sha256(
        f"{prev_hash}|{position}|{version}|{recorded_at}|{content}".encode()
    ).hexdigest()


def dumps(value) -> str:
    return orjson.dumps(value, option=_SORTED).decode()


_INT64_MIN, _INT64_MAX = -(2**63), 2**63


def find_non_json_native(value, path: str = "") -> str | None:
    """Path of the first value the hash chain cannot carry faithfully, else None."""
    if type(value) is dict and _flat_native(value):
        return None
    return _find_non_json_native(value, path)


def _flat_native(value: dict) -> bool:
    """True when `value` is an object of strings (no NUL), 64-bit ints, booleans and nulls
    only — the common payload, checked without recursion; False: look closer."""
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str:
            return False
        if kind is str:
            if "\x00" in item:
                return False
        elif kind is int:
            if not _INT64_MIN <= item < _INT64_MAX:
                return False
        elif item is not None and kind is not bool:
            return False
    return True


def _find_non_json_native(value, path: str = "") -> str | None:
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and "\x00" in value:
            return path or "$"
        return None
    if isinstance(value, int):
        # beyond 64 bits neither orjson nor every jsonb reader keeps it exact
        return None if -(2**63) <= value < 2**63 else (path or "$")
    if isinstance(value, float):
        return path or "$"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}.{key}" if path else str(key)
            bad = _find_non_json_native(item, f"{path}.{key}" if path else key)
            if bad:
                return bad
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            bad = _find_non_json_native(item, f"{path}[{index}]")
            if bad:
                return bad
        return None
    return path or "$"
