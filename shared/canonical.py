"""The canonical encoding the audit chain hashes. Append and `audit verify` share it.

Every field of an event goes into one JSON array with sorted object keys and no insignificant
whitespace (orjson), then SHA-256 over those bytes. Floats are refused in payloads: PostgreSQL's
jsonb normalises numbers (1e16 comes back as 10000000000000000), which would break the hash on
read-back — use integers or decimal strings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

GENESIS_HASH = "0" * 64
_SORTED = orjson.OPT_SORT_KEYS


def format_timestamp(ts: datetime) -> str:
    """Microsecond UTC text; identical to the SQL `to_char` used when verifying."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SQL_TIMESTAMP_TEXT = (
    "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
)


def event_hash(
    position: int,
    event_id: str,
    stream_id: str,
    stream_type: str,
    version: int,
    event_type: str,
    schema_version: int,
    payload: dict,
    metadata: dict,
    recorded_at: str,
    prev_hash: str,
) -> str:
    body = orjson.dumps(
        [
            position,
            event_id,
            stream_id,
            stream_type,
            version,
            event_type,
            schema_version,
            payload,
            metadata,
            recorded_at,
            prev_hash,
        ],
        option=_SORTED,
    )
    return hashlib.sha256(body).hexdigest()


def dumps(value) -> str:
    return orjson.dumps(value, option=_SORTED).decode()


def find_non_json_native(value, path: str = "") -> str | None:
    """Path of the first value the hash chain cannot carry faithfully, else None."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and "\x00" in value:
            return path or "$"
        return None
    if isinstance(value, float):
        return path or "$"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}.{key}" if path else str(key)
            bad = find_non_json_native(item, f"{path}.{key}" if path else key)
            if bad:
                return bad
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            bad = find_non_json_native(item, f"{path}[{index}]")
            if bad:
                return bad
        return None
    return path or "$"
